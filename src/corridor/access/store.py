"""Users and API keys."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, insert, select, update
from sqlalchemy.orm import Session

from corridor.access.model import Principal, Role
from corridor.db import metadata

users = Table(
    "access_users",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(32), nullable=False),
    Column("participant_id", String(64), nullable=True, index=True),
    Column("created_at", String(32), nullable=False),
    Column("disabled_at", String(32), nullable=True),
)

api_keys = Table(
    "access_api_keys",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("hash", String(200), nullable=False),
    Column("user_id", String(64), ForeignKey("access_users.id"), nullable=False, index=True),
    Column("label", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
)


def insert_user(
    session: Session, user_id: str, name: str, role: Role, participant_id: str | None, now: str
) -> None:
    session.execute(
        insert(users),
        dict(id=user_id, name=name, role=role.value, participant_id=participant_id, created_at=now),
    )


def get_user(session: Session, user_id: str) -> Principal | None:
    row = session.execute(select(users).where(users.c.id == user_id, users.c.disabled_at.is_(None))).first()
    if row is None:
        return None
    return Principal(user_id=row.id, role=Role(row.role), participant_id=row.participant_id, name=row.name)


def insert_key(
    session: Session, key_id: str, prefix: str, hashed: str, user_id: str, label: str, now: str
) -> None:
    session.execute(
        insert(api_keys),
        dict(id=key_id, prefix=prefix, hash=hashed, user_id=user_id, label=label, created_at=now),
    )


def find_key(session: Session, prefix: str) -> tuple[str, str, str] | None:
    """(key id, argon2 hash, user id) of the live key with this prefix."""
    row = session.execute(
        select(api_keys.c.id, api_keys.c.hash, api_keys.c.user_id).where(
            api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None)
        )
    ).first()
    return (row.id, row.hash, row.user_id) if row else None


def revoke_key(session: Session, key_id: str, now: str) -> bool:
    result = session.execute(
        update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None)), dict(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def list_keys(session: Session) -> list[dict[str, str | None]]:
    rows = session.execute(select(api_keys).order_by(api_keys.c.created_at)).all()
    return [
        {
            "id": r.id,
            "prefix": r.prefix,
            "user_id": r.user_id,
            "label": r.label,
            "created_at": r.created_at,
            "revoked_at": r.revoked_at,
        }
        for r in rows
    ]
