"""The devnode's own indexes (active chain, transactions by id, UTXO set, seen blocks, saved mempool).

libbitcoinkernel keeps blocks, undo data and its chainstate, but exposes no coin lookups and no
block-index enumeration, so these indexes are derived from its connect/disconnect callbacks and
kept in one SQLite file next to the kernel's data (or in memory for throw-away nodes).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chain (height INTEGER PRIMARY KEY, hash BLOB NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS txindex (
    txid BLOB PRIMARY KEY, block_hash BLOB NOT NULL, height INTEGER NOT NULL, pos INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS utxo (
    txid BLOB NOT NULL, vout INTEGER NOT NULL, value INTEGER NOT NULL, spk BLOB NOT NULL,
    height INTEGER NOT NULL, coinbase INTEGER NOT NULL, PRIMARY KEY (txid, vout)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_block (
    hash BLOB PRIMARY KEY, prev BLOB NOT NULL, height INTEGER NOT NULL,
    invalid INTEGER NOT NULL DEFAULT 0, validated INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_block_prev ON seen_block (prev);
CREATE TABLE IF NOT EXISTS block_raw (hash BLOB PRIMARY KEY, raw BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS saved_mempool (seq INTEGER PRIMARY KEY, raw BLOB NOT NULL, time INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fee_sample (height INTEGER NOT NULL, sat_per_kvb INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS fee_sample_height ON fee_sample (height);
"""


@dataclass(frozen=True, slots=True)
class Coin:
    value: int
    script_pubkey: bytes
    height: int
    coinbase: bool


@dataclass(frozen=True, slots=True)
class TxLocation:
    block_hash: bytes
    height: int
    position: int


Outpoint = tuple[bytes, int]


class IndexStore:
    def __init__(self, path: Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._db.execute("BEGIN")

    def commit(self) -> None:
        self._db.execute("COMMIT")
        self._db.execute("BEGIN")

    def close(self) -> None:
        self._db.execute("COMMIT")
        self._db.close()

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # active chain as the indexes see it
    def chain_rows(self) -> list[tuple[int, bytes, int]]:
        return [
            (int(h), bytes(b), int(t)) for h, b, t in self._db.execute("SELECT * FROM chain ORDER BY height")
        ]

    def push_chain(self, height: int, block_hash: bytes, time: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO chain VALUES (?, ?, ?)", (height, block_hash, time))

    def pop_chain(self, height: int) -> None:
        self._db.execute("DELETE FROM chain WHERE height >= ?", (height,))

    # UTXO set
    def coin(self, outpoint: Outpoint) -> Coin | None:
        row = self._db.execute(
            "SELECT value, spk, height, coinbase FROM utxo WHERE txid = ? AND vout = ?", outpoint
        ).fetchone()
        return None if row is None else Coin(int(row[0]), bytes(row[1]), int(row[2]), bool(row[3]))

    def has_any_output(self, txid: bytes) -> bool:
        return self._db.execute("SELECT 1 FROM utxo WHERE txid = ? LIMIT 1", (txid,)).fetchone() is not None

    def add_coins(self, coins: Iterable[tuple[Outpoint, Coin]]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO utxo VALUES (?, ?, ?, ?, ?, ?)",
            ((op[0], op[1], c.value, c.script_pubkey, c.height, int(c.coinbase)) for op, c in coins),
        )

    def spend_coins(self, outpoints: Iterable[Outpoint]) -> None:
        self._db.executemany("DELETE FROM utxo WHERE txid = ? AND vout = ?", outpoints)

    def utxo_stats(self) -> tuple[int, int]:
        count, total = self._db.execute("SELECT COUNT(*), COALESCE(SUM(value), 0) FROM utxo").fetchone()
        return int(count), int(total)

    # transactions by id
    def locate_tx(self, txid: bytes) -> TxLocation | None:
        row = self._db.execute(
            "SELECT block_hash, height, pos FROM txindex WHERE txid = ?", (txid,)
        ).fetchone()
        return None if row is None else TxLocation(bytes(row[0]), int(row[1]), int(row[2]))

    def index_txs(self, rows: Iterable[tuple[bytes, bytes, int, int]]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO txindex VALUES (?, ?, ?, ?)", rows)

    def unindex_txs(self, txids: Iterable[bytes]) -> None:
        self._db.executemany("DELETE FROM txindex WHERE txid = ?", ((t,) for t in txids))

    # serialized blocks: reading them back through the kernel API costs a Python callback per chunk
    def keep_block(self, block_hash: bytes, raw: bytes) -> None:
        self._db.execute("INSERT OR IGNORE INTO block_raw VALUES (?, ?)", (block_hash, raw))

    def raw_block(self, block_hash: bytes) -> bytes | None:
        row = self._db.execute("SELECT raw FROM block_raw WHERE hash = ?", (block_hash,)).fetchone()
        return None if row is None else bytes(row[0])

    # every block the node has stored, for getchaintips
    def record_block(self, block_hash: bytes, prev: bytes, height: int) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO seen_block VALUES (?, ?, ?, 0, 0)", (block_hash, prev, height)
        )

    def record_connected_block(self, block_hash: bytes, prev: bytes, height: int) -> None:
        self._db.execute(
            "INSERT INTO seen_block VALUES (?, ?, ?, 0, 1) ON CONFLICT (hash) DO UPDATE SET validated = 1",
            (block_hash, prev, height),
        )

    def mark_invalid(self, block_hash: bytes) -> None:
        self._db.execute("UPDATE seen_block SET invalid = 1 WHERE hash = ?", (block_hash,))

    def is_known_block(self, block_hash: bytes) -> tuple[bool, bool]:
        row = self._db.execute("SELECT invalid FROM seen_block WHERE hash = ?", (block_hash,)).fetchone()
        return (row is not None, bool(row[0]) if row is not None else False)

    def leaf_blocks(self) -> list[tuple[bytes, int, str]]:
        """Blocks without children, with getchaintips' status for a tip off the active chain."""
        rows = self._db.execute(
            "SELECT b.hash, b.height, b.invalid, b.validated FROM seen_block b "
            "WHERE NOT EXISTS (SELECT 1 FROM seen_block c WHERE c.prev = b.hash)"
        )
        return [
            (bytes(h), int(height), "invalid" if inv else "valid-fork" if validated else "valid-headers")
            for h, height, inv, validated in rows
        ]

    def parent_of(self, block_hash: bytes) -> tuple[bytes, int, bool] | None:
        row = self._db.execute(
            "SELECT prev, height, invalid FROM seen_block WHERE hash = ?", (block_hash,)
        ).fetchone()
        return None if row is None else (bytes(row[0]), int(row[1]), bool(row[2]))

    # mempool across restarts, like Core's mempool.dat
    def save_mempool(self, entries: Iterable[tuple[bytes, int]]) -> None:
        self._db.execute("DELETE FROM saved_mempool")
        self._db.executemany("INSERT INTO saved_mempool (raw, time) VALUES (?, ?)", entries)

    def load_mempool(self) -> list[tuple[bytes, int]]:
        rows = self._db.execute("SELECT raw, time FROM saved_mempool ORDER BY seq").fetchall()
        self._db.execute("DELETE FROM saved_mempool")
        return [(bytes(r), int(t)) for r, t in rows]

    # fee samples of confirmed mempool transactions, for estimatesmartfee
    def add_fee_samples(self, height: int, rates: Iterable[int]) -> None:
        self._db.executemany("INSERT INTO fee_sample VALUES (?, ?)", ((height, r) for r in rates))

    def drop_fee_samples_from(self, height: int) -> None:
        self._db.execute("DELETE FROM fee_sample WHERE height >= ?", (height,))

    def fee_samples_since(self, height: int) -> list[int]:
        rows = self._db.execute("SELECT sat_per_kvb FROM fee_sample WHERE height >= ?", (height,))
        return [int(r[0]) for r in rows]
