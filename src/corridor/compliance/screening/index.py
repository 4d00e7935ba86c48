"""The in-memory screening index: candidate retrieval by keys, then nomenklatura scoring of candidates.

Retrieval is recall-oriented and cheap (inverted index over token, transliteration skeleton and metaphone
keys, weighted by rarity); only the top retrieved candidates get the expensive logic-v2 comparison.
Identifier and wallet-address lookups are exact and bypass names entirely.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from followthemoney import EntityProxy, model
from followthemoney.names import schema_type_tag
from rigour.names import NameTypeTag

from corridor.compliance.screening.matcher import (
    DEFAULT_ALGORITHM,
    Algorithm,
    entity_proxy,
    query_proxy,
    schemas_can_match,
)
from corridor.compliance.screening.model import (
    STRONG_ID_SCHEMES,
    AddressHit,
    Candidate,
    EntitySchema,
    FeatureExplanation,
    Identifier,
    IdScheme,
    ListedEntity,
    ListSnapshot,
    ListVersion,
    PartyQuery,
    ScreeningResult,
    rank_key,
    validate_threshold,
)
from corridor.compliance.screening.model import (
    entity_sha256 as content_sha256,
)
from corridor.compliance.screening.normalize import (
    listed_symbol_keys,
    make_identifier,
    name_keys,
    normalise_address,
    normalise_asset,
    retrieval_keys,
)

# Defaults of the index alone (tests, benchmarks, evaluation). Screenings that are recorded (the gate,
# the API, the CLI, re-screening) use the profile's screening_alert_threshold and screening_cutoff instead
# (service.policy_on). 0.70 is also yente's published default, so alerts are comparable with it.
DEFAULT_THRESHOLD = 0.70
DEFAULT_CUTOFF = 0.50
DEFAULT_LIMIT = 10
# Candidates scored per query. yente scores limit x 5 = 50 by default; our retrieval ranks by key rarity
# first, so fewer suffice (measured recall on cases.csv is in the benchmark).
DEFAULT_CANDIDATES = 12
# Keys shared by more than this share of entities ("llc", "al", "company") carry no retrieval signal.
_MAX_KEY_SHARE = 0.05
_KEY_KIND_WEIGHT = {"t": 1.0, "s": 0.8, "y": 0.7, "m": 0.6, "p": 0.5}
# Schemes that hold tax or registration numbers under different labels in different lists.
_ID_FAMILIES = (
    frozenset({IdScheme.INN, IdScheme.TAX_ID}),
    frozenset({IdScheme.OGRN, IdScheme.REGISTRATION}),
    frozenset({IdScheme.PASSPORT, IdScheme.NATIONAL_ID, IdScheme.OTHER}),
)
IDENTIFIER_MATCH_SCORE = 1.0
_NAMES_SCORED = 3
_PROXY_CACHE_SIZE = 200_000
_INDEX_SERIALS = itertools.count()


@dataclass(frozen=True, slots=True)
class IndexedEntity:
    ref: str
    source: str
    entity: ListedEntity


class ScreeningIndex:
    def __init__(
        self,
        entries: Sequence[IndexedEntity],
        postings: dict[str, tuple[int, ...]],
        identifiers: dict[str, tuple[int, ...]],
        addresses: dict[tuple[str, str], tuple[int, ...]],
        versions: tuple[ListVersion, ...],
    ) -> None:
        self._entries = entries
        self._postings = postings
        self._identifiers = identifiers
        self._addresses = addresses
        self._addresses_any_asset: dict[str, tuple[int, ...]] = _by_address(addresses)
        self._proxies: dict[tuple[int, tuple[int, ...]], EntityProxy] = {}
        self._positions = {entry.ref: position for position, entry in enumerate(entries)}
        self._max_postings = max(50, int(len(entries) * _MAX_KEY_SHARE))
        self._entity_hashes: dict[str, str] = {}
        self._serial = next(_INDEX_SERIALS)
        self._schemas = [entry.entity.schema for entry in entries]
        self.versions = versions

    @classmethod
    def build(cls, snapshots: Iterable[ListSnapshot]) -> ScreeningIndex:
        entries: list[IndexedEntity] = []
        postings: defaultdict[str, list[int]] = defaultdict(list)
        identifiers: defaultdict[str, list[int]] = defaultdict(list)
        addresses: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        versions: list[ListVersion] = []
        for snapshot in snapshots:
            versions.append(snapshot.version)
            for list_id in sorted(snapshot.entities):
                entity = snapshot.entities[list_id]
                position = len(entries)
                entries.append(IndexedEntity(f"{snapshot.source}:{list_id}", snapshot.source, entity))
                for key in _entity_keys(entity):
                    postings[key].append(position)
                for identifier in entity.identifiers:
                    if identifier.scheme is IdScheme.CRYPTO:
                        addresses[(identifier.asset or "", identifier.value)].append(position)
                    else:
                        identifiers[identifier.value].append(position)
        return cls(
            entries,
            {key: tuple(positions) for key, positions in postings.items()},
            {key: tuple(positions) for key, positions in identifiers.items()},
            {key: tuple(positions) for key, positions in addresses.items()},
            tuple(versions),
        )

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def address_count(self) -> int:
        return len(self._addresses)

    def screen(
        self,
        query: PartyQuery,
        threshold: float = DEFAULT_THRESHOLD,
        cutoff: float = DEFAULT_CUTOFF,
        limit: int = DEFAULT_LIMIT,
        algorithm: Algorithm = DEFAULT_ALGORITHM,
        candidates: int = DEFAULT_CANDIDATES,
    ) -> ScreeningResult:
        """Screen one party against every loaded list; candidates below `cutoff` are dropped."""
        validate_threshold(float(threshold), float(cutoff))
        identifier_hits = self._identifier_hits(query)
        key_weights = self._query_key_weights(query)
        retrieved = self._retrieve(query.schema, key_weights, candidates)
        positions = list(dict.fromkeys([*identifier_hits, *retrieved]))
        proxy = query_proxy(query)
        scored = [
            self._score(proxy, position, identifier_hits.get(position), algorithm, key_weights)
            for position in positions
        ]
        kept = sorted((c for c in scored if c.score >= cutoff), key=rank_key, reverse=True)[:limit]
        return ScreeningResult(
            query=query,
            candidates=tuple(kept),
            threshold=float(threshold),
            cutoff=float(cutoff),
            limit=limit,
            algorithm=algorithm.name,
            algorithm_version=algorithm.version,
            list_versions=self.versions,
            candidates_scored=len(positions),
        )

    def screen_address(self, address: str, asset: str | None = None) -> tuple[AddressHit, ...]:
        """Exact lookup of a wallet address; without `asset`, any asset's listing counts."""
        normalised = normalise_address(address)
        if asset is None:
            positions = self._addresses_any_asset.get(normalised, ())
        else:
            positions = self._addresses.get((normalise_asset(asset), normalised), ())
        return tuple(self._address_hit(position, normalised) for position in positions)

    def retrieve(self, query: PartyQuery, candidates: int = DEFAULT_CANDIDATES) -> list[int]:
        """Positions of the best `candidates` entities by shared rare name keys (no scoring)."""
        return self._retrieve(query.schema, self._query_key_weights(query), candidates)

    def _query_key_weights(self, query: PartyQuery) -> list[dict[str, float]]:
        """Per query token: its informative keys and their rarity weights."""
        total = len(self._entries)
        per_token = []
        for keys in retrieval_keys(query.all_names, type_tag(query.schema)).values():
            weights = {}
            for key in keys:
                count = len(self._postings.get(key, ()))
                if 0 < count <= self._max_postings:
                    weights[key] = _KEY_KIND_WEIGHT[key[0]] * math.log(1 + total / count)
            if weights:
                per_token.append(weights)
        return per_token

    def _retrieve(
        self, schema: EntitySchema, key_weights: list[dict[str, float]], candidates: int
    ) -> list[int]:
        totals: defaultdict[int, float] = defaultdict(float)
        for weights in key_weights:
            token_hits: dict[int, float] = {}
            for key, weight in weights.items():
                for position in self._postings[key]:
                    if weight > token_hits.get(position, 0.0):
                        token_hits[position] = weight
            for position, weight in token_hits.items():
                totals[position] += weight
        allowed = _compatible_schemas(schema)
        schemas = self._schemas
        compatible = (
            (weight, position) for position, weight in totals.items() if schemas[position] in allowed
        )
        return [position for _, position in heapq.nlargest(candidates, compatible)]

    def entry(self, position: int) -> IndexedEntity:
        return self._entries[position]

    def entity(self, ref: str) -> ListedEntity | None:
        position = self._positions.get(ref)
        return None if position is None else self._entries[position].entity

    def entity_sha256(self, ref: str) -> str:
        """Content hash of the listed record `ref` (what a decision on a hit is bound to)."""
        cached = self._entity_hashes.get(ref)
        if cached is None:
            entry = self._entries[self._positions[ref]]
            cached = content_sha256(entry.source, entry.entity)
            self._entity_hashes[ref] = cached
        return cached

    def _identifier_hits(self, query: PartyQuery) -> dict[int, Identifier]:
        hits: dict[int, Identifier] = {}
        for identifier in query.identifiers:
            if identifier.scheme is IdScheme.CRYPTO:
                for hit in self.screen_address(identifier.value, identifier.asset):
                    hits.setdefault(self._positions[hit.entity_ref], identifier)
                continue
            for position in self._identifiers.get(identifier.value, ()):
                if self._identifier_agrees(identifier, self._entries[position].entity):
                    hits.setdefault(position, identifier)
        return hits

    def _identifier_agrees(self, query_id: Identifier, entity: ListedEntity) -> bool:
        return any(
            listed.value == query_id.value
            and _schemes_compatible(listed.scheme, query_id.scheme)
            and _countries_compatible(listed, query_id)
            for listed in entity.identifiers
        )

    def _score(
        self,
        proxy: EntityProxy,
        position: int,
        matched: Identifier | None,
        algorithm: Algorithm,
        key_weights: list[dict[str, float]],
    ) -> Candidate:
        entry = self._entries[position]
        score, features = algorithm.score(proxy, self._focused_proxy(position, key_weights))
        if matched is not None:
            score = max(score, IDENTIFIER_MATCH_SCORE)
            detail = f"exact {matched.scheme.value} {matched.value}"
            features = (FeatureExplanation("identifier_exact", IDENTIFIER_MATCH_SCORE, detail), *features)
        return Candidate(
            entity_ref=entry.ref,
            source=entry.source,
            list_id=entry.entity.list_id,
            schema=entry.entity.schema,
            caption=entry.entity.caption,
            score=score,
            features=features,
            matched_identifier=matched,
        )

    def _focused_proxy(self, position: int, key_weights: list[dict[str, float]]) -> EntityProxy:
        """The candidate with only the names closest to the query.

        logic-v2 compares every query name with every candidate name, and some entities carry 30+
        language variants; names sharing no rare key with the query cannot win that comparison, so
        scoring the best few keeps the cost flat without changing which name pair decides.
        """
        entity = self._entries[position].entity
        if len(entity.names) <= _NAMES_SCORED:
            return self._proxy(position, entity)
        tag = type_tag(entity.schema)
        overlap = [(_name_overlap(name.value, tag, key_weights), i) for i, name in enumerate(entity.names)]
        chosen = tuple(sorted(i for _, i in heapq.nlargest(_NAMES_SCORED, overlap)))
        focused = replace(entity, names=tuple(entity.names[i] for i in chosen))
        return self._proxy(position, focused, chosen)

    def _proxy(self, position: int, entity: ListedEntity, chosen: tuple[int, ...] = ()) -> EntityProxy:
        cache_key = (position, chosen)
        proxy = self._proxies.get(cache_key)
        if proxy is None:
            if len(self._proxies) > _PROXY_CACHE_SIZE:
                self._proxies.clear()
            # A distinct id per name subset: nomenklatura memoises name analysis by entity id.
            # The index's serial too: a new list version may keep a record's id but change its names, and
            # nomenklatura's memo would otherwise hand back the old version's names.
            suffix = "~" + ".".join(map(str, chosen)) if chosen else ""
            proxy = entity_proxy(entity, f"{self._entries[position].ref}{suffix}@{self._serial}")
            self._proxies[cache_key] = proxy
        return proxy

    def _address_hit(self, position: int, address: str) -> AddressHit:
        entry = self._entries[position]
        asset = next(
            (ident.asset or "" for ident in entry.entity.crypto_addresses if ident.value == address), ""
        )
        return AddressHit(entry.ref, entry.source, entry.entity.list_id, entry.entity.caption, asset, address)


def _entity_keys(entity: ListedEntity) -> set[str]:
    names = [name.value for name in entity.names]
    keys = set(listed_symbol_keys(names, type_tag(entity.schema)))
    for token_keys in name_keys(names).values():
        keys.update(token_keys)
    return keys


def _name_overlap(name: str, tag: NameTypeTag, key_weights: list[dict[str, float]]) -> float:
    keys = _name_key_set(name, tag)
    return sum(max((w for k, w in weights.items() if k in keys), default=0.0) for weights in key_weights)


@lru_cache(maxsize=131072)
def _name_key_set(name: str, tag: NameTypeTag) -> frozenset[str]:
    return frozenset().union(listed_symbol_keys([name], tag), *name_keys([name]).values())


@cache
def type_tag(schema: EntitySchema) -> NameTypeTag:
    """How rigour reads names of this schema (person, organisation, either, object)."""
    found = model.get(schema.value)
    return NameTypeTag.UNK if found is None else schema_type_tag(found)


@cache
def _compatible_schemas(schema: EntitySchema) -> frozenset[EntitySchema]:
    return frozenset(candidate for candidate in EntitySchema if schemas_can_match(schema, candidate))


def _by_address(addresses: dict[tuple[str, str], tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    merged: defaultdict[str, list[int]] = defaultdict(list)
    for (_, address), positions in addresses.items():
        merged[address].extend(positions)
    return {address: tuple(dict.fromkeys(positions)) for address, positions in merged.items()}


def _schemes_compatible(listed: IdScheme, queried: IdScheme) -> bool:
    if listed is queried:
        return True
    return any(listed in family and queried in family for family in _ID_FAMILIES)


def _countries_compatible(listed: Identifier, queried: Identifier) -> bool:
    # Passport and national numbers repeat across issuing countries; strong schemes are global.
    if listed.scheme in STRONG_ID_SCHEMES or not listed.country or not queried.country:
        return True
    return listed.country.casefold() == queried.country.casefold()


def identifier(
    scheme: IdScheme, value: str, asset: str | None = None, country: str | None = None
) -> Identifier:
    """Build a normalised query identifier; raises if the value holds nothing identifying."""
    made = make_identifier(scheme, value, asset, country)
    if made is None:
        raise ValueError(f"not a usable {scheme.value} identifier: {value!r}")
    return made
