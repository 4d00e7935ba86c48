"""Screening use cases: load a list version (with its diff), screen parties and addresses, read screenings.

A loaded list is stored whole (entities as JSON), so the in-process :class:`ScreeningIndex` can be rebuilt
from the database alone; the index is cached under the set of current list-version ids and rebuilt only
when that set changes. ``*_in`` functions run inside the caller's transaction (the gate uses them).
With no list loaded they return None: the gate answers ``pending``, never ``clear``.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.compliance.screening import store
from corridor.compliance.screening.index import (
    DEFAULT_CUTOFF,
    DEFAULT_LIMIT,
    DEFAULT_THRESHOLD,
    ScreeningIndex,
)
from corridor.compliance.screening.model import (
    Candidate,
    ListDelta,
    ListSnapshot,
    PartyQuery,
    ScreeningResult,
    apply_delta,
    diff,
    make_snapshot,
)
from corridor.compliance.screening.sources import ListFormat, ProgressCallback, load_list
from corridor.db import Database
from corridor.errors import NotFound, Unavailable, ValidationFailed
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


def _candidate_json(candidate: Candidate, version_ids: dict[str, str]) -> dict[str, Any]:
    ident = candidate.matched_identifier
    return {
        "entity_ref": candidate.entity_ref,
        "source": candidate.source,
        "list_version_id": version_ids.get(candidate.source),
        "list_id": candidate.list_id,
        "schema": candidate.schema.value,
        "caption": candidate.caption,
        "score": round(candidate.score, 4),
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
        "identifiers": [{"scheme": i.scheme.value, "value": i.value} for i in query.identifiers],
        "birth_date": query.birth_date,
    }


def _record(
    session: Session,
    actor: str,
    kind: str,
    subject: str,
    query: dict[str, Any],
    versions: list[store.StoredListVersion],
    algorithm: tuple[str, str],
    threshold: float,
    candidates: list[dict[str, Any]],
    hit: bool,
) -> store.StoredScreening:
    screening = store.StoredScreening(
        id=f"scr_{uuid.uuid4().hex}",
        kind=kind,
        subject=subject,
        query=query,
        list_version_ids=[v.id for v in versions],
        algorithm=algorithm[0],
        algorithm_version=algorithm[1],
        threshold=f"{threshold:.2f}",
        candidates=candidates,
        outcome=OUTCOME_HIT if hit else OUTCOME_CLEAR,
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
            "kind": kind,
            "subject": subject,
            "outcome": screening.outcome,
            "list_version_ids": screening.list_version_ids,
            "algorithm": screening.algorithm,
            "algorithm_version": screening.algorithm_version,
            "threshold": screening.threshold,
            "top_score": None if not candidates else str(candidates[0]["score"]),
        },
    )
    return screening


def is_hit(result: ScreeningResult) -> bool:
    return result.is_hit or any(c.matched_by_identifier for c in result.candidates)


def screen_party_in(
    session: Session,
    actor: str,
    subject: str,
    query: PartyQuery,
    threshold: float = DEFAULT_THRESHOLD,
    cutoff: float = DEFAULT_CUTOFF,
    limit: int = DEFAULT_LIMIT,
) -> store.StoredScreening | None:
    """Screen and record inside the caller's transaction; None when no list is loaded."""
    built = index_in(session)
    if built is None:
        return None
    index, versions = built
    try:
        result = index.screen(query, threshold=threshold, cutoff=cutoff, limit=limit)
    except ValueError as error:
        raise ValidationFailed("screening.invalid_query", str(error)) from None
    by_source = {v.source: v.id for v in versions}
    candidates = [_candidate_json(c, by_source) for c in result.candidates]
    algorithm = (result.algorithm, result.algorithm_version)
    return _record(
        session,
        actor,
        "party",
        subject,
        query_json(query),
        versions,
        algorithm,
        threshold,
        candidates,
        is_hit(result),
    )


def screen_address_in(
    session: Session, actor: str, subject: str, address: str, asset: str | None = "BTC"
) -> store.StoredScreening | None:
    """Exact address lookup, recorded; None when no list is loaded."""
    built = index_in(session)
    if built is None:
        return None
    index, versions = built
    hits = index.screen_address(address, asset)
    by_source = {v.source: v.id for v in versions}
    candidates: list[dict[str, Any]] = [
        {
            "entity_ref": h.entity_ref,
            "source": h.source,
            "list_version_id": by_source.get(h.source),
            "list_id": h.list_id,
            "caption": h.caption,
            "score": 1.0,
            "matched_identifier": {"scheme": "crypto", "asset": h.asset, "value": h.address},
            "features": [],
        }
        for h in hits
    ]
    query = {"address": address, "asset": asset}
    return _record(
        session,
        actor,
        "address",
        subject,
        query,
        versions,
        ("exact-address", "1"),
        1.0,
        candidates,
        bool(hits),
    )


def _no_list() -> Unavailable:
    return Unavailable(
        "screening.no_list_loaded", "no sanctions list is loaded: load one with `corridor lists load`"
    )


def screen(
    db: Database,
    principal: Principal,
    queries: list[PartyQuery],
    subject: str = "adhoc",
    threshold: float = DEFAULT_THRESHOLD,
    cutoff: float = DEFAULT_CUTOFF,
    limit: int = DEFAULT_LIMIT,
) -> list[dict[str, Any]]:
    """Screen a batch of parties in one transaction; each result is recorded. Raises when no list is loaded."""
    authorize(principal, "screening.screen")
    with db.transaction() as session:
        views = []
        for query in queries:
            recorded = screen_party_in(session, principal.actor, subject, query, threshold, cutoff, limit)
            if recorded is None:
                raise _no_list()
            views.append(view(session, recorded))
        return views


def screen_address(
    db: Database, principal: Principal, address: str, asset: str | None = None, subject: str = "adhoc"
) -> dict[str, Any]:
    authorize(principal, "screening.screen")
    with db.transaction() as session:
        recorded = screen_address_in(session, principal.actor, subject, address, asset)
        if recorded is None:
            raise _no_list()
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
