"""Consensus serialisation framing for transactions and blocks.

Parsing is hand-written rather than done with embit because the node parses every transaction of
every block and mempool submission, and a flat parser is several times faster; embit is still used
for addresses and descriptors. Hashes are kept in internal (little-endian) byte order; `hex_id`
turns them into the display order RPC uses.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field

WITNESS_SCALE_FACTOR = 4
NULL_HASH = b"\x00" * 32
COINBASE_VOUT = 0xFFFFFFFF


class DecodeError(ValueError):
    """Bytes that do not frame a transaction or block."""


def sha256d(data: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(data).digest()).digest()


def hex_id(internal: bytes) -> str:
    return internal[::-1].hex()


def id_from_hex(display: str) -> bytes:
    raw = bytes.fromhex(display)
    if len(raw) != 32:
        raise ValueError("hash must be 32 bytes")
    return raw[::-1]


def compact_size(n: int) -> bytes:
    if n < 0xFD:
        return bytes((n,))
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    if n <= 0xFFFFFFFF:
        return b"\xfe" + struct.pack("<I", n)
    return b"\xff" + struct.pack("<Q", n)


def read_compact_size(buf: bytes, pos: int) -> tuple[int, int]:
    if pos >= len(buf):
        raise DecodeError("truncated compact size")
    first = buf[pos]
    if first < 0xFD:
        return first, pos + 1
    width = {0xFD: 2, 0xFE: 4, 0xFF: 8}[first]
    end = pos + 1 + width
    if end > len(buf):
        raise DecodeError("truncated compact size")
    return int.from_bytes(buf[pos + 1 : end], "little"), end


def _read_bytes(buf: bytes, pos: int) -> tuple[bytes, int]:
    length, pos = read_compact_size(buf, pos)
    end = pos + length
    if end > len(buf):
        raise DecodeError("truncated field")
    return buf[pos:end], end


@dataclass(frozen=True, slots=True)
class TxIn:
    prev_txid: bytes
    prev_vout: int
    script_sig: bytes
    sequence: int
    witness: tuple[bytes, ...] = ()

    @property
    def is_coinbase_input(self) -> bool:
        return self.prev_txid == NULL_HASH and self.prev_vout == COINBASE_VOUT


@dataclass(frozen=True, slots=True)
class TxOut:
    value: int
    script_pubkey: bytes


@dataclass(frozen=True, slots=True)
class Tx:
    version: int
    inputs: tuple[TxIn, ...]
    outputs: tuple[TxOut, ...]
    locktime: int
    raw: bytes
    txid: bytes
    wtxid: bytes
    base_size: int

    @property
    def size(self) -> int:
        return len(self.raw)

    @property
    def weight(self) -> int:
        return self.base_size * (WITNESS_SCALE_FACTOR - 1) + len(self.raw)

    @property
    def vsize(self) -> int:
        return (self.weight + WITNESS_SCALE_FACTOR - 1) // WITNESS_SCALE_FACTOR

    @property
    def is_coinbase(self) -> bool:
        return len(self.inputs) == 1 and self.inputs[0].is_coinbase_input

    @property
    def has_witness(self) -> bool:
        return any(txin.witness for txin in self.inputs)

    def outpoints(self) -> list[tuple[bytes, int]]:
        return [(txin.prev_txid, txin.prev_vout) for txin in self.inputs]


def parse_tx(buf: bytes, pos: int = 0) -> tuple[Tx, int]:
    """Parse one transaction starting at `pos`; returns it and the position after it."""
    start = pos
    if pos + 4 > len(buf):
        raise DecodeError("truncated version")
    version = struct.unpack_from("<i", buf, pos)[0]
    pos += 4
    segwit = len(buf) > pos + 1 and buf[pos] == 0 and buf[pos + 1] != 0
    if segwit:
        pos += 2
    body_start = pos
    n_in, pos = read_compact_size(buf, pos)
    raw_inputs: list[tuple[bytes, int, bytes, int]] = []
    for _ in range(n_in):
        if pos + 36 > len(buf):
            raise DecodeError("truncated input")
        prev = buf[pos : pos + 32]
        vout = struct.unpack_from("<I", buf, pos + 32)[0]
        script_sig, pos = _read_bytes(buf, pos + 36)
        if pos + 4 > len(buf):
            raise DecodeError("truncated sequence")
        raw_inputs.append((prev, vout, script_sig, struct.unpack_from("<I", buf, pos)[0]))
        pos += 4
    n_out, pos = read_compact_size(buf, pos)
    outputs: list[TxOut] = []
    for _ in range(n_out):
        if pos + 8 > len(buf):
            raise DecodeError("truncated output")
        value = struct.unpack_from("<q", buf, pos)[0]
        spk, pos = _read_bytes(buf, pos + 8)
        outputs.append(TxOut(value, spk))
    body_end = pos
    witnesses: list[tuple[bytes, ...]] = [()] * n_in
    if segwit:
        for i in range(n_in):
            n_items, pos = read_compact_size(buf, pos)
            items = []
            for _ in range(n_items):
                item, pos = _read_bytes(buf, pos)
                items.append(item)
            witnesses[i] = tuple(items)
        if not any(witnesses):
            raise DecodeError("superfluous witness record")
    if pos + 4 > len(buf):
        raise DecodeError("truncated locktime")
    locktime = struct.unpack_from("<I", buf, pos)[0]
    pos += 4
    raw = bytes(buf[start:pos])
    if segwit:
        stripped = raw[:4] + buf[body_start:body_end] + raw[-4:]
        txid = sha256d(stripped)
        wtxid = sha256d(raw)
        base_size = len(stripped)
    else:
        txid = wtxid = sha256d(raw)
        base_size = len(raw)
    inputs = tuple(TxIn(p, v, s, q, w) for (p, v, s, q), w in zip(raw_inputs, witnesses, strict=True))
    return Tx(version, inputs, tuple(outputs), locktime, raw, txid, wtxid, base_size), pos


def decode_tx(raw: bytes) -> Tx:
    """Parse a complete transaction; trailing bytes are an error, as in Core's DecodeHexTx."""
    tx, end = parse_tx(raw)
    if end != len(raw):
        raise DecodeError("trailing bytes after transaction")
    return tx


def serialize_tx(
    version: int, inputs: list[TxIn], outputs: list[TxOut], locktime: int, with_witness: bool = True
) -> bytes:
    segwit = with_witness and any(txin.witness for txin in inputs)
    parts = [struct.pack("<i", version)]
    if segwit:
        parts.append(b"\x00\x01")
    parts.append(compact_size(len(inputs)))
    for txin in inputs:
        parts += [
            txin.prev_txid,
            struct.pack("<I", txin.prev_vout),
            compact_size(len(txin.script_sig)),
            txin.script_sig,
            struct.pack("<I", txin.sequence),
        ]
    parts.append(compact_size(len(outputs)))
    for txout in outputs:
        parts += [struct.pack("<q", txout.value), compact_size(len(txout.script_pubkey)), txout.script_pubkey]
    if segwit:
        for txin in inputs:
            parts.append(compact_size(len(txin.witness)))
            for item in txin.witness:
                parts += [compact_size(len(item)), item]
    parts.append(struct.pack("<I", locktime))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class BlockHeader:
    version: int
    prev_hash: bytes
    merkle_root: bytes
    time: int
    bits: int
    nonce: int

    def serialize(self) -> bytes:
        return (
            struct.pack("<i", self.version)
            + self.prev_hash
            + self.merkle_root
            + struct.pack("<III", self.time, self.bits, self.nonce)
        )

    @property
    def hash(self) -> bytes:
        return sha256d(self.serialize())

    @classmethod
    def parse(cls, raw: bytes) -> BlockHeader:
        if len(raw) < 80:
            raise DecodeError("truncated block header")
        version = struct.unpack_from("<i", raw, 0)[0]
        time, bits, nonce = struct.unpack_from("<III", raw, 68)
        return cls(version, raw[4:36], raw[36:68], time, bits, nonce)


@dataclass(frozen=True, slots=True)
class Block:
    header: BlockHeader
    txs: tuple[Tx, ...]
    raw: bytes = field(repr=False)

    @property
    def hash(self) -> bytes:
        return self.header.hash

    @property
    def weight(self) -> int:
        base = len(self.raw) - sum(len(tx.raw) - tx.base_size for tx in self.txs)
        return base * (WITNESS_SCALE_FACTOR - 1) + len(self.raw)

    @property
    def stripped_size(self) -> int:
        return len(self.raw) - sum(len(tx.raw) - tx.base_size for tx in self.txs)


def decode_block(raw: bytes) -> Block:
    header = BlockHeader.parse(raw)
    count, pos = read_compact_size(raw, 80)
    txs = []
    for _ in range(count):
        tx, pos = parse_tx(raw, pos)
        txs.append(tx)
    if pos != len(raw):
        raise DecodeError("trailing bytes after block")
    return Block(header, tuple(txs), raw)


def serialize_block(header: BlockHeader, tx_raws: list[bytes]) -> bytes:
    return header.serialize() + compact_size(len(tx_raws)) + b"".join(tx_raws)


def merkle_root(hashes: list[bytes]) -> bytes:
    if not hashes:
        return NULL_HASH
    level = list(hashes)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def bits_to_target(bits: int) -> int:
    exponent = bits >> 24
    mantissa = bits & 0x007FFFFF
    if exponent <= 3:
        return mantissa >> (8 * (3 - exponent))
    return mantissa << (8 * (exponent - 3))


def hash_meets_target(block_hash: bytes, bits: int) -> bool:
    return int.from_bytes(block_hash, "little") <= bits_to_target(bits)


def difficulty(bits: int) -> float:
    """Core's GetDifficulty; a float because Core reports it as a JSON number, not money."""
    shift = (bits >> 24) & 0xFF
    diff = 0x0000FFFF / (bits & 0x00FFFFFF)
    while shift < 29:
        diff *= 256.0
        shift += 1
    while shift > 29:
        diff /= 256.0
        shift -= 1
    return diff


def work_from_bits(bits: int) -> int:
    target = bits_to_target(bits)
    return (1 << 256) // (target + 1)
