"""Sweeps: consolidate a spendable wallet's confirmed lots into the hot wallet or the treasury.

A sweep is a batch without payees: every eligible lot of the source wallet in, one output to the
destination out. It goes through the batch state machine (built -> signed -> broadcast -> confirmed,
or replaced by a fee bump), so it is as crash- and reorg-safe as a payout batch: the signed
transaction is stored before it is sent and re-sent with the same bytes, and the follower books it
once, at the payout depth, as one ledger move from the source's custody account to the destination's
plus the network fee. The destination lot keeps the origins of the lots it consolidates and a link to
each of them (:func:`corridor.custody.service.lot_lineage`).

The single output is recorded as the batch's ``change_sats``: a fee bump pays from it, as it pays
from a payout batch's change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody import store
from corridor.custody.fees import InputKind, fee_for, input_vsize, is_dust, tx_vsize
from corridor.custody.model import Lot, Payout, Selection, WalletRole
from corridor.custody.payouts import (
    BatcherReport,
    broadcast_batches,
    eligible_lots_in,
    fee_rate_for,
    lot_for_spending,
    sign_hot_batches,
)
from corridor.custody.psbt import build_batch_psbt
from corridor.custody.service import issue_change_address_in, signs_automatically, spending_wallet
from corridor.custody.state import (
    AddressPurpose,
    BatchRecord,
    BatchState,
    CustodyPolicy,
    LotState,
    WalletRecord,
)
from corridor.db import Database
from corridor.errors import Conflict, NotFound, ValidationFailed
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now

Clock = Callable[[], datetime]
MAX_SWEEP_INPUTS = 500
"""Keeps a sweep far below the 100,000 vB standardness limit (500 P2WPKH inputs are about 34,000 vB)."""
ALL_STEPS = frozenset({"build", "sign", "broadcast"})


@dataclass
class SweepReport:
    built: str | None = None
    """The new sweep's batch id (also its family id), or None when nothing was eligible."""
    inputs: int = 0
    amount_sats: int = 0
    fee_sats: int = 0
    signed: list[str] = field(default_factory=list)
    broadcast: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def sweep(
    db: Database,
    principal: Principal,
    from_wallet: str,
    to_wallet: str,
    *,
    rpc: BitcoinRpc,
    kek_file: Path | None,
    policy: CustodyPolicy | None = None,
    feerate_sat_per_kvb: int | None = None,
    origin_prefix: str | None = None,
    max_inputs: int = MAX_SWEEP_INPUTS,
    steps: frozenset[str] = ALL_STEPS,
    clock: Clock = utc_now,
) -> SweepReport:
    """Consolidate ``from_wallet``'s eligible lots into ``to_wallet`` in one transaction, sign it and
    send it; then (like the batcher) sign and send whatever the source wallet still has pending, so a
    call after a crash finishes the earlier sweep rather than starting a second one for the same lots.

    Lots qualify as for payouts (the profile's credit depth, coinbase maturity, one confirmation for our
    own change); lots worth less than the fee to spend them stay behind.
    """
    authorize(principal, "custody.sweep.run")
    if feerate_sat_per_kvb is not None and (
        isinstance(feerate_sat_per_kvb, bool)
        or not isinstance(feerate_sat_per_kvb, int)
        or feerate_sat_per_kvb <= 0
    ):
        raise ValidationFailed("invalid_feerate", "fee rate is a positive integer of sat/kvB")
    if (
        isinstance(max_inputs, bool)
        or not isinstance(max_inputs, int)
        or not 1 <= max_inputs <= MAX_SWEEP_INPUTS
    ):
        raise ValidationFailed("invalid_max_inputs", f"max_inputs is 1-{MAX_SWEEP_INPUTS}")
    policy = policy or CustodyPolicy()
    if feerate_sat_per_kvb is not None and not (
        policy.fee_floor_sat_per_kvb <= feerate_sat_per_kvb <= policy.fee_ceiling_sat_per_kvb
    ):
        raise ValidationFailed(
            "feerate_out_of_bounds",
            f"the profile allows {policy.fee_floor_sat_per_kvb}-{policy.fee_ceiling_sat_per_kvb} sat/kvB",
        )
    report = SweepReport()
    if "build" in steps:
        rate = feerate_sat_per_kvb or fee_rate_for(rpc, policy)
        tip = rpc.getblockcount()
        with db.transaction() as session:
            source, destination = _wallets_in(session, from_wallet, to_wallet)
            _build_in(session, principal.actor, source, destination, kek_file, rate, tip, policy,
                      origin_prefix, max_inputs, report, clock)  # fmt: skip
    batcher = BatcherReport()
    if "sign" in steps:
        sign_hot_batches(db, from_wallet, kek_file, batcher, clock)
    if "broadcast" in steps:
        broadcast_batches(db, rpc, from_wallet, batcher, clock)
    report.signed, report.broadcast = batcher.signed, batcher.broadcast
    report.notes.extend(batcher.notes)
    return report


def _wallets_in(session: Session, from_wallet: str, to_wallet: str) -> tuple[WalletRecord, WalletRecord]:
    source = store.get_wallet(session, from_wallet, lock=True)
    if source is None:
        raise NotFound("wallet_not_found", f"no wallet {from_wallet}")
    destination = store.get_wallet(session, to_wallet)
    if destination is None:
        raise NotFound("wallet_not_found", f"no wallet {to_wallet}")
    if not signs_automatically(source):
        raise Conflict(
            "wallet_cannot_sign", f"wallet {from_wallet} holds no sealed key: sweep from a spendable wallet"
        )
    if destination.id == source.id or destination.role not in (
        WalletRole.HOT.value,
        WalletRole.TREASURY.value,
    ):
        raise ValidationFailed("invalid_sweep_destination", "sweep into the hot wallet or the treasury")
    if destination.network != source.network:
        raise ValidationFailed("network_mismatch", f"{from_wallet} and {to_wallet} are on different networks")
    return source, destination


def _destination_script(session: Session, actor: str, destination: WalletRecord) -> bytes:
    """The hot wallet's one address, or a fresh address on the treasury's internal (change) branch."""
    if destination.role == WalletRole.HOT.value:
        found = store.addresses_where(
            session,
            store.addresses.c.wallet_id == destination.id,
            store.addresses.c.purpose == AddressPurpose.HOT.value,
        )
        if not found:
            raise Conflict("hot_address_missing", f"wallet {destination.id} has no address")
        return found[0].script_pubkey
    return issue_change_address_in(session, actor, destination).script_pubkey


def _build_in(
    session: Session,
    actor: str,
    source: WalletRecord,
    destination: WalletRecord,
    kek_file: Path | None,
    rate: int,
    tip: int,
    policy: CustodyPolicy,
    origin_prefix: str | None,
    max_inputs: int,
    report: SweepReport,
    clock: Clock,
) -> None:
    kind = InputKind(source.input_kind)
    spend_fee = fee_for(input_vsize(kind), rate)
    lots = sorted(
        (
            lot
            for lot in eligible_lots_in(session, source.id, tip, policy, origin_prefix)
            if lot.value_sats > spend_fee
        ),
        key=lambda lot: (-lot.value_sats, lot.txid, lot.vout),
    )[:max_inputs]
    if not lots:
        report.notes.append(f"nothing to sweep in {source.id}")
        return
    signer = spending_wallet(source, kek_file)
    inputs = tuple(lot_for_spending(session, lot, kind) for lot in lots)
    script = _destination_script(session, actor, destination)
    selection = sweep_selection(inputs, script, rate)
    if selection is None:
        report.notes.append(f"the lots of {source.id} do not cover the fee to sweep them")
        return
    psbt = build_batch_psbt(selection, [Payout(script, selection.payouts_sats, "sweep")], wallet=signer)
    unsigned_txid = psbt.tx.txid().hex()
    batch_id = f"s-{unsigned_txid[:30]}"
    now = format_time(clock())
    # The one output is the sweep's "change": a fee bump takes its fee from there.
    batch = BatchRecord(
        batch_id, batch_id, source.id, BatchState.BUILT, psbt.to_string(), None, None, unsigned_txid,
        selection.fee_sats, rate, selection.vsize, selection.payouts_sats, None, None, None,
    )  # fmt: skip
    store.insert_batch(session, batch, now)
    store.insert_sweep(session, batch_id, source.id, destination.id, script, now)
    for lot in inputs:
        store.update_lot(session, lot.txid, lot.vout, state=LotState.RESERVED.value, reserved_by=batch_id)
    registry.append(
        session, actor, "custody.sweep_built", f"batch:{batch_id}",
        {"from_wallet_id": source.id, "to_wallet_id": destination.id, "unsigned_txid": unsigned_txid,
         "inputs": [f"{lot.txid}:{lot.vout}" for lot in inputs], "amount_sats": selection.payouts_sats,
         "fee_sats": selection.fee_sats, "feerate_sat_per_kvb": rate},
        clock,
    )  # fmt: skip
    report.built, report.inputs = batch_id, len(inputs)
    report.amount_sats, report.fee_sats = selection.payouts_sats, selection.fee_sats


def sweep_selection(inputs: tuple[Lot, ...], script: bytes, rate: int) -> Selection | None:
    vsize = tx_vsize([lot.kind for lot in inputs], [len(script)])
    fee = fee_for(vsize, rate)
    amount = sum(lot.value_sats for lot in inputs) - fee
    if amount <= 0 or is_dust(amount, script):
        return None
    return Selection(inputs, amount, None, fee, vsize, "sweep")
