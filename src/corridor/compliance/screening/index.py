"""The in-memory screening index: candidate retrieval by keys, then nomenklatura scoring of candidates.

Retrieval is recall-oriented and cheap (inverted index over token, transliteration skeleton and metaphone
keys, weighted by rarity); only the top retrieved candidates get the expensive logic-v2 comparison.
Identifier and wallet-address lookups are exact and bypass names entirely.

What scoring needs of a listed entity (its cleaned properties, rigour's analysis of its names, which of
its names carry which keys) is prepared when the index is built, so that a candidate met for the first
time costs no more than the comparison itself.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from followthemoney import EntityProxy, model
from followthemoney.names import PART_TAG_PROPS, schema_type_tag
from followthemoney.types import registry
from rigour.names import Name, NamePartTag, NameTypeTag, analyze_names

from corridor.compliance.screening.matcher import (
    DEFAULT_ALGORITHM,
    Algorithm,
    ProxyParts,
    assemble,
    proxy_parts,
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
from corridor.compliance.screening.names import AnalysedCandidate
from corridor.compliance.screening.normalize import (
    SYMBOL_TAGS,
    analysed_symbol_keys,
    is_latin,
    make_identifier,
    name_keys,
    normalise_address,
    normalise_asset,
    remember_romanised,
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
_SCHEMA_SLACK = 4
_INDEX_SERIALS = itertools.count()


@dataclass(frozen=True, slots=True)
class IndexedEntity:
    ref: str
    source: str
    entity: ListedEntity


PartTags = frozenset[tuple[NamePartTag, str]]
TokenKeys = list[tuple[str, float]]
"""A query token's informative retrieval keys with their weights, heaviest first."""


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What scoring a listed entity as a candidate needs, prepared when the index is built.

    Most candidates a screening meets it has not met before, so work done on first meeting is paid on
    nearly every screening: cleaning the entity's properties into a proxy, rigour's analysis of its names
    (nomenklatura memoises it for the last thousand entities only) and the keys that pick which of many
    names to score. Done here once per list version instead.
    """

    parts: ProxyParts
    analysed: dict[str, tuple[Name, ...]]
    """Per name value the matcher reads (matchable name properties): rigour's analysis, as nomenklatura's
    ``entity_names`` makes it for a candidate; one value's analysis does not depend on the others'."""
    part_tags: PartTags
    """The part annotations (weak aliases tag the parts they match) the analyses were made with."""
    tag_dependent: frozenset[str]
    """Values whose analysis those annotations change: valid only for a subset with the same weak aliases."""
    names_by_key: dict[str, int]
    """Per retrieval key, which listed names have it (bit i for name i); only for entities with more
    names than are scored, empty for the others."""

    def analysed_names(self, proxy: EntityProxy) -> set[Name] | None:
        """The names ``entity_names(proxy)`` would give, `proxy` being this entity or a subset of its
        names; None when a subset's weak aliases would analyse some value differently."""
        values = proxy.get_type_values(registry.name, matchable=True)
        if self.tag_dependent and _part_tags(_annotations(proxy)) != self.part_tags:
            if any(value in self.tag_dependent for value in values):
                return None
        names: set[Name] = set()
        for value in values:
            names.update(self.analysed[value])
        return names


class ScreeningIndex:
    def __init__(
        self,
        entries: Sequence[IndexedEntity],
        postings: dict[str, tuple[int, ...]],
        identifiers: dict[str, tuple[int, ...]],
        addresses: dict[tuple[str, str], tuple[int, ...]],
        versions: tuple[ListVersion, ...],
        prepared: Sequence[_Prepared],
    ) -> None:
        self._entries = entries
        self._postings = postings
        self._identifiers = identifiers
        self._addresses = addresses
        self._addresses_any_asset: dict[str, tuple[int, ...]] = _by_address(addresses)
        self._prepared = prepared
        self._positions = {entry.ref: position for position, entry in enumerate(entries)}
        self._max_postings = max(50, int(len(entries) * _MAX_KEY_SHARE))
        self._entity_hashes: dict[str, str] = {}
        self._serial = next(_INDEX_SERIALS)
        self._schemas = [entry.entity.schema for entry in entries]
        self.versions = versions

    @classmethod
    def build(cls, snapshots: Iterable[ListSnapshot]) -> ScreeningIndex:
        with _COLLECTOR_PAUSE:
            return cls._build(snapshots)

    @classmethod
    def _build(cls, snapshots: Iterable[ListSnapshot]) -> ScreeningIndex:
        entries: list[IndexedEntity] = []
        postings: defaultdict[str, list[int]] = defaultdict(list)
        identifiers: defaultdict[str, list[int]] = defaultdict(list)
        addresses: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
        versions: list[ListVersion] = []
        prepared: list[_Prepared] = []
        for snapshot in snapshots:
            versions.append(snapshot.version)
            for list_id in sorted(snapshot.entities):
                entity = snapshot.entities[list_id]
                position = len(entries)
                entries.append(IndexedEntity(f"{snapshot.source}:{list_id}", snapshot.source, entity))
                candidate, keys = _prepare(entity)
                prepared.append(candidate)
                for key in keys:
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
            prepared,
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

    def _query_key_weights(self, query: PartyQuery) -> list[TokenKeys]:
        """Per query token: its informative keys and their rarity weights, heaviest first."""
        total = len(self._entries)
        per_token = []
        for keys in retrieval_keys(query.all_names, type_tag(query.schema)).values():
            weights = {}
            for key in keys:
                count = len(self._postings.get(key, ()))
                if 0 < count <= self._max_postings:
                    weights[key] = _KEY_KIND_WEIGHT[key[0]] * math.log(1 + total / count)
            if weights:
                per_token.append(sorted(weights.items(), key=_weight, reverse=True))
        return per_token

    def _retrieve(self, schema: EntitySchema, key_weights: list[TokenKeys], candidates: int) -> list[int]:
        """The `candidates` entities with the highest sum, over query tokens, of the best weight among
        the token's keys they have."""
        totals: dict[int, float] = {}
        for weights in key_weights:
            # Lightest key first, so that each entity ends with its heaviest: whole postings at C speed.
            token_hits: dict[int, float] = {}
            for key, weight in reversed(weights):
                token_hits.update(dict.fromkeys(self._postings[key], weight))
            if not totals:
                totals = token_hits
                continue
            get = totals.get
            for position, weight in token_hits.items():
                totals[position] = get(position, 0.0) + weight
        allowed = _compatible_schemas(schema)
        schemas = self._schemas
        # The best compatible entities are nearly always among the best few of all, which are found
        # without a test per entity; when fewer than enough are, every entity is tested.
        ranked = heapq.nlargest(_SCHEMA_SLACK * candidates, zip(totals.values(), totals.keys(), strict=True))
        best = [position for _, position in ranked if schemas[position] in allowed][:candidates]
        if len(best) < candidates and len(ranked) < len(totals):
            compatible = (
                (weight, position) for position, weight in totals.items() if schemas[position] in allowed
            )
            best = [position for _, position in heapq.nlargest(candidates, compatible)]
        return best

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
        key_weights: list[TokenKeys],
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

    def _focused_proxy(self, position: int, key_weights: list[TokenKeys]) -> EntityProxy:
        """The candidate with only the names closest to the query.

        logic-v2 compares every query name with every candidate name, and some entities carry 30+
        language variants; names sharing no rare key with the query cannot win that comparison, so
        scoring the best few keeps the cost flat without changing which name pair decides.
        """
        prepared = self._prepared[position]
        if not prepared.names_by_key:
            return self._proxy(position, ())
        overlap = _name_overlaps(prepared.names_by_key, len(prepared.parts.names), key_weights)
        ranked = heapq.nlargest(_NAMES_SCORED, zip(overlap, itertools.count()))
        return self._proxy(position, tuple(sorted(i for _, i in ranked)))

    def _proxy(self, position: int, chosen: tuple[int, ...]) -> EntityProxy:
        """The candidate with the names at positions `chosen` (all when empty), as ``entity_proxy`` makes
        it, carrying its names' analysis. Made afresh each time: from the prepared parts that costs less
        than keeping proxies would cost in memory and garbage collection."""
        # A distinct id per name subset: nomenklatura memoises name analysis by entity id.
        # The index's serial too: a new list version may keep a record's id but change its names, and
        # nomenklatura's memo would otherwise hand back the old version's names.
        suffix = "~" + ".".join(map(str, chosen)) if chosen else ""
        entry = self._entries[position]
        ref = f"{entry.ref}{suffix}@{self._serial}"
        names = entry.entity.names
        remember_romanised(names[i].value for i in chosen or range(len(names)))
        prepared = self._prepared[position]
        proxy = assemble(prepared.parts, ref, chosen or None, AnalysedCandidate)
        analysed = prepared.analysed_names(proxy)
        if analysed is None:
            return assemble(prepared.parts, ref, chosen or None, EntityProxy)
        proxy.analysed = analysed
        proxy.consolidated = None
        return proxy

    def _address_hit(self, position: int, address: str) -> AddressHit:
        entry = self._entries[position]
        asset = next(
            (ident.asset or "" for ident in entry.entity.crypto_addresses if ident.value == address), ""
        )
        return AddressHit(entry.ref, entry.source, entry.entity.list_id, entry.entity.caption, asset, address)


class _CollectorPause:
    """Python's cyclic garbage collector held off while indexes are built, then one full collection.

    A build allocates millions of long-lived objects that form no cycles (analysed names, keys,
    postings). The collector would scan all of them again each time their number grows by a quarter,
    a fifth of the build's time, and the pass still owed at the end would fall on the first screenings
    after it. Builds that overlap restore the collector when the last of them ends.
    """

    _LARGE = 100_000
    """Objects a build must leave behind to be worth a full collection at its end (tests build many
    small indexes; the collector's own schedule handles those cheaply)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builds = 0
        self._was_enabled = False

    def __enter__(self) -> None:
        with self._lock:
            if self._builds == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._builds += 1

    def __exit__(self, *_: object) -> None:
        with self._lock:
            self._builds -= 1
            restore = self._builds == 0 and self._was_enabled
            # Read before enabling: the first allocation after gc.enable() runs a young collection that
            # resets the count, and the full collection below would then never happen.
            made = gc.get_count()[0]
            if restore:
                gc.enable()
        if restore and made > self._LARGE:
            # Everything alive now (the index among it) moves out of the collector's sight, so that later
            # full collections do not walk millions of objects that cannot be garbage (a pause of about
            # 1.5 s each). Unfrozen first, so what an earlier build left and is now unreferenced is
            # collected here rather than kept for good.
            gc.unfreeze()
            gc.collect()
            gc.freeze()


_COLLECTOR_PAUSE = _CollectorPause()


def _prepare(entity: ListedEntity) -> tuple[_Prepared, set[str]]:
    """The entity's candidate side (see ``_Prepared``) and its retrieval keys, from one analysis of its
    names: retrieval reads rigour's symbols from the analysis the matcher needs anyway."""
    parts = proxy_parts(entity)
    whole = assemble(parts, "", None, EntityProxy)
    tag = type_tag(entity.schema)
    annotations = _annotations(whole)
    analysed = {value: _analyse(tag, value, annotations) for value in whole.get_type_values(registry.name)}
    # Only a subset of the names can lack some weak alias, and only entities with more names than are
    # scored are ever cut to a subset.
    subsets = len(entity.names) > _NAMES_SCORED and bool(annotations)
    tag_dependent = frozenset(
        value
        for value, names in analysed.items()
        if subsets and _signature(names) != _signature(_analyse(tag, value, {}))
    )
    per_name = []
    for name in entity.names:
        keys = set(itertools.chain.from_iterable(name_keys([name.value]).values()))
        if tag in SYMBOL_TAGS and is_latin(name.value):
            found = analysed.get(name.value)
            keys.update(
                analysed_symbol_keys(_analyse(tag, name.value, annotations) if found is None else found)
            )
        per_name.append(frozenset(keys))
    matchable = set(whole.get_type_values(registry.name, matchable=True))
    candidate = _Prepared(
        parts,
        {value: names for value, names in analysed.items() if value in matchable},
        _part_tags(annotations),
        (tag_dependent & matchable) or _NOTHING,
        _names_by_key(per_name) if len(per_name) > _NAMES_SCORED else {},
    )
    return candidate, set().union(*per_name)


def _analyse(tag: NameTypeTag, value: str, annotations: dict[NamePartTag, list[str]]) -> tuple[Name, ...]:
    # The arguments followthemoney's entity_names passes for a candidate (nomenklatura's is_query=False).
    return tuple(analyze_names(tag, [value], annotations, infer_initials=False, consolidate=False))


def _annotations(proxy: EntityProxy) -> dict[NamePartTag, list[str]]:
    """The part annotations ``entity_names`` reads off the proxy (weak aliases mark parts as nicknames),
    in its order."""
    annotations: dict[NamePartTag, list[str]] = {}
    for prop, tags in PART_TAG_PROPS:
        values = proxy.get(prop, quiet=True)
        for tag in tags if values else ():
            annotations.setdefault(tag, []).extend(values)
    return annotations


def _part_tags(annotations: dict[NamePartTag, list[str]]) -> PartTags:
    return frozenset((tag, value) for tag, values in annotations.items() for value in values) or _NOTHING


_NOTHING: frozenset[Any] = frozenset()
"""One empty set for the many entities with no weak alias (each empty frozenset is an object of its own)."""


def _signature(
    names: Iterable[Name],
) -> set[tuple[str, tuple[NamePartTag, ...], frozenset[tuple[str, tuple[int, ...]]]]]:
    """What part annotations can change in an analysis: part tags and symbols."""
    return {
        (
            name.form,
            tuple(part.tag for part in name.parts),
            frozenset((str(span.symbol), tuple(part.index for part in span.parts)) for span in name.spans),
        )
        for name in names
    }


def _names_by_key(per_name: list[frozenset[str]]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, keys in enumerate(per_name):
        for key in keys:
            found[key] = found.get(key, 0) | 1 << i
    return found


def _name_overlaps(names_by_key: dict[str, int], count: int, key_weights: list[TokenKeys]) -> list[float]:
    """Per listed name, the sum over query tokens of the heaviest of the token's keys the name has."""
    overlaps = [0.0] * count
    everyone = (1 << count) - 1
    for weights in key_weights:
        # Heaviest key first: a name takes the weight of the first key it has, then is left out.
        left = everyone
        for key, weight in weights:
            have = names_by_key.get(key, 0) & left
            left ^= have
            while have:
                lowest = have & -have
                overlaps[lowest.bit_length() - 1] += weight
                have ^= lowest
            if not left:
                break
    return overlaps


def _weight(item: tuple[str, float]) -> float:
    return item[1]


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
