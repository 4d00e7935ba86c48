"""Screening domain model: list snapshots, listed entities, queries and results.

Pure rules only: no file access, no matching library. Every sanctions-list format is parsed into this one
neutral shape so that the index, the diff and the persistence layer never care where a list came from.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import TypeVar

T = TypeVar("T")


class EntitySchema(StrEnum):
    """FollowTheMoney schema names, so that entities can be handed to nomenklatura unchanged."""

    PERSON = "Person"
    COMPANY = "Company"
    ORGANIZATION = "Organization"
    LEGAL_ENTITY = "LegalEntity"
    VESSEL = "Vessel"
    AIRPLANE = "Airplane"


class NameKind(StrEnum):
    PRIMARY = "primary"
    ALIAS = "alias"
    # Weak aliases (OFAC "weak a.k.a.", EU strong="false", UN quality "Low") are too short or generic to
    # raise an alert alone; nomenklatura scores them through its weak_alias_match feature.
    WEAK = "weak"


class IdScheme(StrEnum):
    INN = "inn"
    OGRN = "ogrn"
    LEI = "lei"
    BIC = "bic"
    PASSPORT = "passport"
    NATIONAL_ID = "national_id"
    TAX_ID = "tax_id"
    REGISTRATION = "registration"
    IMO = "imo"
    CRYPTO = "crypto"
    OTHER = "other"


# Schemes precise enough to identify a party on their own; OTHER/NATIONAL_ID/TAX_ID values are often
# reused across countries, so they support a match but are still checked exactly.
STRONG_ID_SCHEMES: frozenset[IdScheme] = frozenset(
    {IdScheme.INN, IdScheme.OGRN, IdScheme.LEI, IdScheme.BIC, IdScheme.IMO, IdScheme.CRYPTO}
)


@dataclass(frozen=True, slots=True)
class ListedName:
    value: str
    kind: NameKind = NameKind.PRIMARY
    script: str | None = None


@dataclass(frozen=True, slots=True)
class Identifier:
    """A typed identifier; `value` is already normalised (see normalize.normalize_identifier)."""

    scheme: IdScheme
    value: str
    asset: str | None = None
    country: str | None = None
    raw: str | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class ListedEntity:
    list_id: str
    schema: EntitySchema
    names: tuple[ListedName, ...]
    identifiers: tuple[Identifier, ...] = ()
    countries: tuple[str, ...] = ()
    birth_dates: tuple[str, ...] = ()
    programs: tuple[str, ...] = ()
    gender: str | None = None

    @property
    def caption(self) -> str:
        for name in self.names:
            if name.kind is NameKind.PRIMARY:
                return name.value
        return self.names[0].value if self.names else self.list_id

    @property
    def crypto_addresses(self) -> tuple[Identifier, ...]:
        return tuple(ident for ident in self.identifiers if ident.scheme is IdScheme.CRYPTO)


@dataclass(frozen=True, slots=True)
class ListVersion:
    """What a screening decision records about the list it used."""

    source: str
    published: str | None
    content_sha256: str
    entity_count: int
    counts: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ListSnapshot:
    source: str
    published: str | None
    content_sha256: str
    entities: Mapping[str, ListedEntity]
    list_format: str
    # For a snapshot produced by applying a delta: the hash of the snapshot the delta applied to.
    parent_sha256: str | None = None

    @property
    def version(self) -> ListVersion:
        return ListVersion(
            source=self.source,
            published=self.published,
            content_sha256=self.content_sha256,
            entity_count=len(self.entities),
            counts=snapshot_counts(self.entities.values()),
        )


def snapshot_counts(entities: Iterable[ListedEntity]) -> Mapping[str, int]:
    counts: Counter[str] = Counter()
    for entity in entities:
        counts[f"schema:{entity.schema.value}"] += 1
        counts["names"] += len(entity.names)
        counts["identifiers"] += len(entity.identifiers)
        counts["crypto_addresses"] += len(entity.crypto_addresses)
    return MappingProxyType(dict(sorted(counts.items())))


def make_snapshot(
    source: str,
    published: str | None,
    content_sha256: str,
    entities: Iterable[ListedEntity],
    list_format: str,
) -> ListSnapshot:
    by_id: dict[str, ListedEntity] = {}
    for entity in entities:
        previous = by_id.get(entity.list_id)
        by_id[entity.list_id] = entity if previous is None else merge_entities(previous, entity)
    return ListSnapshot(source, published, content_sha256, MappingProxyType(by_id), list_format)


def merge_entities(first: ListedEntity, second: ListedEntity) -> ListedEntity:
    """Combine two records with the same list id (lists sometimes split one party over several rows)."""
    return replace(
        first,
        names=_unique(first.names + second.names),
        identifiers=_unique(first.identifiers + second.identifiers),
        countries=_unique(first.countries + second.countries),
        birth_dates=_unique(first.birth_dates + second.birth_dates),
        programs=_unique(first.programs + second.programs),
        gender=first.gender or second.gender,
    )


def _unique(items: tuple[T, ...]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class ListDelta:
    """A change set (FtM delta file) that applies to an earlier snapshot of the same source."""

    source: str
    published: str | None
    content_sha256: str
    upserts: tuple[ListedEntity, ...]
    deletions: tuple[str, ...]


def apply_delta(base: ListSnapshot, delta: ListDelta) -> ListSnapshot:
    if delta.source != base.source:
        raise ValueError(f"delta for {delta.source!r} cannot apply to snapshot of {base.source!r}")
    entities = dict(base.entities)
    for list_id in delta.deletions:
        entities.pop(list_id, None)
    for entity in delta.upserts:
        entities[entity.list_id] = entity
    return ListSnapshot(
        source=base.source,
        published=delta.published or base.published,
        content_sha256=delta.content_sha256,
        entities=MappingProxyType(entities),
        list_format=base.list_format,
        parent_sha256=base.content_sha256,
    )


@dataclass(frozen=True, slots=True)
class ListDiff:
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    unchanged_count: int

    @property
    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "changed": len(self.changed),
            "unchanged": self.unchanged_count,
        }

    @property
    def is_empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff(old: ListSnapshot | None, new: ListSnapshot) -> ListDiff:
    """Ids added, removed and changed between two versions of one list (None: first load)."""
    old_entities: Mapping[str, ListedEntity] = old.entities if old is not None else {}
    if old is not None and old.source != new.source:
        raise ValueError(f"cannot diff {old.source!r} against {new.source!r}")
    added = sorted(set(new.entities) - set(old_entities))
    removed = sorted(set(old_entities) - set(new.entities))
    common = set(new.entities) & set(old_entities)
    changed = sorted(list_id for list_id in common if new.entities[list_id] != old_entities[list_id])
    return ListDiff(tuple(added), tuple(removed), tuple(changed), len(common) - len(changed))


@dataclass(frozen=True, slots=True)
class PartyQuery:
    """A party to screen: a counterparty, a beneficial owner, a payee."""

    name: str
    schema: EntitySchema = EntitySchema.LEGAL_ENTITY
    aliases: tuple[str, ...] = ()
    identifiers: tuple[Identifier, ...] = ()
    countries: tuple[str, ...] = ()
    birth_date: str | None = None
    gender: str | None = None

    @property
    def all_names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


@dataclass(frozen=True, slots=True)
class FeatureExplanation:
    """One scored feature, as nomenklatura explains it (kept verbatim for the audit trail)."""

    feature: str
    score: float
    detail: str | None
    query_value: str | None = None
    candidate_value: str | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    entity_ref: str
    source: str
    list_id: str
    schema: EntitySchema
    caption: str
    score: float
    features: tuple[FeatureExplanation, ...]
    matched_identifier: Identifier | None = None

    @property
    def matched_by_identifier(self) -> bool:
        return self.matched_identifier is not None


@dataclass(frozen=True, slots=True)
class ScreeningResult:
    query: PartyQuery
    candidates: tuple[Candidate, ...]
    threshold: float
    cutoff: float
    limit: int
    algorithm: str
    algorithm_version: str
    list_versions: tuple[ListVersion, ...]
    candidates_scored: int

    @property
    def matches(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.score >= self.threshold)

    @property
    def is_hit(self) -> bool:
        return bool(self.matches)


@dataclass(frozen=True, slots=True)
class AddressHit:
    entity_ref: str
    source: str
    list_id: str
    caption: str
    asset: str
    address: str


def rank_key(candidate: Candidate) -> tuple[bool, float, str]:
    """Exact identifier matches outrank any name score; ties break by reference for stable output."""
    return (candidate.matched_by_identifier, candidate.score, candidate.entity_ref)


def validate_threshold(threshold: float, cutoff: float) -> None:
    if not 0.0 <= cutoff <= threshold <= 1.0:
        raise ValueError(f"need 0 <= cutoff ({cutoff}) <= threshold ({threshold}) <= 1")


# --- decisions, alerts and standing --------------------------------------------------------------------


class Verdict(StrEnum):
    TRUE_MATCH = "true_match"
    FALSE_POSITIVE = "false_positive"


class DecisionStatus(StrEnum):
    """Maker-checker: an officer's decision takes effect only once a second officer confirms it."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class AlertStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class Standing(StrEnum):
    """Where a screened subject stands now: the gate's answer for it."""

    CLEAR = "clear"
    HIT = "hit"
    PENDING = "pending"


def canonical_sha256(data: object) -> str:
    """SHA-256 of canonical JSON (sorted keys, no spaces, UTF-8): stable across processes and databases."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return sha256_hex(text.encode("utf-8"))


def entity_sha256(source: str, entity: ListedEntity) -> str:
    """Content hash of a listed record, insensitive to the order the list happens to print its parts in.

    A false-positive decision holds for this hash only: any change to the record (a new alias, a new
    identifier, a corrected birth date) makes the pair new again and the hit comes back.
    """
    return canonical_sha256(
        {
            "source": source,
            "list_id": entity.list_id,
            "schema": entity.schema.value,
            "names": sorted([n.value, n.kind.value] for n in entity.names),
            "identifiers": sorted(
                [i.scheme.value, i.value, i.asset or "", i.country or ""] for i in entity.identifiers
            ),
            "countries": sorted(entity.countries),
            "birth_dates": sorted(entity.birth_dates),
            "programs": sorted(entity.programs),
            "gender": entity.gender,
        }
    )


@dataclass(frozen=True, slots=True)
class PairKey:
    """What a decision is about: one subject's data (as queried) against one listed record's content."""

    subject: str
    query_sha256: str
    entity_ref: str
    entity_sha256: str


@dataclass(frozen=True, slots=True)
class MatchedPair:
    key: PairKey
    caption: str
    score: float


@dataclass(frozen=True, slots=True)
class DecisionRef:
    id: str
    verdict: Verdict
    actor: str


@dataclass(frozen=True, slots=True)
class StandingResult:
    status: Standing
    reason: str
    escalated: bool
    """An open alert or a confirmed match: news the caller's own record cannot already reflect."""
    unresolved: tuple[MatchedPair, ...] = ()
    confirmed: tuple[MatchedPair, ...] = ()
    suppressed: tuple[MatchedPair, ...] = ()


def decide_standing(
    screened: bool,
    matches: Iterable[MatchedPair],
    decisions: Mapping[PairKey, DecisionRef],
    open_alerts: Iterable[str],
    threshold: str = "",
) -> StandingResult:
    """The gate's answer for a subject from its latest screening's matches, the latest decision on each
    pair and the subject's open alerts. A false positive clears only its exact pair; a true match and an
    open alert keep the subject blocked until an officer decides."""
    if not screened:
        return StandingResult(Standing.PENDING, "no sanctions list loaded", escalated=False)
    unresolved, confirmed, suppressed = [], [], []
    for match in matches:
        decision = decisions.get(match.key)
        if decision is None:
            unresolved.append(match)
        elif decision.verdict is Verdict.TRUE_MATCH:
            confirmed.append(match)
        else:
            suppressed.append(match)
    alerts = sorted(open_alerts)
    reason = _standing_reason(unresolved, confirmed, suppressed, alerts, threshold)
    hit = bool(unresolved or confirmed or alerts)
    return StandingResult(
        Standing.HIT if hit else Standing.CLEAR,
        reason,
        escalated=bool(confirmed or alerts),
        unresolved=tuple(unresolved),
        confirmed=tuple(confirmed),
        suppressed=tuple(suppressed),
    )


def _standing_reason(
    unresolved: list[MatchedPair],
    confirmed: list[MatchedPair],
    suppressed: list[MatchedPair],
    alerts: list[str],
    threshold: str,
) -> str:
    if confirmed:
        top = confirmed[0]
        return f"confirmed match of {top.caption} ({top.key.entity_ref})"
    if alerts:
        return f"open alert {alerts[0]}" + (f" and {len(alerts) - 1} more" if len(alerts) > 1 else "")
    if unresolved:
        top = max(unresolved, key=lambda m: m.score)
        return f"matches {top.caption} ({top.key.entity_ref}, score {top.score})"
    if suppressed:
        names = ", ".join(sorted({m.key.entity_ref for m in suppressed}))
        return f"matches decided false positive: {names}"
    return f"no match at or above threshold {threshold}".rstrip()
