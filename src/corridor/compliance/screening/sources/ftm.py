"""OpenSanctions FollowTheMoney entities (JSON lines) and their delta files.

Matchable parties (Person, Company, Organization, LegalEntity, Vessel, Airplane) become listed entities;
CryptoWallet (`publicKey` holds the address), Passport/Identification (`number`) and Sanction (`program`)
entities are folded into the party they point at, so identifiers and programmes screen with the party.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corridor.compliance.screening.model import (
    EntitySchema,
    Identifier,
    IdScheme,
    ListDelta,
    ListedEntity,
    ListSnapshot,
    NameKind,
    make_snapshot,
)
from corridor.compliance.screening.normalize import make_identifier
from corridor.compliance.screening.sources.common import (
    ProgressCallback,
    file_sha256,
    names_of,
    with_progress,
)

LIST_FORMAT = "ftm"
SOURCE = "opensanctions"
_PARTY_SCHEMAS = {schema.value: schema for schema in EntitySchema}
_ID_PROPERTIES = {
    "innCode": IdScheme.INN,
    "ogrnCode": IdScheme.OGRN,
    "leiCode": IdScheme.LEI,
    "swiftBic": IdScheme.BIC,
    "passportNumber": IdScheme.PASSPORT,
    "idNumber": IdScheme.NATIONAL_ID,
    "taxNumber": IdScheme.TAX_ID,
    "registrationNumber": IdScheme.REGISTRATION,
    "imoNumber": IdScheme.IMO,
}
_NAME_PROPERTIES = {"name": NameKind.PRIMARY, "alias": NameKind.ALIAS, "previousName": NameKind.ALIAS}
_WEAK_PROPERTIES = ("weakAlias",)
_VERSION_FOLDER = re.compile(r"^\d{14}-[a-z0-9]+$")
_DELTA_OPS = {"ADD", "MOD", "DEL"}


@dataclass
class _Attachments:
    identifiers: defaultdict[str, list[Identifier]] = field(default_factory=lambda: defaultdict(list))
    programs: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def collect(self, record: dict[str, Any]) -> None:
        props: dict[str, list[str]] = record.get("properties") or {}
        schema = record.get("schema")
        if schema == "CryptoWallet":
            for holder in props.get("holder", []):
                asset = next(iter(props.get("currencySymbol") or props.get("currency") or []), None)
                for address in props.get("publicKey", []):
                    self._add(holder, make_identifier(IdScheme.CRYPTO, address, asset=asset))
        elif schema in ("Passport", "Identification"):
            scheme = IdScheme.PASSPORT if schema == "Passport" else IdScheme.NATIONAL_ID
            country = next(iter(props.get("country", [])), None)
            for holder in props.get("holder", []):
                for number in props.get("number", []):
                    self._add(holder, make_identifier(scheme, number, country=country))
        elif schema == "Sanction":
            for target in props.get("entity", []):
                self.programs[target].extend(props.get("program", []) or props.get("authority", []))

    def _add(self, holder: str, identifier: Identifier | None) -> None:
        if identifier is not None:
            self.identifiers[holder].append(identifier)


def load_ftm(path: Path, source: str = SOURCE, progress: ProgressCallback | None = None) -> ListSnapshot:
    records = list(with_progress(_records(path), progress, None))
    attachments = _Attachments()
    for record in records:
        attachments.collect(record)
    entities = [entity for record in records if (entity := _entity(record, attachments)) is not None]
    published = _version_of(path) or _latest_change(records)
    return make_snapshot(source, published, file_sha256(path), entities, LIST_FORMAT)


def load_ftm_delta(path: Path, source: str = SOURCE, progress: ProgressCallback | None = None) -> ListDelta:
    """A delta file: lines of {"op": ADD|MOD|DEL, "entity": {...}}; ADD and MOD both replace the entity."""
    operations = [
        record for record in with_progress(_records(path), progress, None) if record.get("op") in _DELTA_OPS
    ]
    attachments = _Attachments()
    for operation in operations:
        if operation["op"] != "DEL":
            attachments.collect(operation["entity"])
    upserts = [
        entity
        for operation in operations
        if operation["op"] != "DEL" and (entity := _entity(operation["entity"], attachments)) is not None
    ]
    deletions = [str(operation["entity"]["id"]) for operation in operations if operation["op"] == "DEL"]
    return ListDelta(
        source=source,
        published=_version_of(path) or _latest_change([op["entity"] for op in operations]),
        content_sha256=file_sha256(path),
        upserts=tuple(upserts),
        deletions=tuple(deletions),
    )


def is_delta_file(path: Path) -> bool:
    for record in _records(path):
        return "op" in record and "entity" in record
    return False


def _records(path: Path) -> Iterator[dict[str, Any]]:
    # Some published files end without a newline or hold several objects on one line; decode them
    # as a stream of concatenated JSON values rather than strictly one per line.
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            position, text = 0, line.strip()
            while position < len(text):
                value, end = decoder.raw_decode(text, position)
                yield value
                position = end
                while position < len(text) and text[position].isspace():
                    position += 1


def _entity(record: dict[str, Any], attachments: _Attachments) -> ListedEntity | None:
    schema = _PARTY_SCHEMAS.get(str(record.get("schema")))
    entity_id = record.get("id")
    if schema is None or not entity_id:
        return None
    props: dict[str, list[str]] = record.get("properties") or {}
    names = names_of(
        [(value, kind) for prop, kind in _NAME_PROPERTIES.items() for value in props.get(prop, [])]
        + [(value, NameKind.WEAK) for prop in _WEAK_PROPERTIES for value in props.get(prop, [])]
    )
    if not names:
        return None
    identifiers = [*_identifiers(props), *attachments.identifiers.get(entity_id, [])]
    countries = props.get("country", []) + props.get("nationality", []) + props.get("citizenship", [])
    return ListedEntity(
        list_id=str(entity_id),
        schema=schema,
        names=names,
        identifiers=tuple(dict.fromkeys(identifiers)),
        countries=tuple(dict.fromkeys(countries)),
        birth_dates=tuple(dict.fromkeys(props.get("birthDate", []))),
        programs=tuple(dict.fromkeys(props.get("programId", []) + attachments.programs.get(entity_id, []))),
        gender=next(iter(props.get("gender", [])), None),
    )


def _identifiers(props: dict[str, list[str]]) -> Iterator[Identifier]:
    for prop, scheme in _ID_PROPERTIES.items():
        for value in props.get(prop, []):
            made = make_identifier(scheme, value)
            if made is not None:
                yield made


def _version_of(path: Path) -> str | None:
    folder = path.parent.name
    return folder if _VERSION_FOLDER.match(folder) else None


def _latest_change(records: list[dict[str, Any]]) -> str | None:
    """Newest change stamp in the file: FtM entity files carry no publication date of their own."""
    stamps = [str(r.get("last_change") or "") for r in records]
    stamps += [max((r.get("properties") or {}).get("modifiedAt", [""])) for r in records]
    return max((stamp for stamp in stamps if stamp), default=None)
