"""The chain follower: every block of the best chain exactly once, in order; reorgs; mempool sightings.

Each block is applied in one database transaction together with its ``custody_blocks`` row, so after a
crash the follower resumes from the last fully processed block and nothing is counted twice. Before going
forward it compares its stored hashes with the node's from the top down and disconnects every block the
node no longer has in its best chain (any depth): outputs go back to unconfirmed, spends back to the
mempool, ledger credits are reversed by correcting transfers (never deleted). It then applies the new
branch. Credits for received outputs post only at the profile's depth; a batch's payouts post when the
batch reaches the payout depth.

Only one follower may run: PostgreSQL gives it an advisory lock; on SQLite the database lock taken by
``BEGIN IMMEDIATE`` serialises writers anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

from corridor.bitcoin.rpc import BitcoinRpc, RpcError
from corridor.custody import store
from corridor.custody.blockscan import (
    BlockScan,
    FoundOutput,
    FoundSpend,
    outpoint_from_key,
    outpoint_key,
    scan_block,
    scan_transaction,
)
from corridor.custody.psbt import parse_psbt
from corridor.custody.service import watch_wallet
from corridor.custody.state import (
    LEDGER_ASSET,
    SUSPENSE_ACCOUNT,
    AddressPurpose,
    AddressRecord,
    BatchRecord,
    BatchState,
    CustodyPolicy,
    LotRecord,
    LotState,
    PayoutState,
    credit_transfer_id,
    custody_account_id,
    reversal_transfer_id,
    short_hash,
)
from corridor.db import Database
from corridor.errors import Conflict
from corridor.ledger import service as ledger
from corridor.ledger.model import TransferKind, TransferRequest
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now

Clock = Callable[[], datetime]
ACTOR = "system:custody-follower"
ADVISORY_LOCK_KEY = 0x636F72_666F6C  # "cor" "fol": one number every follower agrees on


@dataclass
class FollowerReport:
    skipped: bool = False
    tip_height: int | None = None
    tip_hash: str | None = None
    blocks_applied: int = 0
    blocks_disconnected: int = 0
    transactions_scanned: int = 0
    outputs_found: int = 0
    spends_found: int = 0
    credits_posted: int = 0
    credits_reversed: int = 0
    batches_settled: int = 0
    mempool_transactions: int = 0
    notes: list[str] = field(default_factory=list)


# --- the watch set --------------------------------------------------------------------------------------


@dataclass
class WatchSet:
    """Scripts we recognise (issued addresses plus each ranged wallet's gap-limit window) and outpoints
    we hold."""

    scripts: dict[bytes, AddressRecord]
    outpoints: set[bytes]

    @classmethod
    def load(cls, session: Session) -> WatchSet:
        scripts: dict[bytes, AddressRecord] = {}
        issued = set(store.all_address_scripts(session))
        for record in store.all_wallets(session):
            wallet = watch_wallet(record)
            if wallet is None:
                continue
            for branch, start in ((0, record.next_receive_index), (1, record.next_change_index)):
                for index in range(start, start + record.gap_limit):
                    derived = wallet.derive(index, change=branch == 1)
                    if derived.script_pubkey not in issued:
                        purpose = AddressPurpose.CHANGE if branch == 1 else AddressPurpose.LOOKAHEAD
                        scripts[derived.script_pubkey] = AddressRecord(
                            derived.script_pubkey,
                            derived.address,
                            record.id,
                            branch,
                            index,
                            purpose,
                            None,
                            None,
                        )
        scripts.update(store.addresses_by_scripts(session, issued))
        outpoints = {outpoint_key(t, v) for t, v in store.live_outpoints(session)}
        return cls(scripts, outpoints)


# --- the entry point ------------------------------------------------------------------------------------


def run_follower_once(
    db: Database,
    rpc: BitcoinRpc,
    policy: CustodyPolicy | None = None,
    *,
    start_height: int = 0,
    clock: Clock = utc_now,
) -> FollowerReport:
    """Process every new block and the mempool once. ``start_height`` is where a fresh follower begins."""
    policy = policy or CustodyPolicy()
    report = FollowerReport()
    with _singleton(db) as acquired:
        if not acquired:
            report.skipped = True
            return report
        for _ in range(10):  # the node may reorg while we read; start over from the comparison
            if _follow_chain(db, rpc, policy, start_height, clock, report):
                break
        _follow_mempool(db, rpc, clock, report)
    return report


@contextmanager
def _singleton(db: Database) -> Iterator[bool]:
    if db.dialect != "postgresql":
        yield True
        return
    with db.engine.connect() as connection:
        acquired = bool(
            connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_LOCK_KEY}).scalar()
        )
        connection.commit()
        try:
            yield acquired
        finally:
            if acquired:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_LOCK_KEY})
                connection.commit()


def _node_hash_at(rpc: BitcoinRpc, height: int) -> str | None:
    try:
        return rpc.getblockhash(height)
    except RpcError:
        return None  # above the node's tip: the node's chain got shorter


def _follow_chain(
    db: Database,
    rpc: BitcoinRpc,
    policy: CustodyPolicy,
    start_height: int,
    clock: Clock,
    report: FollowerReport,
) -> bool:
    """Disconnect what the node abandoned, then apply new blocks. False if the node moved under us."""
    with db.transaction() as session:
        last = store.last_block(session)
    while last is not None and _node_hash_at(rpc, last[0]) != last[1]:
        with db.transaction() as session:
            _disconnect_block(session, last[0], last[1], clock, report)
            last = store.last_block(session)
    tip = rpc.getblockcount()
    height = start_height if last is None else last[0] + 1
    watch: WatchSet | None = None
    while height <= tip:
        block_hash = rpc.getblockhash(height)
        raw = rpc.getblock_raw(block_hash)
        with db.transaction() as session:
            watch = watch or WatchSet.load(session)
            scan = scan_block(raw, watch.scripts, watch.outpoints)
            if scan.block_hash != block_hash or (last is not None and scan.prev_hash != last[1]):
                return False
            _apply_block(session, height, scan, watch, policy, clock, report)
        last = (height, block_hash)
        report.transactions_scanned += scan.tx_count
        height += 1
    if last is not None:
        report.tip_height, report.tip_hash = last
    return True


# --- applying a block -----------------------------------------------------------------------------------


def _apply_block(
    session: Session,
    height: int,
    scan: BlockScan,
    watch: WatchSet,
    policy: CustodyPolicy,
    clock: Clock,
    report: FollowerReport,
) -> None:
    now = format_time(clock())
    store.insert_block(session, height, scan.block_hash, scan.prev_hash, scan.tx_count, now)
    for output in scan.outputs:
        _record_output(session, output, height, scan.block_hash, watch, now)
    for spend in scan.spends:
        _record_spend(session, spend, height, now)
    report.outputs_found += len(scan.outputs)
    report.spends_found += len(scan.spends)
    report.credits_posted += _post_credits(session, height - policy.credit_confirmations + 1, clock)
    report.batches_settled += _settle_batches(session, height - policy.payout_confirmations + 1, clock)
    registry.append(
        session,
        ACTOR,
        "custody.block_connected",
        f"block:{height}",
        {"hash": scan.block_hash, "outputs": len(scan.outputs), "spends": len(scan.spends)},
        clock,
    )


def _origin(address: AddressRecord, coinbase: bool) -> str:
    if coinbase:
        return "miner_payout"
    if address.purpose in (AddressPurpose.INVOICE, AddressPurpose.DEPOSIT) and address.record:
        return f"{address.purpose.value}:{address.record}"[:100]
    return address.purpose.value


def _credit_account(address: AddressRecord) -> str | None:
    """Whom a received output is credited to: the record's client, or suspense until someone allocates it.

    Change (an output of our own batch, or anything paid to a change address) is ours already and is
    never credited: the batch's payouts and fee are what leave custody.
    """
    if address.purpose is AddressPurpose.CHANGE:
        return None
    return address.credit_account_id or SUSPENSE_ACCOUNT


def _record_output(
    session: Session,
    output: FoundOutput,
    height: int | None,
    block_hash: str | None,
    watch: WatchSet,
    now: str,
) -> None:
    address = watch.scripts[output.script_pubkey]
    existing = store.get_lot(session, output.txid, output.vout)
    watch.outpoints.add(outpoint_key(output.txid, output.vout))
    if existing is not None:
        if height is not None:
            state = (
                LotState.AVAILABLE
                if existing.state in (LotState.UNCONFIRMED, LotState.DROPPED)
                else existing.state
            )
            store.update_lot(
                session,
                output.txid,
                output.vout,
                block_height=height,
                block_hash=block_hash,
                state=state.value,
            )
        elif existing.state is LotState.DROPPED:
            store.update_lot(session, output.txid, output.vout, state=LotState.UNCONFIRMED.value)
        return
    if store.address_by_script(session, output.script_pubkey) is None:
        _adopt_window_address(session, address, watch, now)
    own = store.batch_by_txid(session, output.txid)
    origin = _origin(address, output.coinbase) if own is None else _own_origin(session, own)
    credit_account = None if own is not None else _credit_account(address)
    lot = LotRecord(
        output.txid, output.vout, address.wallet_id, output.script_pubkey, output.value_sats,
        origin, credit_account, output.coinbase,
        LotState.UNCONFIRMED if height is None else LotState.AVAILABLE, height, None, None, None, None, 0,
    )  # fmt: skip
    if own is None:
        store.insert_lot(session, lot, block_hash, now)
        return
    # Our own transaction (change, a sweep): the new lot keeps the origins of the lots it spent, and
    # the links input lot -> output lot let provenance walk the lineage back to each receipt.
    parents = [p for p in (store.get_lot(session, t, v) for t, v in _spent_outpoints(own)) if p is not None]
    roots = store.origins_of(session, [(p.txid, p.vout) for p in parents])
    origins = sorted({o for p in parents for o in roots.get((p.txid, p.vout), [p.origin])})
    store.insert_lot(session, lot, block_hash, now, origins=origins or [origin])
    store.insert_lot_links(session, output.txid, output.vout, parents, now)


def _own_origin(session: Session, batch: BatchRecord) -> str:
    return f"sweep:{batch.family_id}" if store.get_sweep(session, batch.family_id) is not None else "change"


def _spent_outpoints(batch: BatchRecord) -> list[tuple[str, int]]:
    from embit.transaction import Transaction

    tx = Transaction.parse(bytes.fromhex(batch.raw_tx)) if batch.raw_tx else parse_psbt(batch.psbt).tx
    return [(txin.txid.hex(), txin.vout) for txin in tx.vin]


def _adopt_window_address(session: Session, address: AddressRecord, watch: WatchSet, now: str) -> None:
    """A gap-window address was paid before we issued it: register it and slide the window past it."""
    store.insert_address(session, address, now)
    wallet = store.get_wallet(session, address.wallet_id, lock=True)
    assert wallet is not None
    receive, change = wallet.next_receive_index, wallet.next_change_index
    if address.branch == 0:
        receive = max(receive, address.index + 1)
    else:
        change = max(change, address.index + 1)
    store.set_wallet_indexes(session, wallet.id, receive, change)
    descriptor_wallet = watch_wallet(wallet)
    if descriptor_wallet is not None:
        start = receive if address.branch == 0 else change
        for index in range(start, start + wallet.gap_limit):
            derived = descriptor_wallet.derive(index, change=address.branch == 1)
            watch.scripts.setdefault(
                derived.script_pubkey,
                AddressRecord(derived.script_pubkey, derived.address, wallet.id, address.branch, index,
                              address.purpose, None, None),
            )  # fmt: skip


def _record_spend(session: Session, spend: FoundSpend, height: int | None, now: str) -> None:
    txid, vout = outpoint_from_key(spend.outpoint)
    lot = store.get_lot(session, txid, vout)
    if lot is None:
        return
    if height is None and lot.spent_height is not None:
        return  # already spent in the best chain; a mempool sighting of another spend is a conflict
    store.update_lot(
        session, txid, vout, state=LotState.SPENT.value, spent_by=spend.txid, spent_height=height
    )
    if height is None:
        return
    batch = store.batch_by_txid(session, spend.txid)
    if batch is not None:
        if batch.confirmed_height is None:
            store.update_batch(session, batch.id, now, confirmed_height=height)
    elif lot.reserved_by is None:
        registry.append(
            session, ACTOR, "custody.foreign_spend", f"lot:{txid}:{vout}",
            {"spent_by": spend.txid, "height": height, "value_sats": lot.value_sats},
        )  # fmt: skip


def _post_credits(session: Session, max_height: int, clock: Clock) -> int:
    lots = store.lots_to_credit(session, max_height)
    requests = []
    for lot in lots:
        assert lot.credit_account_id is not None
        transfer_id = credit_transfer_id(lot.txid, lot.vout, lot.credit_count)
        requests.append(
            TransferRequest(
                id=transfer_id, debit_account_id=custody_account_id(lot.wallet_id),
                credit_account_id=lot.credit_account_id, amount=lot.value_sats, asset=LEDGER_ASSET,
                reference=f"received {lot.txid}:{lot.vout}", metadata={"origin": lot.origin},
            )
        )  # fmt: skip
        store.update_lot(
            session, lot.txid, lot.vout, credit_transfer_id=transfer_id, credit_count=lot.credit_count + 1
        )
    if requests:
        ledger.transfer_many_in(session, ACTOR, requests, clock)
    return len(requests)


def _settle_batches(session: Session, max_height: int, clock: Clock) -> int:
    """Post the payouts of every batch that reached the payout depth; its rivals become ``replaced``."""
    due = store.batches_where(
        session,
        store.batches.c.confirmed_height.is_not(None),
        store.batches.c.confirmed_height <= max_height,
        store.batches.c.state != BatchState.CONFIRMED.value,
        lock=True,
    )
    for batch in due:
        _settle_batch(session, batch, clock)
    return len(due)


def _settle_batch(session: Session, batch: BatchRecord, clock: Clock) -> None:
    """Book a batch family once: its payouts, its fee and, for a sweep, the move between the wallets.

    Members of a family spend the same inputs, so only one can be in the best chain. If a reorg deeper
    than the payout depth swaps the settled member for another, nothing is booked again: only the
    difference in fee is corrected (payee outputs are the same in every member).
    """
    now = format_time(clock())
    sweep = store.get_sweep(session, batch.family_id)
    family = store.batches_where(session, store.batches.c.family_id == batch.family_id)
    settled = next((b for b in family if b.state is BatchState.CONFIRMED and b.id != batch.id), None)
    payouts = store.payouts_where(
        session,
        store.payouts.c.family_id == batch.family_id,
        store.payouts.c.state == PayoutState.BATCHED.value,
    )
    if settled is not None:
        _correct_fee(session, settled, batch, sweep, clock)
    else:
        requests = [
            TransferRequest(id=f"{p.reservation_id}:post", kind=TransferKind.POST, pending_id=p.reservation_id,
                            reference=f"paid in {batch.txid}")
            for p in payouts
        ]  # fmt: skip
        if sweep is not None:
            assert batch.change_sats is not None  # a sweep's one output is kept in change_sats
            requests.append(
                TransferRequest(
                    id=f"cus:sw:{batch.family_id}", debit_account_id=custody_account_id(sweep[1]),
                    credit_account_id=custody_account_id(batch.wallet_id), amount=batch.change_sats,
                    asset=LEDGER_ASSET, reference=f"swept in {batch.txid}",
                )
            )  # fmt: skip
        requests.append(
            TransferRequest(
                id=f"cus:fee:{batch.family_id}", debit_account_id="fees:network",
                credit_account_id=custody_account_id(batch.wallet_id), amount=batch.fee_sats,
                asset=LEDGER_ASSET, reference=f"network fee of {batch.txid}",
            )
        )  # fmt: skip
        ledger.transfer_many_in(session, ACTOR, requests, clock)
    store.update_payouts(session, [p.id for p in payouts], now, state=PayoutState.PAID.value)
    store.update_batch(session, batch.id, now, state=BatchState.CONFIRMED.value)
    for rival in family:
        if rival.id != batch.id and rival.state is not BatchState.REPLACED:
            store.update_batch(session, rival.id, now, state=BatchState.REPLACED.value)
    registry.append(
        session, ACTOR, "custody.batch_confirmed", f"batch:{batch.id}",
        {"txid": batch.txid, "height": batch.confirmed_height, "payouts": [p.id for p in payouts],
         "fee_sats": batch.fee_sats, "sweep_to": None if sweep is None else sweep[1],
         "instead_of": None if settled is None else settled.id},
        clock,
    )  # fmt: skip


def _correct_fee(
    session: Session,
    settled: BatchRecord,
    winner: BatchRecord,
    sweep: tuple[str, str, bytes] | None,
    clock: Clock,
) -> None:
    """The fee difference between the member booked and the member the chain kept. It lands where the
    remainder of the inputs went: the change of the paying wallet, or a sweep's destination."""
    delta = winner.fee_sats - settled.fee_sats
    if delta == 0:
        return
    holder = custody_account_id(winner.wallet_id if sweep is None else sweep[1])
    debit, credit = ("fees:network", holder) if delta > 0 else (holder, "fees:network")
    ledger.transfer_in(
        session, ACTOR,
        TransferRequest(
            id=f"cus:adj:{short_hash(winner.family_id, winner.id, winner.confirmed_height)}",
            debit_account_id=debit, credit_account_id=credit, amount=abs(delta), asset=LEDGER_ASSET,
            reference=f"{winner.txid} confirmed instead of {settled.txid}: fee differs by {delta}",
        ),
        clock,
    )  # fmt: skip


# --- disconnecting a block ------------------------------------------------------------------------------


def _disconnect_block(
    session: Session, height: int, block_hash: str, clock: Clock, report: FollowerReport
) -> None:
    now = format_time(clock())
    reversed_count = 0
    for lot in store.lots_where(session, store.lots.c.block_height == height, lock=True):
        if lot.credit_transfer_id is not None:
            _reverse_credit(session, lot, clock)
            reversed_count += 1
        # A coinbase cannot return to the mempool: its output is gone with the block.
        state = lot.state
        if lot.coinbase:
            state = LotState.DROPPED
        elif state is LotState.AVAILABLE:
            state = LotState.UNCONFIRMED
        store.update_lot(
            session,
            lot.txid,
            lot.vout,
            block_height=None,
            block_hash=None,
            state=state.value,
            credit_transfer_id=None,
        )
    for lot in store.lots_where(session, store.lots.c.spent_height == height, lock=True):
        store.update_lot(session, lot.txid, lot.vout, spent_height=None)
    for batch in store.batches_where(session, store.batches.c.confirmed_height == height, lock=True):
        # A settled batch keeps its ledger postings: its transaction is back in the mempool and the
        # batcher re-sends it; paying again would be the one unforgivable error.
        store.update_batch(session, batch.id, now, confirmed_height=None)
    store.delete_block(session, height)
    registry.append(
        session, ACTOR, "custody.block_disconnected", f"block:{height}",
        {"hash": block_hash, "credits_reversed": reversed_count}, clock,
    )  # fmt: skip
    report.blocks_disconnected += 1
    report.credits_reversed += reversed_count


def _reverse_credit(session: Session, lot: LotRecord, clock: Clock) -> None:
    """Undo a credit the best chain no longer supports: a correcting transfer, or if the client already
    spent the money, a receivable in suspense so custody still drops by the full amount."""
    assert lot.credit_transfer_id is not None and lot.credit_account_id is not None
    correction = TransferRequest(
        id=reversal_transfer_id(lot.credit_transfer_id), debit_account_id=lot.credit_account_id,
        credit_account_id=custody_account_id(lot.wallet_id), amount=lot.value_sats, asset=LEDGER_ASSET,
        reference=f"reorg removed {lot.txid}:{lot.vout}", corrects=lot.credit_transfer_id,
    )  # fmt: skip
    try:
        ledger.transfer_in(session, ACTOR, correction, clock)
    except Conflict as error:
        if error.code != "exceeds_credits" or lot.credit_account_id == SUSPENSE_ACCOUNT:
            raise
        ledger.transfer_in(
            session, ACTOR,
            TransferRequest(
                id=f"{lot.credit_transfer_id}:sus", debit_account_id=SUSPENSE_ACCOUNT,
                credit_account_id=custody_account_id(lot.wallet_id), amount=lot.value_sats, asset=LEDGER_ASSET,
                reference=f"reorg removed {lot.txid}:{lot.vout}; {lot.credit_account_id} already spent it",
            ),
            clock,
        )  # fmt: skip


# --- the mempool ----------------------------------------------------------------------------------------


def _follow_mempool(db: Database, rpc: BitcoinRpc, clock: Clock, report: FollowerReport) -> None:
    in_mempool = set(rpc.getrawmempool())
    report.mempool_transactions = len(in_mempool)
    with db.transaction() as session:
        seen = store.seen_txids(session)
        fresh = in_mempool - seen
        watch = WatchSet.load(session) if fresh else None
        now = format_time(clock())
        for txid in sorted(fresh):
            assert watch is not None
            try:
                raw = rpc.getrawtransaction(txid)
            except RpcError:
                continue  # left the mempool since we listed it
            _, outputs, spends = scan_transaction(raw, watch.scripts, watch.outpoints)
            for output in outputs:
                _record_output(session, output, None, None, watch, now)
            for spend in spends:
                _record_spend(session, spend, None, now)
        store.add_seen(session, fresh, now)
        store.forget_seen(session, seen - in_mempool)
        _forget_vanished(session, in_mempool)


def _forget_vanished(session: Session, in_mempool: set[str]) -> None:
    """Unconfirmed outputs and spends whose transaction is neither in a block nor in the mempool."""
    for lot in store.lots_where(session, store.lots.c.block_height.is_(None), lock=True):
        if lot.state in (LotState.UNCONFIRMED, LotState.AVAILABLE) and lot.txid not in in_mempool:
            store.update_lot(session, lot.txid, lot.vout, state=LotState.DROPPED.value)
    for lot in store.lots_where(
        session, store.lots.c.spent_by.is_not(None), store.lots.c.spent_height.is_(None), lock=True
    ):
        if lot.spent_by in in_mempool or store.batch_pending_rebroadcast(session, lot.spent_by):
            continue
        state = LotState.RESERVED if lot.reserved_by else LotState.AVAILABLE
        if lot.block_height is None:
            state = LotState.UNCONFIRMED
        store.update_lot(session, lot.txid, lot.vout, state=state.value, spent_by=None)
