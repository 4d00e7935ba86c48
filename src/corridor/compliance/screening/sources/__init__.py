"""List parsers: each turns one published file format into a model.ListSnapshot (or ListDelta).

`load_list(path, list_format, progress)` is the single entry point the CLI (`corridor lists load PATH
--format ...`) and the list service call.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from corridor.compliance.screening.model import ListDelta, ListSnapshot
from corridor.compliance.screening.sources.common import ProgressCallback
from corridor.compliance.screening.sources.eu import load_eu
from corridor.compliance.screening.sources.eu_jsonl import load_eu_jsonl
from corridor.compliance.screening.sources.ftm import is_delta_file, load_ftm, load_ftm_delta
from corridor.compliance.screening.sources.ofac_advanced import load_ofac_advanced
from corridor.compliance.screening.sources.ofac_csv import load_ofac_csv
from corridor.compliance.screening.sources.un import load_un


class ListFormat(StrEnum):
    OFAC_CSV = "ofac-csv"
    OFAC_ADVANCED = "ofac-advanced"
    UN = "un"
    EU = "eu"
    EU_JSONL = "eu-jsonl"
    FTM = "ftm"


def load_list(
    path: Path, list_format: ListFormat | str, progress: ProgressCallback | None = None
) -> ListSnapshot | ListDelta:
    """Parse one list file; FtM delta files come back as a ListDelta to apply with model.apply_delta."""
    chosen = ListFormat(list_format)
    if chosen is ListFormat.OFAC_CSV:
        return load_ofac_csv(path, progress=progress)
    if chosen is ListFormat.OFAC_ADVANCED:
        return load_ofac_advanced(path, progress=progress)
    if chosen is ListFormat.UN:
        return load_un(path, progress=progress)
    if chosen is ListFormat.EU:
        return load_eu(path, progress=progress)
    if chosen is ListFormat.EU_JSONL:
        return load_eu_jsonl(path, progress=progress)
    if is_delta_file(path):
        return load_ftm_delta(path, progress=progress)
    return load_ftm(path, progress=progress)


__all__ = ["ListFormat", "ProgressCallback", "load_list"]
