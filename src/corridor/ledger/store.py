"""Ledger tables and queries."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    Select,
    String,
    Table,
    Text,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from corridor.db import among, insert_many, metadata, on_postgres, plan_with_values, update_many
from corridor.ledger.model import Account, AccountFlags, PendingState, Transfer, TransferKind

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("asset", String(10), nullable=False),
    Column("code", String(64), nullable=False),
    Column("owner", String(64), nullable=True, index=True),
    Column("flags", Integer, nullable=False),
    Column("debits_pending", BigInteger, nullable=False),
    Column("debits_posted", BigInteger, nullable=False),
    Column("credits_pending", BigInteger, nullable=False),
    Column("credits_posted", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
)

transfers = Table(
    "ledger_transfers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("debit_account_id", String(64), nullable=False, index=True),
    Column("credit_account_id", String(64), nullable=False, index=True),
    Column("asset", String(10), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("pending_id", String(64), nullable=True, unique=True),
    Column("timeout_at", String(32), nullable=True),
    Column("state", String(16), nullable=True, index=True),
    Column("reference", String(200), nullable=False),
    Column("corrects", String(64), nullable=True, index=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("metadata", Text, nullable=False),
)


MANY = 10
"""Lookups of more ids than this are planned with the ids (see :func:`corridor.db.plan_with_values`)."""


def _account(row: object) -> Account:
    r = row._mapping  # type: ignore[attr-defined]
    return Account(
        id=r["id"],
        asset=r["asset"],
        code=r["code"],
        owner=r["owner"],
        flags=AccountFlags(r["flags"]),
        debits_pending=int(r["debits_pending"]),
        debits_posted=int(r["debits_posted"]),
        credits_pending=int(r["credits_pending"]),
        credits_posted=int(r["credits_posted"]),
    )


def _transfer(row: object) -> Transfer:
    r = row._mapping  # type: ignore[attr-defined]
    return Transfer(
        id=r["id"],
        kind=TransferKind(r["kind"]),
        debit_account_id=r["debit_account_id"],
        credit_account_id=r["credit_account_id"],
        asset=r["asset"],
        amount=int(r["amount"]),
        pending_id=r["pending_id"],
        timeout_at=r["timeout_at"],
        state=PendingState(r["state"]) if r["state"] else None,
        reference=r["reference"],
        corrects=r["corrects"],
        fingerprint=r["fingerprint"],
        created_at=r["created_at"],
        metadata=json.loads(r["metadata"]),
    )


def get_account(session: Session, account_id: str) -> Account | None:
    row = session.execute(select(accounts).where(accounts.c.id == account_id)).first()
    return _account(row) if row else None


def lock_accounts(session: Session, account_ids: Collection[str]) -> dict[str, Account]:
    """Lock the accounts' rows in id order (the fixed order keeps concurrent writers free of deadlocks)."""
    if len(account_ids) > MANY:
        plan_with_values(session)
    rows = session.execute(_lock_accounts(on_postgres(session)), {"ids": sorted(set(account_ids))}).all()
    return {row.id: _account(row) for row in rows}


@cache
def _lock_accounts(postgres: bool) -> Select[Any]:
    # Built once per dialect: constructing a statement costs about as much as running a small one.
    return (
        select(accounts)
        .where(among(accounts.c.id, "ids", postgres))
        .order_by(accounts.c.id)
        .with_for_update()
    )


def insert_account(session: Session, account: Account, created_at: str) -> None:
    session.execute(
        insert(accounts),
        dict(
            id=account.id,
            asset=account.asset,
            code=account.code,
            owner=account.owner,
            flags=int(account.flags),
            debits_pending=0,
            debits_posted=0,
            credits_pending=0,
            credits_posted=0,
            created_at=created_at,
        ),
    )


def save_balances(session: Session, changed: Sequence[Account]) -> None:
    update_many(
        session,
        accounts,
        "id",
        [
            {
                "id": a.id,
                "debits_pending": a.debits_pending,
                "debits_posted": a.debits_posted,
                "credits_pending": a.credits_pending,
                "credits_posted": a.credits_posted,
            }
            for a in changed
        ],
    )


def get_transfer(session: Session, transfer_id: str) -> Transfer | None:
    row = session.execute(select(transfers).where(transfers.c.id == transfer_id)).first()
    return _transfer(row) if row else None


def get_transfers(session: Session, transfer_ids: Collection[str], lock: bool = False) -> dict[str, Transfer]:
    if not transfer_ids:
        return {}
    if len(transfer_ids) > MANY:
        plan_with_values(session)
    rows = session.execute(_get_transfers(on_postgres(session), lock), {"ids": sorted(transfer_ids)}).all()
    return {row.id: _transfer(row) for row in rows}


@cache
def _get_transfers(postgres: bool, lock: bool) -> Select[Any]:
    query = select(transfers).where(among(transfers.c.id, "ids", postgres)).order_by(transfers.c.id)
    return query.with_for_update() if lock else query


def insert_transfers(session: Session, new: Sequence[Transfer]) -> None:
    insert_many(
        session,
        transfers,
        [
            {
                "id": t.id,
                "kind": t.kind.value,
                "debit_account_id": t.debit_account_id,
                "credit_account_id": t.credit_account_id,
                "asset": t.asset,
                "amount": t.amount,
                "pending_id": t.pending_id,
                "timeout_at": t.timeout_at,
                "state": t.state.value if t.state else None,
                "reference": t.reference,
                "corrects": t.corrects,
                "fingerprint": t.fingerprint,
                "created_at": t.created_at,
                "metadata": json.dumps(t.metadata, sort_keys=True),
            }
            for t in new
        ],
    )


def set_pending_states(session: Session, moves: Sequence[tuple[str, PendingState]]) -> None:
    """Move pending transfers out of ``pending``. The callers hold the rows' locks; the WHERE clause and the
    unique index on ``pending_id`` make a second move impossible even so."""
    if len(moves) > MANY:
        plan_with_values(session)
    by_state: dict[PendingState, list[str]] = {}
    for transfer_id, state in moves:
        by_state.setdefault(state, []).append(transfer_id)
    statement = _set_pending_state(on_postgres(session))
    for state, ids in sorted(by_state.items()):
        # One statement per outcome rather than one per transfer: a batch of 100 posts is one UPDATE.
        session.execute(statement, {"ids": ids, "state": state.value})


@cache
def _set_pending_state(postgres: bool) -> Update:
    return (
        update(transfers)
        .where(among(transfers.c.id, "ids", postgres), transfers.c.state == PendingState.PENDING.value)
        .values(state=bindparam("state"))
    )


def expired_pending_ids(session: Session, now_text: str, limit: int) -> list[str]:
    rows = session.execute(
        select(transfers.c.id)
        .where(transfers.c.state == PendingState.PENDING.value, transfers.c.timeout_at <= now_text)
        .order_by(transfers.c.timeout_at)
        .limit(limit)
    ).all()
    return [r.id for r in rows]


def corrected_total(session: Session, transfer_id: str) -> int:
    total = session.execute(
        select(func.coalesce(func.sum(transfers.c.amount), 0)).where(transfers.c.corrects == transfer_id)
    )
    return int(total.scalar_one())


def transfers_of_account(
    session: Session, account_id: str, after_id: str | None, limit: int
) -> list[Transfer]:
    query = select(transfers).where(
        (transfers.c.debit_account_id == account_id) | (transfers.c.credit_account_id == account_id)
    )
    if after_id:
        query = query.where(transfers.c.id > after_id)
    rows = session.execute(query.order_by(transfers.c.id).limit(limit)).all()
    return [_transfer(r) for r in rows]


def sums_per_asset(session: Session) -> dict[str, tuple[int, int, int, int]]:
    """Per asset: total debits posted, credits posted, debits pending, credits pending over all accounts."""
    rows = session.execute(
        select(
            accounts.c.asset,
            func.sum(accounts.c.debits_posted),
            func.sum(accounts.c.credits_posted),
            func.sum(accounts.c.debits_pending),
            func.sum(accounts.c.credits_pending),
        ).group_by(accounts.c.asset)
    ).all()
    return {r[0]: (int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}
