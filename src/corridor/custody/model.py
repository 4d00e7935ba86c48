"""Custody domain types: spendable lots, payouts and coin-selection results. Pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from corridor.custody.fees import InputKind


class WalletRole(StrEnum):
    RECEIVE = "receive"
    HOT = "hot"
    TREASURY = "treasury"


@dataclass(frozen=True, slots=True)
class Lot:
    """An unspent output we control. ``origin`` tags provenance (client, contract, deposit) for policy."""

    txid: str
    vout: int
    value_sats: int
    script_pubkey: bytes
    kind: InputKind
    branch: int = 0
    index: int = 0
    origin: str = ""

    def __post_init__(self) -> None:
        if self.value_sats <= 0:
            raise ValueError("a lot holds a positive number of satoshis")

    @property
    def outpoint(self) -> tuple[str, int]:
        return (self.txid, self.vout)


@dataclass(frozen=True, slots=True)
class Payout:
    script_pubkey: bytes
    amount_sats: int
    reference: str = ""

    def __post_init__(self) -> None:
        if self.amount_sats <= 0:
            raise ValueError("a payout is a positive number of satoshis")


@dataclass(frozen=True, slots=True)
class Selection:
    """Inputs chosen for a set of payouts. Invariant: sum(inputs) == sum(payouts) + change + fee."""

    inputs: tuple[Lot, ...]
    payouts_sats: int
    change_sats: int | None
    fee_sats: int
    vsize: int
    algorithm: str
    waste: int = field(default=0, compare=False)

    @property
    def input_sats(self) -> int:
        return sum(lot.value_sats for lot in self.inputs)
