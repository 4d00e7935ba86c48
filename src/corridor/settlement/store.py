"""Settlement tables and queries (SQLAlchemy Core): quotes, invoices, payment orders, approvals, exception
requests and currency-operation records. Decimals are stored as strings; JSON as canonical text."""

from __future__ import annotations

import json
from collections.abc import Sequence
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
    UniqueConstraint,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session

from corridor.db import among, metadata, on_postgres

quotes = Table(
    "settlement_quotes",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("purpose", String(16), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("contract_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("sats", BigInteger, nullable=False),
    Column("price", String(40), nullable=False),
    Column("price_id", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("tolerance_sats", BigInteger, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("expires_at", String(32), nullable=False),
)

invoices = Table(
    "settlement_invoices",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(64), nullable=False, index=True),
    Column("contract_id", String(64), nullable=False),
    Column("quote_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("amount_rub_minor", BigInteger, nullable=False),
    Column("sats_due", BigInteger, nullable=False),
    Column("tolerance_sats", BigInteger, nullable=False),
    Column("wallet_id", String(64), nullable=False),
    Column("address", String(100), nullable=False, unique=True),
    Column("status", String(16), nullable=False, index=True),
    Column("exception", String(16), nullable=True),
    Column("paid_sats", BigInteger, nullable=False),
    Column("confirmed_sats", BigInteger, nullable=False),
    Column("vo_code", String(5), nullable=False),
    Column("description", String(200), nullable=False),
    Column("expires_at", String(32), nullable=False),
    Column("settled_at", String(32), nullable=True),
    Column("created_by", String(128), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
)

payment_orders = Table(
    "settlement_payment_orders",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("participant_id", String(64), nullable=False, index=True),
    Column("contract_id", String(64), nullable=False),
    Column("quote_id", String(64), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("amount_rub_minor", BigInteger, nullable=False),
    Column("sats", BigInteger, nullable=False),
    Column("wallet_id", String(64), nullable=False),
    Column("address", String(100), nullable=False),
    Column("beneficiary", Text, nullable=False),
    Column("state", String(20), nullable=False, index=True),
    Column("approvals_required", Integer, nullable=False),
    Column("hold_id", String(64), nullable=False),
    Column("payout_id", String(64), nullable=True),
    Column("txid", String(64), nullable=True),
    Column("block_height", Integer, nullable=True),
    Column("reason", String(200), nullable=True),
    Column("vo_code", String(5), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("maker", String(128), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=False),
)

order_approvals = Table(
    "settlement_order_approvals",
    metadata,
    Column("order_id", String(64), primary_key=True),
    Column("approver", String(128), primary_key=True),
    Column("approved_at", String(32), nullable=False),
)

exception_requests = Table(
    "settlement_exception_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("invoice_id", String(64), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("sats", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),
    Column("resolution", String(200), nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("resolved_at", String(32), nullable=True),
    Column("resolved_by", String(128), nullable=True),
)

operations = Table(
    "settlement_operations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("source_id", String(64), nullable=False, unique=True),
    Column("participant_id", String(64), nullable=False, index=True),
    Column("contract_id", String(64), nullable=False),
    Column("unk", String(22), nullable=True),
    Column("vo_code", String(5), nullable=False),
    Column("operation_date", String(10), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("amount_rub_minor", BigInteger, nullable=False),
    Column("sats", BigInteger, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("block_height", Integer, nullable=True),
    Column("price", String(40), nullable=False),
    Column("price_id", String(64), nullable=False),
    Column("path", Text, nullable=False),
    Column("official_rate", Text, nullable=False),
    Column("registry_seq", BigInteger, nullable=True),
    Column("registry_hash", String(64), nullable=True),
    Column("created_at", String(32), nullable=False),
)

_JSON_COLUMNS = {"path", "beneficiary", "outputs", "official_rate"}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _decode(row: RowMapping) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS & out.keys():
        out[key] = json.loads(out[key])
    return out


def _encode(values: dict[str, Any]) -> dict[str, Any]:
    return {k: (dumps(v) if k in _JSON_COLUMNS else v) for k, v in values.items()}


def _one(session: Session, table: Table, key: str, *, lock: bool = False) -> dict[str, Any] | None:
    query = select(table).where(table.c.id == key)
    if lock:
        query = query.with_for_update()
    row = session.execute(query).mappings().first()
    return None if row is None else _decode(row)


def _insert(session: Session, table: Table, values: dict[str, Any]) -> None:
    session.execute(insert(table), _encode(values))


def _page(
    session: Session,
    table: Table,
    state_column: Any,
    participant_id: str | None,
    state: str | None,
    after: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """One page of a participant's (or everyone's) records in id order, optionally in one state."""
    query = select(table)
    if participant_id is not None:
        query = query.where(table.c.participant_id == participant_id)
    if state is not None:
        query = query.where(state_column == state)
    if after is not None:
        query = query.where(table.c.id > after)
    return [_decode(r) for r in session.execute(query.order_by(table.c.id).limit(limit)).mappings()]


def _update(session: Session, table: Table, key: str, values: dict[str, Any]) -> None:
    session.execute(update(table).where(table.c.id == key), _encode(values))


# --- quotes -------------------------------------------------------------------------------------------


def insert_quote(session: Session, values: dict[str, Any]) -> None:
    _insert(session, quotes, values)


def get_quote(session: Session, quote_id: str) -> dict[str, Any] | None:
    return _one(session, quotes, quote_id)


# --- invoices -----------------------------------------------------------------------------------------


def insert_invoice(session: Session, values: dict[str, Any]) -> None:
    _insert(session, invoices, values)


def get_invoice(session: Session, invoice_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    return _one(session, invoices, invoice_id, lock=lock)


def update_invoice(session: Session, invoice_id: str, **values: Any) -> None:
    _update(session, invoices, invoice_id, values)


def invoice_ids_to_watch(session: Session, terminal: Sequence[str], since: str) -> list[str]:
    """Open invoices, and closed ones still young enough that a late or reorged payment may change them."""
    query = select(invoices.c.id).where(
        (invoices.c.status.not_in(list(terminal))) | (invoices.c.updated_at >= since)
    )
    return [row[0] for row in session.execute(query.order_by(invoices.c.id))]


def list_invoices(
    session: Session, participant_id: str | None, status: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    return _page(session, invoices, invoices.c.status, participant_id, status, after, limit)


# --- payment orders ----------------------------------------------------------------------------------


def insert_order(session: Session, values: dict[str, Any]) -> None:
    _insert(session, payment_orders, values)


def get_order(session: Session, order_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    return _one(session, payment_orders, order_id, lock=lock)


def get_orders(
    session: Session, order_ids: Sequence[str], *, lock: bool = False
) -> dict[str, dict[str, Any]]:
    """The orders with these ids, locked in id order when ``lock`` (the order every locker of orders uses)."""
    return _many(session, payment_orders, order_ids, lock=lock)


def get_quotes(session: Session, quote_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    return _many(session, quotes, quote_ids)


def _many(
    session: Session, table: Table, keys: Sequence[str], *, lock: bool = False
) -> dict[str, dict[str, Any]]:
    if not keys:
        return {}
    query = _select_many(table, on_postgres(session), lock)
    return {row["id"]: _decode(row) for row in session.execute(query, {"ids": sorted(set(keys))}).mappings()}


@cache
def _select_many(table: Table, postgres: bool, lock: bool) -> Select[Any]:
    # One statement whatever the number of ids (``among``), built once per table and dialect.
    query = select(table).where(among(table.c.id, "ids", postgres)).order_by(table.c.id)
    return query.with_for_update() if lock else query


def update_order(session: Session, order_id: str, **values: Any) -> None:
    _update(session, payment_orders, order_id, values)


def orders_to_follow(
    session: Session, moving: Sequence[str], pending: str, now: str
) -> list[tuple[str, str, str | None, str | None]]:
    """(id, state, txid, payout id) of the orders whose payout is in flight (``moving`` states), and of
    ``pending`` ones whose quote has expired by ``now``: a pending order with a live quote has nothing for
    the worker to do."""
    columns = (payment_orders.c.id, payment_orders.c.state, payment_orders.c.txid, payment_orders.c.payout_id)
    expired = (
        select(*columns)
        .join(quotes, quotes.c.id == payment_orders.c.quote_id)
        .where(payment_orders.c.state == pending, quotes.c.expires_at <= now)
    )
    query = select(*columns).where(payment_orders.c.state.in_(list(moving))).union(expired)
    return sorted((row[0], row[1], row[2], row[3]) for row in session.execute(query))


def list_orders(
    session: Session, participant_id: str | None, state: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    return _page(session, payment_orders, payment_orders.c.state, participant_id, state, after, limit)


def delete_approvals(session: Session, order_id: str) -> None:
    session.execute(delete(order_approvals).where(order_approvals.c.order_id == order_id))


def insert_approval(session: Session, order_id: str, approver: str, now: str) -> None:
    session.execute(insert(order_approvals), dict(order_id=order_id, approver=approver, approved_at=now))


def approvers_of(session: Session, order_id: str) -> list[str]:
    query = select(order_approvals.c.approver).where(order_approvals.c.order_id == order_id)
    return [row[0] for row in session.execute(query.order_by(order_approvals.c.approved_at))]


# --- exception requests and operation records ---------------------------------------------------------


def insert_request(session: Session, values: dict[str, Any]) -> None:
    _insert(session, exception_requests, values)


def get_request(session: Session, request_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    return _one(session, exception_requests, request_id, lock=lock)


def update_request(session: Session, request_id: str, **values: Any) -> None:
    _update(session, exception_requests, request_id, values)


def requests_of(session: Session, invoice_id: str) -> list[dict[str, Any]]:
    query = select(exception_requests).where(exception_requests.c.invoice_id == invoice_id)
    return [_decode(r) for r in session.execute(query.order_by(exception_requests.c.created_at)).mappings()]


def insert_operation(session: Session, values: dict[str, Any]) -> None:
    _insert(session, operations, values)


def get_operation(session: Session, operation_id: str) -> dict[str, Any] | None:
    return _one(session, operations, operation_id)


def operation_for_source(session: Session, source_id: str) -> dict[str, Any] | None:
    row = session.execute(select(operations).where(operations.c.source_id == source_id)).mappings().first()
    return None if row is None else _decode(row)


def list_operations(
    session: Session, participant_id: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    return _page(session, operations, None, participant_id, None, after, limit)


# --- refunds: one row per payout attempt of a refund request -----------------------------------------

refunds = Table(
    "settlement_refunds",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("request_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("invoice_id", String(64), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("sats", BigInteger, nullable=False),
    Column("wallet_id", String(64), nullable=False),
    Column("address", String(100), nullable=False),
    Column("beneficiary", Text, nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("txid", String(64), nullable=True),
    Column("vout", Integer, nullable=True),
    Column("block_height", Integer, nullable=True),
    Column("reason", String(200), nullable=True),
    Column("requested_by", String(128), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    UniqueConstraint("request_id", "attempt", name="uq_settlement_refunds_request_attempt"),
)
"""One row per payout attempt of a refund request (its id is the custody payout id)."""


def _refund_row(row: Any) -> dict[str, Any]:
    out = dict(row)
    out["beneficiary"] = json.loads(out["beneficiary"])
    return out


def refunds_of(session: Session, request_id: str) -> list[dict[str, Any]]:
    query = select(refunds).where(refunds.c.request_id == request_id).order_by(refunds.c.attempt)
    return [_refund_row(r) for r in session.execute(query).mappings()]


def get_refund(session: Session, refund_id: str) -> dict[str, Any] | None:
    row = session.execute(select(refunds).where(refunds.c.id == refund_id)).mappings().first()
    return None if row is None else _refund_row(row)


def refund_attempts(session: Session, request_id: str) -> int:
    query = select(func.count()).select_from(refunds).where(refunds.c.request_id == request_id)
    return int(session.execute(query).scalar_one())


def live_refund_ids(session: Session, live_states: Sequence[str]) -> list[tuple[str, str]]:
    query = select(refunds.c.request_id, refunds.c.id).where(refunds.c.state.in_(list(live_states)))
    return [(r[0], r[1]) for r in session.execute(query.order_by(refunds.c.id))]


def insert_refund(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(refunds), {**values, "beneficiary": dumps(values["beneficiary"])})


def update_refund(session: Session, row: dict[str, Any], **changes: Any) -> None:
    session.execute(update(refunds).where(refunds.c.id == row["id"]), changes)
    row.update(changes)
