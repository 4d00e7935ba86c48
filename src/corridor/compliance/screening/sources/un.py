"""UN Security Council consolidated list XML (CONSOLIDATED_LIST/INDIVIDUALS|ENTITIES), streamed."""

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
from corridor.compliance.screening.normalize import make_identifier
from corridor.compliance.screening.sources.common import (
    ProgressCallback,
    clean,
    file_sha256,
    names_of,
    with_progress,
)

LIST_FORMAT = "un"
SOURCE = "un-sc"
_NAME_PARTS = ("FIRST_NAME", "SECOND_NAME", "THIRD_NAME", "FOURTH_NAME")
# QUALITY "Low" marks aliases the UN itself calls insufficient for identification.
_ALIAS_KIND = {"low": NameKind.WEAK}
_DOCUMENT_SCHEMES = {"passport": IdScheme.PASSPORT, "national identification number": IdScheme.NATIONAL_ID}


def load_un(path: Path, progress: ProgressCallback | None = None) -> ListSnapshot:
    published = _date_generated(path)
    entities = with_progress(_entities(path), progress, None)
    return make_snapshot(SOURCE, published, file_sha256(path), entities, LIST_FORMAT)


def _date_generated(path: Path) -> str | None:
    for _, element in etree.iterparse(str(path), events=("start",), tag="CONSOLIDATED_LIST"):
        generated: str | None = element.get("dateGenerated")
        return generated
    return None


def _entities(path: Path) -> Iterator[ListedEntity]:
    for _, element in etree.iterparse(str(path), events=("end",), tag=("INDIVIDUAL", "ENTITY")):
        yield _entity(element)
        element.clear(keep_tail=True)


def _text(element: etree._Element, path: str) -> str | None:
    found = element.find(path)
    return clean(found.text) if found is not None else None


def _texts(element: etree._Element, path: str) -> list[str]:
    return [text for text in (clean(found.text) for found in element.findall(path)) if text]


def _entity(element: etree._Element) -> ListedEntity:
    is_person = element.tag == "INDIVIDUAL"
    prefix = "INDIVIDUAL" if is_person else "ENTITY"
    full_name = " ".join(part for part in (_text(element, tag) for tag in _NAME_PARTS) if part)
    aliases = [
        (_text(alias, "ALIAS_NAME"), _ALIAS_KIND.get((_text(alias, "QUALITY") or "").lower(), NameKind.ALIAS))
        for alias in element.findall(f"{prefix}_ALIAS")
    ]
    names = names_of(
        [(full_name, NameKind.PRIMARY), (_text(element, "NAME_ORIGINAL_SCRIPT"), NameKind.ALIAS), *aliases]
    )
    countries = _texts(element, "NATIONALITY/VALUE") + _texts(element, f"{prefix}_ADDRESS/COUNTRY")
    return ListedEntity(
        list_id=_text(element, "DATAID") or _text(element, "REFERENCE_NUMBER") or "",
        schema=EntitySchema.PERSON if is_person else EntitySchema.ORGANIZATION,
        names=names,
        identifiers=tuple(_documents(element)),
        countries=tuple(dict.fromkeys(countries)),
        birth_dates=tuple(dict.fromkeys(_birth_dates(element))),
        programs=tuple(_texts(element, "UN_LIST_TYPE")),
        gender=(_text(element, "GENDER") or "").lower() or None,
    )


def _documents(element: etree._Element) -> Iterator[Identifier]:
    for document in element.findall("INDIVIDUAL_DOCUMENT"):
        number = _text(document, "NUMBER")
        if not number:
            continue
        kind = (_text(document, "TYPE_OF_DOCUMENT") or "").lower()
        country = _text(document, "ISSUING_COUNTRY") or _text(document, "COUNTRY_OF_ISSUE")
        made = make_identifier(_DOCUMENT_SCHEMES.get(kind, IdScheme.OTHER), number, country=country)
        if made is not None:
            yield made


def _birth_dates(element: etree._Element) -> Iterator[str]:
    for birth in element.findall("INDIVIDUAL_DATE_OF_BIRTH"):
        value = _text(birth, "DATE") or _text(birth, "YEAR")
        if value:
            yield value[:10]
