"""Participants, their owners and directors, documents, screening results and limit usage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from corridor.db import metadata
from corridor.identity.model import (
    ParticipantKind,
    ParticipantRole,
    ParticipantStatus,
    PartyScreening,
    Person,
    PersonRole,
    Residency,
    RiskTier,
    ScreeningStatus,
)

participants = Table(
    "identity_participants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("residency", String(16), nullable=False),
    Column("name", String(300), nullable=False),
    Column("country", String(2), nullable=False),
    Column("roles", Text, nullable=False),
    Column("industry", String(100), nullable=False),
    Column("inn", String(12), nullable=True, index=True),
    Column("kpp", String(9), nullable=True),
    Column("ogrn", String(13), nullable=True),
    Column("ogrnip", String(15), nullable=True),
    Column("lei", String(20), nullable=True, index=True),
    Column("bic", String(11), nullable=True),
    Column("registration_number", String(64), nullable=True),
    Column("status", String(32), nullable=False),
    Column("risk_score", Integer, nullable=False),
    Column("risk_tier", String(16), nullable=False),
    Column("risk_factors", Text, nullable=False),
    Column("submitted_by", String(100), nullable=False),
    Column("reviewed_by", String(100), nullable=True),
    Column("review_notes", Text, nullable=True),
    Column("decided_by", String(100), nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("admission_reference", String(100), nullable=True),
    Column("admitted_on", Date, nullable=True),
    Column("admission_valid_to", Date, nullable=True),
    Column("per_transaction_limit_rub_minor", BigInteger, nullable=True),
    Column("per_period_limit_rub_minor", BigInteger, nullable=True),
    Column("next_review_on", Date, nullable=True),
    Column("status_reason", Text, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

persons = Table(
    "identity_persons",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(64), ForeignKey("identity_participants.id"), nullable=False, index=True),
    Column("role", String(32), nullable=False),
    Column("full_name", String(300), nullable=False),
    Column("country", String(2), nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("inn", String(12), nullable=True),
    Column("ownership_percent", String(8), nullable=True),
)

documents = Table(
    "identity_documents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(64), ForeignKey("identity_participants.id"), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("filename", String(200), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("uploaded_by", String(100), nullable=False),
    Column("uploaded_at", String(32), nullable=False),
)

screenings = Table(
    "identity_screenings",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("participant_id", String(64), ForeignKey("identity_participants.id"), nullable=False, index=True),
    Column("subject", String(100), nullable=False),
    Column("party_name", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(32), nullable=False),
    Column("screening_id", String(64), nullable=True),
    Column("reason", Text, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("created_at", String(32), nullable=False),
)

limit_usage = Table(
    "identity_limit_usage",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(64), ForeignKey("identity_participants.id"), nullable=False, index=True),
    Column("on_date", Date, nullable=False),
    Column("amount_rub_minor", BigInteger, nullable=False),
    Column("reference", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
)


@dataclass(frozen=True)
class StoredPerson:
    id: str
    person: Person


@dataclass(frozen=True)
class Participant:
    id: str
    kind: ParticipantKind
    residency: Residency
    name: str
    country: str
    roles: tuple[ParticipantRole, ...]
    industry: str
    identifiers: dict[str, str]
    status: ParticipantStatus
    risk_score: int
    risk_tier: RiskTier
    risk_factors: tuple[str, ...]
    submitted_by: str
    reviewed_by: str | None
    review_notes: str | None
    decided_by: str | None
    decision_reason: str | None
    admission_reference: str | None
    admitted_on: date | None
    admission_valid_to: date | None
    per_transaction_limit_rub_minor: int | None
    per_period_limit_rub_minor: int | None
    next_review_on: date | None
    status_reason: str | None
    created_at: str
    updated_at: str


_IDENTIFIER_COLUMNS = ("inn", "kpp", "ogrn", "ogrnip", "lei", "bic", "registration_number")


def _participant(row: Any) -> Participant:
    r = row._mapping
    return Participant(
        id=r["id"],
        kind=ParticipantKind(r["kind"]),
        residency=Residency(r["residency"]),
        name=r["name"],
        country=r["country"],
        roles=tuple(ParticipantRole(x) for x in json.loads(r["roles"])),
        industry=r["industry"],
        identifiers={c: r[c] for c in _IDENTIFIER_COLUMNS if r[c] is not None},
        status=ParticipantStatus(r["status"]),
        risk_score=int(r["risk_score"]),
        risk_tier=RiskTier(r["risk_tier"]),
        risk_factors=tuple(json.loads(r["risk_factors"])),
        submitted_by=r["submitted_by"],
        reviewed_by=r["reviewed_by"],
        review_notes=r["review_notes"],
        decided_by=r["decided_by"],
        decision_reason=r["decision_reason"],
        admission_reference=r["admission_reference"],
        admitted_on=r["admitted_on"],
        admission_valid_to=r["admission_valid_to"],
        per_transaction_limit_rub_minor=r["per_transaction_limit_rub_minor"],
        per_period_limit_rub_minor=r["per_period_limit_rub_minor"],
        next_review_on=r["next_review_on"],
        status_reason=r["status_reason"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
    )


def insert_participant(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(participants), values)


def insert_person(session: Session, person_id: str, participant_id: str, person: Person) -> None:
    session.execute(
        insert(persons),
        dict(
            id=person_id,
            participant_id=participant_id,
            role=person.role.value,
            full_name=person.full_name,
            country=person.country,
            birth_date=person.birth_date,
            inn=person.inn,
            ownership_percent=None if person.ownership_percent is None else str(person.ownership_percent),
        ),
    )


def get_participant(session: Session, participant_id: str, *, lock: bool = False) -> Participant | None:
    query = select(participants).where(participants.c.id == participant_id)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).first()
    return None if row is None else _participant(row)


def list_participants(
    session: Session, participant_id: str | None, status: str | None, limit: int
) -> list[Participant]:
    query = select(participants).order_by(participants.c.created_at, participants.c.id).limit(limit)
    if participant_id is not None:
        query = query.where(participants.c.id == participant_id)
    if status is not None:
        query = query.where(participants.c.status == status)
    return [_participant(row) for row in session.execute(query)]


def find_live_by_identifier(session: Session, column: str, value: str) -> str | None:
    """A participant with this identifier that was not rejected or excluded (a duplicate application)."""
    closed = (ParticipantStatus.REJECTED.value, ParticipantStatus.EXCLUDED.value)
    found = session.execute(
        select(participants.c.id)
        .where(participants.c[column] == value)
        .where(participants.c.status.not_in(closed))
        .limit(1)
    ).scalar_one_or_none()
    return found


def update_participant(session: Session, participant_id: str, values: dict[str, Any]) -> None:
    session.execute(update(participants).where(participants.c.id == participant_id), values)


def persons_of(session: Session, participant_id: str) -> list[StoredPerson]:
    rows = session.execute(
        select(persons)
        .where(persons.c.participant_id == participant_id)
        .order_by(persons.c.role, persons.c.id)
    )
    return [
        StoredPerson(
            r.id,
            Person(
                role=PersonRole(r.role),
                full_name=r.full_name,
                country=r.country,
                birth_date=r.birth_date,
                inn=r.inn,
                ownership_percent=None if r.ownership_percent is None else Decimal(r.ownership_percent),
            ),
        )
        for r in rows
    ]


def insert_document(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(documents), values)


def documents_of(session: Session, participant_id: str) -> list[dict[str, Any]]:
    rows = session.execute(
        select(
            documents.c.id,
            documents.c.kind,
            documents.c.filename,
            documents.c.sha256,
            documents.c.size_bytes,
            documents.c.uploaded_by,
            documents.c.uploaded_at,
        )
        .where(documents.c.participant_id == participant_id)
        .order_by(documents.c.uploaded_at, documents.c.id)
    )
    return [dict(r._mapping) for r in rows]


def insert_screening(
    session: Session,
    participant_id: str,
    result: PartyScreening,
    screening_id: str | None,
    actor: str,
    now: str,
) -> None:
    session.execute(
        insert(screenings),
        dict(
            participant_id=participant_id,
            subject=result.subject,
            party_name=result.name,
            status=result.status.value,
            source=result.source,
            screening_id=screening_id,
            reason=result.reason,
            actor=actor,
            created_at=now,
        ),
    )


def latest_screenings(session: Session, participant_id: str) -> list[PartyScreening]:
    """The newest result per party, and whether that party was ever a hit (it stays in the risk rating)."""
    rows = session.execute(
        select(screenings).where(screenings.c.participant_id == participant_id).order_by(screenings.c.id)
    ).all()
    latest: dict[str, Any] = {}
    ever_hit: set[str] = set()
    for row in rows:
        latest[row.subject] = row
        if row.status == ScreeningStatus.HIT.value:
            ever_hit.add(row.subject)
    return [
        PartyScreening(
            subject=row.subject,
            name=row.party_name,
            status=ScreeningStatus(row.status),
            source=row.source,
            reason=row.reason,
            ever_hit=row.subject in ever_hit,
        )
        for row in latest.values()
    ]


def insert_usage(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(limit_usage), values)


def usage_between(session: Session, participant_id: str, first: date, last: date) -> int:
    total = session.execute(
        select(func.coalesce(func.sum(limit_usage.c.amount_rub_minor), 0)).where(
            limit_usage.c.participant_id == participant_id,
            limit_usage.c.on_date >= first,
            limit_usage.c.on_date <= last,
        )
    ).scalar_one()
    return int(total)


def usage_exists(session: Session, usage_id: str) -> bool:
    return session.execute(select(limit_usage.c.id).where(limit_usage.c.id == usage_id)).first() is not None


def roles_json(roles: Sequence[ParticipantRole]) -> str:
    return json.dumps([r.value for r in roles])


def get_usage(session: Session, usage_id: str) -> dict[str, Any] | None:
    row = session.execute(select(limit_usage).where(limit_usage.c.id == usage_id)).mappings().first()
    return None if row is None else dict(row)


def delete_usage(session: Session, usage_id: str) -> None:
    session.execute(delete(limit_usage).where(limit_usage.c.id == usage_id))
