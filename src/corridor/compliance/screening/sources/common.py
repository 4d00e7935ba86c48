"""Helpers shared by the list parsers: hashing, progress reporting, tolerant date and country text."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from corridor.compliance.screening.model import ListedName, NameKind
from corridor.compliance.screening.normalize import detect_script

# (done, total or None) -> None; the CLI drives a progress bar with it.
ProgressCallback = Callable[[int, int | None], None]
T = TypeVar("T")

_PROGRESS_EVERY = 500
_ISO_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


def file_sha256(*paths: Path) -> str:
    """SHA-256 of the raw bytes of one file, or of several files read in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def with_progress(items: Iterable[T], progress: ProgressCallback | None, total: int | None) -> Iterator[T]:
    done = 0
    for item in items:
        yield item
        done += 1
        if progress is not None and done % _PROGRESS_EVERY == 0:
            progress(done, total)
    if progress is not None:
        progress(done, total if total is not None else done)


def listed_name(value: str, kind: NameKind = NameKind.PRIMARY) -> ListedName | None:
    cleaned = " ".join(value.split())
    if not cleaned:
        return None
    return ListedName(value=cleaned, kind=kind, script=detect_script(cleaned))


def names_of(pairs: Iterable[tuple[str | None, NameKind]]) -> tuple[ListedName, ...]:
    made = (listed_name(value, kind) for value, kind in pairs if value)
    return tuple(dict.fromkeys(name for name in made if name is not None))


def date_in_name(path: Path) -> str | None:
    """Publication date carried in a file or folder name (legacy CSV files have none inside)."""
    for part in (path.name, path.parent.name):
        found = _ISO_DATE.search(part)
        if found:
            return found.group(1)
    return None


def clean(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = " ".join(value.split())
    return stripped or None
