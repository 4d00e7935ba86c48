"""OFAC SDN Advanced XML (sdn_advanced.xsd), streamed with lxml iterparse.

The format is reference-heavy: feature, document, alias and party types are numeric ids resolved through
ReferenceValueSets; identity documents and sanctions entries sit in their own sections and point back to
identities and profiles. Digital-currency addresses are Features whose FeatureType text is
"Digital Currency Address - <ticker>" (the method 0xB10C's address list uses). Namespaces changed over
the years, so elements are matched by local name.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
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
from corridor.compliance.screening.normalize import make_identifier, normalise_asset, refine_russian_scheme
from corridor.compliance.screening.sources.common import ProgressCallback, clean, file_sha256, names_of
from corridor.compliance.screening.sources.ofac_csv import ID_LABELS

LIST_FORMAT = "ofac-advanced"
SOURCE = "ofac-sdn"
_CRYPTO_FEATURE_PREFIX = "Digital Currency Address - "
_REFERENCE_KINDS = ("AliasType", "FeatureType", "IDRegDocType", "PartySubType", "PartyType", "Country")
_SCHEMA_BY_TYPE = {
    "Individual": EntitySchema.PERSON,
    "Entity": EntitySchema.ORGANIZATION,
    "Vessel": EntitySchema.VESSEL,
    "Aircraft": EntitySchema.AIRPLANE,
}
_PROGRESS_EVERY = 500


@dataclass
class _Party:
    profile_id: str
    sub_type_id: str | None
    identity_ids: list[str] = field(default_factory=list)
    names: list[tuple[str, NameKind]] = field(default_factory=list)
    features: list[tuple[str, str]] = field(default_factory=list)
    birth_dates: list[str] = field(default_factory=list)


@dataclass
class _Document:
    identity_id: str
    type_id: str
    number: str
    country_id: str | None


@dataclass
class _Collected:
    published: str | None = None
    references: defaultdict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))
    party_type_of_sub_type: dict[str, str] = field(default_factory=dict)
    parties: list[_Party] = field(default_factory=list)
    documents: list[_Document] = field(default_factory=list)
    programs: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


def _local(element: etree._Element) -> str:
    return str(etree.QName(element).localname)


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return next((child for child in element if _local(child) == name), None)


def _descendants(element: etree._Element, name: str) -> list[etree._Element]:
    return [node for node in element.iter() if isinstance(node.tag, str) and _local(node) == name]


def load_ofac_advanced(path: Path, progress: ProgressCallback | None = None) -> ListSnapshot:
    collected = _collect(path, progress)
    documents = defaultdict(list)
    for document in collected.documents:
        documents[document.identity_id].append(document)
    entities = [_entity(party, collected, documents) for party in collected.parties]
    return make_snapshot(SOURCE, collected.published, file_sha256(path), entities, LIST_FORMAT)


def _collect(path: Path, progress: ProgressCallback | None) -> _Collected:
    collected = _Collected()
    for _, element in etree.iterparse(str(path), events=("end",)):
        if not isinstance(element.tag, str):
            continue
        name = _local(element)
        if name in _REFERENCE_KINDS and element.get("ID") is not None:
            collected.references[name][element.get("ID") or ""] = clean(element.text) or ""
            if name == "PartySubType":
                collected.party_type_of_sub_type[element.get("ID") or ""] = element.get("PartyTypeID") or ""
        elif name == "DateOfIssue":
            collected.published = _date(element)
        elif name == "IDRegDocument":
            _collect_document(element, collected)
            element.clear(keep_tail=True)
        elif name == "DistinctParty":
            collected.parties.extend(_parties(element))
            element.clear(keep_tail=True)
            if progress is not None and len(collected.parties) % _PROGRESS_EVERY == 0:
                progress(len(collected.parties), None)
        elif name == "SanctionsEntry":
            comments = [clean(c.text) for c in _descendants(element, "Comment")]
            collected.programs[element.get("ProfileID") or ""].extend(c for c in comments if c)
            element.clear(keep_tail=True)
    if progress is not None:
        progress(len(collected.parties), len(collected.parties))
    return collected


def _date(element: etree._Element) -> str | None:
    parts = [_child(element, unit) for unit in ("Year", "Month", "Day")]
    values = [
        int(part.text) for part in parts if part is not None and part.text and part.text.strip().isdigit()
    ]
    if not values:
        return None
    return "-".join([f"{values[0]:04d}", *(f"{value:02d}" for value in values[1:])])


def _collect_document(element: etree._Element, collected: _Collected) -> None:
    number = _child(element, "IDRegistrationNo")
    if number is None or not clean(number.text):
        return
    collected.documents.append(
        _Document(
            identity_id=element.get("IdentityID") or "",
            type_id=element.get("IDRegDocTypeID") or "",
            number=clean(number.text) or "",
            country_id=element.get("IssuedBy-CountryID"),
        )
    )


def _parties(element: etree._Element) -> list[_Party]:
    parties = []
    for profile in (child for child in element if _local(child) == "Profile"):
        party = _Party(
            profile_id=profile.get("ID") or element.get("FixedRef") or "",
            sub_type_id=profile.get("PartySubTypeID"),
        )
        for identity in (child for child in profile if _local(child) == "Identity"):
            party.identity_ids.append(identity.get("ID") or "")
            party.names.extend(_alias_names(identity))
        for feature in (child for child in profile if _local(child) == "Feature"):
            party.features.extend(_feature_values(feature))
        parties.append(party)
    return parties


def _alias_names(identity: etree._Element) -> list[tuple[str, NameKind]]:
    names = []
    for alias in (child for child in identity if _local(child) == "Alias"):
        if alias.get("Primary") == "true":
            kind = NameKind.PRIMARY
        elif alias.get("LowQuality") == "true":
            kind = NameKind.WEAK
        else:
            kind = NameKind.ALIAS
        for documented in (child for child in alias if _local(child) == "DocumentedName"):
            parts = [clean(value.text) for value in _descendants(documented, "NamePartValue")]
            full = " ".join(part for part in parts if part)
            if full:
                names.append((full, kind))
    return names


def _feature_values(feature: etree._Element) -> list[tuple[str, str]]:
    """(FeatureTypeID, value) pairs: free-text details, and dates rendered as ISO text."""
    type_id = feature.get("FeatureTypeID") or ""
    values = []
    for version in (child for child in feature if _local(child) == "FeatureVersion"):
        for detail in _descendants(version, "VersionDetail"):
            if clean(detail.text):
                values.append((type_id, clean(detail.text) or ""))
        for start in _descendants(version, "From")[:1]:
            date = _date(start)
            if date:
                values.append((type_id, date))
    return values


def _entity(party: _Party, collected: _Collected, documents: dict[str, list[_Document]]) -> ListedEntity:
    feature_names = collected.references["FeatureType"]
    identifiers: list[Identifier] = []
    birth_dates: list[str] = []
    for type_id, value in party.features:
        feature_name = feature_names.get(type_id, "")
        if feature_name.startswith(_CRYPTO_FEATURE_PREFIX):
            identifiers.extend(_crypto(feature_name.removeprefix(_CRYPTO_FEATURE_PREFIX), value))
        elif feature_name == "Birthdate":
            birth_dates.append(value)
    for identity_id in party.identity_ids:
        identifiers.extend(_document_identifiers(documents.get(identity_id, []), collected))
    return ListedEntity(
        list_id=party.profile_id,
        schema=_schema(party, collected),
        names=names_of(party.names),
        identifiers=tuple(dict.fromkeys(identifiers)),
        birth_dates=tuple(dict.fromkeys(birth_dates)),
        programs=tuple(dict.fromkeys(collected.programs.get(party.profile_id, []))),
    )


def _crypto(ticker: str, address: str) -> list[Identifier]:
    made = make_identifier(IdScheme.CRYPTO, address, asset=normalise_asset(ticker))
    return [made] if made is not None else []


def _document_identifiers(docs: list[_Document], collected: _Collected) -> list[Identifier]:
    found = []
    for doc in docs:
        label = collected.references["IDRegDocType"].get(doc.type_id, "")
        country = collected.references["Country"].get(doc.country_id or "") or None
        scheme = refine_russian_scheme(ID_LABELS.get(label, IdScheme.OTHER), doc.number, country)
        made = make_identifier(scheme, doc.number, country=country)
        if made is not None:
            found.append(made)
    return found


def _schema(party: _Party, collected: _Collected) -> EntitySchema:
    sub_type = collected.references["PartySubType"].get(party.sub_type_id or "", "")
    if sub_type in _SCHEMA_BY_TYPE:
        return _SCHEMA_BY_TYPE[sub_type]
    party_type_id = collected.party_type_of_sub_type.get(party.sub_type_id or "", "")
    party_type = collected.references["PartyType"].get(party_type_id, "")
    return _SCHEMA_BY_TYPE.get(party_type, EntitySchema.ORGANIZATION)
