"""EU financial sanctions entities as JSON lines (the ammitto-derived export in shared data).

Not the official XML layout: one object per entity with `names` (first is the listed name, the rest are
language variants), `entity_type`, `ref_number` (EU reference), `birthdate`, `country`, `address`.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from corridor.compliance.screening.model import (
    EntitySchema,
    ListedEntity,
    ListSnapshot,
    NameKind,
    make_snapshot,
)
from corridor.compliance.screening.sources.common import (
    ProgressCallback,
    clean,
    file_sha256,
    names_of,
    with_progress,
)

LIST_FORMAT = "eu-jsonl"
SOURCE = "eu-fsf"
_SCHEMAS = {"individual": EntitySchema.PERSON, "person": EntitySchema.PERSON}
_UNKNOWN_COUNTRIES = {"", "unknown"}


def load_eu_jsonl(path: Path, progress: ProgressCallback | None = None) -> ListSnapshot:
    entities = with_progress(_entities(path), progress, None)
    return make_snapshot(SOURCE, None, file_sha256(path), entities, LIST_FORMAT)


def _lines(path: Path) -> Iterator[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        yield from handle


def _entities(path: Path) -> Iterator[ListedEntity]:
    for line in _lines(path):
        if line.strip():
            yield _entity(json.loads(line))


def _entity(record: dict[str, Any]) -> ListedEntity:
    raw_names = [str(name) for name in record.get("names") or []]
    names = names_of(
        (name, NameKind.PRIMARY if i == 0 else NameKind.ALIAS) for i, name in enumerate(raw_names)
    )
    countries = [clean(record.get("country"))] + [
        clean(a.get("country")) for a in record.get("address") or []
    ]
    birth = clean(record.get("birthdate"))
    return ListedEntity(
        list_id=str(record.get("ref_number") or record.get("_file")),
        schema=_SCHEMAS.get(str(record.get("entity_type", "")).lower(), EntitySchema.ORGANIZATION),
        names=names,
        countries=tuple(dict.fromkeys(c for c in countries if c and c.lower() not in _UNKNOWN_COUNTRIES)),
        birth_dates=(birth,) if birth else (),
    )
