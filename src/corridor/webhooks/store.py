"""Webhook tables and queries: endpoints, the registry offset, events, deliveries and their attempts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from corridor.db import metadata
from corridor.webhooks.model import DeliveryStatus, Trigger

endpoints = Table(
    "webhooks_endpoints",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(64), ForeignKey("identity_participants.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("description", String(200), nullable=False),
    Column("event_types", Text, nullable=False),
    Column("sealed_secret", LargeBinary, nullable=False),
    Column("secret_hint", String(16), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("since_seq", BigInteger, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

cursor = Table(
    "webhooks_cursor",
    metadata,
    Column("consumer", String(32), primary_key=True),
    Column("last_seq", BigInteger, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

events = Table(
    "webhooks_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(100), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("created", String(32), nullable=False),
    Column("body", Text, nullable=False),
)

deliveries = Table(
    "webhooks_deliveries",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("endpoint_id", String(64), ForeignKey("webhooks_endpoints.id"), nullable=False),
    Column("participant_id", String(64), nullable=False, index=True),
    Column("event_seq", BigInteger, ForeignKey("webhooks_events.seq"), nullable=False, index=True),
    Column("event_type", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("round_attempts", Integer, nullable=False),
    Column("next_trigger", String(16), nullable=False),
    Column("next_attempt_at", String(32), nullable=True),
    Column("lease_until", String(32), nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("delivered_at", String(32), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    UniqueConstraint("endpoint_id", "event_seq", name="uq_webhooks_deliveries_endpoint_event"),
    Index("ix_webhooks_deliveries_due", "status", "next_attempt_at"),
)

attempts = Table(
    "webhooks_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", String(64), ForeignKey("webhooks_deliveries.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("trigger", String(16), nullable=False),
    Column("attempted_at", String(32), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("duration_ms", Integer, nullable=False),
    UniqueConstraint("delivery_id", "number", name="uq_webhooks_attempts_delivery_number"),
)

CONSUMER = "webhooks"


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _insert_ignoring_duplicates(session: Session, table: Table, keys: Sequence[str]) -> Any:
    """``INSERT … ON CONFLICT (keys) DO NOTHING`` in either database's dialect."""
    if _is_postgresql(session):
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=list(keys))
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=list(keys))


# --- endpoints -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    participant_id: str
    url: str
    description: str
    event_types: tuple[str, ...]
    secret_hint: str
    enabled: bool
    deleted: bool
    since_seq: int
    """Events from registry entries after this seq (the endpoint's own creation entry) are sent to it."""
    created_by: str
    created_at: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class EndpointTarget:
    """What sending needs of an endpoint; the secret stays sealed until the sender opens it."""

    id: str
    url: str
    sealed_secret: bytes


def _endpoint(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        participant_id=row.participant_id,
        url=row.url,
        description=row.description,
        event_types=tuple(json.loads(row.event_types)),
        secret_hint=row.secret_hint,
        enabled=bool(row.enabled),
        deleted=bool(row.deleted),
        since_seq=int(row.since_seq),
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def insert_endpoint(session: Session, values: dict[str, Any]) -> None:
    values = {**values, "event_types": json.dumps(list(values["event_types"]))}
    session.execute(endpoints.insert().values(**values))


def get_endpoint(
    session: Session, endpoint_id: str, *, lock: bool = False, include_deleted: bool = False
) -> Endpoint | None:
    query = select(endpoints).where(endpoints.c.id == endpoint_id)
    if not include_deleted:
        query = query.where(endpoints.c.deleted.is_(False))
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    return _endpoint(row) if row else None


def list_endpoints(session: Session, participant_id: str | None, limit: int) -> list[Endpoint]:
    query = select(endpoints).where(endpoints.c.deleted.is_(False))
    if participant_id is not None:
        query = query.where(endpoints.c.participant_id == participant_id)
    rows = session.execute(query.order_by(endpoints.c.created_at, endpoints.c.id).limit(limit)).all()
    return [_endpoint(r) for r in rows]


def update_endpoint(session: Session, endpoint_id: str, values: dict[str, Any]) -> None:
    if "event_types" in values:
        values = {**values, "event_types": json.dumps(list(values["event_types"]))}
    session.execute(update(endpoints).where(endpoints.c.id == endpoint_id), values)


def live_endpoints(session: Session) -> list[Endpoint]:
    """Every enabled, undeleted endpoint: what a dispatch round matches events against."""
    query = select(endpoints).where(endpoints.c.deleted.is_(False), endpoints.c.enabled.is_(True))
    return [_endpoint(r) for r in session.execute(query).all()]


def cancel_pending(session: Session, endpoint_id: str, now: str) -> int:
    result = session.execute(
        update(deliveries).where(
            deliveries.c.endpoint_id == endpoint_id, deliveries.c.status == DeliveryStatus.PENDING.value
        ),
        dict(status=DeliveryStatus.CANCELLED.value, next_attempt_at=None, updated_at=now),
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- the registry offset, events and new deliveries ------------------------------------------------------


def lock_offset(session: Session, now: str) -> int:
    """Lock this consumer's offset row (creating it at 0 the first time) and return the last seq read."""
    session.execute(
        _insert_ignoring_duplicates(session, cursor, ["consumer"]).values(
            consumer=CONSUMER, last_seq=0, updated_at=now
        )
    )
    row = session.execute(
        select(cursor.c.last_seq).where(cursor.c.consumer == CONSUMER).with_for_update()
    ).one()
    return int(row.last_seq)


def read_offset(session: Session) -> int:
    row = session.execute(select(cursor.c.last_seq).where(cursor.c.consumer == CONSUMER)).first()
    return int(row.last_seq) if row else 0


def move_offset(session: Session, last_seq: int, now: str) -> None:
    session.execute(
        update(cursor).where(cursor.c.consumer == CONSUMER), dict(last_seq=last_seq, updated_at=now)
    )


def insert_events(session: Session, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(_insert_ignoring_duplicates(session, events, ["seq"]), rows)


def insert_deliveries(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert new deliveries, skipping any (endpoint, event) pair that already has one; count inserted."""
    if not rows:
        return 0
    statement = _insert_ignoring_duplicates(session, deliveries, ["endpoint_id", "event_seq"])
    return len(session.execute(statement.returning(deliveries.c.id), rows).all())


# --- claiming and recording ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claim:
    delivery_id: str
    endpoint: EndpointTarget
    event_seq: int
    event_type: str
    body: str
    trigger: Trigger
    token: str


def _due(now: str) -> Any:
    return and_(
        deliveries.c.status == DeliveryStatus.PENDING.value,
        deliveries.c.next_attempt_at <= now,
        or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until <= now),
    )


def claim_due(session: Session, now: str, lease_until: str, token: str, limit: int) -> list[Claim]:
    """Lease up to ``limit`` due deliveries of enabled endpoints to the caller (``token``).

    On PostgreSQL the candidate rows are locked ``FOR UPDATE SKIP LOCKED``, so concurrent workers pick
    disjoint rows without waiting; on SQLite the transaction already holds the database's write lock. The
    lease, committed with the claim, keeps the rows away from other workers while this one sends them
    outside any transaction; a worker that dies loses its lease when it expires and the rows come due again.
    """
    query = (
        select(deliveries.c.id)
        .select_from(deliveries.join(endpoints, endpoints.c.id == deliveries.c.endpoint_id))
        .where(_due(now), endpoints.c.enabled.is_(True), endpoints.c.deleted.is_(False))
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
        .limit(limit)
    )
    if _is_postgresql(session):
        query = query.with_for_update(skip_locked=True, of=deliveries)
    ids = [row.id for row in session.execute(query).all()]
    if not ids:
        return []
    session.execute(
        update(deliveries).where(deliveries.c.id.in_(ids)),
        dict(lease_until=lease_until, claim_token=token, updated_at=now),
    )
    rows = session.execute(
        select(
            deliveries.c.id,
            deliveries.c.event_seq,
            deliveries.c.event_type,
            deliveries.c.next_trigger,
            endpoints.c.id.label("endpoint_id"),
            endpoints.c.url,
            endpoints.c.sealed_secret,
            events.c.body,
        )
        .select_from(
            deliveries.join(endpoints, endpoints.c.id == deliveries.c.endpoint_id).join(
                events, events.c.seq == deliveries.c.event_seq
            )
        )
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    ).all()
    return [
        Claim(
            delivery_id=r.id,
            endpoint=EndpointTarget(r.endpoint_id, r.url, bytes(r.sealed_secret)),
            event_seq=int(r.event_seq),
            event_type=r.event_type,
            body=r.body,
            trigger=Trigger(r.next_trigger),
            token=token,
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class DeliveryState:
    id: str
    endpoint_id: str
    participant_id: str
    event_seq: int
    event_type: str
    status: DeliveryStatus
    attempts: int
    round_attempts: int
    next_trigger: Trigger
    next_attempt_at: str | None
    lease_until: str | None
    claim_token: str | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: str | None
    created_at: str
    updated_at: str


def _delivery(row: Any) -> DeliveryState:
    return DeliveryState(
        id=row.id,
        endpoint_id=row.endpoint_id,
        participant_id=row.participant_id,
        event_seq=int(row.event_seq),
        event_type=row.event_type,
        status=DeliveryStatus(row.status),
        attempts=int(row.attempts),
        round_attempts=int(row.round_attempts),
        next_trigger=Trigger(row.next_trigger),
        next_attempt_at=row.next_attempt_at,
        lease_until=row.lease_until,
        claim_token=row.claim_token,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def get_delivery(session: Session, delivery_id: str, *, lock: bool = False) -> DeliveryState | None:
    query = select(deliveries).where(deliveries.c.id == delivery_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    return _delivery(row) if row else None


def get_deliveries(
    session: Session, delivery_ids: Sequence[str], *, lock: bool = False
) -> dict[str, DeliveryState]:
    """The deliveries by id; locked in id order, so concurrent batches never wait on each other in a cycle."""
    if not delivery_ids:
        return {}
    query = select(deliveries).where(deliveries.c.id.in_(list(delivery_ids))).order_by(deliveries.c.id)
    if lock:
        query = query.with_for_update()
    return {row.id: _delivery(row) for row in session.execute(query).all()}


def update_delivery(session: Session, delivery_id: str, values: dict[str, Any]) -> None:
    session.execute(update(deliveries).where(deliveries.c.id == delivery_id), values)


def insert_attempt(session: Session, values: dict[str, Any]) -> None:
    session.execute(attempts.insert().values(**values))


def list_deliveries(
    session: Session,
    participant_id: str | None,
    endpoint_id: str | None,
    status: DeliveryStatus | None,
    after: tuple[int, str] | None,
    limit: int,
) -> list[DeliveryState]:
    """Newest event first; ``after`` is the (event_seq, id) of the last row of the previous page."""
    query = select(deliveries)
    if participant_id is not None:
        query = query.where(deliveries.c.participant_id == participant_id)
    if endpoint_id is not None:
        query = query.where(deliveries.c.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(deliveries.c.status == status.value)
    if after is not None:
        seq, last_id = after
        query = query.where(
            or_(
                deliveries.c.event_seq < seq,
                and_(deliveries.c.event_seq == seq, deliveries.c.id < last_id),
            )
        )
    rows = session.execute(
        query.order_by(deliveries.c.event_seq.desc(), deliveries.c.id.desc()).limit(limit)
    ).all()
    return [_delivery(r) for r in rows]


def attempts_of(session: Session, delivery_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return found
    rows = session.execute(
        select(attempts)
        .where(attempts.c.delivery_id.in_(list(delivery_ids)))
        .order_by(attempts.c.delivery_id, attempts.c.number)
    ).all()
    for r in rows:
        found[r.delivery_id].append(
            {
                "number": int(r.number),
                "trigger": r.trigger,
                "attempted_at": r.attempted_at,
                "ok": bool(r.ok),
                "status_code": r.status_code,
                "error": r.error,
                "duration_ms": int(r.duration_ms),
            }
        )
    return found


def event_summaries(session: Session, seqs: Sequence[int]) -> dict[int, dict[str, Any]]:
    if not seqs:
        return {}
    rows = session.execute(
        select(events.c.seq, events.c.subject, events.c.created).where(events.c.seq.in_(list(seqs)))
    ).all()
    return {int(r.seq): {"subject": r.subject, "created": r.created} for r in rows}
