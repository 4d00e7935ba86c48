"""Screening use cases: load a list version (with its diff), screen parties and addresses, read screenings.

A loaded list is stored whole (entities as JSON), so the in-process :class:`ScreeningIndex` can be rebuilt
from the database alone; the index is cached under the set of current list-version ids and rebuilt only
when that set changes. ``*_in`` functions run inside the caller's transaction.

Two kinds of screening are recorded. Ad-hoc ones (API, CLI) change nothing but the record. The gate's
(``screen_subject_*_in``) are *tracked*: the subject and its query are remembered in
``screening_subjects`` (even while no list is loaded, so that the first list load screens it), and its
standing is recomputed from the latest screening, the officers' decisions on its hits and its open alerts
(``settle_subject_in``). Every candidate at or above the threshold carries the hash of the listed record
it matched, which is what a decision binds to (see ``review``).

Where a score becomes a hit and which candidates are kept come from the jurisdiction profile in force
(``screening_alert_threshold``, ``screening_cutoff``; :func:`policy_on`); only an ad-hoc screening may ask
for its own threshold. Each screening records the threshold it used, its registry entry the profile too.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.compliance.screening import store
from corridor.compliance.screening.index import DEFAULT_LIMIT, ScreeningIndex
from corridor.compliance.screening.model import (
    AlertStatus,
    Candidate,
    DecisionRef,
    EntitySchema,
    Identifier,
    IdScheme,
    ListDelta,
    ListSnapshot,
    MatchedPair,
    PairKey,
    PartyQuery,
    ScreeningResult,
    Standing,
    StandingResult,
    apply_delta,
    canonical_sha256,
    decide_standing,
    diff,
    make_snapshot,
)
from corridor.compliance.screening.sources import ListFormat, ProgressCallback, load_list
from corridor.db import Database
from corridor.errors import NotFound, Unavailable, ValidationFailed
from corridor.profiles.loader import load_configured_profile
from corridor.registry import service as registry
from corridor.registry.service import utc_now

OUTCOME_HIT = "hit"
OUTCOME_CLEAR = "clear"

_CACHE_LOCK = threading.Lock()
_INDEX_CACHE: dict[tuple[str, ...], ScreeningIndex] = {}
_CACHE_SIZE = 2


@dataclass(frozen=True, slots=True)
class LoadResult:
    version: store.StoredListVersion
    created: bool
    """False when the file's content equals the current version of its source (nothing stored)."""


# --- policy: the profile's threshold and cutoff ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    """Where a score becomes a hit (``threshold``) and below which a candidate is not shown (``cutoff``),
    as the jurisdiction profile in force sets them for the day of the screening."""

    threshold: float
    cutoff: float
    profile_id: str

    def with_threshold(self, threshold: float | None) -> Policy:
        """An ad-hoc screening's own threshold; the cutoff never rises above it."""
        if threshold is None:
            return self
        return Policy(threshold, min(self.cutoff, threshold), self.profile_id)


def policy_on(day: date | None = None) -> Policy:
    """The configured profile's screening threshold and cutoff on ``day`` (today by default)."""
    profile = load_configured_profile()
    values = profile.on(day or utc_now().date())
    return Policy(float(values.screening_alert_threshold), float(values.screening_cutoff), profile.id)


# --- lists --------------------------------------------------------------------------------------------


def load_list_file(
    db: Database,
    principal: Principal,
    path: Path,
    list_format: ListFormat | str,
    progress: ProgressCallback | None = None,
) -> LoadResult:
    """Parse a list file, store it as the new current version of its source with its diff, and log it."""
    authorize(principal, "screening.list.load")
    try:
        loaded = load_list(Path(path), list_format, progress)
    except (OSError, ValueError) as error:
        raise ValidationFailed("screening.list_unreadable", f"cannot load {path}: {error}") from None
    with db.transaction() as session:
        previous = store.current_version_of(session, loaded.source, for_update=True)
        if previous is not None and previous.content_sha256 == loaded.content_sha256:
            return LoadResult(previous, created=False)
        base = _snapshot_of(session, previous) if previous is not None else None
        if isinstance(loaded, ListDelta):
            if base is None:
                raise ValidationFailed(
                    "screening.delta_without_base", f"no version of {loaded.source!r} to apply the delta to"
                )
            snapshot = apply_delta(base, loaded)
        else:
            snapshot = loaded
        changes = diff(base, snapshot)
        version = store.StoredListVersion(
            id=f"lv_{uuid.uuid4().hex}",
            source=snapshot.source,
            list_format=snapshot.list_format,
            published=snapshot.published,
            content_sha256=snapshot.content_sha256,
            entity_count=len(snapshot.entities),
            counts=dict(snapshot.version.counts),
            loaded_at=utc_now().isoformat(),
            loaded_by=principal.actor,
            previous_id=previous.id if previous is not None else None,
            diff=changes.counts,
            is_current=True,
        )
        store.insert_version(session, version, snapshot.entities.values())
        registry.append(
            session,
            principal.actor,
            "screening.list.loaded",
            f"list_version:{version.id}",
            {
                "source": version.source,
                "list_format": version.list_format,
                "published": version.published,
                "content_sha256": version.content_sha256,
                "entity_count": version.entity_count,
                "previous_id": version.previous_id,
                "diff": version.diff,
            },
        )
    return LoadResult(version, created=True)


def list_versions(db: Database, principal: Principal) -> list[store.StoredListVersion]:
    authorize(principal, "screening.read")
    with db.transaction() as session:
        return store.current_versions(session)


def _snapshot_of(session: Session, version: store.StoredListVersion) -> ListSnapshot:
    return make_snapshot(
        version.source,
        version.published,
        version.content_sha256,
        store.entities_of(session, version.id),
        version.list_format,
    )


def index_in(session: Session) -> tuple[ScreeningIndex, list[store.StoredListVersion]] | None:
    """The index over the current list versions (cached), or None when no list is loaded."""
    versions = store.current_versions(session)
    if not versions:
        return None
    key = tuple(sorted(v.id for v in versions))
    with _CACHE_LOCK:
        cached = _INDEX_CACHE.get(key)
    if cached is None:
        cached = ScreeningIndex.build(_snapshot_of(session, v) for v in versions)
        with _CACHE_LOCK:
            while len(_INDEX_CACHE) >= _CACHE_SIZE:
                _INDEX_CACHE.pop(next(iter(_INDEX_CACHE)))
            _INDEX_CACHE[key] = cached
    return cached, versions


# --- screening ----------------------------------------------------------------------------------------


def _candidate_json(
    candidate: Candidate, version_ids: dict[str, str], index: ScreeningIndex, threshold: float
) -> dict[str, Any]:
    ident = candidate.matched_identifier
    return {
        "entity_ref": candidate.entity_ref,
        "source": candidate.source,
        "list_version_id": version_ids.get(candidate.source),
        "list_id": candidate.list_id,
        "schema": candidate.schema.value,
        "caption": candidate.caption,
        "score": round(candidate.score, 4),
        "match": candidate.score >= threshold or candidate.matched_by_identifier,
        "entity_sha256": index.entity_sha256(candidate.entity_ref),
        "matched_identifier": None if ident is None else {"scheme": ident.scheme.value, "value": ident.value},
        "features": [
            {
                "feature": f.feature,
                "score": round(f.score, 4),
                "detail": f.detail,
                "query_value": f.query_value,
                "candidate_value": f.candidate_value,
            }
            for f in candidate.features
        ],
    }


def query_json(query: PartyQuery) -> dict[str, Any]:
    return {
        "name": query.name,
        "schema": query.schema.value,
        "aliases": list(query.aliases),
        "countries": list(query.countries),
        "identifiers": [
            {"scheme": i.scheme.value, "value": i.value, "asset": i.asset, "country": i.country}
            for i in query.identifiers
        ],
        "birth_date": query.birth_date,
        "gender": query.gender,
    }


def query_from_json(data: dict[str, Any]) -> PartyQuery:
    """The query a subject was last screened with, as stored; re-screening asks it again."""
    return PartyQuery(
        name=data["name"],
        schema=EntitySchema(data["schema"]),
        aliases=tuple(data.get("aliases", ())),
        identifiers=tuple(
            Identifier(IdScheme(i["scheme"]), i["value"], i.get("asset"), i.get("country"))
            for i in data.get("identifiers", ())
        ),
        countries=tuple(data.get("countries", ())),
        birth_date=data.get("birth_date"),
        gender=data.get("gender"),
    )


@dataclass(frozen=True, slots=True)
class _Found:
    """What one run of the matcher found, before decisions are applied and anything is recorded."""

    kind: str
    query: dict[str, Any]
    algorithm: tuple[str, str]
    policy: Policy
    candidates: list[dict[str, Any]]


def _find_party(
    index: ScreeningIndex,
    versions: list[store.StoredListVersion],
    query: PartyQuery,
    policy: Policy,
    limit: int = DEFAULT_LIMIT,
) -> _Found:
    try:
        result = index.screen(query, threshold=policy.threshold, cutoff=policy.cutoff, limit=limit)
    except ValueError as error:
        raise ValidationFailed("screening.invalid_query", str(error)) from None
    by_source = {v.source: v.id for v in versions}
    candidates = [_candidate_json(c, by_source, index, policy.threshold) for c in result.candidates]
    algorithm = (result.algorithm, result.algorithm_version)
    return _Found("party", query_json(query), algorithm, policy, candidates)


def _find_address(
    index: ScreeningIndex,
    versions: list[store.StoredListVersion],
    address: str,
    asset: str | None,
    policy: Policy,
) -> _Found:
    by_source = {v.source: v.id for v in versions}
    candidates: list[dict[str, Any]] = [
        {
            "entity_ref": h.entity_ref,
            "source": h.source,
            "list_version_id": by_source.get(h.source),
            "list_id": h.list_id,
            "caption": h.caption,
            "score": 1.0,
            "match": True,
            "entity_sha256": index.entity_sha256(h.entity_ref),
            "matched_identifier": {"scheme": "crypto", "asset": h.asset, "value": h.address},
            "features": [],
        }
        for h in index.screen_address(address, asset)
    ]
    # An address either is listed or is not: every exact hit is a match, whatever the name threshold.
    exact = Policy(1.0, 1.0, policy.profile_id)
    return _Found("address", {"address": address, "asset": asset}, ("exact-address", "1"), exact, candidates)


def _threshold_text(threshold: float) -> str:
    return f"{threshold:.2f}"


def latest_decisions(session: Session, subject: str) -> dict[PairKey, DecisionRef]:
    """The decision in force on each pair of the subject: a later decision on a pair replaces earlier ones."""
    return {d.key: DecisionRef(d.id, d.verdict, d.actor) for d in store.decisions_of(session, subject)}


def matched_pairs(subject: str, query: dict[str, Any], candidates: list[dict[str, Any]]) -> list[MatchedPair]:
    query_sha = canonical_sha256(query)
    return [
        MatchedPair(
            PairKey(subject, query_sha, c["entity_ref"], c["entity_sha256"]), c["caption"], c["score"]
        )
        for c in candidates
        if c.get("match") and c.get("entity_sha256")
    ]


def _record(
    session: Session,
    actor: str,
    subject: str,
    found: _Found,
    versions: list[store.StoredListVersion],
    tracked: bool,
) -> tuple[store.StoredScreening, StandingResult]:
    """Apply the decisions in force to what was found, then store the screening and its registry entry."""
    decisions = latest_decisions(session, subject)
    for candidate in found.candidates:
        if candidate["match"]:
            key = PairKey(
                subject, canonical_sha256(found.query), candidate["entity_ref"], candidate["entity_sha256"]
            )
            ref = decisions.get(key)
            candidate["decision"] = None if ref is None else {"id": ref.id, "verdict": ref.verdict.value}
    threshold = _threshold_text(found.policy.threshold)
    own = decide_standing(
        True, matched_pairs(subject, found.query, found.candidates), decisions, (), threshold
    )
    screening = store.StoredScreening(
        id=f"scr_{uuid.uuid4().hex}",
        kind=found.kind,
        subject=subject,
        query=found.query,
        list_version_ids=[v.id for v in versions],
        algorithm=found.algorithm[0],
        algorithm_version=found.algorithm[1],
        threshold=threshold,
        candidates=found.candidates,
        outcome=OUTCOME_HIT if own.status is Standing.HIT else OUTCOME_CLEAR,
        actor=actor,
        created_at=utc_now().isoformat(),
    )
    store.insert_screening(session, screening)
    registry.append(
        session,
        actor,
        "screening.performed",
        f"screening:{screening.id}",
        {
            "kind": found.kind,
            "subject": subject,
            "tracked": tracked,
            "outcome": screening.outcome,
            "list_version_ids": screening.list_version_ids,
            "algorithm": screening.algorithm,
            "algorithm_version": screening.algorithm_version,
            "threshold": screening.threshold,
            "cutoff": _threshold_text(found.policy.cutoff),
            "profile_id": found.policy.profile_id,
            "top_score": None if not found.candidates else str(found.candidates[0]["score"]),
            "suppressed": sorted(m.key.entity_ref for m in own.suppressed),
        },
    )
    return screening, own


def is_hit(result: ScreeningResult) -> bool:
    return result.is_hit or any(c.matched_by_identifier for c in result.candidates)


def screen_party_in(
    session: Session,
    actor: str,
    subject: str,
    query: PartyQuery,
    policy: Policy | None = None,
    limit: int = DEFAULT_LIMIT,
) -> store.StoredScreening | None:
    """Screen and record inside the caller's transaction (an ad-hoc screening: no subject is tracked and
    no standing changes); None when no list is loaded. ``policy`` defaults to the profile's."""
    built = index_in(session)
    if built is None:
        return None
    index, versions = built
    found = _find_party(index, versions, query, policy or policy_on(), limit)
    return _record(session, actor, subject, found, versions, tracked=False)[0]


def screen_address_in(
    session: Session, actor: str, subject: str, address: str, asset: str | None = "BTC"
) -> store.StoredScreening | None:
    """Exact address lookup, recorded (ad hoc, like :func:`screen_party_in`); None when no list is loaded."""
    built = index_in(session)
    if built is None:
        return None
    index, versions = built
    found = _find_address(index, versions, address, asset, policy_on())
    return _record(session, actor, subject, found, versions, tracked=False)[0]


# --- tracked subjects: what the gate screens, re-screening re-asks and decisions apply to ---------------


@dataclass(frozen=True, slots=True)
class SubjectOutcome:
    """The gate's answer for one subject: its standing after this screening, and the screening."""

    subject: str
    standing: StandingResult
    screening: store.StoredScreening | None
    new_alerts: tuple[store.StoredAlert, ...] = ()


def screen_subject_party_in(session: Session, actor: str, subject: str, query: PartyQuery) -> SubjectOutcome:
    """The gate's screening of a party: tracked under ``subject``, its standing updated, in the caller's
    transaction, at the profile's threshold. With no list loaded the subject is still remembered
    (pending), so the first list load screens it."""
    return _screen_subject_in(
        session, actor, subject, "party", query_json(query), policy_on(), raise_alerts=False
    )


def screen_subject_address_in(
    session: Session, actor: str, subject: str, address: str, asset: str | None
) -> SubjectOutcome:
    query = {"address": address, "asset": asset}
    return _screen_subject_in(session, actor, subject, "address", query, policy_on(), raise_alerts=False)


def _screen_subject_in(
    session: Session,
    actor: str,
    subject: str,
    kind: str,
    query: dict[str, Any],
    policy: Policy,
    raise_alerts: bool,
) -> SubjectOutcome:
    now = utc_now().isoformat()
    query_sha = canonical_sha256(query)
    row = store.lock_subject(session, subject, kind, query, query_sha, now)
    previous = _previous_matches(session, row) if raise_alerts else set()
    store.update_subject(session, subject, {"kind": kind, "query": query, "query_sha256": query_sha})
    built = index_in(session)
    if built is None:
        return SubjectOutcome(subject, settle_subject_in(session, subject), None)
    index, versions = built
    if kind == "party":
        found = _find_party(index, versions, query_from_json(query), policy)
    else:
        found = _find_address(index, versions, query["address"], query.get("asset"), policy)
    screening, own = _record(session, actor, subject, found, versions, tracked=True)
    store.update_subject(session, subject, {"last_screening_id": screening.id})
    alerts: list[store.StoredAlert] = []
    if raise_alerts:
        open_keys = {a.key for a in store.open_alerts_of(session, subject)}
        for match in own.unresolved:
            if match.key not in previous and match.key not in open_keys:
                alerts.append(_raise_alert(session, actor, screening, match, now))
    return SubjectOutcome(subject, settle_subject_in(session, subject), screening, tuple(alerts))


def _previous_matches(session: Session, row: store.StoredSubject) -> set[PairKey]:
    """The pairs the subject's last screening already matched: a re-screen alerts only on the others."""
    if row.last_screening_id is None:
        return set()
    previous = store.get_screening(session, row.last_screening_id)
    if previous is None:
        return set()
    return {m.key for m in matched_pairs(row.subject, previous.query, previous.candidates)}


def _raise_alert(
    session: Session, actor: str, screening: store.StoredScreening, match: MatchedPair, now: str
) -> store.StoredAlert:
    candidate = next(c for c in screening.candidates if c["entity_ref"] == match.key.entity_ref)
    alert = store.StoredAlert(
        id=f"alr_{uuid.uuid4().hex}",
        subject=screening.subject,
        screening_id=screening.id,
        key=match.key,
        caption=match.caption,
        score=str(match.score),
        list_version_id=candidate.get("list_version_id"),
        status=AlertStatus.OPEN,
        raised_at=now,
        raised_by=actor,
    )
    store.insert_alert(session, alert)
    registry.append(
        session,
        actor,
        "screening.alert_raised",
        f"screening_alert:{alert.id}",
        {
            "subject": alert.subject,
            "screening_id": alert.screening_id,
            "entity_ref": alert.key.entity_ref,
            "entity_sha256": alert.key.entity_sha256,
            "query_sha256": alert.key.query_sha256,
            "caption": alert.caption,
            "score": alert.score,
            "list_version_id": alert.list_version_id,
        },
    )
    return alert


def settle_subject_in(session: Session, subject: str) -> StandingResult:
    """Recompute and store the subject's standing from its last screening, decisions and open alerts."""
    row = store.get_subject(session, subject)
    if row is None:
        raise NotFound("screening.subject_not_found", f"{subject} has never been screened by the gate")
    screening = store.get_screening(session, row.last_screening_id) if row.last_screening_id else None
    if screening is None:
        standing = decide_standing(False, (), {}, ())
    else:
        standing = decide_standing(
            True,
            matched_pairs(subject, screening.query, screening.candidates),
            latest_decisions(session, subject),
            [a.id for a in store.open_alerts_of(session, subject)],
            screening.threshold,
        )
    store.update_subject(
        session,
        subject,
        {
            "status": standing.status.value,
            "escalated": standing.escalated,
            "reason": standing.reason,
            "updated_at": utc_now().isoformat(),
        },
    )
    return standing


def rescreen_subject_in(
    session: Session, actor: str, row: store.StoredSubject, policy: Policy
) -> SubjectOutcome:
    """Ask the subject's last query again against the current lists, at ``policy`` (the profile's, read
    once per re-screening run); new matches become alerts."""
    return _screen_subject_in(session, actor, row.subject, row.kind, row.query, policy, raise_alerts=True)


def standings_in(session: Session, subjects: list[str]) -> dict[str, store.StoredSubject]:
    """The stored standing of each subject the gate has screened (unknown subjects are left out)."""
    return store.subjects_by_name(session, subjects)


# --- ad-hoc use cases ----------------------------------------------------------------------------------


def no_list() -> Unavailable:
    return Unavailable(
        "screening.no_list_loaded", "no sanctions list is loaded: load one with `corridor lists load`"
    )


def screen(
    db: Database,
    principal: Principal,
    queries: list[PartyQuery],
    subject: str = "adhoc",
    threshold: float | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """Screen a batch of parties in one transaction; each result is recorded. Raises when no list is loaded.

    The threshold and cutoff are the profile's; an ad-hoc ``threshold`` replaces the profile's for this
    batch only (the gate never takes one)."""
    authorize(principal, "screening.screen")
    policy = policy_on().with_threshold(threshold)
    with db.transaction() as session:
        views = []
        for query in queries:
            recorded = screen_party_in(session, principal.actor, subject, query, policy, limit)
            if recorded is None:
                raise no_list()
            views.append(view(session, recorded))
        return views


def screen_address(
    db: Database, principal: Principal, address: str, asset: str | None = None, subject: str = "adhoc"
) -> dict[str, Any]:
    authorize(principal, "screening.screen")
    with db.transaction() as session:
        recorded = screen_address_in(session, principal.actor, subject, address, asset)
        if recorded is None:
            raise no_list()
        return view(session, recorded)


def get_screening(db: Database, principal: Principal, screening_id: str) -> dict[str, Any]:
    authorize(principal, "screening.read")
    with db.transaction() as session:
        recorded = store.get_screening(session, screening_id)
        if recorded is None:
            raise NotFound("screening.not_found", f"no screening {screening_id}")
        return view(session, recorded)


def view(session: Session, screening: store.StoredScreening) -> dict[str, Any]:
    versions = store.versions_by_ids(session, screening.list_version_ids)
    return {
        "id": screening.id,
        "kind": screening.kind,
        "subject": screening.subject,
        "query": screening.query,
        "outcome": screening.outcome,
        "hit": screening.outcome == OUTCOME_HIT,
        "algorithm": screening.algorithm,
        "algorithm_version": screening.algorithm_version,
        "threshold": screening.threshold,
        "candidates": screening.candidates,
        "list_versions": [v.as_dict() for v in versions],
        "actor": screening.actor,
        "created_at": screening.created_at,
    }
