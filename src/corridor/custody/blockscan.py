"""Scan a serialized block for outputs paying our scripts and inputs spending our outpoints. Pure, no I/O.

The chain follower reads every block of the best chain, and nearly every transaction in it belongs to
someone else, so the scanner walks the bytes once without building transaction objects: an output's
script and an input's 36-byte outpoint are sliced and looked up in sets. Only a transaction that touches
us is hashed for its txid. Outpoints are keyed by their wire form (txid in internal byte order followed by
the output index as 4 little-endian bytes), which is exactly the slice an input carries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container
from dataclasses import dataclass, field

HEADER_BYTES = 80


class BlockFormatError(ValueError):
    """The bytes are not a well-formed serialized block."""


@dataclass(frozen=True, slots=True)
class FoundOutput:
    txid: str
    vout: int
    value_sats: int
    script_pubkey: bytes
    coinbase: bool


@dataclass(frozen=True, slots=True)
class FoundSpend:
    txid: str
    """The spending transaction."""
    outpoint: bytes
    """The spent outpoint in wire form (see :func:`outpoint_key`)."""


@dataclass(slots=True)
class BlockScan:
    block_hash: str
    prev_hash: str
    tx_count: int
    outputs: list[FoundOutput] = field(default_factory=list)
    spends: list[FoundSpend] = field(default_factory=list)


def outpoint_key(txid: str, vout: int) -> bytes:
    """The wire form of an outpoint: internal-order txid and a 4-byte little-endian index."""
    return bytes.fromhex(txid)[::-1] + vout.to_bytes(4, "little")


def outpoint_from_key(key: bytes) -> tuple[str, int]:
    return key[:32][::-1].hex(), int.from_bytes(key[32:36], "little")


def double_sha256(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def block_hash_of(raw: bytes) -> str:
    return double_sha256(raw[:HEADER_BYTES])[::-1].hex()


def scan_block(raw: bytes, scripts: Container[bytes], outpoints: Container[bytes]) -> BlockScan:
    """Every output paying one of ``scripts`` and every input spending one of ``outpoints`` in ``raw``.

    Outputs found earlier in the same block count as ours for later inputs, so a chain of our own
    transactions inside one block is followed.
    """
    if len(raw) < HEADER_BYTES + 1:
        raise BlockFormatError("block shorter than its header")
    scan = BlockScan(block_hash_of(raw), raw[4:36][::-1].hex(), 0)
    pos, count = _varint(raw, HEADER_BYTES)
    scan.tx_count = count
    fresh: set[bytes] = set()
    try:
        for index in range(count):
            pos, _ = _scan_tx(raw, pos, index == 0, scripts, outpoints, fresh, scan)
    except IndexError as error:
        raise BlockFormatError("block ends inside a transaction") from error
    if pos != len(raw):
        raise BlockFormatError("bytes left after the last transaction")
    return scan


def scan_transaction(
    raw: bytes, scripts: Container[bytes], outpoints: Container[bytes]
) -> tuple[str, list[FoundOutput], list[FoundSpend]]:
    """One loose (mempool) transaction: its txid, our outputs and our spends."""
    scan = BlockScan("", "", 1)
    try:
        end, txid = _scan_tx(raw, 0, False, scripts, outpoints, set(), scan, always_hash=True)
    except IndexError as error:
        raise BlockFormatError("transaction is truncated") from error
    if end != len(raw):
        raise BlockFormatError("bytes left after the transaction")
    return txid, scan.outputs, scan.spends


def _body_bounds(raw: bytes, start: int) -> tuple[int, bool]:
    segwit = raw[start + 4] == 0 and raw[start + 5] == 1
    return (start + 6 if segwit else start + 4), segwit


def _scan_tx(
    raw: bytes,
    start: int,
    coinbase: bool,
    scripts: Container[bytes],
    outpoints: Container[bytes],
    fresh: set[bytes],
    scan: BlockScan,
    *,
    always_hash: bool = False,
) -> tuple[int, str]:
    pos, segwit = _body_bounds(raw, start)
    pos, n_in = _varint(raw, pos)
    spent: list[bytes] = []
    for _ in range(n_in):
        key = raw[pos : pos + 36]
        if key in outpoints or (fresh and key in fresh):
            spent.append(key)
        pos, length = _varint(raw, pos + 36)
        pos += length + 4
    pos, n_out = _varint(raw, pos)
    paid: list[tuple[int, int, bytes]] = []
    for vout in range(n_out):
        value_at = pos
        pos, length = _varint(raw, pos + 8)
        script = raw[pos : pos + length]
        pos += length
        if script in scripts:
            paid.append((vout, int.from_bytes(raw[value_at : value_at + 8], "little"), script))
    body_end = pos
    if segwit:
        for _ in range(n_in):
            pos, items = _varint(raw, pos)
            for _ in range(items):
                pos, length = _varint(raw, pos)
                pos += length
    end = pos + 4
    if end > len(raw):
        raise IndexError("locktime beyond the end")
    txid = ""
    if spent or paid or always_hash:
        txid = _txid(raw, start, end, body_end, segwit)
        for key in spent:
            scan.spends.append(FoundSpend(txid, key))
        for vout, value, script in paid:
            scan.outputs.append(FoundOutput(txid, vout, value, script, coinbase))
            fresh.add(outpoint_key(txid, vout))
    return end, txid


def _txid(raw: bytes, start: int, end: int, body_end: int, segwit: bool) -> str:
    if not segwit:
        return double_sha256(raw[start:end])[::-1].hex()
    # The txid commits to the transaction without marker, flag and witnesses.
    stripped = raw[start : start + 4] + raw[start + 6 : body_end] + raw[end - 4 : end]
    return double_sha256(stripped)[::-1].hex()


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    first = raw[pos]
    if first < 0xFD:
        return pos + 1, first
    if first == 0xFD:
        return pos + 3, int.from_bytes(raw[pos + 1 : pos + 3], "little")
    if first == 0xFE:
        return pos + 5, int.from_bytes(raw[pos + 1 : pos + 5], "little")
    return pos + 9, int.from_bytes(raw[pos + 1 : pos + 9], "little")
