"""Scoring of retrieved candidates with OpenSanctions' nomenklatura matchers.

Listed entities and queries are turned into FollowTheMoney entity proxies so nomenklatura sees exactly
what yente would show it; its per-feature explanations are kept verbatim for the audit trail.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import TypeVar

from followthemoney import EntityProxy, Schema, model
from followthemoney.types import registry
from nomenklatura.matching import LogicV2, NameMatcher
from nomenklatura.matching.types import HeuristicAlgorithm, ScoringConfig

from corridor.compliance.screening.model import (
    EntitySchema,
    FeatureExplanation,
    Identifier,
    IdScheme,
    ListedEntity,
    ListedName,
    NameKind,
    PartyQuery,
)
from corridor.compliance.screening.names import LogicV2Names, model_version
from corridor.compliance.screening.normalize import numeric_variant, romanised_variant

_NAME_PROPERTY = {NameKind.PRIMARY: "name", NameKind.ALIAS: "alias", NameKind.WEAK: "weakAlias"}
_ID_PROPERTY = {
    IdScheme.INN: "innCode",
    IdScheme.OGRN: "ogrnCode",
    IdScheme.LEI: "leiCode",
    IdScheme.BIC: "swiftBic",
    IdScheme.PASSPORT: "passportNumber",
    IdScheme.NATIONAL_ID: "idNumber",
    IdScheme.TAX_ID: "taxNumber",
    IdScheme.REGISTRATION: "registrationNumber",
    IdScheme.IMO: "imoNumber",
    IdScheme.OTHER: "idNumber",
}


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A nomenklatura heuristic matcher with its default configuration, named for the audit record."""

    name: str
    matcher: type[HeuristicAlgorithm]

    @property
    def version(self) -> str:
        base = f"nomenklatura-{_nomenklatura_version()}"
        return f"{base}+names-{model_version()}" if self.matcher is LogicV2Names else base

    def score(
        self, query: EntityProxy, candidate: EntityProxy
    ) -> tuple[float, tuple[FeatureExplanation, ...]]:
        result = self.matcher.compare(query, candidate, self._config())
        features = tuple(
            FeatureExplanation(
                feature=name,
                score=float(explanation.score),
                detail=explanation.detail,
                query_value=explanation.query,
                candidate_value=explanation.candidate,
            )
            for name, explanation in result.explanations.items()
            if explanation.score != 0.0
        )
        return float(result.score), features

    def _config(self) -> ScoringConfig:
        # compare() fills missing defaults into the config it is given, so each algorithm keeps its own.
        return _default_config(self.name)


@cache
def _nomenklatura_version() -> str:
    # Reading package metadata costs about a millisecond: more than retrieving candidates.
    return version("nomenklatura")


@cache
def _default_config(name: str) -> ScoringConfig:
    return ALGORITHMS[name].matcher.default_config()


LOGIC_V2 = Algorithm(name=LogicV2.NAME, matcher=LogicV2)
NAME_BASED = Algorithm(name=NameMatcher.NAME, matcher=NameMatcher)
LOGIC_V2_NAMES = Algorithm(name=LogicV2Names.NAME, matcher=LogicV2Names)
ALGORITHMS = {algorithm.name: algorithm for algorithm in (LOGIC_V2, NAME_BASED, LOGIC_V2_NAMES)}
DEFAULT_ALGORITHM = LOGIC_V2_NAMES
"""What screenings use: logic-v2 with the learned name comparator (see names.py and the benchmark)."""

_query_ids: Iterator[int] = itertools.count()
P = TypeVar("P", bound=EntityProxy)


def entity_proxy(entity: ListedEntity, ref: str) -> EntityProxy:
    """The FtM form of a listed entity; `ref` must be unique because nomenklatura caches by entity id."""
    proxy = model.make_entity(entity.schema.value)
    proxy.id = ref
    for name in entity.names:
        _add_name(proxy, name)
    _add_common(proxy, entity.identifiers, entity.countries, entity.birth_dates, entity.gender)
    return proxy


@dataclass(frozen=True, slots=True)
class ProxyParts:
    """A listed entity's FtM properties, cleaned once: per listed name the values it adds (itself and its
    variants), then the properties every subset of its names shares. ``assemble`` puts them together
    without cleaning anything again, which is most of what building a proxy costs (dates, countries)."""

    schema: Schema
    names: tuple[tuple[tuple[str, str], ...], ...]
    """Per listed name, in order: (property, cleaned value) pairs."""
    common: tuple[tuple[str, tuple[str, ...]], ...]


def proxy_parts(entity: ListedEntity) -> ProxyParts:
    scratch = model.make_entity(entity.schema.value)
    person = scratch.schema.is_a(EntitySchema.PERSON.value)
    names = []
    for name in entity.names:
        # What add() stores: the name type's canonical form of each value, None for nothing usable.
        cleaned = ((prop, registry.name.clean(value)) for prop, value in _name_values(name, person))
        names.append(tuple((prop, value) for prop, value in cleaned if value is not None))
    _add_common(scratch, entity.identifiers, entity.countries, entity.birth_dates, entity.gender)
    common = tuple((prop, tuple(values)) for prop, values in scratch.properties.items())
    return ProxyParts(scratch.schema, tuple(names), common)


def assemble(parts: ProxyParts, ref: str, chosen: Sequence[int] | None, cls: type[P]) -> P:
    """The proxy ``entity_proxy`` builds for the entity with only the names at positions `chosen` (all
    when None), as an instance of `cls` (EntityProxy or a subclass)."""
    properties: dict[str, list[str]] = {}
    for position in range(len(parts.names)) if chosen is None else chosen:
        for prop, value in parts.names[position]:
            properties.setdefault(prop, []).append(value)
    for prop, values in parts.common:
        properties.setdefault(prop, []).extend(values)
    # cleaned=True takes the values as they are, dropping repeats as add() does.
    proxy = cls(parts.schema, {"properties": properties}, cleaned=True)
    proxy.id = ref
    return proxy


def query_proxy(query: PartyQuery) -> EntityProxy:
    proxy = model.make_entity(query.schema.value)
    # A fresh id per query: nomenklatura memoises name analysis by entity id.
    proxy.id = f"corridor-query-{next(_query_ids)}"
    person = proxy.schema.is_a(EntitySchema.PERSON.value)
    proxy.add("name", query.name, quiet=True)
    proxy.add("alias", _variants(query.name, person), quiet=True)
    for alias in query.aliases:
        proxy.add("alias", [alias, *_variants(alias, person)], quiet=True)
    birth_dates = (query.birth_date,) if query.birth_date else ()
    _add_common(proxy, query.identifiers, query.countries, birth_dates, query.gender)
    return proxy


def _add_name(proxy: EntityProxy, name: ListedName) -> None:
    for prop, value in _name_values(name, proxy.schema.is_a(EntitySchema.PERSON.value)):
        proxy.add(prop, value, quiet=True)


def _name_values(name: ListedName, person: bool) -> list[tuple[str, str]]:
    """The name's (property, value) pairs: itself, then its variants as aliases (weak ones stay weak)."""
    prop = _NAME_PROPERTY[name.kind]
    variant_prop = "alias" if prop == "name" else prop
    return [(prop, name.value), *((variant_prop, variant) for variant in _variants(name.value, person))]


def _variants(name: str, person: bool) -> list[str]:
    # Organisations and vessels also go under their name with number words as digits (Brigade Forty-Four
    # / Brigade 44, First / 1st); people's names keep their words ("Ten" is a surname).
    numeric = None if person else numeric_variant(name)
    return [variant for variant in (numeric, romanised_variant(name)) if variant is not None]


def _add_common(
    proxy: EntityProxy,
    identifiers: tuple[Identifier, ...],
    countries: tuple[str, ...],
    birth_dates: tuple[str, ...],
    gender: str | None,
) -> None:
    for identifier in identifiers:
        prop = _identifier_property(proxy, identifier.scheme)
        if prop is not None:
            proxy.add(prop, identifier.value, quiet=True)
    country_prop = "nationality" if proxy.schema.is_a(EntitySchema.PERSON.value) else "country"
    for country in countries:
        proxy.add(country_prop, country, quiet=True, fuzzy=True)
    if proxy.schema.is_a(EntitySchema.PERSON.value):
        for birth_date in birth_dates:
            proxy.add("birthDate", birth_date, quiet=True)
        if gender:
            proxy.add("gender", gender, quiet=True)


def _identifier_property(proxy: EntityProxy, scheme: IdScheme) -> str | None:
    prop = _ID_PROPERTY.get(scheme)
    if prop is None:
        return None
    if prop in proxy.schema.properties:
        return prop
    return "idNumber" if "idNumber" in proxy.schema.properties else None


@cache
def schemas_can_match(query: EntitySchema, candidate: EntitySchema) -> bool:
    query_schema = model.get(query.value)
    candidate_schema = model.get(candidate.value)
    if query_schema is None or candidate_schema is None:
        return False
    return query_schema.can_match(candidate_schema) or query_schema == candidate_schema
