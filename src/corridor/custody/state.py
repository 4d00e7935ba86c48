"""Custody records and their state machines (pure): wallets, issued addresses, lots, payouts, batches.

A payout is paid at most once because three things agree: its ledger reservation is posted or voided
exactly once; it belongs to one batch family whose members all spend the same inputs (so at most one of
them can confirm); and a batch's signed transaction is stored before it is broadcast, so a retry after a
crash re-sends the same bytes instead of building a new transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from corridor.errors import Conflict
from corridor.profiles.model import ProfileValues

LEDGER_ASSET: Final = "BTC"
FEES_ACCOUNT: Final = "fees:network"
SUSPENSE_ACCOUNT: Final = "custody:suspense"
RESERVATION_TIMEOUT_SECONDS: Final = 365 * 86_400
"""A payout reservation must outlive any stuck batch; it is voided explicitly, never left to expire."""


class AddressPurpose(StrEnum):
    INVOICE = "invoice"
    DEPOSIT = "deposit"
    CHANGE = "change"
    HOT = "hot"
    LOOKAHEAD = "lookahead"
    """An address inside the gap-limit window that was paid before we issued it."""


class LotState(StrEnum):
    UNCONFIRMED = "unconfirmed"
    AVAILABLE = "available"
    RESERVED = "reserved"
    SPENT = "spent"
    DROPPED = "dropped"
    """Left the mempool without confirming (replaced, conflicted, reorged into oblivion)."""


class PayoutState(StrEnum):
    QUEUED = "queued"
    BATCHED = "batched"
    PAID = "paid"
    DROPPED = "dropped"


class BatchState(StrEnum):
    BUILT = "built"
    """PSBT made and lots reserved; awaiting signatures (hot: the batcher; treasury: approvers)."""
    SIGNED = "signed"
    """Final transaction stored; not yet known to be broadcast."""
    BROADCAST = "broadcast"
    CONFIRMED = "confirmed"
    """Reached the profile's confirmation depth; payouts posted."""
    REPLACED = "replaced"
    """Another member of its family confirmed, or it was superseded by a fee bump."""


BATCH_MOVES: Final[dict[BatchState, frozenset[BatchState]]] = {
    BatchState.BUILT: frozenset({BatchState.SIGNED, BatchState.REPLACED}),
    BatchState.SIGNED: frozenset({BatchState.BROADCAST, BatchState.REPLACED}),
    BatchState.BROADCAST: frozenset({BatchState.CONFIRMED, BatchState.REPLACED}),
    BatchState.CONFIRMED: frozenset({BatchState.REPLACED}),
    BatchState.REPLACED: frozenset({BatchState.CONFIRMED}),
}
"""A replaced batch can still confirm (the network chose it over its replacement): then it wins. A
confirmed batch becomes replaced only when a reorg deeper than the payout depth swaps it for another
member of its family; its payouts stay booked once and only the fee difference is corrected."""


def check_batch_move(current: BatchState, target: BatchState) -> None:
    if target not in BATCH_MOVES[current]:
        raise Conflict(f"batch_{current.value}", f"a {current.value} batch cannot become {target.value}")


@dataclass(frozen=True, slots=True)
class WalletRecord:
    id: str
    role: str
    input_kind: str
    network: str
    descriptor: str
    sealed_secret: bytes | None
    ledger_account_id: str
    next_receive_index: int
    next_change_index: int
    gap_limit: int


@dataclass(frozen=True, slots=True)
class AddressRecord:
    script_pubkey: bytes
    address: str
    wallet_id: str
    branch: int
    index: int
    purpose: AddressPurpose
    record: str | None
    credit_account_id: str | None


@dataclass(frozen=True, slots=True)
class LotRecord:
    txid: str
    vout: int
    wallet_id: str
    script_pubkey: bytes
    value_sats: int
    origin: str
    credit_account_id: str | None
    coinbase: bool
    state: LotState
    block_height: int | None
    spent_by: str | None
    spent_height: int | None
    reserved_by: str | None
    credit_transfer_id: str | None
    credit_count: int

    def confirmations(self, tip_height: int) -> int:
        return 0 if self.block_height is None else tip_height - self.block_height + 1


@dataclass(frozen=True, slots=True)
class PayoutRecord:
    id: str
    wallet_id: str
    client_account_id: str
    address: str
    amount_sats: int
    reference: str
    state: PayoutState
    drop_reason: str | None
    family_id: str | None
    reservation_id: str


@dataclass(frozen=True, slots=True)
class BatchRecord:
    id: str
    family_id: str
    wallet_id: str
    state: BatchState
    psbt: str
    raw_tx: str | None
    txid: str | None
    unsigned_txid: str
    fee_sats: int
    feerate_sat_per_kvb: int
    vsize: int
    change_sats: int | None
    change_index: int | None
    replaces: str | None
    confirmed_height: int | None


def is_own_output(origin: str) -> bool:
    """Whether a lot with this origin is an output of our own transaction (batch change, a sweep)."""
    return origin == "change" or origin.startswith("sweep:")


def short_hash(*parts: object) -> str:
    """A stable 32-hex-character name for ids that must fit the ledger's 64-character limit."""
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()[:32]


def credit_transfer_id(txid: str, vout: int, count: int) -> str:
    """One id per time an output is credited: a reorg reverses a credit and a re-confirmation re-credits."""
    return f"cus:in:{short_hash(txid, vout)}:{count}"


def reversal_transfer_id(credit_id: str) -> str:
    return f"{credit_id}:rev"


def reservation_id(payout_id: str) -> str:
    return f"cus:po:{payout_id}"


def custody_account_id(wallet_id: str) -> str:
    return f"custody:{wallet_id}"


COINBASE_MATURITY: Final = 100


@dataclass(frozen=True, slots=True)
class CustodyPolicy:
    """What the jurisdiction profile decides for custody: confirmation depths and fee-rate bounds."""

    credit_confirmations: int = 6
    payout_confirmations: int = 6
    fee_floor_sat_per_kvb: int = 1_000
    fee_ceiling_sat_per_kvb: int = 500_000
    conf_target: int = 6

    def __post_init__(self) -> None:
        if self.credit_confirmations < 1 or self.payout_confirmations < 1:
            raise ValueError("confirmation depths are at least 1")


def policy_from_profile(values: ProfileValues) -> CustodyPolicy:
    """The custody parameters of a jurisdiction profile on one day (fee rates: sat/vB -> sat/kvB)."""
    return CustodyPolicy(
        credit_confirmations=values.invoice_credit_confirmations,
        payout_confirmations=values.payout_final_confirmations,
        fee_floor_sat_per_kvb=int(values.payout_fee_rate_floor_sat_vb * 1000),
        fee_ceiling_sat_per_kvb=int(values.payout_fee_rate_ceiling_sat_vb * 1000),
    )
