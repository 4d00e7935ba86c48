"""Settlement use cases: invoices for export proceeds and payment orders for imports, from a contract to a
confirmed Bitcoin transaction and a currency-operation record.

Money moves only through the ledger, the chain only through custody, and every step appends a registry
entry (``settlement.invoice.*``, ``settlement.payment_order.*``) that webhooks and monitoring consume.

Never twice: a payment order holds its sats with a two-phase ledger transfer from creation; approval turns
the hold into custody's payout reservation in one transaction (void the hold, queue the payout); cancel,
expiry and a dropped payout each void exactly one pending transfer, which the ledger resolves at most once.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from corridor.access.model import SCOPED_ROLES, Principal, authorize
from corridor.bitcoin.address import InvalidAddress, parse_address
from corridor.compliance import gate
from corridor.contracts import service as contracts
from corridor.contracts.model import Direction
from corridor.contracts.service import PaymentIn
from corridor.custody import service as custody
from corridor.custody.state import AddressPurpose, PayoutState
from corridor.db import Database
from corridor.db.batch_reads import batch_reads, prefetch, remembered
from corridor.errors import Conflict, CorridorError, NotFound, PolicyRefused, ValidationFailed
from corridor.identity import service as identity
from corridor.ledger import service as ledger
from corridor.ledger.model import AccountFlags, AccountSpec, TransferKind, TransferRequest
from corridor.profiles.loader import load_configured_profile
from corridor.profiles.model import ProfileValues
from corridor.rates.model import Money, RateNotFound
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.model import Entry
from corridor.registry.service import utc_now
from corridor.reporting import model as reports
from corridor.reporting.pdf import render_statement_pdf
from corridor.settings import get_settings
from corridor.settlement import pricing, store
from corridor.settlement.model import (
    DEFAULT_EXPORT_VO,
    DEFAULT_IMPORT_VO,
    TERMINAL_INVOICE,
    InvoiceStatus,
    OrderState,
    Quote,
    Receipt,
    RequestKind,
    check_approver,
    check_id,
    check_order_move,
    check_travel_rule,
    check_vo_code,
    exception_request,
    fiat_from_minor,
    judge_invoice,
    parse_fiat,
    quote_expiry,
    sats_for,
    tolerance_sats,
)

Clock = Callable[[], datetime]
ACTOR = "system:settlement"
ASSET = "BTC"
HOLDS_ACCOUNT = "settlement:holds"
HOLD_SLACK = timedelta(minutes=5)
"""A hold outlives its quote a little, so the void at approval or expiry never meets an expired transfer."""
LATE_WATCH = timedelta(days=7)
"""How long a closed invoice's address is still watched for late payments and reorgs."""
SYNC_CHUNK = 50
"""Orders the worker follows per transaction: fewer commits and registry-head locks than one each."""
MAX_BATCH = 100
"""Orders per batch request: one transaction holds the registry head for the whole batch."""


# --- shared helpers -----------------------------------------------------------------------------------


def client_account_id(participant_id: str) -> str:
    return f"client:{participant_id}"


def _profile_on(day: date) -> ProfileValues:
    return load_configured_profile().on(day)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _open_client_account_in(session: Session, actor: str, participant_id: str) -> str:
    account_id = client_account_id(participant_id)
    spec = AccountSpec(
        account_id, ASSET, "client_btc", participant_id, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    )
    ledger.open_account_in(session, actor, spec)
    return account_id


def authorize_role(principal: Principal, action: str) -> str | None:
    """Check the role; return the participant a scoped principal is bound to (None for operator roles)."""
    authorize(principal, action, principal.participant_id if principal.role in SCOPED_ROLES else None)
    return principal.participant_id if principal.role in SCOPED_ROLES else None


def _ensure_scope(principal: Principal, participant_id: str, what: str) -> None:
    if principal.role in SCOPED_ROLES and principal.participant_id != participant_id:
        raise NotFound(f"{what}_not_found", f"no {what} of this participant")  # never reveal others' records


def _fingerprint(payload: dict[str, Any]) -> str:
    return hashlib.sha256(store.dumps(payload).encode()).hexdigest()


def _event(
    session: Session, actor: str, kind: str, subject: str, payload: dict[str, Any], clock: Clock
) -> None:
    registry.append(session, actor, kind, subject, payload, clock)


# --- quotes -------------------------------------------------------------------------------------------


def _quote_in(
    session: Session,
    purpose: str,
    participant_id: str,
    contract_id: str,
    currency: str,
    amount: Decimal,
    amount_minor: int,
    ttl_minutes: int,
    tolerance_bps: int,
    now: datetime,
) -> Quote:
    locked = pricing.lock_btc_price(session, currency, now)
    sats = sats_for(amount, locked.price)
    quote = Quote(
        id=f"q_{uuid.uuid4().hex[:24]}",
        participant_id=participant_id,
        contract_id=contract_id,
        currency=currency,
        amount_minor=amount_minor,
        sats=sats,
        price=locked.price,
        price_id=locked.price_id,
        path=locked.path,
        created_at=now,
        expires_at=quote_expiry(now, ttl_minutes),
        tolerance_sats=tolerance_sats(sats, tolerance_bps),
    )
    store.insert_quote(session, _quote_row(purpose, quote))
    return quote


def _quote_row(purpose: str, quote: Quote) -> dict[str, Any]:
    return {
        "id": quote.id, "purpose": purpose, "participant_id": quote.participant_id,
        "contract_id": quote.contract_id, "currency": quote.currency, "amount_minor": quote.amount_minor,
        "sats": quote.sats, "price": str(quote.price), "price_id": quote.price_id, "path": list(quote.path),
        "tolerance_sats": quote.tolerance_sats, "created_at": format_time(quote.created_at),
        "expires_at": format_time(quote.expires_at),
    }  # fmt: skip


def _quote_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "sats": row["sats"],
        "price": row["price"],
        "price_id": row["price_id"],
        "path": row["path"],
        "tolerance_sats": row["tolerance_sats"],
        "created_at": row["created_at"],
        "expires_at": row["expires_at"],
    }


def _ttl(values: ProfileValues, override: int | None) -> int:
    if override is None:
        return values.quote_ttl_minutes
    if isinstance(override, bool) or not 1 <= override <= 24 * 60:
        raise ValidationFailed("quote.ttl_invalid", "a quote's lifetime is 1 to 1440 minutes")
    return override


# --- invoices -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvoiceIn:
    contract_id: str
    amount: str
    currency: str
    id: str | None = None
    vo_code: str | None = None
    description: str = ""
    ttl_minutes: int | None = None


def create_invoice(
    db: Database, principal: Principal, data: InvoiceIn, clock: Clock = utc_now
) -> dict[str, Any]:
    """Invoice a foreign buyer under an export contract: lock the BTC amount, issue a fresh address.

    Idempotent by id: the same id with the same content returns the invoice; other content is a 409."""
    scoped = authorize_role(principal, "settlement.invoice.create")
    invoice_id = check_id(data.id or f"inv_{uuid.uuid4().hex[:24]}", "invoice")
    if len(data.description) > 200:
        raise ValidationFailed("description.too_long", "description is at most 200 characters")
    vo_code = check_vo_code(data.vo_code or DEFAULT_EXPORT_VO)
    fingerprint = _fingerprint({"contract": data.contract_id, "amount": str(data.amount),
                                "currency": data.currency, "vo": vo_code, "description": data.description,
                                "ttl": data.ttl_minutes})  # fmt: skip
    now = clock()
    with db.transaction() as session:
        existing = store.get_invoice(session, invoice_id)
        if existing is not None:
            _ensure_scope(principal, existing["participant_id"], "invoice")
            if existing["fingerprint"] != fingerprint:
                raise Conflict("invoice_id_reused", f"invoice {invoice_id} exists with different content")
            return _invoice_view(session, existing)
        contract = contracts.get_contract_for_settlement(
            session, data.contract_id, Direction.INCOMING, now.date()
        )
        if scoped is not None and contract.participant_id != scoped:
            raise NotFound("contract_not_found", f"no contract {data.contract_id}")
        if data.currency != contract.currency:
            raise ValidationFailed(
                "currency_mismatch", f"the contract is in {contract.currency}; invoice in that currency"
            )
        amount, amount_minor = parse_fiat(data.amount, data.currency)
        values = _profile_on(now.date())
        amount_rub = pricing.rub_minor(session, amount, data.currency, now.date())
        identity.consume_limit_in(
            session, principal.actor, contract.participant_id, amount_rub, now.date(),
            usage_id=_usage_id(invoice_id), reference=f"invoice {invoice_id}",
            screening_checked=True,  # get_contract_for_settlement ran ensure_admitted just now
        )  # fmt: skip
        quote = _quote_in(
            session, "invoice", contract.participant_id, contract.id, data.currency, amount, amount_minor,
            _ttl(values, data.ttl_minutes), values.underpayment_tolerance_bps, now,
        )  # fmt: skip
        account = _open_client_account_in(session, principal.actor, contract.participant_id)
        address = custody.issue_address_in(
            session, principal.actor, _invoice_wallet(), AddressPurpose.INVOICE, invoice_id, account, clock
        )
        row = {
            "id": invoice_id, "participant_id": contract.participant_id, "contract_id": contract.id,
            "quote_id": quote.id, "currency": data.currency, "amount_minor": amount_minor,
            "amount_rub_minor": amount_rub, "sats_due": quote.sats, "tolerance_sats": quote.tolerance_sats,
            "wallet_id": address.wallet_id, "address": address.address, "status": InvoiceStatus.NEW.value,
            "exception": None, "paid_sats": 0, "confirmed_sats": 0, "vo_code": vo_code,
            "description": data.description, "expires_at": format_time(quote.expires_at), "settled_at": None,
            "created_by": principal.actor, "created_at": format_time(now), "updated_at": format_time(now),
            "fingerprint": fingerprint,
        }  # fmt: skip
        store.insert_invoice(session, row)
        _event(session, principal.actor, "settlement.invoice.created", f"invoice:{invoice_id}",
               _invoice_event(row, price=str(quote.price), price_path=list(quote.path)), clock)  # fmt: skip
        return _invoice_view(session, row)


def _usage_id(record_id: str) -> str:
    """The same usage id the contract's payment record uses, so the limit is counted once."""
    return f"contract_payment:{record_id}"


def _invoice_wallet() -> str:
    return get_settings().invoice_wallet


def _payout_wallet() -> str:
    return get_settings().payout_wallet


def _invoice_event(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keys = ("id", "participant_id", "contract_id", "currency", "amount_minor", "sats_due", "address",
            "status", "exception", "paid_sats", "confirmed_sats", "expires_at")  # fmt: skip
    return {**{k: row[k] for k in keys}, **extra}


def _invoice_view(session: Session, row: dict[str, Any]) -> dict[str, Any]:
    quote = store.get_quote(session, row["quote_id"])
    assert quote is not None
    return {
        "id": row["id"],
        "participant_id": row["participant_id"],
        "contract_id": row["contract_id"],
        "status": row["status"],
        "exception": row["exception"],
        "amount": str(fiat_from_minor(row["amount_minor"], row["currency"])),
        "currency": row["currency"],
        "amount_rub_minor": row["amount_rub_minor"],
        "sats_due": row["sats_due"],
        "tolerance_sats": row["tolerance_sats"],
        "paid_sats": row["paid_sats"],
        "confirmed_sats": row["confirmed_sats"],
        "address": row["address"],
        "bip21": f"bitcoin:{row['address']}?amount={Decimal(row['sats_due']).scaleb(-8):f}",
        "vo_code": row["vo_code"],
        "description": row["description"],
        "expires_at": row["expires_at"],
        "settled_at": row["settled_at"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "quote": _quote_view(quote),
        "requests": [_request_view(r) for r in store.requests_of(session, row["id"])],
    }


def _request_view(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "invoice_id", "kind", "sats", "status", "resolution", "created_at",
                                "resolved_at", "resolved_by")}  # fmt: skip


def get_invoice(db: Database, principal: Principal, invoice_id: str) -> dict[str, Any]:
    scoped = authorize_role(principal, "settlement.invoice.read")
    with db.transaction() as session:
        row = store.get_invoice(session, invoice_id)
        if row is None or (scoped is not None and row["participant_id"] != scoped):
            raise NotFound("invoice_not_found", f"no invoice {invoice_id}")
        view = _invoice_view(session, row)
        view["payments"] = [
            {"txid": p.txid, "vout": p.vout, "sats": p.sats, "first_seen_at": p.first_seen_at,
             "confirmations": p.confirmations}
            for p in custody.outputs_paid_to_in(session, row["address"])
        ]  # fmt: skip
        return view


def list_invoices(
    db: Database, principal: Principal, status: str | None = None, after: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    scoped = authorize_role(principal, "settlement.invoice.read")
    with db.transaction() as session:
        rows = store.list_invoices(session, scoped, status, after, min(max(limit, 1), 500))
        return [_invoice_view(session, r) for r in rows]


@dataclass
class SyncReport:
    invoices_checked: int = 0
    invoices_changed: int = 0
    orders_checked: int = 0
    orders_changed: int = 0
    refunds_checked: int = 0
    refunds_changed: int = 0
    failures: list[str] = field(default_factory=list)


def sync_invoices(db: Database, clock: Clock = utc_now, report: SyncReport | None = None) -> SyncReport:
    """Judge every open (or recently closed) invoice from what the chain follower recorded."""
    report = report or SyncReport()
    now = clock()
    with db.transaction() as session:
        ids = store.invoice_ids_to_watch(
            session, [s.value for s in TERMINAL_INVOICE], format_time(now - LATE_WATCH)
        )
    for invoice_id in ids:
        report.invoices_checked += 1
        try:
            with db.transaction() as session:
                if _sync_invoice_in(session, invoice_id, now, clock):
                    report.invoices_changed += 1
        except CorridorError as error:  # one bad invoice must not stop the others; it is retried next round
            report.failures.append(f"invoice {invoice_id}: {error.code}: {error.detail}")
    return report


def _sync_invoice_in(session: Session, invoice_id: str, now: datetime, clock: Clock) -> bool:
    row = store.get_invoice(session, invoice_id, lock=True)
    assert row is not None
    receipts = [
        Receipt(p.txid, p.vout, p.sats, _parse_time(p.first_seen_at), p.confirmations)
        for p in custody.outputs_paid_to_in(session, row["address"])
    ]
    values = _profile_on(now.date())
    judgement = judge_invoice(
        row["sats_due"], row["tolerance_sats"], _parse_time(row["expires_at"]), receipts,
        values.invoice_credit_confirmations, now,
    )  # fmt: skip
    exception = None if judgement.exception is None else judgement.exception.value
    before = (row["status"], row["exception"], row["paid_sats"], row["confirmed_sats"])
    after = (judgement.status.value, exception, judgement.paid_sats, judgement.confirmed_sats)
    if before == after:
        return False
    changes: dict[str, Any] = {
        "status": judgement.status.value, "exception": exception, "paid_sats": judgement.paid_sats,
        "confirmed_sats": judgement.confirmed_sats, "updated_at": format_time(now),
    }  # fmt: skip
    settled_now = judgement.status is InvoiceStatus.SETTLED and row["status"] != InvoiceStatus.SETTLED.value
    if settled_now:
        changes["settled_at"] = format_time(now)
    store.update_invoice(session, invoice_id, **changes)
    row.update(changes)
    kind = "payment_seen" if before[0] == after[0] and before[1] == after[1] else judgement.status.value
    _event(session, ACTOR, f"settlement.invoice.{kind}", f"invoice:{invoice_id}", _invoice_event(row), clock)
    if settled_now:
        _record_invoice_operation_in(session, row, receipts, now, clock)
    if judgement.status is InvoiceStatus.EXPIRED and judgement.paid_sats == 0:
        identity.release_limit_in(
            session, ACTOR, _usage_id(invoice_id), f"invoice {invoice_id} expired unpaid"
        )
    wanted = exception_request(judgement, row["sats_due"])
    if wanted is not None:
        _open_request_in(session, row, wanted[0], wanted[1], now, clock)
    return True


def _open_request_in(
    session: Session, row: dict[str, Any], kind: RequestKind, sats: int, now: datetime, clock: Clock
) -> None:
    """One refund or top-up request per invoice and exception; a later judgement never duplicates it."""
    request_id = f"req_{row['id']}_{row['exception']}"[:64]
    if store.get_request(session, request_id) is not None:
        return
    values = {"id": request_id, "invoice_id": row["id"], "kind": kind.value, "sats": sats, "status": "open",
              "resolution": None, "created_at": format_time(now), "resolved_at": None, "resolved_by": None}  # fmt: skip
    store.insert_request(session, values)
    _event(session, ACTOR, "settlement.invoice.exception", f"invoice:{row['id']}",
           {**_invoice_event(row), "request": {"id": request_id, "kind": kind.value, "sats": sats}}, clock)  # fmt: skip


def load_request_in(
    session: Session, request_id: str, scoped: str | None, *, lock: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A refund or top-up request and its invoice, if ``scoped`` (a client's participant) may see them."""
    request = store.get_request(session, request_id, lock=lock)
    invoice = None if request is None else store.get_invoice(session, request["invoice_id"])
    if request is None or invoice is None or (scoped is not None and invoice["participant_id"] != scoped):
        raise NotFound("request_not_found", f"no request {request_id}")  # never reveal others' requests
    return request, invoice


def resolve_request(
    db: Database, principal: Principal, request_id: str, resolution: str, clock: Clock = utc_now
) -> dict[str, Any]:
    """Close a refund or top-up request with what was done (refund paid, top-up received, accepted as is)."""
    if not 3 <= len(resolution.strip()) <= 200:
        raise ValidationFailed("resolution.invalid", "say in 3-200 characters how the request was resolved")
    scoped = authorize_role(principal, "settlement.request.resolve")
    with db.transaction() as session:
        request, invoice = load_request_in(session, request_id, scoped, lock=True)
        if request["status"] != "open":
            raise Conflict("request_closed", f"request {request_id} is already {request['status']}")
        changes = {"status": "resolved", "resolution": resolution.strip(), "resolved_at": format_time(clock()),
                   "resolved_by": principal.actor}  # fmt: skip
        store.update_request(session, request_id, **changes)
        request.update(changes)
        _event(session, principal.actor, "settlement.invoice.request_resolved", f"invoice:{invoice['id']}",
               {"participant_id": invoice["participant_id"], "request": _request_view(request)}, clock)  # fmt: skip
        return _request_view(request)


# --- payment orders ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentOrderIn:
    contract_id: str
    amount: str
    currency: str
    address: str | None = None
    """Default: the counterparty's wallet address registered on the contract."""
    beneficiary: dict[str, Any] | None = None
    """Travel Rule data of the beneficiary; defaults come from the contract's counterparty."""
    id: str | None = None
    vo_code: str | None = None
    reference: str = ""
    ttl_minutes: int | None = None


def create_payment_order(
    db: Database, principal: Principal, data: PaymentOrderIn, clock: Clock = utc_now
) -> dict[str, Any]:
    """Order a payment to a foreign supplier under an import contract; the sats are held at once."""
    scoped = authorize_role(principal, "settlement.order.create")
    now = clock()
    with db.transaction() as session:
        return _create_order_in(session, principal, scoped, data, now, clock)


def create_payment_orders(
    db: Database, principal: Principal, orders: Sequence[PaymentOrderIn], clock: Clock = utc_now
) -> list[dict[str, Any]]:
    """Up to :data:`MAX_BATCH` orders in one transaction, each in its own savepoint: a refused order leaves
    nothing behind and does not stop the others. One result per order, in the order given."""
    scoped = authorize_role(principal, "settlement.order.create")
    _check_batch(len(orders), "orders")
    now = clock()

    def create(session: Session, order: PaymentOrderIn) -> dict[str, Any]:
        return _create_order_in(session, principal, scoped, order, now, clock)

    return _run_batch(db, orders, 201, create, clock)


def _check_batch(size: int, what: str) -> None:
    if not 1 <= size <= MAX_BATCH:
        raise ValidationFailed("batch.size", f"a batch holds 1 to {MAX_BATCH} {what}, not {size}")


def _run_batch(
    db: Database,
    items: Sequence[Any],
    status: int,
    work: Callable[[Session, Any], dict[str, Any]],
    clock: Clock,
    on_expired: Callable[[Session, Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Each item's result, as if each ran in its own savepoint, in one transaction.

    First all items run without savepoints (two round trips less per item), their holds and reservations
    applied together at the end as one ledger batch (the client's account is locked only for the commit);
    only if one is refused is that transaction rolled back and the batch run again item by item, each in a
    savepoint with its ledger transfers applied at once, so that the refused items leave nothing behind
    and the others go through. ``on_expired``: what to do, outside the item's savepoint, when an item's
    quote turned out to have expired (see :class:`_QuoteExpired`)."""
    try:
        with db.transaction() as session, batch_reads(session), ledger.deferring(session, clock):
            return [
                {"index": i, "status": status, "order": work(session, item)} for i, item in enumerate(items)
            ]
    except (CorridorError, _QuoteExpired):
        pass  # at least one item is refused: run again, item by item
    results: list[dict[str, Any]] = []
    with db.transaction() as session, batch_reads(session):
        for index, item in enumerate(items):
            try:
                results.append(_item_result(session, index, status, partial(work, session, item)))
            except _QuoteExpired as expired:
                assert on_expired is not None
                on_expired(session, item)
                results.append(_item_error(index, _quote_expired(expired.order_id)))
    return results


def _item_result(
    session: Session, index: int, status: int, work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    try:
        with session.begin_nested():
            return {"index": index, "status": status, "order": work()}
    except CorridorError as error:
        return _item_error(index, error)


def _item_error(index: int, error: CorridorError) -> dict[str, Any]:
    return {"index": index, "status": error.status, "error": {"code": error.code, "detail": error.detail}}


def _create_order_in(
    session: Session,
    principal: Principal,
    scoped: str | None,
    data: PaymentOrderIn,
    now: datetime,
    clock: Clock,
) -> dict[str, Any]:
    order_id = check_id(data.id or f"po_{uuid.uuid4().hex[:24]}", "payment_order")
    if len(data.reference) > 200:
        raise ValidationFailed("reference.too_long", "reference is at most 200 characters")
    vo_code = check_vo_code(data.vo_code or DEFAULT_IMPORT_VO)
    fingerprint = _fingerprint({"contract": data.contract_id, "amount": str(data.amount), "currency": data.currency,
                                "address": data.address, "beneficiary": data.beneficiary, "vo": vo_code,
                                "reference": data.reference, "ttl": data.ttl_minutes})  # fmt: skip
    if data.id is not None:  # an id we just drew cannot exist yet; one the caller chose may be a retry
        replayed = _replayed_order_in(session, principal, order_id, fingerprint)
        if replayed is not None:
            return replayed
    contract = remembered(
        session, ("settlement.contract", data.contract_id, Direction.OUTGOING, now.date()),
        lambda: contracts.get_contract_for_settlement(session, data.contract_id, Direction.OUTGOING, now.date()),
    )  # fmt: skip
    if scoped is not None and contract.participant_id != scoped:
        raise NotFound("contract_not_found", f"no contract {data.contract_id}")
    if data.currency != contract.currency:
        raise ValidationFailed(
            "currency_mismatch", f"the contract is in {contract.currency}; order in that currency"
        )
    amount, amount_minor = parse_fiat(data.amount, data.currency)
    wallet = custody.get_wallet_in(session, _payout_wallet())
    address = _payee_address(data.address or contract.counterparty.wallet_address, wallet.network)
    beneficiary = check_travel_rule(beneficiary_of(contract, data.beneficiary, address), address)
    _screen_payee_in(session, principal.actor, address)
    priced = _count_and_quote_in(session, principal.actor, contract, order_id, amount, amount_minor,
                                 data.ttl_minutes, now, f"payment order {order_id}")  # fmt: skip
    quote = priced.quote
    account = _open_client_account_in(session, principal.actor, contract.participant_id)
    hold_id = f"hold:{order_id}"
    _hold_in(session, principal.actor, hold_id, account, quote.sats, priced.ttl, order_id, clock)
    row = {
        "id": order_id, "participant_id": contract.participant_id, "contract_id": contract.id,
        "quote_id": quote.id, "currency": data.currency, "amount_minor": amount_minor,
        "amount_rub_minor": priced.amount_rub, "sats": quote.sats, "wallet_id": wallet.id, "address": address,
        "beneficiary": beneficiary, "state": OrderState.PENDING_APPROVAL.value,
        "approvals_required": priced.approvals_required, "hold_id": hold_id, "payout_id": None, "txid": None, "block_height": None, "reason": None,
        "vo_code": vo_code, "reference": data.reference, "maker": principal.actor,
        "created_at": format_time(now), "updated_at": format_time(now), "fingerprint": fingerprint,
    }  # fmt: skip
    store.insert_order(session, row)
    _event(session, principal.actor, "settlement.payment_order.created", f"payment_order:{order_id}",
           _order_event(row, price=str(quote.price), price_path=list(quote.path)), clock)  # fmt: skip
    return _order_view(session, row, approvers=[], quote=_quote_row("payment_order", quote))


@dataclass(frozen=True, slots=True)
class _Priced:
    quote: Quote
    ttl: int
    amount_rub: int
    approvals_required: int


def _count_and_quote_in(
    session: Session, actor: str, contract: Any, order_id: str, amount: Decimal, amount_minor: int,
    ttl_override: int | None, now: datetime, reference: str,
) -> _Priced:  # fmt: skip
    """Count the order against the limits at today's official rate and quote it at today's market price:
    what a new order and a re-quoted one both do before holding the quoted sats."""
    values = _profile_on(now.date())
    amount_rub = pricing.rub_minor(session, amount, contract.currency, now.date())
    identity.consume_limit_in(
        session, actor, contract.participant_id, amount_rub, now.date(), usage_id=_usage_id(order_id),
        reference=reference,
        screening_checked=True,  # the caller's get_contract_for_settlement ran ensure_admitted just now
    )  # fmt: skip
    ttl = _ttl(values, ttl_override)
    quote = _quote_in(session, "payment_order", contract.participant_id, contract.id, contract.currency, amount,
                      amount_minor, ttl, 0, now)  # fmt: skip
    required = values.approvals_required(Money(Decimal(amount_rub).scaleb(-2), "RUB"))
    return _Priced(quote, ttl, amount_rub, required)


def _replayed_order_in(
    session: Session, principal: Principal, order_id: str, fingerprint: str
) -> dict[str, Any] | None:
    """An order id given again: the same content gets the stored order back, other content a conflict."""
    existing = store.get_order(session, order_id)
    if existing is None:
        return None
    _ensure_scope(principal, existing["participant_id"], "payment_order")
    if existing["fingerprint"] != fingerprint:
        raise Conflict("payment_order_id_reused", f"payment order {order_id} exists with different content")
    return _order_view(session, existing)


def _payee_address(address: str | None, network: str) -> str:
    if not address:
        raise ValidationFailed("address.required", "give the payee's address; the contract has none")
    try:
        parse_address(address, network)
    except InvalidAddress as error:
        raise ValidationFailed(
            "address.invalid", f"{address!r} is not a {network} address: {error}"
        ) from None
    return address


def beneficiary_of(contract: Any, given: dict[str, Any] | None, address: str) -> dict[str, Any]:
    """Travel Rule data of the party at ``address``: the contract's counterparty by default (the payee of
    an order, the payer of a refunded invoice), with ``given`` fields over it."""
    counterparty = contract.counterparty
    defaults = {"name": counterparty.name, "country": counterparty.country, "wallet_address": address,
                "custodial": counterparty.vasp_name is not None, "vasp_name": counterparty.vasp_name,
                "vasp_lei": counterparty.vasp_lei}  # fmt: skip
    if given is None:
        return defaults
    unknown = set(given) - set(defaults)
    if unknown:
        raise ValidationFailed("travel_rule.unknown_fields", f"unknown beneficiary fields: {sorted(unknown)}")
    return {**defaults, **given}


def _screen_payee_in(session: Session, actor: str, address: str) -> None:
    refuse_unless_clear(gate.screen_address(session, actor, address), "the payee address")


def refuse_unless_clear(outcome: gate.GateOutcome, what: str) -> None:
    """The gate's answer as a refusal: a hit is ``screening_hit``, not yet screened ``screening_pending``."""
    if outcome.status is gate.GateStatus.HIT:
        raise PolicyRefused("screening_hit", f"{what} is listed: {outcome.reason}")
    if outcome.status is gate.GateStatus.PENDING:
        raise PolicyRefused("screening_pending", f"{what} is not screened: {outcome.reason}")


def _hold_in(
    session: Session,
    actor: str,
    hold_id: str,
    account: str,
    sats: int,
    ttl_minutes: int,
    order_id: str,
    clock: Clock,
) -> None:
    ledger.open_account_in(session, actor, AccountSpec(HOLDS_ACCOUNT, ASSET, "settlement_holds"))
    request = TransferRequest(
        id=hold_id, kind=TransferKind.PENDING, debit_account_id=account, credit_account_id=HOLDS_ACCOUNT,
        amount=sats, asset=ASSET, timeout_seconds=int((timedelta(minutes=ttl_minutes) + HOLD_SLACK).total_seconds()),
        reference=f"payment order {order_id}",
    )  # fmt: skip
    try:
        ledger.transfers_soon_in(session, actor, [request], clock)  # at the end of an optimistic batch
    except Conflict as error:
        if error.code == "exceeds_credits":
            raise PolicyRefused(
                "insufficient_funds", f"the account cannot cover {sats} sats: {error.detail}"
            ) from None
        raise


def _void_hold_in(session: Session, actor: str, order: dict[str, Any], why: str, clock: Clock) -> None:
    ledger.transfer_in(session, actor, _void_hold(order, why), clock)


def _void_hold(order: dict[str, Any], why: str) -> TransferRequest:
    return TransferRequest(
        id=f"{order['hold_id']}:void",
        kind=TransferKind.VOID,
        pending_id=order["hold_id"],
        reference=why[:200],
    )


def _order_event(row: dict[str, Any], **extra: Any) -> dict[str, Any]:
    keys = ("id", "participant_id", "contract_id", "currency", "amount_minor", "sats", "address", "state",
            "payout_id", "txid", "reason")  # fmt: skip
    return {**{k: row[k] for k in keys}, **extra}


def _order_view(
    session: Session,
    row: dict[str, Any],
    approvers: list[str] | None = None,
    quote: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The order as callers see it; ``approvers`` and ``quote`` when the caller has just read them."""
    quote = quote or store.get_quote(session, row["quote_id"])
    assert quote is not None
    return {
        "id": row["id"],
        "participant_id": row["participant_id"],
        "contract_id": row["contract_id"],
        "state": row["state"],
        "amount": str(fiat_from_minor(row["amount_minor"], row["currency"])),
        "currency": row["currency"],
        "amount_rub_minor": row["amount_rub_minor"],
        "sats": row["sats"],
        "address": row["address"],
        "beneficiary": row["beneficiary"],
        "approvals_required": row["approvals_required"],
        "approvals": store.approvers_of(session, row["id"]) if approvers is None else approvers,
        "maker": row["maker"],
        "payout_id": row["payout_id"],
        "txid": row["txid"],
        "block_height": row["block_height"],
        "reason": row["reason"],
        "vo_code": row["vo_code"],
        "reference": row["reference"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "quote": _quote_view(quote),
    }


def _load_order(session: Session, principal: Principal, order_id: str, scoped: str | None) -> dict[str, Any]:
    row = store.get_order(session, order_id, lock=True)
    if row is None or (scoped is not None and row["participant_id"] != scoped):
        raise NotFound("payment_order_not_found", f"no payment order {order_id}")
    return row


def _move(session: Session, actor: str, row: dict[str, Any], target: OrderState, now: datetime, clock: Clock,
          **changes: Any) -> None:  # fmt: skip
    check_order_move(OrderState(row["state"]), target)
    changes = {"state": target.value, "updated_at": format_time(now), **changes}
    store.update_order(session, row["id"], **changes)
    row.update(changes)
    _event(session, actor, f"settlement.payment_order.{target.value}", f"payment_order:{row['id']}",
           _order_event(row), clock)  # fmt: skip


def approve_payment_order(
    db: Database, principal: Principal, order_id: str, clock: Clock = utc_now
) -> dict[str, Any]:
    """One approval (maker != checker, each approver once). The last one needed queues the payout."""
    authorize_role(principal, "settlement.order.approve")
    now = clock()
    try:
        with db.transaction() as session:
            return _approve_in(session, principal, order_id, now, clock)
    except _QuoteExpired:
        # The approval rolled back; the expiry must stick even though the approval fails.
        with db.transaction() as session:
            _expire_if_pending_in(session, order_id, now, clock)
        raise _quote_expired(order_id) from None


def approve_payment_orders(
    db: Database, principal: Principal, order_ids: Sequence[str], clock: Clock = utc_now
) -> list[dict[str, Any]]:
    """One approval each for up to :data:`MAX_BATCH` orders, in one transaction with a savepoint per order:
    a refused approval changes nothing of its order and does not stop the others."""
    authorize_role(principal, "settlement.order.approve")
    _check_batch(len(order_ids), "order ids")
    now = clock()

    def approve(session: Session, order_id: str) -> dict[str, Any]:
        return _approve_in(session, principal, order_id, now, clock)

    def expire(session: Session, order_id: str) -> None:
        _expire_if_pending_in(session, order_id, now, clock)

    return _run_batch(db, order_ids, 200, approve, clock, on_expired=expire)


def _approve_in(
    session: Session, principal: Principal, order_id: str, now: datetime, clock: Clock
) -> dict[str, Any]:
    row = _load_order(session, principal, order_id, None)
    if row["state"] != OrderState.PENDING_APPROVAL.value:
        raise Conflict(
            "payment_order.state", f"payment order {order_id} is {row['state']}, not awaiting approval"
        )
    approvers = store.approvers_of(session, order_id)
    check_approver(row["maker"], principal.actor, approvers)
    quote = store.get_quote(session, row["quote_id"])
    assert quote is not None
    if _is_stale(quote, now):
        raise _QuoteExpired(order_id)
    store.insert_approval(session, order_id, principal.actor, format_time(now))
    _event(session, principal.actor, "settlement.payment_order.approval", f"payment_order:{order_id}",
           {**_order_event(row), "approver": principal.actor, "approvals": len(approvers) + 1,
            "approvals_required": row["approvals_required"]}, clock)  # fmt: skip
    if len(approvers) + 1 >= row["approvals_required"]:
        _queue_in(session, principal.actor, row, now, clock)
    return _order_view(session, row, approvers=[*approvers, principal.actor], quote=quote)


class _QuoteExpired(Exception):
    """Raised inside an approval's transaction so that it rolls back before the order is expired."""

    def __init__(self, order_id: str) -> None:
        self.order_id = order_id


def _quote_expired(order_id: str) -> PolicyRefused:
    return PolicyRefused(
        "quote.expired", f"the quote of payment order {order_id} expired; re-quote it or order again"
    )


def _expire_if_pending_in(session: Session, order_id: str, now: datetime, clock: Clock) -> None:
    row = store.get_order(session, order_id, lock=True)
    if row is not None and row["state"] == OrderState.PENDING_APPROVAL.value:
        _expire_order_in(session, row, now, clock)


def _is_stale(quote: dict[str, Any], now: datetime) -> bool:
    return now >= _parse_time(quote["expires_at"])


def _pending_with_stale_quote(session: Session, row: dict[str, Any], now: datetime) -> bool:
    if row["state"] != OrderState.PENDING_APPROVAL.value:
        return False
    quote = store.get_quote(session, row["quote_id"])
    assert quote is not None
    return _is_stale(quote, now)


def _queue_in(session: Session, actor: str, row: dict[str, Any], now: datetime, clock: Clock) -> None:
    """Turn the hold into custody's payout reservation in one transaction: no window with neither or both."""
    payout_id = f"po-{row['id']}"
    custody.queue_payout_in(
        session, actor,
        custody.PayoutRequest(payout_id, row["wallet_id"], client_account_id(row["participant_id"]), row["address"],
                              row["sats"], f"payment order {row['id']}"),
        clock,
        releasing=_void_hold(row, f"approved: payment order {row['id']} queued"),
    )  # fmt: skip
    _move(session, actor, row, OrderState.QUEUED, now, clock, payout_id=payout_id)


def _expire_order_in(session: Session, row: dict[str, Any], now: datetime, clock: Clock) -> None:
    _void_hold_in(session, ACTOR, row, f"quote expired: payment order {row['id']}", clock)
    identity.release_limit_in(session, ACTOR, _usage_id(row["id"]), f"payment order {row['id']} expired")
    _move(session, ACTOR, row, OrderState.EXPIRED, now, clock, reason="quote expired before approval")


def requote_payment_order(
    db: Database, principal: Principal, order_id: str, clock: Clock = utc_now
) -> dict[str, Any]:
    """Give an order whose quote expired before approval a new quote at today's price, instead of ordering
    again: the contract, screening, Travel Rule and limit checks run again, the new sats are held, and the
    approvals given at the old price no longer count (the amount in BTC changed)."""
    scoped = authorize_role(principal, "settlement.order.create")
    now = clock()
    with db.transaction() as session:
        row = _load_order(session, principal, order_id, scoped)
        if _pending_with_stale_quote(session, row, now):  # expired, but the worker has not seen it yet
            _expire_order_in(session, row, now, clock)
        if row["state"] != OrderState.EXPIRED.value:
            raise Conflict("payment_order.state", f"payment order {order_id} is {row['state']}; only an expired "
                           "order is re-quoted")  # fmt: skip
        contract = contracts.get_contract_for_settlement(
            session, row["contract_id"], Direction.OUTGOING, now.date()
        )
        _screen_payee_in(session, principal.actor, row["address"])
        check_travel_rule(row["beneficiary"], row["address"])
        amount = fiat_from_minor(row["amount_minor"], row["currency"])
        priced = _count_and_quote_in(session, principal.actor, contract, order_id, amount, row["amount_minor"],
                                     None, now, f"payment order {order_id} re-quoted")  # fmt: skip
        quote = priced.quote
        hold_id = f"hold:{order_id}:{quote.id}"
        _hold_in(session, principal.actor, hold_id, client_account_id(row["participant_id"]), quote.sats,
                 priced.ttl, order_id, clock)  # fmt: skip
        store.delete_approvals(session, order_id)
        _move(session, principal.actor, row, OrderState.PENDING_APPROVAL, now, clock, quote_id=quote.id,
              sats=quote.sats, hold_id=hold_id, amount_rub_minor=priced.amount_rub,
              approvals_required=priced.approvals_required, reason=None)  # fmt: skip
        return _order_view(session, row, approvers=[], quote=_quote_row("payment_order", quote))


def cancel_payment_order(
    db: Database, principal: Principal, order_id: str, reason: str, clock: Clock = utc_now
) -> dict[str, Any]:
    """Cancel before the payout is in a batch; the held or reserved sats are released exactly once."""
    if not 3 <= len(reason.strip()) <= 200:
        raise ValidationFailed("reason.invalid", "give a reason of 3-200 characters")
    scoped = authorize_role(principal, "settlement.order.cancel")
    now = clock()
    with db.transaction() as session:
        row = _load_order(session, principal, order_id, scoped)
        state = OrderState(row["state"])
        if state is OrderState.CANCELLED:
            return _order_view(session, row)
        if state is OrderState.PENDING_APPROVAL:
            _void_hold_in(session, principal.actor, row, f"cancelled: {reason}", clock)
        elif state is OrderState.QUEUED:
            custody.cancel_queued_payout_in(
                session, principal.actor, row["payout_id"], f"cancelled: {reason}"
            )
        else:
            raise Conflict("payment_order.state", f"a {state} payment order can no longer be cancelled")
        identity.release_limit_in(session, principal.actor, _usage_id(order_id), f"cancelled: {reason}")
        _move(session, principal.actor, row, OrderState.CANCELLED, now, clock, reason=reason.strip())
        return _order_view(session, row)


def get_payment_order(db: Database, principal: Principal, order_id: str) -> dict[str, Any]:
    scoped = authorize_role(principal, "settlement.order.read")
    with db.transaction() as session:
        row = store.get_order(session, order_id)
        if row is None or (scoped is not None and row["participant_id"] != scoped):
            raise NotFound("payment_order_not_found", f"no payment order {order_id}")
        return _order_view(session, row)


def list_payment_orders(
    db: Database, principal: Principal, state: str | None = None, after: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    scoped = authorize_role(principal, "settlement.order.read")
    with db.transaction() as session:
        rows = store.list_orders(session, scoped, state, after, min(max(limit, 1), 500))
        return [_order_view(session, r) for r in rows]


def sync_payment_orders(db: Database, clock: Clock = utc_now, report: SyncReport | None = None) -> SyncReport:
    """Follow each order's payout through custody: broadcast, confirmed (posted), dropped; expire stale holds."""
    report = report or SyncReport()
    now = clock()
    moving = [OrderState.QUEUED.value, OrderState.BROADCAST.value]
    with db.transaction() as session:
        followed = store.orders_to_follow(
            session, moving, OrderState.PENDING_APPROVAL.value, format_time(now)
        )
        glances = custody.payouts_at_a_glance_in(session, [p for *_, p in followed if p is not None])
    ids = [order_id for order_id, state, txid, payout in followed
           if not _nothing_new(OrderState(state), txid, glances.get(payout) if payout else None)]  # fmt: skip
    report.orders_checked += len(followed) - len(ids)  # looked at, nothing new
    for first in range(0, len(ids), SYNC_CHUNK):
        chunk = ids[first : first + SYNC_CHUNK]
        report.orders_checked += len(chunk)
        try:  # the whole chunk at once; only if an order fails, again with a savepoint per order
            with db.transaction() as session, batch_reads(session):
                _prefetch_chunk(session, chunk)
                changed = [_sync_order_in(session, order_id, now, clock) for order_id in chunk]
            report.orders_changed += sum(changed)
        except CorridorError:
            _sync_one_by_one(db, chunk, now, clock, report)
    return report


def _prefetch_chunk(session: Session, order_ids: list[str]) -> None:
    """Read the chunk's orders (locked), their payouts' progress and their quotes in four statements, for
    :func:`_sync_order_in` to find instead of reading each one by one."""
    rows = store.get_orders(session, order_ids, lock=True)
    payouts = custody.payouts_progress_in(session, [r["payout_id"] for r in rows.values() if r["payout_id"]])
    quotes = store.get_quotes(session, [r["quote_id"] for r in rows.values()])
    prefetch(session, {
        **{_locked_order_key(i): row for i, row in rows.items()},
        **{_progress_key(i): progress for i, progress in payouts.items()},
        **{_quote_key(i): quote for i, quote in quotes.items()},
    })  # fmt: skip


def _locked_order_key(order_id: str) -> tuple[str, str]:
    return ("settlement.order_locked", order_id)


def _progress_key(payout_id: str) -> tuple[str, str]:
    return ("custody.payout_progress", payout_id)


def _quote_key(quote_id: str) -> tuple[str, str]:
    return ("settlement.quote", quote_id)


def _nothing_new(state: OrderState, txid: str | None, payout: custody.PayoutGlance | None) -> bool:
    """The order's payout is neither paid nor dropped and its live transaction is the one the order names:
    :func:`_sync_order_in` would change nothing. A broadcast batch waits several blocks for its depth, and
    re-reading each of its orders in full every round was most of the worker's time."""
    if payout is None or state not in (OrderState.QUEUED, OrderState.BROADCAST):
        return False
    return payout.state not in (PayoutState.PAID, PayoutState.DROPPED) and payout.txid == txid


def _sync_one_by_one(db: Database, chunk: list[str], now: datetime, clock: Clock, report: SyncReport) -> None:
    with db.transaction() as session, batch_reads(session):
        for order_id in chunk:
            try:
                with session.begin_nested():  # one order's failure leaves the chunk's others done
                    if _sync_order_in(session, order_id, now, clock):
                        report.orders_changed += 1
            except CorridorError as error:
                report.failures.append(f"payment order {order_id}: {error.code}: {error.detail}")


def _sync_order_in(session: Session, order_id: str, now: datetime, clock: Clock) -> bool:
    row = remembered(
        session, _locked_order_key(order_id), lambda: store.get_order(session, order_id, lock=True)
    )
    assert row is not None
    state = OrderState(row["state"])
    if state is OrderState.PENDING_APPROVAL:
        if not _pending_with_stale_quote(session, row, now):
            return False
        _expire_order_in(session, row, now, clock)
        return True
    payout_id = row["payout_id"]
    progress = remembered(
        session, _progress_key(payout_id), lambda: custody.payout_progress_in(session, payout_id)
    )
    if progress.state is PayoutState.DROPPED:
        identity.release_limit_in(
            session, ACTOR, _usage_id(order_id), f"payout dropped: {progress.drop_reason}"
        )
        _move(
            session,
            ACTOR,
            row,
            OrderState.FAILED,
            now,
            clock,
            reason=(progress.drop_reason or "dropped")[:200],
        )
        return True
    if progress.state is PayoutState.PAID:
        _move(session, ACTOR, row, OrderState.CONFIRMED, now, clock, txid=progress.txid,
              block_height=progress.confirmed_height)  # fmt: skip
        _record_order_operation_in(session, row, progress, now, clock)
        return True
    if progress.txid is not None and state is OrderState.QUEUED:
        _move(session, ACTOR, row, OrderState.BROADCAST, now, clock, txid=progress.txid)
        return True
    if progress.txid is None and state is OrderState.BROADCAST:
        _move(
            session, ACTOR, row, OrderState.QUEUED, now, clock, txid=None
        )  # replaced or reorged: queued again
        return True
    if progress.txid is not None and progress.txid != row["txid"]:  # a fee bump replaced the transaction
        store.update_order(session, order_id, txid=progress.txid, updated_at=format_time(now))
        return True
    return False


def run_settlement_once(db: Database, clock: Clock = utc_now) -> SyncReport:
    """One round of the settlement worker: invoices, payment orders, then refunds."""
    from corridor.settlement.refunds import sync_refunds  # refunds builds on this module

    report = SyncReport()
    sync_invoices(db, clock, report)
    sync_payment_orders(db, clock, report)
    sync_refunds(db, clock, report)
    return report


# --- deposits and balances ---------------------------------------------------------------------------


def issue_deposit_address(
    db: Database, principal: Principal, participant_id: str, clock: Clock = utc_now
) -> dict[str, Any]:
    """A fresh address whose receipts are credited to the participant's BTC account (e.g. to fund imports)."""
    authorize(principal, "settlement.deposit.create", participant_id)
    with db.transaction() as session:
        identity.ensure_admitted(session, participant_id, clock().date())
        account = _open_client_account_in(session, principal.actor, participant_id)
        address = custody.issue_address_in(
            session, principal.actor, _invoice_wallet(), AddressPurpose.DEPOSIT, f"deposit:{participant_id}"[:100],
            account, clock,
        )  # fmt: skip
        return {"participant_id": participant_id, "account_id": account, "address": address.address}


def balance(db: Database, principal: Principal, participant_id: str) -> dict[str, Any]:
    authorize(principal, "settlement.order.read", participant_id)
    with db.transaction() as session:
        account = ledger.get_account_in(session, client_account_id(participant_id))
    if account is None:
        return {"participant_id": participant_id, "asset": ASSET, "balance_sats": 0, "available_sats": 0,
                "held_sats": 0}  # fmt: skip
    return {"participant_id": participant_id, "asset": ASSET, "balance_sats": account.credit_balance,
            "available_sats": account.available, "held_sats": account.debits_pending}  # fmt: skip


# --- currency-operation records ----------------------------------------------------------------------


def _record_invoice_operation_in(
    session: Session, row: dict[str, Any], receipts: list[Receipt], now: datetime, clock: Clock
) -> None:
    outputs = [f"{r.txid}:{r.vout}" for r in receipts]
    _record_operation_in(session, "export_proceeds", row, row["sats_due"], outputs, None, now, clock,
                         txid=receipts[0].txid if receipts else None)  # fmt: skip


def _record_order_operation_in(
    session: Session, row: dict[str, Any], progress: custody.PayoutProgress, now: datetime, clock: Clock
) -> None:
    outputs = [f"{progress.txid}:{progress.vout}"] if progress.vout is not None else [f"{progress.txid}:?"]
    _record_operation_in(session, "import_payment", row, row["sats"], outputs, progress.confirmed_height, now,
                         clock, txid=progress.txid)  # fmt: skip


def _record_operation_in(
    session: Session, kind: str, row: dict[str, Any], sats: int, outputs: list[str], height: int | None,
    now: datetime, clock: Clock, txid: str | None,
) -> None:  # fmt: skip
    """The currency-control record of a settlement, once, and the contract's payment record with it."""
    if store.operation_for_source(session, row["id"]) is not None:
        return
    quote = remembered(
        session, _quote_key(row["quote_id"]), lambda: store.get_quote(session, row["quote_id"])
    )
    assert quote is not None
    direction = Direction.INCOMING if kind == "export_proceeds" else Direction.OUTGOING
    # Both records count the settlement at the official rate of the operation day, so they agree.
    official, amount_rub = _official_on_operation_day(session, row, quote, now.date())
    contracts.record_settled_payment_in(
        session, ACTOR, row["contract_id"],
        PaymentIn(id=row["id"], direction=direction, paid_on=now.date(), amount_minor=row["amount_minor"],
                  amount_rub_minor=amount_rub, vo_code=row["vo_code"], txid=txid,
                  reference=f"{kind} {row['id']}"),
    )  # fmt: skip
    contract = remembered(session, ("settlement.contract_summary", row["contract_id"]),
                          lambda: contracts.contract_summary_in(session, row["contract_id"]))  # fmt: skip
    values = {
        "id": f"op_{row['id']}", "kind": kind, "source_id": row["id"], "participant_id": row["participant_id"],
        "contract_id": row["contract_id"], "unk": contract.get("unk"), "vo_code": row["vo_code"],
        "operation_date": now.date().isoformat(), "currency": row["currency"], "amount_minor": row["amount_minor"],
        "amount_rub_minor": amount_rub, "sats": sats, "outputs": outputs, "block_height": height,
        "price": quote["price"], "price_id": quote["price_id"], "path": quote["path"], "official_rate": official,
        "created_at": format_time(now),
    }  # fmt: skip

    def write_citing(entry: Entry) -> None:  # the record is written at commit, once its entry is chained
        store.insert_operation(session, {**values, "registry_seq": entry.seq, "registry_hash": entry.hash})

    registry.append(session, ACTOR, "settlement.operation_recorded", f"operation:{values['id']}", values, clock,
                    on_chained=write_citing)  # fmt: skip


def _official_on_operation_day(
    session: Session, row: dict[str, Any], quote: dict[str, Any], day: date
) -> tuple[dict[str, Any], int]:
    """Currency control counts a settlement at the official rate of its day; if that day has no published
    rate yet, the rate of the quote's day (which existed when the order or invoice was accepted)."""
    amount = fiat_from_minor(row["amount_minor"], row["currency"])
    for on in (day, _parse_time(quote["created_at"]).date()):
        try:
            return pricing.official_conversion(session, amount, row["currency"], on)
        except RateNotFound:
            continue
    raise RateNotFound(row["currency"], "RUB", day)


def list_operations(
    db: Database, principal: Principal, after: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    scoped = authorize_role(principal, "settlement.operation.read")
    with db.transaction() as session:
        return store.list_operations(session, scoped, after, min(max(limit, 1), 500))


def get_operation(db: Database, principal: Principal, operation_id: str) -> dict[str, Any]:
    scoped = authorize_role(principal, "settlement.operation.read")
    with db.transaction() as session:
        row = store.get_operation(session, operation_id)
    if row is None or (scoped is not None and row["participant_id"] != scoped):
        raise NotFound("operation_not_found", f"no currency operation {operation_id}")
    return row


def statement_pdf(db: Database, principal: Principal, operation_id: str, clock: Clock = utc_now) -> bytes:
    """The operator's PDF statement of one settlement: parties, contract, amounts, rates, chain, registry."""
    row = get_operation(db, principal, operation_id)
    with db.transaction() as session:
        participant = identity.participant_summary_in(session, row["participant_id"])
        contract = contracts.contract_summary_in(session, row["contract_id"])
        tip = custody.followed_height_in(session)
    statement = reports.OperatorStatement(
        operator_name=get_settings().operator_name,
        operator_licence=get_settings().operator_licence,
        statement_id=f"st_{operation_id}",
        generated_at=clock(),
        record=_operation_record(row, participant, contract, tip),
        notes=(
            "Amounts in BTC are integer satoshis; the fiat amount was locked at the market price cited.",
            "Verify the registry entry with `corridor registry verify` or an inclusion proof from /v1/registry.",
        ),
    )
    pdf = render_statement_pdf(statement)
    with db.transaction() as session:
        # Each issued statement is on the registry by its hash: whoever holds a copy can check it is ours.
        _event(session, principal.actor, "settlement.statement_issued", f"operation:{operation_id}",
               {"statement_id": statement.statement_id, "generated_at": format_time(statement.generated_at),
                "sha256": hashlib.sha256(pdf).hexdigest(), "bytes": len(pdf)}, clock)  # fmt: skip
    return pdf


def _operation_record(
    row: dict[str, Any], participant: dict[str, Any], contract: dict[str, Any], tip: int | None
) -> reports.CurrencyOperationRecord:
    ids = participant["identifiers"]
    official = row["official_rate"]
    height = row["block_height"]
    return reports.CurrencyOperationRecord(
        id=row["id"],
        kind=reports.SettlementKind(row["kind"]),
        participant=reports.Participant(
            participant["id"], participant["name"], ids.get("inn"), ids.get("lei"), ids.get("ogrn") or ids.get("ogrnip")
        ),
        contract=reports.ContractRef(
            id=contract["id"], number=contract["number"], contract_date=date.fromisoformat(contract["contract_date"]),
            contract_type=contract["contract_type"], counterparty_name=contract["counterparty_name"],
            counterparty_country=contract["counterparty_country"], unk=contract["unk"],
        ),
        vo_code=row["vo_code"],
        operation_date=date.fromisoformat(row["operation_date"]),
        fiat=Money(fiat_from_minor(row["amount_minor"], row["currency"]), row["currency"]),
        btc_sats=row["sats"],
        rub_equivalent=fiat_from_minor(row["amount_rub_minor"], "RUB"),
        rate=reports.RateUsed(
            rate=Decimal(official["rate"]), pair=official["pair"], source=official["source"],
            published_on=date.fromisoformat(official["published_on"]), path=tuple(official["path"]) or (official["pair"],),
            payload_hashes=tuple(official.get("payload_hashes", [])), market_price_id=row["price_id"],
            market_price_source=" / ".join(row["path"])[:200] or "market",
        ),
        outputs=tuple(row["outputs"]),
        block_height=height,
        confirmations=0 if height is None or tip is None else max(tip - height + 1, 0),
        status="settled",
        registry_seq=row["registry_seq"],
        registry_entry_hash=row["registry_hash"],
    )  # fmt: skip
