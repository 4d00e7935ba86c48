"""Refund payouts: a refund request of an invoice (``paid_over`` excess, ``paid_late`` payment) paid on chain.

The follower credits everything paid to an invoice's address to the exporter's client account
(``client:<participant>``), excess and late payments included, so that is the account a refund debits:
custody's payout reservation moves exactly the request's sats from it, and posting at confirmation makes
the debit final. The payer is the contract's counterparty, so the Travel Rule data of the refund
beneficiary defaults to it, with the refund address as its wallet.

Exactly once: the request row is locked and moves ``open -> refunding`` in the same transaction that
queues the payout (payout id ``rf-<request id>``); a second call finds it ``refunding`` or ``resolved`` and
gets a conflict. The worker (:func:`sync_refunds`) follows the payout: confirmed closes the request as
``resolved`` with the txid; dropped (custody voided the reservation) reopens it, so a later refund queues a
new attempt under a new payout id. Every step is a ``settlement.invoice.refund_*`` registry entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from corridor.access.model import Principal
from corridor.bitcoin.address import InvalidAddress, parse_address
from corridor.compliance import gate
from corridor.contracts import service as contracts
from corridor.contracts.model import Direction
from corridor.custody import service as custody
from corridor.custody.fees import is_dust
from corridor.custody.state import PayoutState
from corridor.db import Database
from corridor.errors import Conflict, CorridorError, PolicyRefused, ValidationFailed
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now
from corridor.settings import get_settings
from corridor.settlement import store
from corridor.settlement.model import InvoiceException, RequestKind, check_travel_rule
from corridor.settlement.service import (
    ACTOR,
    SyncReport,
    authorize_role,
    beneficiary_of,
    client_account_id,
    load_request_in,
    refuse_unless_clear,
)

Clock = Callable[[], datetime]

OPEN: Final = "open"
REFUNDING: Final = "refunding"
"""A refund payout is queued or in flight; nothing else may close the request meanwhile."""
RESOLVED: Final = "resolved"

QUEUED: Final = "queued"
BROADCAST: Final = "broadcast"
CONFIRMED: Final = "confirmed"
FAILED: Final = "failed"
LIVE_STATES: Final = (QUEUED, BROADCAST)

PAYOUT_ID_MAX: Final = 48
"""Custody's payout ids are at most 48 characters; long request ids are hashed to fit."""

# --- pure rules ---------------------------------------------------------------------------------------


def refund_payout_id(request_id: str, attempt: int) -> str:
    """``rf-<request id>`` for the first attempt, ``rf-<request id>.<n>`` after a dropped one; a request id
    too long for custody's 48 characters is replaced by a hash of it (stable, so retries find it)."""
    suffix = "" if attempt == 1 else f".{attempt}"
    plain = f"rf-{request_id}{suffix}"
    if len(plain) <= PAYOUT_ID_MAX:
        return plain
    digest = hashlib.sha256(request_id.encode()).hexdigest()
    return f"rf-{digest[: PAYOUT_ID_MAX - 3 - len(suffix)]}{suffix}"


def refundable_sats(invoice: dict[str, Any]) -> int:
    """What the chain still shows the payer over-paid: the excess, or the whole of a late payment."""
    if invoice["exception"] == InvoiceException.PAID_OVER.value:
        return max(int(invoice["paid_sats"]) - int(invoice["sats_due"]), 0)
    if invoice["exception"] == InvoiceException.PAID_LATE.value:
        return int(invoice["paid_sats"])
    return 0


def check_refundable(request: dict[str, Any], invoice: dict[str, Any]) -> None:
    """A refund is paid only for an open refund request whose sats are on the chain and credited."""
    if request["kind"] != RequestKind.REFUND.value:
        raise Conflict(
            "request_kind", f"request {request['id']} asks for a {request['kind']}; only refunds are paid out"
        )
    if request["status"] == REFUNDING:
        raise Conflict("refund_in_progress", f"a refund of request {request['id']} is already under way")
    if request["status"] != OPEN:
        raise Conflict("request_closed", f"request {request['id']} is already {request['status']}")
    if invoice["confirmed_sats"] < invoice["paid_sats"]:
        raise Conflict(
            "refund.unconfirmed",
            "the payment is not yet credited at the profile's depth; refund once it is confirmed",
        )
    if refundable_sats(invoice) < request["sats"]:
        raise Conflict(
            "refund.exceeds_receipts",
            f"the chain no longer shows the {request['sats']} sats this request would refund",
        )


# --- refund a request ---------------------------------------------------------------------------------


def refund_request(
    db: Database,
    principal: Principal,
    request_id: str,
    address: str,
    beneficiary: dict[str, Any] | None = None,
    clock: Clock = utc_now,
) -> dict[str, Any]:
    """Pay a refund request's sats back to ``address`` through custody's batching (payout ``rf-<id>``).

    Refused, with nothing changed: a wrong kind or a closed request, an address of another network or
    below dust, a listed address or beneficiary, incomplete Travel Rule data, too few sats on the account."""
    scoped = authorize_role(principal, "settlement.request.resolve")
    now = clock()
    with db.transaction() as session:
        request, invoice = load_request_in(session, request_id, scoped, lock=True)
        check_refundable(request, invoice)
        wallet = custody.get_wallet_in(session, get_settings().payout_wallet)
        _check_refund_address(address, wallet.network, request["sats"])
        contract = contracts.get_contract_for_settlement(
            session, invoice["contract_id"], Direction.INCOMING, now.date()
        )
        data = check_travel_rule(beneficiary_of(contract, beneficiary, address), address)
        _screen_refund_in(session, principal.actor, request_id, address, data, contract.counterparty.name)
        attempt = store.refund_attempts(session, request_id) + 1
        row = {
            "id": refund_payout_id(request_id, attempt), "request_id": request_id, "attempt": attempt,
            "invoice_id": invoice["id"], "participant_id": invoice["participant_id"], "sats": request["sats"],
            "wallet_id": wallet.id, "address": address, "beneficiary": data, "state": QUEUED, "txid": None,
            "vout": None, "block_height": None, "reason": None, "requested_by": principal.actor,
            "created_at": format_time(now), "updated_at": format_time(now),
        }  # fmt: skip
        _queue_refund_payout_in(session, principal.actor, row, clock)
        store.insert_refund(session, row)
        store.update_request(session, request_id, status=REFUNDING)
        request["status"] = REFUNDING
        _event(session, principal.actor, "refund_queued", invoice, request, row, clock)
        return request_view(request, [row])


def _check_refund_address(address: str, network: str, sats: int) -> None:
    if not address or not address.strip():
        raise ValidationFailed("address.required", "give the address to refund to")
    try:
        script = parse_address(address, network).script_pubkey
    except InvalidAddress as error:
        raise ValidationFailed(
            "address.invalid", f"{address!r} is not a {network} address: {error}"
        ) from None
    if is_dust(sats, script):
        # Custody would drop it at batch time anyway; refusing now keeps the request open and says why.
        raise PolicyRefused("refund.dust", f"{sats} sats to this address is below the dust limit")


def _screen_refund_in(
    session: Session, actor: str, request_id: str, address: str, beneficiary: dict[str, Any], payer: str
) -> None:
    """The refund address always; the beneficiary too when it is not the (already screened) counterparty."""
    refuse_unless_clear(gate.screen_address(session, actor, address), "the refund address")
    if beneficiary["name"].casefold() != payer.strip().casefold():
        party = gate.PartyToScreen(
            subject=f"refund_beneficiary:{request_id}", name=beneficiary["name"], schema="LegalEntity",
            country=beneficiary["country"],
        )  # fmt: skip
        refuse_unless_clear(gate.screen_party(session, actor, party), "the refund beneficiary")


def _queue_refund_payout_in(session: Session, actor: str, row: dict[str, Any], clock: Clock) -> None:
    """Custody reserves the sats on the exporter's account (which the follower credited with the excess)."""
    request = custody.PayoutRequest(
        row["id"], row["wallet_id"], client_account_id(row["participant_id"]), row["address"], row["sats"],
        f"refund of request {row['request_id']}",
    )  # fmt: skip
    try:
        custody.queue_payout_in(session, actor, request, clock)
    except Conflict as error:
        if error.code == "exceeds_credits":
            raise PolicyRefused(
                "insufficient_funds",
                f"the exporter's account cannot cover {row['sats']} sats: {error.detail}",
            ) from None
        raise


# --- reading ------------------------------------------------------------------------------------------


def get_request(db: Database, principal: Principal, request_id: str) -> dict[str, Any]:
    """A refund or top-up request with every refund attempt."""
    scoped = authorize_role(principal, "settlement.invoice.read")
    with db.transaction() as session:
        request, _ = load_request_in(session, request_id, scoped, lock=False)
        return request_view(request, store.refunds_of(session, request_id))


REQUEST_FIELDS: Final = ("id", "invoice_id", "kind", "sats", "status", "resolution", "created_at",
                         "resolved_at", "resolved_by")  # fmt: skip


def request_view(request: dict[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    return {**{k: request[k] for k in REQUEST_FIELDS}, "refunds": [refund_view(r) for r in attempts]}


def refund_view(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("id", "attempt", "sats", "address", "beneficiary", "state", "txid", "vout", "block_height",
            "reason", "requested_by", "created_at", "updated_at")  # fmt: skip
    return {**{k: row[k] for k in keys}, "payout_id": row["id"]}


def _event(
    session: Session,
    actor: str,
    step: str,
    invoice: dict[str, Any],
    request: dict[str, Any],
    refund: dict[str, Any],
    clock: Clock,
) -> None:
    """``settlement.invoice.<step>``: the webhooks follow it for the invoice's participant."""
    payload = {"invoice_id": invoice["id"], "participant_id": invoice["participant_id"],
               "request": {k: request[k] for k in REQUEST_FIELDS}, "refund": refund_view(refund)}  # fmt: skip
    registry.append(session, actor, f"settlement.invoice.{step}", f"invoice:{invoice['id']}", payload, clock)


# --- the worker ---------------------------------------------------------------------------------------


def sync_refunds(db: Database, clock: Clock = utc_now, report: SyncReport | None = None) -> SyncReport:
    """Follow every live refund's payout: broadcast, confirmed (request resolved), dropped (reopened).
    A failure is recorded in the report and retried next round."""
    report = report or SyncReport()
    now = clock()
    with db.transaction() as session:
        live = store.live_refund_ids(session, LIVE_STATES)
    for request_id, refund_id in live:
        report.refunds_checked += 1
        try:
            with db.transaction() as session:
                if _sync_refund_in(session, request_id, refund_id, now, clock):
                    report.refunds_changed += 1
        except CorridorError as error:  # one bad refund must not stop the others
            report.failures.append(f"refund {refund_id}: {error.code}: {error.detail}")
    return report


def _sync_refund_in(session: Session, request_id: str, refund_id: str, now: datetime, clock: Clock) -> bool:
    request = store.get_request(session, request_id, lock=True)  # the same lock order as refund_request
    refund = store.get_refund(session, refund_id)
    assert request is not None and refund is not None
    if refund["state"] not in LIVE_STATES:
        return False  # another worker got here first
    invoice = store.get_invoice(session, request["invoice_id"])
    assert invoice is not None
    progress = custody.payout_progress_in(session, refund_id)
    stamp = format_time(now)
    if progress.state is PayoutState.DROPPED:
        reason = (progress.drop_reason or "dropped")[:200]
        store.update_refund(session, refund, state=FAILED, reason=reason, txid=None, updated_at=stamp)
        store.update_request(session, request_id, status=OPEN)
        request["status"] = OPEN
        _event(session, ACTOR, "refund_failed", invoice, request, refund, clock)
        return True
    if progress.state is PayoutState.PAID:
        store.update_refund(session, refund, state=CONFIRMED, txid=progress.txid, vout=progress.vout,
                       block_height=progress.confirmed_height, updated_at=stamp)  # fmt: skip
        _resolve_in(session, request, refund, now)
        _event(session, ACTOR, "refund_confirmed", invoice, request, refund, clock)
        _event(session, ACTOR, "request_resolved", invoice, request, refund, clock)
        return True
    if progress.txid is not None and progress.txid != refund["txid"]:  # broadcast, or replaced by a fee bump
        store.update_refund(
            session, refund, state=BROADCAST, txid=progress.txid, vout=progress.vout, updated_at=stamp
        )
        _event(session, ACTOR, "refund_broadcast", invoice, request, refund, clock)
        return True
    if progress.txid is None and refund["state"] == BROADCAST:  # reorged or replaced: queued again
        store.update_refund(session, refund, state=QUEUED, txid=None, vout=None, updated_at=stamp)
        _event(session, ACTOR, "refund_requeued", invoice, request, refund, clock)
        return True
    return False


def _resolve_in(session: Session, request: dict[str, Any], refund: dict[str, Any], now: datetime) -> None:
    outpoint = f"{refund['txid']}:{refund['vout']}" if refund["vout"] is not None else str(refund["txid"])
    changes = {
        "status": RESOLVED,
        "resolution": f"refunded {refund['sats']} sats in {outpoint}"[:200],
        "resolved_at": format_time(now),
        "resolved_by": refund["requested_by"],
    }
    store.update_request(session, request["id"], **changes)
    request.update(changes)
