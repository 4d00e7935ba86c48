"""EU consolidated financial sanctions list (FSF export 1.1 XML, namespace fpi/fsd/export), streamed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

from corridor.compliance.screening.model import (
    EntitySchema,
    Identifier,
    IdScheme,
    ListedEntity,
    ListSnapshot,
    NameKind,
    make_snapshot,
)
from corridor.compliance.screening.normalize import make_identifier, refine_russian_scheme
from corridor.compliance.screening.sources.common import (
    ProgressCallback,
    clean,
    file_sha256,
    names_of,
    with_progress,
)

LIST_FORMAT = "eu"
SOURCE = "eu-fsf"
NAMESPACE = "http://eu.europa.ec/fpi/fsd/export"
_ID_CODES = {
    "passport": IdScheme.PASSPORT,
    "id": IdScheme.NATIONAL_ID,
    "regnumber": IdScheme.REGISTRATION,
    "fiscalcode": IdScheme.TAX_ID,
    "swiftbic": IdScheme.BIC,
    "imo": IdScheme.IMO,
}


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def load_eu(path: Path, progress: ProgressCallback | None = None) -> ListSnapshot:
    published = _generation_date(path)
    entities = with_progress(_entities(path), progress, None)
    return make_snapshot(SOURCE, published, file_sha256(path), entities, LIST_FORMAT)


def _generation_date(path: Path) -> str | None:
    for _, element in etree.iterparse(str(path), events=("start",), tag=_tag("export")):
        generated: str | None = element.get("generationDate")
        return generated
    return None


def _entities(path: Path) -> Iterator[ListedEntity]:
    for _, element in etree.iterparse(str(path), events=("end",), tag=_tag("sanctionEntity")):
        yield _entity(element)
        element.clear(keep_tail=True)


def _entity(element: etree._Element) -> ListedEntity:
    subject = element.find(_tag("subjectType"))
    is_person = subject is not None and subject.get("code") == "person"
    aliases = element.findall(_tag("nameAlias"))
    names = names_of((_whole_name(alias), _alias_kind(alias, i)) for i, alias in enumerate(aliases))
    countries = [
        c.get("countryIso2Code") or c.get("countryDescription") or ""
        for c in element.findall(_tag("citizenship")) + element.findall(_tag("address"))
    ]
    births = [b.get("birthdate") or b.get("year") or "" for b in element.findall(_tag("birthdate"))]
    genders = [alias.get("gender") for alias in aliases if alias.get("gender") in ("M", "F")]
    return ListedEntity(
        list_id=element.get("logicalId") or element.get("euReferenceNumber") or "",
        schema=EntitySchema.PERSON if is_person else EntitySchema.ORGANIZATION,
        names=names,
        identifiers=tuple(dict.fromkeys(_identifications(element))),
        countries=tuple(dict.fromkeys(c for c in countries if c and c != "00")),
        birth_dates=tuple(dict.fromkeys(b for b in births if b)),
        programs=tuple(dict.fromkeys(r.get("programme") or "" for r in element.findall(_tag("regulation")))),
        gender={"M": "male", "F": "female"}.get(genders[0]) if genders else None,
    )


def _whole_name(alias: etree._Element) -> str | None:
    whole = clean(alias.get("wholeName"))
    if whole:
        return whole
    parts = (clean(alias.get(part)) for part in ("firstName", "middleName", "lastName"))
    return " ".join(part for part in parts if part) or None


def _alias_kind(alias: etree._Element, position: int) -> NameKind:
    if alias.get("strong") == "false":
        return NameKind.WEAK
    return NameKind.PRIMARY if position == 0 else NameKind.ALIAS


def _identifications(element: etree._Element) -> Iterator[Identifier]:
    for ident in element.findall(_tag("identification")):
        number = ident.get("latinNumber") or ident.get("number")
        if not number:
            continue
        country = ident.get("countryIso2Code")
        scheme = _ID_CODES.get((ident.get("identificationTypeCode") or "").lower(), IdScheme.OTHER)
        made = make_identifier(refine_russian_scheme(scheme, number, country), number, country=country)
        if made is not None:
            yield made
