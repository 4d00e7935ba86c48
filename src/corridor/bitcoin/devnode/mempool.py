"""The mempool: admission per Core's consensus and main policy checks, BIP125 replacement, ancestors.

Reject reasons and their debug strings follow Bitcoin Core (validation.cpp, policy/rbf.cpp) so a
client sees the same `reject-reason` from the devnode as from bitcoind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from corridor.bitcoin.devnode.encoding import Tx, TxOut, hex_id
from corridor.bitcoin.devnode.errors import TxRejected
from corridor.bitcoin.devnode.scripts import classify
from corridor.bitcoin.devnode.store import Coin, Outpoint
from corridor.bitcoin.devnode.verify import first_failing_input

COIN = 100_000_000
MAX_MONEY = 21_000_000 * COIN
COINBASE_MATURITY = 100
MAX_STANDARD_TX_WEIGHT = 400_000
MIN_STANDARD_TX_NONWITNESS_SIZE = 65
MAX_BLOCK_WEIGHT = 4_000_000
DUST_RELAY_SAT_PER_KVB = 3000
ANCESTOR_LIMIT = 25
DESCENDANT_LIMIT = 25
MAX_REPLACEMENT_CANDIDATES = 100
MAX_BIP125_RBF_SEQUENCE = 0xFFFFFFFD
LOCKTIME_THRESHOLD = 500_000_000
SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_LOCKTIME_DISABLE_FLAG = 1 << 31
SEQUENCE_LOCKTIME_TYPE_FLAG = 1 << 22
SEQUENCE_LOCKTIME_MASK = 0x0000FFFF
SEQUENCE_LOCKTIME_GRANULARITY = 9
MAX_SCRIPT_SIZE = 10_000


def format_money(sats: int) -> str:
    """Core's FormatMoney: at least two decimals, trailing zeros trimmed."""
    text = f"{Decimal(sats) / COIN:.8f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def is_unspendable(spk: bytes) -> bool:
    return (len(spk) > 0 and spk[0] == 0x6A) or len(spk) > MAX_SCRIPT_SIZE


def dust_threshold(txout: TxOut) -> int:
    if is_unspendable(txout.script_pubkey):
        return 0
    spk = txout.script_pubkey
    size = 8 + len(spk) + (1 if len(spk) < 0xFD else 3)
    is_witness = 4 <= len(spk) <= 42 and (spk[0] == 0 or 0x51 <= spk[0] <= 0x60) and spk[1] + 2 == len(spk)
    size += (32 + 4 + 1 + 107 // 4 + 4) if is_witness else (32 + 4 + 1 + 107 + 4)
    return DUST_RELAY_SAT_PER_KVB * size // 1000


def fee_for(rate_sat_per_kvb: int, vsize: int) -> int:
    return (rate_sat_per_kvb * vsize + 999) // 1000


class ChainView(Protocol):
    """What admission needs to know about the confirmed chain."""

    def coin(self, outpoint: Outpoint) -> Coin | None: ...

    def has_confirmed_outputs(self, txid: bytes) -> bool: ...

    @property
    def tip_height(self) -> int: ...

    def median_time_past(self, height: int) -> int: ...


@dataclass(slots=True)
class MempoolEntry:
    tx: Tx
    fee: int
    time: int
    height: int
    parents: set[bytes] = field(default_factory=set)
    children: set[bytes] = field(default_factory=set)

    @property
    def vsize(self) -> int:
        return self.tx.vsize

    @property
    def sat_per_kvb(self) -> int:
        return self.fee * 1000 // self.tx.vsize


@dataclass(frozen=True, slots=True)
class Admission:
    tx: Tx
    fee: int
    parents: set[bytes]
    conflicts: set[bytes]


class Mempool:
    def __init__(self, min_relay_sat_per_kvb: int = 1000, full_rbf: bool = False) -> None:
        self.min_relay_sat_per_kvb = min_relay_sat_per_kvb
        self.full_rbf = full_rbf
        self.entries: dict[bytes, MempoolEntry] = {}
        self.spenders: dict[Outpoint, bytes] = {}
        self.by_wtxid: dict[bytes, bytes] = {}
        self.sequence = 0

    def __contains__(self, txid: object) -> bool:
        return txid in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def output(self, outpoint: Outpoint) -> TxOut | None:
        entry = self.entries.get(outpoint[0])
        if entry is None or outpoint[1] >= len(entry.tx.outputs):
            return None
        return entry.tx.outputs[outpoint[1]]

    def ancestors(self, txid: bytes) -> set[bytes]:
        return self._walk(self.entries[txid].parents, lambda e: e.parents)

    def descendants(self, txid: bytes) -> set[bytes]:
        return self._walk(self.entries[txid].children, lambda e: e.children)

    def _walk(self, start: set[bytes], step: Callable[[MempoolEntry], set[bytes]]) -> set[bytes]:
        seen: set[bytes] = set()
        todo = list(start)
        while todo:
            current = todo.pop()
            if current in seen or current not in self.entries:
                continue
            seen.add(current)
            todo.extend(step(self.entries[current]))
        return seen

    def signals_replaceable(self, txid: bytes) -> bool:
        """BIP125: a transaction is replaceable if it or an unconfirmed ancestor signals."""
        for candidate in {txid} | self.ancestors(txid):
            if any(txin.sequence <= MAX_BIP125_RBF_SEQUENCE for txin in self.entries[candidate].tx.inputs):
                return True
        return False

    def add(self, admission: Admission, height: int, when: int | None = None) -> MempoolEntry:
        for conflict in admission.conflicts:
            self.remove_with_descendants(conflict)
        tx = admission.tx
        entry = MempoolEntry(tx, admission.fee, int(time.time()) if when is None else when, height)
        entry.parents = {p for p in admission.parents if p in self.entries}
        for parent in entry.parents:
            self.entries[parent].children.add(tx.txid)
        self.entries[tx.txid] = entry
        self.by_wtxid[tx.wtxid] = tx.txid
        for outpoint in tx.outpoints():
            self.spenders[outpoint] = tx.txid
        self.sequence += 1
        return entry

    def remove(self, txid: bytes) -> MempoolEntry | None:
        entry = self.entries.pop(txid, None)
        if entry is None:
            return None
        self.by_wtxid.pop(entry.tx.wtxid, None)
        for outpoint in entry.tx.outpoints():
            if self.spenders.get(outpoint) == txid:
                del self.spenders[outpoint]
        for parent in entry.parents:
            if parent in self.entries:
                self.entries[parent].children.discard(txid)
        for child in entry.children:
            if child in self.entries:
                self.entries[child].parents.discard(txid)
        self.sequence += 1
        return entry

    def remove_with_descendants(self, txid: bytes) -> list[MempoolEntry]:
        if txid not in self.entries:
            return []
        doomed = [txid, *self.descendants(txid)]
        return [e for e in (self.remove(t) for t in doomed) if e is not None]

    def remove_for_block(self, txs: tuple[Tx, ...]) -> list[MempoolEntry]:
        """Drop transactions a block confirmed, and whatever conflicts with the block."""
        confirmed: list[MempoolEntry] = []
        for tx in txs:
            entry = self.remove(tx.txid)
            if entry is not None:
                confirmed.append(entry)
            for outpoint in tx.outpoints():
                conflict = self.spenders.get(outpoint)
                if conflict is not None:
                    self.remove_with_descendants(conflict)
        return confirmed

    def in_mining_order(self) -> list[MempoolEntry]:
        """Parents before children, higher ancestor fee rate first where there is a choice."""

        def ancestor_rate(txid: bytes) -> Decimal:
            family = {txid} | self.ancestors(txid)
            fee = sum(self.entries[t].fee for t in family)
            size = sum(self.entries[t].vsize for t in family)
            return Decimal(fee) / size

        ranked = sorted(self.entries, key=ancestor_rate, reverse=True)
        placed: set[bytes] = set()
        ordered: list[MempoolEntry] = []

        def place(txid: bytes) -> None:
            if txid in placed:
                return
            for parent in sorted(self.entries[txid].parents, key=list(self.entries).index):
                place(parent)
            placed.add(txid)
            ordered.append(self.entries[txid])

        for txid in ranked:
            place(txid)
        return ordered

    # admission

    def check(self, tx: Tx, chain: ChainView, *, bypass_fee: bool = False) -> Admission:
        """Run Core's admission checks; raises TxRejected with Core's reason when one fails."""
        check_transaction(tx)
        if tx.is_coinbase:
            raise TxRejected("coinbase")
        check_standard(tx)
        check_final(tx, chain)
        if tx.txid in self.entries:
            if self.entries[tx.txid].tx.wtxid == tx.wtxid:
                raise TxRejected("txn-already-in-mempool")
            raise TxRejected("txn-same-nonwitness-data-in-mempool")
        conflicts = {self.spenders[op] for op in tx.outpoints() if op in self.spenders}
        if conflicts:
            self._check_conflicts_replaceable(conflicts)
        spent, parents, coins = self._gather_inputs(tx, chain)
        check_sequence_locks(tx, coins, chain)
        check_maturity(tx, coins, chain.tip_height + 1)
        fee = sum(value for value, _ in spent) - sum(o.value for o in tx.outputs)
        if fee < 0:
            raise TxRejected(
                "bad-txns-in-belowout",
                f"value in ({format_money(fee + sum(o.value for o in tx.outputs))}) "
                f"< value out ({format_money(sum(o.value for o in tx.outputs))})",
            )
        if not bypass_fee:
            required = fee_for(self.min_relay_sat_per_kvb, tx.vsize)
            if fee < required:
                raise TxRejected("min relay fee not met", f"{fee} < {required}")
        self._check_package_limits(tx, parents)
        if conflicts:
            self._check_replacement(tx, fee, parents, conflicts)
        failing = first_failing_input(tx, spent)
        if failing is not None:
            raise TxRejected(
                "mandatory-script-verify-flag-failed (Script failed verification)", f"input {failing}"
            )
        return Admission(tx, fee, parents, conflicts)

    def _check_conflicts_replaceable(self, conflicts: set[bytes]) -> None:
        if self.full_rbf:
            return
        for conflict in conflicts:
            if not self.signals_replaceable(conflict):
                raise TxRejected("txn-mempool-conflict")

    def _gather_inputs(
        self, tx: Tx, chain: ChainView
    ) -> tuple[list[tuple[int, bytes]], set[bytes], list[Coin]]:
        spent: list[tuple[int, bytes]] = []
        coins: list[Coin] = []
        parents: set[bytes] = set()
        unconfirmed_height = chain.tip_height + 1
        for outpoint in tx.outpoints():
            coin = chain.coin(outpoint)
            if coin is None:
                txout = self.output(outpoint)
                if txout is None:
                    if chain.has_confirmed_outputs(tx.txid):
                        raise TxRejected("txn-already-known")
                    raise TxRejected("bad-txns-inputs-missingorspent", missing_inputs=True)
                coin = Coin(txout.value, txout.script_pubkey, unconfirmed_height, False)
                parents.add(outpoint[0])
            spent.append((coin.value, coin.script_pubkey))
            coins.append(coin)
        return spent, parents, coins

    def _check_package_limits(self, tx: Tx, parents: set[bytes]) -> None:
        ancestors = set(parents)
        for parent in parents:
            ancestors |= self.ancestors(parent)
        if len(ancestors) + 1 > ANCESTOR_LIMIT:
            raise TxRejected(
                "too-long-mempool-chain", f"too many unconfirmed ancestors [limit: {ANCESTOR_LIMIT}]"
            )
        for ancestor in ancestors:
            if len(self.descendants(ancestor)) + 2 > DESCENDANT_LIMIT:
                raise TxRejected(
                    "too-long-mempool-chain",
                    f"too many descendants for tx {hex_id(ancestor)} [limit: {DESCENDANT_LIMIT}]",
                )

    def _check_replacement(self, tx: Tx, fee: int, parents: set[bytes], conflicts: set[bytes]) -> None:
        txid_hex = hex_id(tx.txid)
        evicted = set(conflicts)
        for conflict in conflicts:
            evicted |= self.descendants(conflict)
        if len(evicted) > MAX_REPLACEMENT_CANDIDATES:
            raise TxRejected(
                "too many potential replacements",
                f"rejecting replacement {txid_hex}; too many potential replacements "
                f"({len(evicted)} > {MAX_REPLACEMENT_CANDIDATES})",
            )
        ancestors = set(parents)
        for parent in parents:
            ancestors |= self.ancestors(parent)
        spent_conflict = ancestors & evicted
        if spent_conflict:
            raise TxRejected(
                "bad-txns-spends-conflicting-tx",
                f"{txid_hex} spends conflicting transaction {hex_id(next(iter(spent_conflict)))}",
            )
        conflict_parents = {p for c in conflicts for p in self.entries[c].parents}
        for index, txin in enumerate(tx.inputs):
            if txin.prev_txid in parents and txin.prev_txid not in conflict_parents:
                raise TxRejected(
                    "replacement-adds-unconfirmed",
                    f"replacement {txid_hex} adds unconfirmed input, idx {index}",
                )
        new_rate = Decimal(fee * 1000) / tx.vsize
        for conflict in conflicts:
            old_rate = Decimal(self.entries[conflict].fee * 1000) / self.entries[conflict].vsize
            if new_rate <= old_rate:
                raise TxRejected(
                    "insufficient fee",
                    f"rejecting replacement {txid_hex}; new feerate {format_money(int(new_rate))} BTC/kvB "
                    f"<= old feerate {format_money(int(old_rate))} BTC/kvB",
                )
        evicted_fees = sum(self.entries[t].fee for t in evicted)
        if fee < evicted_fees:
            raise TxRejected(
                "insufficient fee",
                f"rejecting replacement {txid_hex}, less fees than conflicting txs; "
                f"{format_money(fee)} < {format_money(evicted_fees)}",
            )
        additional = fee - evicted_fees
        relay_needed = fee_for(self.min_relay_sat_per_kvb, tx.vsize)
        if additional < relay_needed:
            raise TxRejected(
                "insufficient fee",
                f"rejecting replacement {txid_hex}, not enough additional fees to relay; "
                f"{format_money(additional)} < {format_money(relay_needed)}",
            )


def check_transaction(tx: Tx) -> None:
    """Core's CheckTransaction: context-free consensus checks."""
    if not tx.inputs:
        raise TxRejected("bad-txns-vin-empty")
    if not tx.outputs:
        raise TxRejected("bad-txns-vout-empty")
    if tx.base_size * 4 > MAX_BLOCK_WEIGHT:
        raise TxRejected("bad-txns-oversize")
    total = 0
    for txout in tx.outputs:
        if txout.value < 0:
            raise TxRejected("bad-txns-vout-negative")
        if txout.value > MAX_MONEY:
            raise TxRejected("bad-txns-vout-toolarge")
        total += txout.value
        if total > MAX_MONEY:
            raise TxRejected("bad-txns-txouttotal-toolarge")
    outpoints = tx.outpoints()
    if len(set(outpoints)) != len(outpoints):
        raise TxRejected("bad-txns-inputs-duplicate")
    if not tx.is_coinbase and any(txin.is_coinbase_input for txin in tx.inputs):
        raise TxRejected("bad-txns-prevout-null")


def check_standard(tx: Tx) -> None:
    """The part of Core's IsStandardTx that matters for a settlement platform."""
    if not 1 <= tx.version <= 3:
        raise TxRejected("version")
    if tx.weight > MAX_STANDARD_TX_WEIGHT:
        raise TxRejected("tx-size")
    if tx.base_size < MIN_STANDARD_TX_NONWITNESS_SIZE:
        raise TxRejected("tx-size-small")
    for txin in tx.inputs:
        if len(txin.script_sig) > 1650:
            raise TxRejected("scriptsig-size")
    for txout in tx.outputs:
        if classify(txout.script_pubkey) == "nonstandard":
            raise TxRejected("scriptpubkey")
        if txout.value < dust_threshold(txout):
            raise TxRejected("dust")


def check_final(tx: Tx, chain: ChainView) -> None:
    """Core's IsFinalTx against the next block (height tip+1, time = median time past of the tip)."""
    if tx.locktime == 0 or all(txin.sequence == SEQUENCE_FINAL for txin in tx.inputs):
        return
    height = chain.tip_height + 1
    cutoff = height if tx.locktime < LOCKTIME_THRESHOLD else chain.median_time_past(chain.tip_height)
    if tx.locktime >= cutoff:
        raise TxRejected("non-final")


def check_sequence_locks(tx: Tx, coins: list[Coin], chain: ChainView) -> None:
    """BIP68 relative lock-times, evaluated for inclusion in the next block."""
    if tx.version < 2:
        return
    next_height = chain.tip_height + 1
    tip_mtp = chain.median_time_past(chain.tip_height)
    for txin, coin in zip(tx.inputs, coins, strict=True):
        if txin.sequence & SEQUENCE_LOCKTIME_DISABLE_FLAG:
            continue
        value = txin.sequence & SEQUENCE_LOCKTIME_MASK
        if txin.sequence & SEQUENCE_LOCKTIME_TYPE_FLAG:
            coin_mtp = (
                chain.median_time_past(max(coin.height - 1, 0))
                if coin.height <= chain.tip_height
                else tip_mtp
            )
            if coin_mtp + (value << SEQUENCE_LOCKTIME_GRANULARITY) - 1 >= tip_mtp:
                raise TxRejected("non-BIP68-final")
        elif coin.height + value - 1 >= next_height:
            raise TxRejected("non-BIP68-final")


def check_maturity(tx: Tx, coins: list[Coin], spend_height: int) -> None:
    for coin in coins:
        if coin.coinbase and spend_height - coin.height < COINBASE_MATURITY:
            raise TxRejected(
                "bad-txns-premature-spend-of-coinbase",
                f"tried to spend coinbase at depth {spend_height - coin.height}",
            )
