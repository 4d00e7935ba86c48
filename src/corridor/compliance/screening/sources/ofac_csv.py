"""OFAC legacy CSV set: sdn.csv (or cons_prim.csv), alt.csv, add.csv, sdn_comments.csv.

No header rows; `-0-` means null; files join on ent_num. sdn.csv truncates long remarks, and
sdn_comments.csv carries the rest of the same text (cut mid-word), so the two are concatenated before
remark fields such as identifiers and digital-currency addresses are extracted.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from corridor.compliance.screening.model import (
    EntitySchema,
    Identifier,
    IdScheme,
    ListedEntity,
    ListSnapshot,
    NameKind,
    make_snapshot,
)
from corridor.compliance.screening.normalize import make_identifier, normalise_asset, refine_russian_scheme
from corridor.compliance.screening.sources.common import (
    ProgressCallback,
    date_in_name,
    file_sha256,
    names_of,
    with_progress,
)

LIST_FORMAT = "ofac-csv"
_NULL = "-0-"
_SDN_TYPES = {
    "individual": EntitySchema.PERSON,
    "vessel": EntitySchema.VESSEL,
    "aircraft": EntitySchema.AIRPLANE,
}
# The terminator lookahead rejects an address cut off by sdn.csv's remark limit (no continuation loaded).
_CRYPTO = re.compile(r"Digital Currency Address - ([A-Z0-9]{2,6}) ([A-Za-z0-9:]+)(?=[;.,)\s])")
_AKA = re.compile(r"\b[afn]\.k\.a\.,? '([^']+)'")
_DOB = re.compile(r"^DOB (?:circa )?(?:(\d{1,2}) )?(?:([A-Z][a-z]{2}) )?(\d{4})")
_COUNTRY_FIELD = re.compile(r"^(?:nationality|citizen) (.+)$")
_GENDER = re.compile(r"^Gender (Male|Female)$")
_ID_FIELD = re.compile(
    r"^(?:alt\. )?(?P<label>[A-Z][A-Za-z./ -]*?) (?P<value>[A-Za-z0-9][A-Za-z0-9./-]*)(?: \((?P<country>[^)]+)\))?"
    r"(?: (?:issued|expires) .*)?$"
)
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], start=1
    )
}
ID_LABELS = {
    "Passport": IdScheme.PASSPORT,
    "National ID No.": IdScheme.NATIONAL_ID,
    "Tax ID No.": IdScheme.TAX_ID,
    "Registration Number": IdScheme.REGISTRATION,
    "Registration ID": IdScheme.REGISTRATION,
    "Business Registration Number": IdScheme.REGISTRATION,
    "Company Number": IdScheme.REGISTRATION,
    "Legal Entity Number": IdScheme.LEI,
    "SWIFT/BIC": IdScheme.BIC,
    "Vessel Registration Identification IMO": IdScheme.IMO,
    "Identification Number": IdScheme.OTHER,
    "Cedula No.": IdScheme.NATIONAL_ID,
    "C.U.R.P.": IdScheme.NATIONAL_ID,
    "D.N.I.": IdScheme.NATIONAL_ID,
}


@dataclass
class _Row:
    ent_num: str
    name: str
    sdn_type: str | None
    program: str | None
    remarks: str = ""
    aliases: list[tuple[str, NameKind]] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class OfacCsvFiles:
    primary: Path
    alt: Path | None = None
    add: Path | None = None
    comments: Path | None = None

    @classmethod
    def discover(cls, path: Path) -> OfacCsvFiles:
        """A folder holding the standard file names, or one primary file with optional siblings."""
        if path.is_dir():
            primary = next((path / n for n in ("sdn.csv", "cons_prim.csv") if (path / n).is_file()), None)
            if primary is None:
                raise FileNotFoundError(f"no sdn.csv or cons_prim.csv in {path}")
            path = primary
        prefix = "cons_" if path.name.startswith("cons_") else ""
        comments_name = "cons_comments.csv" if prefix else "sdn_comments.csv"
        if path.name not in ("sdn.csv", "cons_prim.csv"):
            return cls(primary=path)
        return cls(
            primary=path,
            alt=_existing(path.parent / f"{prefix}alt.csv"),
            add=_existing(path.parent / f"{prefix}add.csv"),
            comments=_existing(path.parent / comments_name),
        )

    @property
    def all(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.primary, self.alt, self.add, self.comments) if p is not None)


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def load_ofac_csv(
    files: OfacCsvFiles | Path, source: str | None = None, progress: ProgressCallback | None = None
) -> ListSnapshot:
    if isinstance(files, Path):
        files = OfacCsvFiles.discover(files)
    rows = {row.ent_num: row for row in _primary_rows(files.primary)}
    if files.comments is not None:
        for ent_num, text in _records(files.comments, 2):
            ent_num = ent_num.strip()
            if ent_num in rows:
                rows[ent_num].remarks += text
    if files.alt is not None:
        _attach_aliases(rows, files.alt)
    if files.add is not None:
        _attach_countries(rows, files.add)
    entities = (_entity(row) for row in with_progress(rows.values(), progress, len(rows)))
    default_source = "ofac-cons" if files.primary.name.startswith("cons_") else "ofac-sdn"
    return make_snapshot(
        source=source or default_source,
        published=date_in_name(files.primary),
        content_sha256=file_sha256(*files.all),
        entities=entities,
        list_format=LIST_FORMAT,
    )


def _records(path: Path, width: int) -> Iterator[list[str]]:
    # OFAC publishes these files in Windows-1252 in places; decode leniently, never drop a row.
    text = path.read_bytes().decode("utf-8", errors="replace")
    for record in csv.reader(io.StringIO(text)):
        if len(record) < width or not record[0].strip().isdigit():
            continue
        # Cells stay unstripped: a remark cut by sdn.csv's limit may end in the space before an address
        # that sdn_comments.csv then starts with.
        yield [cell if cell.strip() != _NULL else "" for cell in record]


def _value(cell: str) -> str | None:
    stripped = cell.strip()
    return None if stripped == _NULL or not stripped else stripped


def _primary_rows(path: Path) -> Iterator[_Row]:
    for record in _records(path, 12):
        yield _Row(
            ent_num=record[0].strip(),
            name=record[1].strip(),
            sdn_type=_value(record[2]),
            program=_value(record[3]),
            remarks=record[11],
        )


def _attach_aliases(rows: dict[str, _Row], path: Path) -> None:
    for record in _records(path, 4):
        row = rows.get(record[0].strip())
        if row is not None and _value(record[3]):
            row.aliases.append((record[3].strip(), NameKind.ALIAS))


def _attach_countries(rows: dict[str, _Row], path: Path) -> None:
    for record in _records(path, 5):
        row = rows.get(record[0].strip())
        if row is not None and _value(record[4]):
            row.countries.append(record[4].strip())


def _entity(row: _Row) -> ListedEntity:
    schema = _SDN_TYPES.get((row.sdn_type or "").lower(), EntitySchema.ORGANIZATION)
    remark_fields = [part.strip().rstrip(".") for part in row.remarks.split(";")]
    names = names_of(
        [
            (row.name, NameKind.PRIMARY),
            *row.aliases,
            *((aka, NameKind.WEAK) for aka in _AKA.findall(row.remarks)),
        ]
    )
    countries = [*row.countries, *_remark_countries(remark_fields)]
    return ListedEntity(
        list_id=row.ent_num,
        schema=schema,
        names=names,
        identifiers=tuple(
            dict.fromkeys([*_remark_identifiers(remark_fields), *crypto_addresses(row.remarks)])
        ),
        countries=tuple(dict.fromkeys(countries)),
        birth_dates=tuple(dict.fromkeys(d for d in map(_birth_date, remark_fields) if d)),
        programs=tuple(p.strip("[] ") for p in (row.program or "").split("] [") if p.strip("[] ")),
        gender=next((m.group(1).lower() for m in map(_GENDER.match, remark_fields) if m), None),
    )


def _remark_countries(fields: list[str]) -> list[str]:
    return [m.group(1) for m in map(_COUNTRY_FIELD.match, fields) if m]


def _birth_date(field_text: str) -> str | None:
    found = _DOB.match(field_text)
    if found is None:
        return None
    day, month, year = found.groups()
    if month is None or month not in _MONTHS:
        return year
    if day is None:
        return f"{year}-{_MONTHS[month]:02d}"
    return f"{year}-{_MONTHS[month]:02d}-{int(day):02d}"


def _remark_identifiers(fields: list[str]) -> Iterator[Identifier]:
    for field_text in fields:
        found = _ID_FIELD.match(field_text)
        if found is None or found["label"] not in ID_LABELS:
            continue
        scheme = refine_russian_scheme(ID_LABELS[found["label"]], found["value"], found["country"])
        made = make_identifier(scheme, found["value"], country=found["country"])
        if made is not None:
            yield made


def crypto_addresses(text: str) -> list[Identifier]:
    """Digital-currency addresses in OFAC remark text, exactly as listed.

    No checksum filter: OFAC lists a few addresses that fail their checksum (typos at designation, a Tron
    address filed under XBT), and a listed string must still screen as listed.
    """
    found: list[Identifier] = []
    for ticker, address in _CRYPTO.findall(text):
        made = make_identifier(IdScheme.CRYPTO, address, asset=normalise_asset(ticker))
        if made is not None:
            found.append(made)
    return found
