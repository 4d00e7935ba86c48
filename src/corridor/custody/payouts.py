"""The batcher: queued payouts -> one transaction with many outputs -> signed -> broadcast; fee bumps.

Steps, each its own transaction so a crash between any two leaves a state the next run continues from:

1. *build*: screen and check every queued payee (a bad one is dropped with a reason and its reservation
   voided; it never blocks the others), select coins, build the PSBT, reserve the lots;
2. *sign*: the hot wallet signs automatically; a treasury batch waits for two approvers' PSBTs
   (:func:`corridor.custody.service.submit_approval`);
3. *broadcast*: the stored final transaction is sent, and sent again (same bytes) after a crash or a
   reorg. The node answering "already known" counts as success, which makes broadcasting idempotent.

The screening gate is a parameter (default: the real :func:`corridor.compliance.gate.screen_address`)
so tests can exercise batching with a gate that clears, while a separate test shows that the real gate,
which answers ``pending`` until the screening service is wired in, drops every payee. There is no
setting that bypasses screening.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from embit.psbt import PSBT
from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize, system_principal
from corridor.bitcoin.address import InvalidAddress, parse_address
from corridor.bitcoin.rpc import BitcoinRpc, RpcError, RpcErrorCode
from corridor.compliance.gate import GateOutcome, GateStatus, screen_address
from corridor.custody import store
from corridor.custody.coinselect import InsufficientFunds, SelectionParams, select_coins
from corridor.custody.fees import (
    FeeRateBounds,
    InputKind,
    ReplacementRefused,
    TxOutputSpec,
    bumped_change,
    check_fee_bump,
    is_dust,
)
from corridor.custody.model import Lot, Payout, WalletRole
from corridor.custody.psbt import build_batch_psbt, extract_transaction, finalize_psbt, parse_psbt, sign_psbt
from corridor.custody.service import (
    issue_change_address_in,
    signs_automatically,
    spending_wallet,
    watch_wallet,
)
from corridor.custody.state import (
    COINBASE_MATURITY,
    BatchRecord,
    BatchState,
    CustodyPolicy,
    LotRecord,
    LotState,
    PayoutRecord,
    PayoutState,
    WalletRecord,
    check_batch_move,
    is_own_output,
)
from corridor.db import Database
from corridor.db.batch_reads import batch_reads
from corridor.errors import Conflict, NotFound, ValidationFailed
from corridor.ledger import service as ledger
from corridor.ledger.model import TransferKind, TransferRequest
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now

Clock = Callable[[], datetime]
Gate = Callable[[Session, str, str], GateOutcome]
ACTOR = "system:custody-batcher"
ALREADY_KNOWN = ("txn-already-in-mempool", "txn-already-known", "already in block chain", "already known")


@dataclass
class BatcherReport:
    built: list[str] = field(default_factory=list)
    signed: list[str] = field(default_factory=list)
    broadcast: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    waiting: list[str] = field(default_factory=list)
    """Payouts left queued (not enough eligible funds yet)."""
    notes: list[str] = field(default_factory=list)


def run_batcher_once(
    db: Database,
    rpc: BitcoinRpc,
    policy: CustodyPolicy | None = None,
    *,
    wallet_id: str,
    kek_file: Path | None = None,
    gate: Gate = screen_address,
    origin_prefix: str | None = None,
    max_payouts: int = 500,
    steps: frozenset[str] = frozenset({"build", "sign", "broadcast"}),
    principal: Principal | None = None,
    clock: Clock = utc_now,
) -> BatcherReport:
    """One pass of the batcher over ``wallet_id``. ``origin_prefix`` limits inputs to lots of that origin
    (e.g. ``invoice:``); ``steps`` lets an operator (or a test) run only part of the pipeline."""
    principal = principal or system_principal("custody-batcher")
    authorize(principal, "custody.batch.run")
    policy = policy or CustodyPolicy()
    report = BatcherReport()
    if "build" in steps:
        build_batch(db, rpc, policy, wallet_id, kek_file, gate, origin_prefix, max_payouts, report, clock)
    if "sign" in steps:
        sign_hot_batches(db, wallet_id, kek_file, report, clock)
    if "broadcast" in steps:
        broadcast_batches(db, rpc, wallet_id, report, clock)
    return report


# --- build --------------------------------------------------------------------------------------------


def fee_rate_for(rpc: BitcoinRpc, policy: CustodyPolicy) -> int:
    bounds = FeeRateBounds(policy.fee_floor_sat_per_kvb, policy.fee_ceiling_sat_per_kvb)
    try:
        estimate = rpc.estimatesmartfee(policy.conf_target).feerate_sat_per_kvb
    except RpcError:
        estimate = None
    return bounds.clamp(estimate)


def _payee_problem(session: Session, payout: PayoutRecord, network: str, gate: Gate) -> str | None:
    try:
        script = parse_address(payout.address, network).script_pubkey
    except InvalidAddress:
        return "invalid_address"
    if is_dust(payout.amount_sats, script):
        return "dust"
    outcome = gate(session, ACTOR, payout.address)
    if outcome.status is not GateStatus.CLEAR:
        return f"screening_{outcome.status.value}"
    return None


def drop_payout_in(session: Session, actor: str, payout: PayoutRecord, reason: str, clock: Clock) -> None:
    """Void the reservation and mark the payout dropped, with its reason."""
    ledger.transfer_in(
        session,
        actor,
        TransferRequest(id=f"{payout.reservation_id}:void", kind=TransferKind.VOID, pending_id=payout.reservation_id,
                        reference=f"dropped: {reason}"),
        clock,
    )  # fmt: skip
    store.update_payouts(
        session, [payout.id], format_time(clock()), state=PayoutState.DROPPED.value, drop_reason=reason
    )
    registry.append(
        session, actor, "custody.payout_dropped", f"payout:{payout.id}", {"reason": reason}, clock
    )


def eligible_lots_in(
    session: Session, wallet_id: str, tip: int, policy: CustodyPolicy, origin_prefix: str | None
) -> list[LotRecord]:
    """Available lots of a wallet deep enough to spend; with ``origin_prefix``, only lots whose every
    root origin (through change and sweeps) has that prefix."""
    available = [
        lot
        for lot in store.lots_where(
            session,
            store.lots.c.wallet_id == wallet_id,
            store.lots.c.state == LotState.AVAILABLE.value,
            lock=True,
        )
        if lot.confirmations(tip) >= _confirmations_needed(lot, policy)
    ]
    if origin_prefix is None:
        return available
    roots = store.origins_of(session, [(lot.txid, lot.vout) for lot in available])
    return [
        lot
        for lot in available
        if all(o.startswith(origin_prefix) for o in roots.get((lot.txid, lot.vout), [lot.origin]))
    ]


def _confirmations_needed(lot: LotRecord, policy: CustodyPolicy) -> int:
    if lot.coinbase:
        return COINBASE_MATURITY
    if is_own_output(lot.origin):
        return 1  # our own transaction's output: nobody else can double-spend it
    return policy.credit_confirmations


def lot_for_spending(session: Session, record: LotRecord, kind: InputKind) -> Lot:
    address = store.address_by_script(session, record.script_pubkey)
    assert address is not None
    return Lot(record.txid, record.vout, record.value_sats, record.script_pubkey, kind, address.branch,
               address.index, record.origin)  # fmt: skip


def build_batch(
    db: Database,
    rpc: BitcoinRpc,
    policy: CustodyPolicy,
    wallet_id: str,
    kek_file: Path | None,
    gate: Gate,
    origin_prefix: str | None,
    max_payouts: int,
    report: BatcherReport,
    clock: Clock,
) -> str | None:
    rate = fee_rate_for(rpc, policy)
    tip = rpc.getblockcount()
    with db.transaction() as session, batch_reads(session):  # outputs to one supplier: screened once
        wallet = store.get_wallet(session, wallet_id, lock=True)
        if wallet is None:
            raise NotFound("wallet_not_found", f"no wallet {wallet_id}")
        queued = store.payouts_where(
            session, store.payouts.c.wallet_id == wallet_id, store.payouts.c.state == PayoutState.QUEUED.value,
            lock=True,
        )[:max_payouts]  # fmt: skip
        payees: list[PayoutRecord] = []
        for payout in queued:
            problem = _payee_problem(session, payout, wallet.network, gate)
            if problem is None:
                payees.append(payout)
            else:
                drop_payout_in(session, ACTOR, payout, problem, clock)
                report.dropped[payout.id] = problem
        if not payees:
            return None
        batch_id = _build_in(
            session, wallet, payees, kek_file, rate, tip, policy, origin_prefix, report, clock
        )
    if batch_id is not None:
        report.built.append(batch_id)
    return batch_id


def _build_in(
    session: Session,
    wallet: WalletRecord,
    payees: list[PayoutRecord],
    kek_file: Path | None,
    rate: int,
    tip: int,
    policy: CustodyPolicy,
    origin_prefix: str | None,
    report: BatcherReport,
    clock: Clock,
) -> str | None:
    kind = InputKind(wallet.input_kind)
    if wallet.role == WalletRole.RECEIVE.value and not signs_automatically(wallet):
        report.waiting.extend(p.id for p in payees)
        report.notes.append(f"wallet {wallet.id} is watch-only: nobody can sign its payouts")
        return None
    candidates = [
        lot_for_spending(session, lot, kind)
        for lot in eligible_lots_in(session, wallet.id, tip, policy, origin_prefix)
    ]
    outputs = [
        Payout(parse_address(p.address, wallet.network).script_pubkey, p.amount_sats, p.id) for p in payees
    ]
    signer = spending_wallet(wallet, kek_file)
    ranged = watch_wallet(wallet)
    change_index = wallet.next_change_index
    change_script = (
        ranged.derive(change_index, change=True).script_pubkey
        if ranged is not None
        else signer.derived_descriptor(1, 0).script_pubkey().data
    )
    try:
        selection = select_coins(candidates, outputs, SelectionParams(rate, bytes(change_script), kind))
    except InsufficientFunds as error:
        report.waiting.extend(p.id for p in payees)
        report.notes.append(str(error))
        return None
    psbt = build_batch_psbt(selection, outputs, wallet=signer, change_index=change_index)
    if selection.change_sats is not None and ranged is not None:
        issue_change_address_in(session, ACTOR, wallet)
    unsigned_txid = psbt.tx.txid().hex()
    batch_id = f"b-{unsigned_txid[:30]}"
    now = format_time(clock())
    batch = BatchRecord(
        batch_id, batch_id, wallet.id, BatchState.BUILT, psbt.to_string(), None, None, unsigned_txid,
        selection.fee_sats, rate, selection.vsize, selection.change_sats,
        change_index if selection.change_sats is not None else None, None, None,
    )  # fmt: skip
    store.insert_batch(session, batch, now)
    for lot in selection.inputs:
        store.update_lot(session, lot.txid, lot.vout, state=LotState.RESERVED.value, reserved_by=batch_id)
    store.update_payouts(
        session, [p.id for p in payees], now, state=PayoutState.BATCHED.value, family_id=batch_id
    )
    registry.append(
        session, ACTOR, "custody.batch_built", f"batch:{batch_id}",
        {"wallet_id": wallet.id, "payouts": [p.id for p in payees], "unsigned_txid": unsigned_txid,
         "inputs": [f"{lot.txid}:{lot.vout}" for lot in selection.inputs], "fee_sats": selection.fee_sats,
         "feerate_sat_per_kvb": rate, "algorithm": selection.algorithm},
        clock,
    )  # fmt: skip
    return batch_id


# --- sign ---------------------------------------------------------------------------------------------


def sign_hot_batches(
    db: Database, wallet_id: str, kek_file: Path | None, report: BatcherReport, clock: Clock
) -> None:
    """Sign the built batches of a wallet that signs automatically (the hot wallet, a spendable receive
    wallet); treasury batches wait for approvers."""
    with db.transaction() as session:
        wallet = store.get_wallet(session, wallet_id)
        if wallet is None or not signs_automatically(wallet):
            return
        built = store.batches_where(
            session,
            store.batches.c.wallet_id == wallet_id,
            store.batches.c.state == BatchState.BUILT.value,
            lock=True,
        )
        if not built:
            return
        signer = spending_wallet(wallet, kek_file)
        for batch in built:
            psbt = parse_psbt(batch.psbt)
            sign_psbt(psbt, signer.signing_key)
            raw = extract_transaction(finalize_psbt(psbt))
            _mark_signed(session, batch, raw, clock)
            report.signed.append(batch.id)


def _mark_signed(session: Session, batch: BatchRecord, raw: bytes, clock: Clock) -> None:
    check_batch_move(batch.state, BatchState.SIGNED)
    txid = batch.unsigned_txid  # segwit: signatures do not change the txid
    store.update_batch(
        session, batch.id, format_time(clock()), state=BatchState.SIGNED.value, raw_tx=raw.hex(), txid=txid
    )
    registry.append(session, ACTOR, "custody.batch_signed", f"batch:{batch.id}", {"txid": txid}, clock)


# --- broadcast ----------------------------------------------------------------------------------------


def _send(rpc: BitcoinRpc, raw_hex: str) -> str | None:
    """None when the node has the transaction (now or already); else the node's reason."""
    try:
        rpc.sendrawtransaction(raw_hex)
    except RpcError as error:
        if error.code == RpcErrorCode.VERIFY_ALREADY_IN_CHAIN or any(
            s in error.message for s in ALREADY_KNOWN
        ):
            return None
        return f"{error.code}: {error.message}"
    return None


def broadcast_batches(
    db: Database, rpc: BitcoinRpc, wallet_id: str, report: BatcherReport, clock: Clock
) -> None:
    with db.transaction() as session:
        pending = store.batches_where(
            session, store.batches.c.wallet_id == wallet_id,
            store.batches.c.state.in_([BatchState.SIGNED.value, BatchState.BROADCAST.value, BatchState.CONFIRMED.value]),
            store.batches.c.confirmed_height.is_(None),
        )  # fmt: skip
    for batch in pending:
        assert batch.raw_tx is not None
        problem = _send(rpc, batch.raw_tx)
        if problem is not None:
            report.notes.append(f"{batch.id}: {problem}")
            continue
        if batch.state is BatchState.SIGNED:
            with db.transaction() as session:
                _mark_broadcast(session, batch.id, clock)
            report.broadcast.append(batch.id)


def _mark_broadcast(session: Session, batch_id: str, clock: Clock) -> None:
    batch = store.get_batch(session, batch_id, lock=True)
    if batch is None or batch.state is not BatchState.SIGNED:
        return  # someone else recorded it meanwhile
    now = format_time(clock())
    store.update_batch(session, batch.id, now, state=BatchState.BROADCAST.value)
    if batch.replaces is not None:
        replaced = store.get_batch(session, batch.replaces, lock=True)
        if replaced is not None and replaced.state in (
            BatchState.BROADCAST,
            BatchState.SIGNED,
            BatchState.BUILT,
        ):
            store.update_batch(session, replaced.id, now, state=BatchState.REPLACED.value)
    registry.append(
        session, ACTOR, "custody.batch_broadcast", f"batch:{batch.id}", {"txid": batch.txid}, clock
    )


# --- fee bump (BIP125) --------------------------------------------------------------------------------


def bump_batch(
    db: Database,
    principal: Principal,
    batch_id: str,
    feerate_sat_per_kvb: int,
    *,
    clock: Clock = utc_now,
) -> BatchRecord:
    """A replacement of a stuck batch paying a higher fee out of its change; every payee output is kept.

    The replacement spends the same inputs, so at most one of the two can confirm; it joins the same
    family, and the payouts post once, for whichever confirms. It is built unsigned: the hot wallet's
    batcher signs it, a treasury replacement needs a new quorum of approvers. Bumping again before
    anyone signed the previous replacement supersedes it; once that one is signed, bump it instead.
    """
    authorize(principal, "custody.batch.bump")
    if (
        isinstance(feerate_sat_per_kvb, bool)
        or not isinstance(feerate_sat_per_kvb, int)
        or feerate_sat_per_kvb <= 0
    ):
        raise ValidationFailed("invalid_feerate", "fee rate is a positive integer of sat/kvB")
    with db.transaction() as session:
        batch = store.get_batch(session, batch_id, lock=True)
        if batch is None:
            raise NotFound("batch_not_found", f"no batch {batch_id}")
        if batch.state not in (BatchState.SIGNED, BatchState.BROADCAST) or batch.confirmed_height is not None:
            raise Conflict(
                "batch_not_bumpable", f"batch {batch_id} is {batch.state.value}, not waiting in the mempool"
            )
        if batch.change_sats is None:
            raise Conflict("no_change_to_bump", "the batch has no change output to pay a higher fee from")
        now = format_time(clock())
        superseded = _supersede_unsigned_bumps_in(session, batch, now)
        replacement = _replacement_in(session, batch, feerate_sat_per_kvb)
        store.insert_batch(session, replacement, now)
        family = [b.id for b in store.batches_where(session, store.batches.c.family_id == batch.family_id)]
        for lot in store.lots_where(session, store.lots.c.reserved_by.in_(family), lock=True):
            store.update_lot(session, lot.txid, lot.vout, reserved_by=replacement.id)
        registry.append(
            session, principal.actor, "custody.batch_bump_built", f"batch:{replacement.id}",
            {"replaces": batch.id, "fee_sats": replacement.fee_sats, "feerate_sat_per_kvb": feerate_sat_per_kvb,
             "superseded": superseded},
            clock,
        )  # fmt: skip
    return replacement


def _supersede_unsigned_bumps_in(session: Session, batch: BatchRecord, now: str) -> list[str]:
    superseded = []
    for newer in store.batches_where(session, store.batches.c.replaces == batch.id, lock=True):
        if newer.state is BatchState.BUILT:
            check_batch_move(newer.state, BatchState.REPLACED)
            store.update_batch(session, newer.id, now, state=BatchState.REPLACED.value)
            superseded.append(newer.id)
        elif newer.state is not BatchState.REPLACED:
            raise Conflict(
                "batch_already_bumped", f"batch {batch.id} was replaced by {newer.id}; bump that one instead"
            )
    return superseded


def _replacement_in(session: Session, batch: BatchRecord, rate: int) -> BatchRecord:
    assert batch.change_sats is not None
    original: Any = parse_psbt(batch.psbt)
    bumped: Any = PSBT.parse(original.serialize())
    change_position = len(bumped.outputs) - 1
    change_script = bytes(bumped.outputs[change_position].script_pubkey.data)
    try:
        new_change, new_fee = bumped_change(
            batch.change_sats, batch.fee_sats, batch.vsize, rate, change_script
        )
    except ReplacementRefused as error:
        raise Conflict("bump_refused", str(error)) from None
    bumped.outputs[change_position].value = new_change
    payees = store.payouts_where(session, store.payouts.c.family_id == batch.family_id)
    payee_scripts = {bytes(o.script_pubkey.data) for o in original.outputs[:change_position]}
    try:
        check_fee_bump(
            _outputs(original), _outputs(bumped), payee_scripts=payee_scripts, original_fee_sats=batch.fee_sats,
            replacement_fee_sats=new_fee, replacement_vsize=batch.vsize,
        )  # fmt: skip
    except ReplacementRefused as error:
        raise Conflict("bump_refused", str(error)) from None
    if len(payees) != change_position:
        raise Conflict("bump_refused", "the batch's outputs do not match its payouts")
    unsigned_txid = bumped.tx.txid().hex()
    generation = len(store.batches_where(session, store.batches.c.family_id == batch.family_id))
    return BatchRecord(
        f"{batch.family_id}-r{generation}", batch.family_id, batch.wallet_id, BatchState.BUILT, bumped.to_string(),
        None, None, unsigned_txid, new_fee, rate, batch.vsize, new_change, batch.change_index, batch.id, None,
    )  # fmt: skip


def _outputs(psbt: Any) -> list[TxOutputSpec]:
    return [TxOutputSpec(bytes(o.script_pubkey.data), int(o.value)) for o in psbt.outputs]
