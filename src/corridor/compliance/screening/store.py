"""Tables and queries of screening: list versions, their entities (JSON), screenings, screened subjects,
decisions on hits and alerts raised by re-screening."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from corridor.compliance.screening.model import (
    AlertStatus,
    DecisionStatus,
    EntitySchema,
    Identifier,
    IdScheme,
    ListedEntity,
    ListedName,
    NameKind,
    PairKey,
    Standing,
    Verdict,
)
from corridor.db import metadata

list_versions = Table(
    "screening_list_versions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("source", String(100), nullable=False, index=True),
    Column("list_format", String(32), nullable=False),
    Column("published", String(64), nullable=True),
    Column("content_sha256", String(64), nullable=False),
    Column("entity_count", Integer, nullable=False),
    Column("counts", Text, nullable=False),
    Column("loaded_at", String(32), nullable=False),
    Column("loaded_by", String(100), nullable=False),
    Column("previous_id", String(64), nullable=True),
    Column("added", Integer, nullable=False),
    Column("removed", Integer, nullable=False),
    Column("changed", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("is_current", Boolean, nullable=False),
)

list_entities = Table(
    "screening_list_entities",
    metadata,
    Column("version_id", String(64), ForeignKey("screening_list_versions.id"), primary_key=True),
    Column("list_id", String(200), primary_key=True),
    Column("data", Text, nullable=False),
)

screenings = Table(
    "screening_screenings",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("subject", String(200), nullable=False, index=True),
    Column("query", Text, nullable=False),
    Column("list_version_ids", Text, nullable=False),
    Column("algorithm", String(64), nullable=False),
    Column("algorithm_version", String(64), nullable=False),
    Column("threshold", String(16), nullable=False),
    Column("candidates", Text, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("actor", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)


@dataclass(frozen=True, slots=True)
class StoredListVersion:
    id: str
    source: str
    list_format: str
    published: str | None
    content_sha256: str
    entity_count: int
    counts: dict[str, int]
    loaded_at: str
    loaded_by: str
    previous_id: str | None
    diff: dict[str, int]
    is_current: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "list_format": self.list_format,
            "published": self.published,
            "content_sha256": self.content_sha256,
            "entity_count": self.entity_count,
            "counts": self.counts,
            "loaded_at": self.loaded_at,
            "previous_id": self.previous_id,
            "diff": self.diff,
            "is_current": self.is_current,
        }


@dataclass(frozen=True, slots=True)
class StoredScreening:
    id: str
    kind: str
    subject: str
    query: dict[str, Any]
    list_version_ids: list[str]
    algorithm: str
    algorithm_version: str
    threshold: str
    candidates: list[dict[str, Any]]
    outcome: str
    actor: str
    created_at: str


# --- entity <-> JSON ----------------------------------------------------------------------------------


def entity_to_json(entity: ListedEntity) -> str:
    data = {
        "list_id": entity.list_id,
        "schema": entity.schema.value,
        "names": [[n.value, n.kind.value, n.script] for n in entity.names],
        "identifiers": [[i.scheme.value, i.value, i.asset, i.country, i.raw] for i in entity.identifiers],
        "countries": list(entity.countries),
        "birth_dates": list(entity.birth_dates),
        "programs": list(entity.programs),
        "gender": entity.gender,
    }
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def entity_from_json(text: str) -> ListedEntity:
    data = json.loads(text)
    return ListedEntity(
        list_id=data["list_id"],
        schema=EntitySchema(data["schema"]),
        names=tuple(ListedName(v, NameKind(k), s) for v, k, s in data["names"]),
        identifiers=tuple(Identifier(IdScheme(sc), v, a, c, r) for sc, v, a, c, r in data["identifiers"]),
        countries=tuple(data["countries"]),
        birth_dates=tuple(data["birth_dates"]),
        programs=tuple(data["programs"]),
        gender=data["gender"],
    )


# --- list versions ------------------------------------------------------------------------------------


def _version(row: Any) -> StoredListVersion:
    return StoredListVersion(
        id=row.id,
        source=row.source,
        list_format=row.list_format,
        published=row.published,
        content_sha256=row.content_sha256,
        entity_count=row.entity_count,
        counts=json.loads(row.counts),
        loaded_at=row.loaded_at,
        loaded_by=row.loaded_by,
        previous_id=row.previous_id,
        diff={"added": row.added, "removed": row.removed, "changed": row.changed, "unchanged": row.unchanged},
        is_current=bool(row.is_current),
    )


def current_versions(session: Session) -> list[StoredListVersion]:
    rows = session.execute(
        select(list_versions).where(list_versions.c.is_current.is_(True)).order_by(list_versions.c.source)
    )
    return [_version(row) for row in rows]


def current_version_of(session: Session, source: str, for_update: bool = False) -> StoredListVersion | None:
    query = select(list_versions).where(
        list_versions.c.source == source, list_versions.c.is_current.is_(True)
    )
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).first()
    return _version(row) if row is not None else None


def versions_by_ids(session: Session, ids: Sequence[str]) -> list[StoredListVersion]:
    if not ids:
        return []
    rows = session.execute(select(list_versions).where(list_versions.c.id.in_(list(ids))))
    by_id = {row.id: _version(row) for row in rows}
    return [by_id[i] for i in ids if i in by_id]


def insert_version(session: Session, version: StoredListVersion, entities: Iterable[ListedEntity]) -> None:
    if version.previous_id is not None:
        session.execute(
            update(list_versions).where(list_versions.c.id == version.previous_id).values(is_current=False)
        )
    session.execute(
        insert(list_versions).values(
            id=version.id,
            source=version.source,
            list_format=version.list_format,
            published=version.published,
            content_sha256=version.content_sha256,
            entity_count=version.entity_count,
            counts=json.dumps(version.counts, sort_keys=True),
            loaded_at=version.loaded_at,
            loaded_by=version.loaded_by,
            previous_id=version.previous_id,
            added=version.diff["added"],
            removed=version.diff["removed"],
            changed=version.diff["changed"],
            unchanged=version.diff["unchanged"],
            is_current=version.is_current,
        )
    )
    rows = [{"version_id": version.id, "list_id": e.list_id, "data": entity_to_json(e)} for e in entities]
    for start in range(0, len(rows), 2000):
        session.execute(insert(list_entities), rows[start : start + 2000])


def entities_of(session: Session, version_id: str) -> list[ListedEntity]:
    rows = session.execute(
        select(list_entities.c.data)
        .where(list_entities.c.version_id == version_id)
        .order_by(list_entities.c.list_id)
    )
    return [entity_from_json(row.data) for row in rows]


# --- screenings ---------------------------------------------------------------------------------------


def insert_screening(session: Session, screening: StoredScreening) -> None:
    session.execute(
        insert(screenings).values(
            id=screening.id,
            kind=screening.kind,
            subject=screening.subject,
            query=json.dumps(screening.query, sort_keys=True, ensure_ascii=False),
            list_version_ids=json.dumps(screening.list_version_ids),
            algorithm=screening.algorithm,
            algorithm_version=screening.algorithm_version,
            threshold=screening.threshold,
            candidates=json.dumps(screening.candidates, ensure_ascii=False),
            outcome=screening.outcome,
            actor=screening.actor,
            created_at=screening.created_at,
        )
    )


def get_screening(session: Session, screening_id: str) -> StoredScreening | None:
    row = session.execute(select(screenings).where(screenings.c.id == screening_id)).first()
    if row is None:
        return None
    return StoredScreening(
        id=row.id,
        kind=row.kind,
        subject=row.subject,
        query=json.loads(row.query),
        list_version_ids=json.loads(row.list_version_ids),
        algorithm=row.algorithm,
        algorithm_version=row.algorithm_version,
        threshold=row.threshold,
        candidates=json.loads(row.candidates),
        outcome=row.outcome,
        actor=row.actor,
        created_at=row.created_at,
    )


# --- screened subjects, decisions, alerts ---------------------------------------------------------------

subjects = Table(
    "screening_subjects",
    metadata,
    Column("subject", String(200), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("query", Text, nullable=False),
    Column("query_sha256", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("escalated", Boolean, nullable=False),
    Column("reason", Text, nullable=False),
    Column("last_screening_id", String(64), nullable=True),
    Column("first_seen_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

decisions = Table(
    "screening_decisions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subject", String(200), nullable=False, index=True),
    Column("screening_id", String(64), ForeignKey("screening_screenings.id"), nullable=False),
    Column("entity_ref", String(300), nullable=False),
    Column("query_sha256", String(64), nullable=False),
    Column("entity_sha256", String(64), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("officer_name", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default=DecisionStatus.CONFIRMED.value),
    Column("checked_by", String(100), nullable=True),
    Column("checker_name", String(200), nullable=True),
    Column("checked_at", String(32), nullable=True),
    Column("check_reason", Text, nullable=True),
)

alerts = Table(
    "screening_alerts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("subject", String(200), nullable=False, index=True),
    Column("screening_id", String(64), ForeignKey("screening_screenings.id"), nullable=False),
    Column("entity_ref", String(300), nullable=False),
    Column("caption", Text, nullable=False),
    Column("score", String(16), nullable=False),
    Column("query_sha256", String(64), nullable=False),
    Column("entity_sha256", String(64), nullable=False),
    Column("list_version_id", String(64), nullable=True),
    Column("status", String(16), nullable=False, index=True),
    Column("raised_at", String(32), nullable=False),
    Column("raised_by", String(100), nullable=False),
    Column("decision_id", String(64), nullable=True),
    Column("resolved_at", String(32), nullable=True),
    Column("resolved_by", String(100), nullable=True),
)


@dataclass(frozen=True, slots=True)
class StoredSubject:
    subject: str
    kind: str
    query: dict[str, Any]
    query_sha256: str
    status: str
    escalated: bool
    reason: str
    last_screening_id: str | None
    first_seen_at: str
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "kind": self.kind,
            "query": self.query,
            "status": self.status,
            "escalated": self.escalated,
            "reason": self.reason,
            "last_screening_id": self.last_screening_id,
            "first_seen_at": self.first_seen_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True, slots=True)
class StoredDecision:
    id: str
    subject: str
    screening_id: str
    key: PairKey
    verdict: Verdict
    reason: str
    actor: str
    officer_name: str
    created_at: str
    status: DecisionStatus = DecisionStatus.PENDING
    checked_by: str | None = None
    checker_name: str | None = None
    checked_at: str | None = None
    check_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "screening_id": self.screening_id,
            "entity_ref": self.key.entity_ref,
            "query_sha256": self.key.query_sha256,
            "entity_sha256": self.key.entity_sha256,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "decided_by": self.actor,
            "officer_name": self.officer_name,
            "created_at": self.created_at,
            "status": self.status.value,
            "checked_by": self.checked_by,
            "checker_name": self.checker_name,
            "checked_at": self.checked_at,
            "check_reason": self.check_reason,
        }


@dataclass(frozen=True, slots=True)
class StoredAlert:
    id: str
    subject: str
    screening_id: str
    key: PairKey
    caption: str
    score: str
    list_version_id: str | None
    status: AlertStatus
    raised_at: str
    raised_by: str
    decision_id: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "screening_id": self.screening_id,
            "entity_ref": self.key.entity_ref,
            "entity_sha256": self.key.entity_sha256,
            "query_sha256": self.key.query_sha256,
            "caption": self.caption,
            "score": self.score,
            "list_version_id": self.list_version_id,
            "status": self.status.value,
            "raised_at": self.raised_at,
            "raised_by": self.raised_by,
            "decision_id": self.decision_id,
            "resolved_at": self.resolved_at,
            "resolved_by": self.resolved_by,
        }


def _subject(row: Any) -> StoredSubject:
    return StoredSubject(
        subject=row.subject,
        kind=row.kind,
        query=json.loads(row.query),
        query_sha256=row.query_sha256,
        status=row.status,
        escalated=bool(row.escalated),
        reason=row.reason,
        last_screening_id=row.last_screening_id,
        first_seen_at=row.first_seen_at,
        updated_at=row.updated_at,
    )


def lock_subject(
    session: Session, subject: str, kind: str, query: dict[str, Any], query_sha256: str, now: str
) -> StoredSubject:
    """The subject's row, created on first sight and locked for this transaction.

    Insert-if-absent first, so two transactions seeing a new subject at once do not both insert it.
    """
    values = {
        "subject": subject,
        "kind": kind,
        "query": _json(query),
        "query_sha256": query_sha256,
        "status": Standing.PENDING.value,
        "escalated": False,
        "reason": "not screened yet",
        "last_screening_id": None,
        "first_seen_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert_new = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert_new(subjects).values(**values).on_conflict_do_nothing(index_elements=["subject"]))
    row = session.execute(select(subjects).where(subjects.c.subject == subject).with_for_update()).one()
    return _subject(row)


def lock_existing_subject(session: Session, subject: str) -> StoredSubject | None:
    row = session.execute(select(subjects).where(subjects.c.subject == subject).with_for_update()).first()
    return _subject(row) if row is not None else None


def update_subject(session: Session, subject: str, values: dict[str, Any]) -> None:
    if "query" in values:
        values = {**values, "query": _json(values["query"])}
    session.execute(update(subjects).where(subjects.c.subject == subject).values(**values))


def get_subject(session: Session, subject: str) -> StoredSubject | None:
    row = session.execute(select(subjects).where(subjects.c.subject == subject)).first()
    return _subject(row) if row is not None else None


def subjects_by_name(session: Session, names: Sequence[str]) -> dict[str, StoredSubject]:
    found: dict[str, StoredSubject] = {}
    wanted = list(dict.fromkeys(names))
    for start in range(0, len(wanted), 500):
        rows = session.execute(select(subjects).where(subjects.c.subject.in_(wanted[start : start + 500])))
        found.update((row.subject, _subject(row)) for row in rows)
    return found


def subject_names(session: Session) -> list[str]:
    return list(session.execute(select(subjects.c.subject).order_by(subjects.c.subject)).scalars())


def list_subjects(session: Session, status: str | None, limit: int) -> list[StoredSubject]:
    query = select(subjects).order_by(subjects.c.subject).limit(limit)
    if status is not None:
        query = query.where(subjects.c.status == status)
    return [_subject(row) for row in session.execute(query)]


def _decision(row: Any) -> StoredDecision:
    return StoredDecision(
        id=row.id,
        subject=row.subject,
        screening_id=row.screening_id,
        key=PairKey(row.subject, row.query_sha256, row.entity_ref, row.entity_sha256),
        verdict=Verdict(row.verdict),
        reason=row.reason,
        actor=row.actor,
        officer_name=row.officer_name,
        created_at=row.created_at,
        status=DecisionStatus(row.status),
        checked_by=row.checked_by,
        checker_name=row.checker_name,
        checked_at=row.checked_at,
        check_reason=row.check_reason,
    )


def insert_decision(session: Session, decision: StoredDecision) -> None:
    seq = session.execute(
        select(func.coalesce(func.max(decisions.c.seq), 0)).where(decisions.c.subject == decision.subject)
    ).scalar_one()
    session.execute(
        insert(decisions).values(
            id=decision.id,
            subject=decision.subject,
            screening_id=decision.screening_id,
            entity_ref=decision.key.entity_ref,
            query_sha256=decision.key.query_sha256,
            entity_sha256=decision.key.entity_sha256,
            verdict=decision.verdict.value,
            reason=decision.reason,
            actor=decision.actor,
            officer_name=decision.officer_name,
            created_at=decision.created_at,
            seq=int(seq) + 1,
            status=decision.status.value,
        )
    )


def decisions_of(
    session: Session, subject: str, status: DecisionStatus = DecisionStatus.CONFIRMED
) -> list[StoredDecision]:
    """The subject's decisions in ``status``, oldest first (so a later confirmed decision on a pair
    replaces an earlier one)."""
    rows = session.execute(
        select(decisions)
        .where(decisions.c.subject == subject, decisions.c.status == status.value)
        .order_by(decisions.c.seq)
    )
    return [_decision(row) for row in rows]


def list_decisions(
    session: Session,
    subject: str | None,
    screening_id: str | None,
    limit: int,
    status: DecisionStatus | None = None,
) -> list[StoredDecision]:
    query = select(decisions).order_by(decisions.c.created_at.desc(), decisions.c.id).limit(limit)
    if subject is not None:
        query = query.where(decisions.c.subject == subject)
    if screening_id is not None:
        query = query.where(decisions.c.screening_id == screening_id)
    if status is not None:
        query = query.where(decisions.c.status == status.value)
    return [_decision(row) for row in session.execute(query)]


def get_decision(session: Session, decision_id: str, for_update: bool = False) -> StoredDecision | None:
    query = select(decisions).where(decisions.c.id == decision_id)
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).first()
    return _decision(row) if row is not None else None


def check_decision(
    session: Session, decision_id: str, status: DecisionStatus, actor: str, name: str, reason: str, now: str
) -> None:
    """Record the second officer's answer on a pending decision (locked by the caller)."""
    session.execute(
        update(decisions)
        .where(decisions.c.id == decision_id, decisions.c.status == DecisionStatus.PENDING.value)
        .values(status=status.value, checked_by=actor, checker_name=name, checked_at=now, check_reason=reason)
    )


def _alert(row: Any) -> StoredAlert:
    return StoredAlert(
        id=row.id,
        subject=row.subject,
        screening_id=row.screening_id,
        key=PairKey(row.subject, row.query_sha256, row.entity_ref, row.entity_sha256),
        caption=row.caption,
        score=row.score,
        list_version_id=row.list_version_id,
        status=AlertStatus(row.status),
        raised_at=row.raised_at,
        raised_by=row.raised_by,
        decision_id=row.decision_id,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
    )


def insert_alert(session: Session, alert: StoredAlert) -> None:
    session.execute(
        insert(alerts).values(
            id=alert.id,
            subject=alert.subject,
            screening_id=alert.screening_id,
            entity_ref=alert.key.entity_ref,
            caption=alert.caption,
            score=alert.score,
            query_sha256=alert.key.query_sha256,
            entity_sha256=alert.key.entity_sha256,
            list_version_id=alert.list_version_id,
            status=alert.status.value,
            raised_at=alert.raised_at,
            raised_by=alert.raised_by,
        )
    )


def get_alert(session: Session, alert_id: str, for_update: bool = False) -> StoredAlert | None:
    query = select(alerts).where(alerts.c.id == alert_id)
    if for_update:
        query = query.with_for_update()
    row = session.execute(query).first()
    return _alert(row) if row is not None else None


def open_alerts_of(session: Session, subject: str) -> list[StoredAlert]:
    rows = session.execute(
        select(alerts)
        .where(alerts.c.subject == subject, alerts.c.status == AlertStatus.OPEN.value)
        .order_by(alerts.c.raised_at, alerts.c.id)
    )
    return [_alert(row) for row in rows]


def list_alerts(
    session: Session, status: AlertStatus | None, subject: str | None, limit: int
) -> list[StoredAlert]:
    query = select(alerts).order_by(alerts.c.raised_at.desc(), alerts.c.id).limit(limit)
    if status is not None:
        query = query.where(alerts.c.status == status.value)
    if subject is not None:
        query = query.where(alerts.c.subject == subject)
    return [_alert(row) for row in session.execute(query)]


def resolve_alerts(session: Session, ids: Sequence[str], decision_id: str, actor: str, now: str) -> None:
    if not ids:
        return
    session.execute(
        update(alerts)
        .where(alerts.c.id.in_(list(ids)), alerts.c.status == AlertStatus.OPEN.value)
        .values(
            status=AlertStatus.RESOLVED.value, decision_id=decision_id, resolved_at=now, resolved_by=actor
        )
    )


def screening_ids_of(session: Session, subject: str) -> list[str]:
    rows = session.execute(
        select(screenings.c.id).where(screenings.c.subject == subject).order_by(screenings.c.created_at)
    )
    return list(rows.scalars())


def entity_data(session: Session, version_id: str, list_id: str) -> ListedEntity | None:
    row = session.execute(
        select(list_entities.c.data).where(
            list_entities.c.version_id == version_id, list_entities.c.list_id == list_id
        )
    ).first()
    return entity_from_json(row.data) if row is not None else None


def _json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
