"""Settlement rules: quotes, invoice judgement, payment-order states and approvals. Pure: no I/O.

Invoices are judged in the satoshis locked by their quote, never in re-converted fiat (peers.md 1: BTCPay
users lose money when an underpayment is judged at today's rate). A payment order moves through a small
state machine; every move that touches money is paired with exactly one ledger transfer in the service.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any, Final

from corridor.errors import Conflict, PolicyRefused, ValidationFailed
from corridor.rates.model import MINOR_UNITS

SATS_PER_BTC: Final = 100_000_000
MAX_SATS: Final = 21_000_000 * SATS_PER_BTC
SETTLEMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
VO_CODE = re.compile(r"^[0-9]{5}$")
PLAIN_DECIMAL = re.compile(r"^[0-9]{1,18}(\.[0-9]{1,18})?$")

# Operation codes (VO) of Instruction 181-I, appendix 1: 10100 = advance payment by a non-resident for goods
# exported, 11100 = payment for goods imported (post-delivery). domain.md 1.2 [U]: the EPR is expected to
# reuse them; the caller may give another code.
DEFAULT_EXPORT_VO: Final = "10100"
DEFAULT_IMPORT_VO: Final = "11100"


# --- amounts ------------------------------------------------------------------------------------------


def parse_fiat(raw: str | int | Decimal, currency: str) -> tuple[Decimal, int]:
    """A fiat amount as (Decimal, minor units), refusing floats, signs and more decimals than the currency has."""
    if currency not in MINOR_UNITS:
        raise ValidationFailed("currency.unknown", f"{currency!r} is not a currency we settle")
    if isinstance(raw, (bool, float)):
        raise ValidationFailed("amount.invalid", "send amounts as decimal strings, never floats")
    text = str(raw).strip()
    if not PLAIN_DECIMAL.match(text):
        raise ValidationFailed("amount.invalid", f"{raw!r} is not a plain decimal amount like 1250.00")
    amount = Decimal(text)
    if amount <= 0:
        raise ValidationFailed("amount.invalid", "the amount must be a positive number")
    exponent = MINOR_UNITS[currency]
    if amount != amount.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP):
        raise ValidationFailed(
            "amount.too_many_decimals", f"{currency} has {exponent} decimals; {raw} has more"
        )
    minor = int(amount.scaleb(exponent))
    return amount.quantize(Decimal(1).scaleb(-exponent)), minor


def fiat_from_minor(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-MINOR_UNITS[currency])


def sats_for(amount: Decimal, price_per_btc: Decimal) -> int:
    """Satoshis worth ``amount`` at ``price_per_btc``, rounded up: the payee never receives less than asked."""
    if price_per_btc <= 0:
        raise ValidationFailed("rates.bad_price", "a BTC price must be positive")
    sats = int((amount * SATS_PER_BTC / price_per_btc).to_integral_value(rounding=ROUND_CEILING))
    if not 0 < sats <= MAX_SATS:
        raise ValidationFailed("amount.out_of_range", f"{sats} sats is not a payable amount")
    return sats


def tolerance_sats(due_sats: int, tolerance_bps: int) -> int:
    """How many sats short of the locked amount still counts as paid (profile: underpayment tolerance)."""
    return due_sats * tolerance_bps // 10_000


def check_id(value: str, what: str) -> str:
    if not SETTLEMENT_ID.match(value):
        raise ValidationFailed(f"{what}.invalid_id", f"{what} id is 1-40 of A-Z a-z 0-9 . _ -")
    return value


def check_vo_code(value: str) -> str:
    if not VO_CODE.match(value):
        raise ValidationFailed("vo_code.invalid", "the operation code (VO) is five digits")
    return value


# --- quotes -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quote:
    id: str
    participant_id: str
    contract_id: str
    currency: str
    amount_minor: int
    sats: int
    price: Decimal
    """Price of 1 BTC in ``currency`` that locked ``sats``."""
    price_id: str
    path: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    tolerance_sats: int

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def quote_expiry(created_at: datetime, ttl_minutes: int) -> datetime:
    if ttl_minutes <= 0:
        raise ValidationFailed("quote.ttl_invalid", "a quote lives for at least one minute")
    return created_at + timedelta(minutes=ttl_minutes)


# --- invoices -----------------------------------------------------------------------------------------


class InvoiceStatus(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    """A payment was seen in time; waiting for the profile's confirmations."""
    SETTLED = "settled"
    EXPIRED = "expired"
    INVALID = "invalid"
    """Money arrived that cannot settle the invoice as issued (only after the quote expired)."""


class InvoiceException(StrEnum):
    PAID_PARTIAL = "paid_partial"
    PAID_OVER = "paid_over"
    PAID_LATE = "paid_late"


TERMINAL_INVOICE: Final = frozenset({InvoiceStatus.SETTLED, InvoiceStatus.EXPIRED, InvoiceStatus.INVALID})


@dataclass(frozen=True, slots=True)
class Receipt:
    """One output paid to an invoice's address, as the chain follower sees it."""

    txid: str
    vout: int
    sats: int
    first_seen: datetime
    confirmations: int
    """0 while in the mempool."""


@dataclass(frozen=True, slots=True)
class InvoiceJudgement:
    status: InvoiceStatus
    exception: InvoiceException | None
    paid_sats: int
    """Everything paid to the address that the best chain or the mempool supports."""
    confirmed_sats: int
    """Paid with at least the credit depth."""
    difference_sats: int
    """``paid_sats - due_sats``: negative is missing, positive is over."""


def judge_invoice(
    due_sats: int,
    tolerance: int,
    expires_at: datetime,
    receipts: Iterable[Receipt],
    depth: int,
    now: datetime,
) -> InvoiceJudgement:
    """The invoice's status from what the chain shows now, in locked sats.

    Payments first seen before expiry count towards the invoice; anything first seen after it is late. A
    reorg that removes a payment simply removes its receipt, so the judgement falls back (a settled invoice
    stays settled only while the best chain supports it).
    """
    receipts = list(receipts)
    in_time = [r for r in receipts if r.first_seen < expires_at]
    late = [r for r in receipts if r.first_seen >= expires_at]
    paid_in_time = sum(r.sats for r in in_time)
    paid = paid_in_time + sum(r.sats for r in late)
    confirmed = sum(r.sats for r in receipts if r.confirmations >= depth)
    difference = paid - due_sats
    enough = paid_in_time >= due_sats - tolerance
    if enough:
        exception = InvoiceException.PAID_OVER if paid > due_sats else None
        final = all(r.confirmations >= depth for r in in_time)
        status = InvoiceStatus.SETTLED if final else InvoiceStatus.PROCESSING
        return InvoiceJudgement(status, exception, paid, confirmed, difference)
    if now < expires_at:
        partial = InvoiceException.PAID_PARTIAL if in_time else None
        return InvoiceJudgement(InvoiceStatus.NEW, partial, paid, confirmed, difference)
    if in_time:
        return InvoiceJudgement(
            InvoiceStatus.EXPIRED, InvoiceException.PAID_PARTIAL, paid, confirmed, difference
        )
    if late:
        return InvoiceJudgement(
            InvoiceStatus.INVALID, InvoiceException.PAID_LATE, paid, confirmed, difference
        )
    return InvoiceJudgement(InvoiceStatus.EXPIRED, None, 0, 0, difference)


class RequestKind(StrEnum):
    REFUND = "refund"
    TOP_UP = "top_up"


def exception_request(judgement: InvoiceJudgement, due_sats: int) -> tuple[RequestKind, int] | None:
    """What to ask for when an invoice ends in an exception: refund the excess or the whole late payment,
    or ask the buyer to top up what is missing. None while the invoice may still change."""
    if judgement.exception is None or judgement.status is InvoiceStatus.PROCESSING:
        return None
    if judgement.exception is InvoiceException.PAID_OVER:
        return RequestKind.REFUND, judgement.paid_sats - due_sats
    if judgement.exception is InvoiceException.PAID_LATE:
        return RequestKind.REFUND, judgement.paid_sats
    if judgement.status is InvoiceStatus.NEW:
        return None
    return RequestKind.TOP_UP, due_sats - judgement.paid_sats


# --- payment orders ----------------------------------------------------------------------------------


class OrderState(StrEnum):
    PENDING_APPROVAL = "pending_approval"
    QUEUED = "queued"
    """Approved, funds reserved, payout queued for the next batch."""
    BROADCAST = "broadcast"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    """Custody dropped the payout (bad payee at batch time); the reservation was voided."""
    EXPIRED = "expired"
    """Not approved before its quote expired; funds released."""


ORDER_MOVES: Final[Mapping[OrderState, frozenset[OrderState]]] = {
    OrderState.PENDING_APPROVAL: frozenset({OrderState.QUEUED, OrderState.CANCELLED, OrderState.EXPIRED}),
    OrderState.QUEUED: frozenset(
        {OrderState.BROADCAST, OrderState.CANCELLED, OrderState.FAILED, OrderState.CONFIRMED}
    ),
    OrderState.BROADCAST: frozenset({OrderState.CONFIRMED, OrderState.QUEUED}),
    OrderState.CONFIRMED: frozenset(),
    OrderState.CANCELLED: frozenset(),
    OrderState.FAILED: frozenset(),
    OrderState.EXPIRED: frozenset({OrderState.PENDING_APPROVAL}),
}
"""BROADCAST -> QUEUED: a reorg or replacement put the payout back in the queue; custody pays it once.
EXPIRED -> PENDING_APPROVAL: re-quoted at today's price, checked and held again, approved afresh."""


def check_order_move(current: OrderState, target: OrderState) -> None:
    if target not in ORDER_MOVES[current]:
        raise Conflict("payment_order.state", f"a {current} payment order cannot become {target}")


def check_approver(maker: str, approver: str, earlier_approvers: Iterable[str]) -> None:
    """Maker != checker, and each approver counts once."""
    if approver == maker:
        raise PolicyRefused("maker_checker", "the maker of a payment order cannot approve it")
    if approver in set(earlier_approvers):
        raise Conflict("already_approved", f"{approver} has already approved this payment order")


# --- Travel Rule -------------------------------------------------------------------------------------


TRAVEL_RULE_REQUIRED: Final = ("name", "country", "wallet_address")


def check_travel_rule(beneficiary: Mapping[str, Any] | None, address: str) -> dict[str, Any]:
    """The beneficiary data FATF R.16 asks to travel with a transfer (domain.md 3.1): a name, a country, the
    wallet address, and for a custodial beneficiary its VASP. Missing data refuses the order."""
    if beneficiary is None:
        raise PolicyRefused("travel_rule.missing", "beneficiary data for the Travel Rule is required")
    missing = [k for k in TRAVEL_RULE_REQUIRED if not str(beneficiary.get(k) or "").strip()]
    if missing:
        raise PolicyRefused(
            "travel_rule.incomplete", f"beneficiary data lacks {', '.join(missing)}", missing=missing
        )
    if str(beneficiary["wallet_address"]).strip() != address:
        raise PolicyRefused(
            "travel_rule.address_mismatch", "the beneficiary's wallet address is not the payee"
        )
    country = str(beneficiary["country"]).strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValidationFailed("travel_rule.country", "country is an ISO 3166 alpha-2 code")
    custodial = bool(beneficiary.get("custodial"))
    if custodial and not str(beneficiary.get("vasp_name") or "").strip():
        raise PolicyRefused("travel_rule.incomplete", "a custodial beneficiary needs its VASP's name")
    return {
        "name": str(beneficiary["name"]).strip(),
        "country": country,
        "wallet_address": address,
        "custodial": custodial,
        "vasp_name": (str(beneficiary.get("vasp_name") or "").strip() or None),
        "vasp_lei": (str(beneficiary.get("vasp_lei") or "").strip() or None),
    }
