"""The devnode: libbitcoinkernel chainstate, the node's own indexes, a mempool and a miner.

All public methods take the node lock; the RPC server calls them from several threads.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from corridor.bitcoin.devnode.encoding import (
    Block,
    BlockHeader,
    DecodeError,
    Tx,
    decode_block,
    hash_meets_target,
    merkle_root,
)
from corridor.bitcoin.devnode.errors import BlockRejected, TxRejected
from corridor.bitcoin.devnode.kernel import ChainEvent, Kernel
from corridor.bitcoin.devnode.mempool import (
    MAX_BLOCK_WEIGHT,
    Admission,
    Mempool,
    MempoolEntry,
    check_maturity,
    is_unspendable,
)
from corridor.bitcoin.devnode.mining import (
    assemble_block,
    block_subsidy,
    build_coinbase,
    witness_commitment_script,
)
from corridor.bitcoin.devnode.store import Coin, IndexStore, Outpoint
from corridor.bitcoin.devnode.verify import first_failing_input

# Room for the coinbase and header inside the block weight limit, as Core's block assembler keeps.
COINBASE_WEIGHT_RESERVE = 8000
MEDIAN_TIME_SPAN = 11


@dataclass(frozen=True, slots=True)
class SubmitOutcome:
    """The result of handing a block to the kernel, in submitblock's vocabulary."""

    block_hash: bytes
    result: str | None  # None: accepted; else "duplicate", "inconclusive" or a reject reason


class DevNode:
    """A regtest-only Bitcoin node built on Bitcoin Core's consensus engine."""

    chain_name = "regtest"

    def __init__(
        self, datadir: Path | None = None, *, min_relay_sat_per_kvb: int = 1000, full_rbf: bool = False
    ) -> None:
        self.lock = threading.RLock()
        self._tempdir: Path | None = None
        if datadir is None:
            self._tempdir = Path(tempfile.mkdtemp(prefix="corridor-devnode-"))
            self.datadir = self._tempdir
            self.kernel = Kernel(self._tempdir / "regtest", in_memory=True)
            self.store = IndexStore(None)
        else:
            self.datadir = datadir
            self.kernel = Kernel(datadir / "regtest", in_memory=False)
            self.store = IndexStore(datadir / "regtest" / "devnode.sqlite")
        self.mempool = Mempool(min_relay_sat_per_kvb, full_rbf)
        self._hashes: list[bytes] = []
        self._times: list[int] = []
        self._heights: dict[bytes, int] = {}
        self._parsed: dict[bytes, Block] = {}
        self._closed = False
        self._catch_up_with_kernel()
        self._reload_mempool()
        self.store.commit()

    # ---- chain view used by the mempool -------------------------------------------------------

    @property
    def tip_height(self) -> int:
        return len(self._hashes) - 1

    @property
    def tip_hash(self) -> bytes:
        return self._hashes[-1]

    def coin(self, outpoint: Outpoint) -> Coin | None:
        return self.store.coin(outpoint)

    def has_confirmed_outputs(self, txid: bytes) -> bool:
        return self.store.has_any_output(txid)

    def median_time_past(self, height: int) -> int:
        window = sorted(self._times[max(0, height - MEDIAN_TIME_SPAN + 1) : height + 1])
        return window[len(window) // 2]

    def hash_at(self, height: int) -> bytes:
        return self._hashes[height]

    def height_in_active_chain(self, block_hash: bytes) -> int | None:
        return self._heights.get(block_hash)

    def block_time_at(self, height: int) -> int:
        return self._times[height]

    # ---- lifecycle ----------------------------------------------------------------------------

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self._closed = True
            self.store.save_mempool((e.tx.raw, e.time) for e in self.mempool.in_mining_order())
            self.store.close()
            self.kernel.close()
            if self._tempdir is not None:
                shutil.rmtree(self._tempdir, ignore_errors=True)

    def _catch_up_with_kernel(self) -> None:
        """Bring the indexes to the kernel's active chain, e.g. after a crash between the two."""
        rows = self.store.chain_rows()
        fork = -1
        for height, block_hash, _ in rows:
            if height > self.kernel.height or self.kernel.hash_at(height) != block_hash:
                break
            fork = height
        events: list[ChainEvent] = []
        for height, block_hash, _ in reversed(rows[fork + 1 :]):
            raw = self.kernel.read_block(block_hash)
            if raw is None:
                raise RuntimeError(f"index refers to block at height {height} the kernel does not have")
            events.append(ChainEvent(False, block_hash, height, raw))
        self._hashes = [h for _, h, _ in rows[: fork + 1]]
        self._times = [t for _, _, t in rows[: fork + 1]]
        self._heights = {h: i for i, h in enumerate(self._hashes)}
        self._apply_events(events, resurrect=False)
        for height in range(fork + 1, self.kernel.height + 1):
            block_hash = self.kernel.hash_at(height)
            raw = self.kernel.read_block(block_hash)
            if raw is None:
                raise RuntimeError(f"kernel cannot read its block at height {height}")
            self._apply_events([ChainEvent(True, block_hash, height, raw)], resurrect=False)

    def _reload_mempool(self) -> None:
        for raw, when in self.store.load_mempool():
            try:
                tx, _ = _parse_tx(raw)
                self.mempool.add(self.mempool.check(tx, self), self.tip_height, when)
            except (TxRejected, DecodeError):
                continue

    # ---- applying kernel events to the indexes -----------------------------------------------

    def _decoded(self, event: ChainEvent) -> Block:
        cached = self._parsed.pop(event.block_hash, None)
        return cached if cached is not None else decode_block(event.raw_block)

    def _apply_events(self, events: list[ChainEvent], resurrect: bool = True) -> None:
        disconnected: list[Block] = []
        for event in events:
            block = self._decoded(event)
            if event.connected:
                self._connect(block, event.height)
            else:
                self._disconnect(block, event.height)
                disconnected.append(block)
        if disconnected and resurrect:
            self._resurrect(list(reversed(disconnected)))

    def _connect(self, block: Block, height: int) -> None:
        block_hash = block.hash
        self.store.record_connected_block(block_hash, block.header.prev_hash, height)
        self.store.keep_block(block_hash, block.raw)
        self.store.push_chain(height, block_hash, block.header.time)
        self._hashes.append(block_hash)
        self._times.append(block.header.time)
        self._heights[block_hash] = height
        if height == 0:
            return  # the genesis output is not spendable and not indexed, as in Core
        spent: list[Outpoint] = []
        created: list[tuple[Outpoint, Coin]] = []
        for tx in block.txs:
            is_coinbase = tx.is_coinbase
            if not is_coinbase:
                spent.extend(tx.outpoints())
            for n, out in enumerate(tx.outputs):
                if not is_unspendable(out.script_pubkey):
                    created.append(((tx.txid, n), Coin(out.value, out.script_pubkey, height, is_coinbase)))
        self.store.spend_coins(spent)
        self.store.add_coins(created)
        self.store.index_txs((tx.txid, block_hash, height, pos) for pos, tx in enumerate(block.txs))
        if self.mempool.entries:
            confirmed = self.mempool.remove_for_block(block.txs)
            self.store.add_fee_samples(height, (e.sat_per_kvb for e in confirmed))

    def _disconnect(self, block: Block, height: int) -> None:
        block_hash = block.hash
        undo = self.kernel.read_spent_coins(block_hash)
        restored: list[tuple[Outpoint, Coin]] = []
        for tx, coins in zip(block.txs[1:], undo, strict=True):
            for outpoint, spent in zip(tx.outpoints(), coins, strict=True):
                restored.append(
                    (outpoint, Coin(spent.value, spent.script_pubkey, spent.height, spent.coinbase))
                )
        created = [(tx.txid, n) for tx in block.txs for n in range(len(tx.outputs))]
        self.store.spend_coins(created)
        self.store.add_coins(restored)
        self.store.unindex_txs(tx.txid for tx in block.txs)
        self.store.pop_chain(height)
        self.store.drop_fee_samples_from(height)
        del self._hashes[height:]
        del self._times[height:]
        self._heights.pop(block_hash, None)

    def _resurrect(self, blocks: list[Block]) -> None:
        """After a reorg, as Core does: the abandoned branch's transactions go back to the mempool,
        then everything in it is re-checked against the new chain."""
        candidates: list[tuple[Tx, int | None]] = [(tx, None) for b in blocks for tx in b.txs[1:]]
        candidates += [(e.tx, e.time) for e in self.mempool.in_mining_order()]
        self.mempool = _emptied(self.mempool)
        for tx, when in candidates:
            if self.store.locate_tx(tx.txid) is not None:
                continue
            try:
                admission = self.mempool.check(tx, self, bypass_fee=True)
            except TxRejected:
                continue
            self.mempool.add(admission, self.tip_height, when)

    # ---- transactions -------------------------------------------------------------------------

    def test_accept(self, tx: Tx) -> Admission:
        with self.lock:
            return self.mempool.check(tx, self)

    def accept(self, tx: Tx) -> MempoolEntry:
        with self.lock:
            entry = self.mempool.add(self.mempool.check(tx, self), self.tip_height)
            return entry

    def test_accept_package(self, txs: list[Tx]) -> list[Admission | TxRejected]:
        """Test transactions in order, each seeing the earlier ones as if accepted; nothing is kept."""
        with self.lock:
            results: list[Admission | TxRejected] = []
            added: list[bytes] = []
            saved = self.mempool
            self.mempool = _copied(saved)
            try:
                for tx in txs:
                    try:
                        admission = self.mempool.check(tx, self)
                    except TxRejected as rejected:
                        results.append(rejected)
                        continue
                    self.mempool.add(admission, self.tip_height)
                    added.append(tx.txid)
                    results.append(admission)
            finally:
                self.mempool = saved
            return results

    # ---- blocks -------------------------------------------------------------------------------

    def mine(self, payout_script: bytes, count: int = 1) -> list[bytes]:
        with self.lock:
            hashes = [self._mine_on(self.tip_hash, payout_script, None) for _ in range(count)]
            self.store.commit()
            return hashes

    def mine_with(self, payout_script: bytes, txs: list[Tx]) -> bytes:
        """generateblock: a block holding exactly these transactions, in this order."""
        with self.lock:
            block_hash = self._mine_on(self.tip_hash, payout_script, txs)
            self.store.commit()
            return block_hash

    def mine_branch(self, fork_height: int, count: int, payout_script: bytes) -> list[bytes]:
        """Mine `count` blocks on top of the active block at `fork_height`, without mempool
        transactions; if the branch ends up with more work, the kernel reorganises onto it."""
        with self.lock:
            if not 0 <= fork_height <= self.tip_height:
                raise ValueError("fork height out of range")
            prev = self.hash_at(fork_height)
            times = self._times[max(0, fork_height - MEDIAN_TIME_SPAN + 1) : fork_height + 1]
            height = fork_height
            hashes: list[bytes] = []
            for _ in range(count):
                height += 1
                block_time = max(sorted(times)[len(times) // 2] + 1, int(time.time()))
                coinbase = build_coinbase(
                    height, payout_script, block_subsidy(height), [], extra_nonce=1 + len(hashes)
                )
                raw, block_hash = assemble_block(prev, block_time, coinbase, [])
                self._process(raw, block_hash, height)
                hashes.append(block_hash)
                prev = block_hash
                times = [*times[-(MEDIAN_TIME_SPAN - 1) :], block_time]
            self.store.commit()
            return hashes

    def _template_txs(self) -> tuple[list[Tx], int]:
        chosen: list[Tx] = []
        fees = 0
        weight = COINBASE_WEIGHT_RESERVE
        for entry in self.mempool.in_mining_order():
            if weight + entry.tx.weight > MAX_BLOCK_WEIGHT:
                break
            chosen.append(entry.tx)
            fees += entry.fee
            weight += entry.tx.weight
        return chosen, fees

    def _fees_of(self, txs: list[Tx]) -> int:
        own_outputs = {(tx.txid, n): out.value for tx in txs for n, out in enumerate(tx.outputs)}
        total = 0
        for tx in txs:
            value_in = 0
            for outpoint in tx.outpoints():
                coin = self.store.coin(outpoint)
                if coin is not None:
                    value_in += coin.value
                elif outpoint in own_outputs:
                    value_in += own_outputs[outpoint]
                else:
                    raise BlockRejected("bad-txns-inputs-missingorspent")
            total += value_in - sum(o.value for o in tx.outputs)
        return total

    def _mine_on(self, prev: bytes, payout_script: bytes, txs: list[Tx] | None) -> bytes:
        height = self.tip_height + 1
        if txs is None:
            txs, fees = self._template_txs()
        else:
            fees = self._fees_of(txs)
        coinbase = build_coinbase(height, payout_script, block_subsidy(height) + fees, txs)
        block_time = max(self.median_time_past(self.tip_height) + 1, int(time.time()))
        raw, block_hash = assemble_block(prev, block_time, coinbase, txs)
        outcome = self._process(raw, block_hash, height)
        if outcome.result is not None:
            raise BlockRejected(outcome.result)
        return block_hash

    def submit_block(self, raw: bytes) -> SubmitOutcome:
        with self.lock:
            block = decode_block(raw)
            block_hash = block.hash
            known, invalid = self.store.is_known_block(block_hash)
            if known and self.kernel.knows(block_hash):
                return SubmitOutcome(block_hash, "duplicate-invalid" if invalid else "duplicate")
            self._parsed[block_hash] = block
            parent_height = self.kernel.height_of(block.header.prev_hash)
            outcome = self._process(raw, block_hash, None if parent_height is None else parent_height + 1)
            self.store.commit()
            return outcome

    def _process(self, raw: bytes, block_hash: bytes, height: int | None) -> SubmitOutcome:
        verdict = self.kernel.process_block(raw, block_hash)
        self._apply_events(verdict.events)
        self._parsed.clear()
        stored = self.kernel.knows(block_hash)
        if stored and height is not None:
            self.store.record_block(block_hash, raw[4:36], height)
        if verdict.checked and verdict.valid:
            return SubmitOutcome(block_hash, None)
        if verdict.checked or verdict.raised:
            reason = self._explain_rejection(raw, verdict.result.name)
            if stored:
                self.store.mark_invalid(block_hash)
            return SubmitOutcome(block_hash, reason)
        return SubmitOutcome(block_hash, "inconclusive")

    def _explain_rejection(self, raw: bytes, kernel_result: str) -> str:
        """Core's reject reason for a block the kernel refused.

        The kernel API reports only a coarse result class, not Core's reason string, so the common
        reasons are re-derived here; the kernel's verdict alone decides validity.
        """
        try:
            block = decode_block(raw)
        except DecodeError:
            return "bad-blk-length"
        header: BlockHeader = block.header
        if not hash_meets_target(block.hash, header.bits):
            return "high-hash"
        if self.kernel.height_of(header.prev_hash) is None:
            return "prev-blk-not-found"
        if not block.txs or not block.txs[0].is_coinbase:
            return "bad-cb-missing"
        if merkle_root([tx.txid for tx in block.txs]) != header.merkle_root:
            return "bad-txnmrklroot"
        if any(tx.is_coinbase for tx in block.txs[1:]):
            return "bad-cb-multiple"
        if header.prev_hash == self.tip_hash:
            reason = self._explain_against_tip(block)
            if reason is not None:
                return reason
        return {"MUTATED": "bad-txnmrklroot", "INVALID_HEADER": "high-hash", "TIME_FUTURE": "time-too-new",
                "MISSING_PREV": "prev-blk-not-found", "INVALID_PREV": "bad-prevblk",
                "CACHED_INVALID": "duplicate-invalid"}.get(kernel_result, "block-validation-failed")  # fmt: skip

    def _explain_against_tip(self, block: Block) -> str | None:
        height = self.tip_height + 1
        coinbase = block.txs[0]
        expected_commitment = witness_commitment_script([tx.wtxid for tx in block.txs[1:]])
        if any(tx.has_witness for tx in block.txs[1:]) and not any(
            out.script_pubkey == expected_commitment for out in coinbase.outputs
        ):
            return "bad-witness-merkle-match"
        available: dict[Outpoint, Coin] = {}
        spent_here: set[Outpoint] = set()
        fees = 0
        for tx in block.txs[1:]:
            coins: list[Coin] = []
            for outpoint in tx.outpoints():
                coin = available.pop(outpoint, None)
                if coin is None and outpoint not in spent_here:
                    coin = self.store.coin(outpoint)
                if coin is None:
                    return "bad-txns-inputs-missingorspent"
                spent_here.add(outpoint)
                coins.append(coin)
            try:
                check_maturity(tx, coins, height)
            except TxRejected as rejected:
                return rejected.reason
            value_in = sum(c.value for c in coins)
            if value_in < sum(o.value for o in tx.outputs):
                return "bad-txns-in-belowout"
            fees += value_in - sum(o.value for o in tx.outputs)
            if first_failing_input(tx, [(c.value, c.script_pubkey) for c in coins]) is not None:
                return "mandatory-script-verify-flag-failed (Script failed verification)"
            for n, out in enumerate(tx.outputs):
                available[(tx.txid, n)] = Coin(out.value, out.script_pubkey, height, False)
        if sum(o.value for o in coinbase.outputs) > block_subsidy(height) + fees:
            return "bad-cb-amount"
        return None

    # ---- lookups ------------------------------------------------------------------------------

    def read_block(self, block_hash: bytes) -> Block | None:
        with self.lock:
            raw = self.store.raw_block(block_hash) or self.kernel.read_block(block_hash)
        return None if raw is None else decode_block(raw)

    def block_height(self, block_hash: bytes) -> int | None:
        with self.lock:
            return self.kernel.height_of(block_hash)

    def is_valid_fork_block(self, block_hash: bytes) -> bool:
        known, invalid = self.store.is_known_block(block_hash)
        return known and not invalid


def _parse_tx(raw: bytes) -> tuple[Tx, int]:
    from corridor.bitcoin.devnode.encoding import parse_tx

    return parse_tx(raw)


def _emptied(pool: Mempool) -> Mempool:
    fresh = Mempool(pool.min_relay_sat_per_kvb, pool.full_rbf)
    fresh.sequence = pool.sequence + 1
    return fresh


def _copied(pool: Mempool) -> Mempool:
    clone = _emptied(pool)
    for entry in pool.entries.values():
        clone.entries[entry.tx.txid] = MempoolEntry(
            entry.tx, entry.fee, entry.time, entry.height, set(entry.parents), set(entry.children)
        )
    clone.spenders = dict(pool.spenders)
    clone.by_wtxid = dict(pool.by_wtxid)
    return clone


def decode_many(raws: Iterable[bytes]) -> list[Tx]:
    return [_parse_tx(raw)[0] for raw in raws]
