"""Block assembly: BIP34 coinbase, BIP141 witness commitment, merkle root, regtest proof of work."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from corridor.bitcoin.devnode.encoding import (
    NULL_HASH,
    BlockHeader,
    Tx,
    TxIn,
    TxOut,
    bits_to_target,
    decode_tx,
    merkle_root,
    serialize_block,
    serialize_tx,
    sha256d,
)

REGTEST_BITS = 0x207FFFFF
REGTEST_HALVING_INTERVAL = 150
BLOCK_VERSION = 0x20000000
INITIAL_SUBSIDY = 50 * 100_000_000
WITNESS_COMMITMENT_HEADER = bytes.fromhex("aa21a9ed")


def block_subsidy(height: int) -> int:
    halvings = height // REGTEST_HALVING_INTERVAL
    return 0 if halvings >= 64 else INITIAL_SUBSIDY >> halvings


def script_number_push(n: int) -> bytes:
    """`CScript() << n` as Core writes it: OP_0, OP_1..OP_16, else a minimal little-endian push."""
    if n == 0:
        return b"\x00"
    if 1 <= n <= 16:
        return bytes((0x50 + n,))
    body = bytearray()
    value = n
    while value:
        body.append(value & 0xFF)
        value >>= 8
    if body[-1] & 0x80:
        body.append(0)
    return bytes((len(body),)) + bytes(body)


def witness_commitment_script(wtxids_after_coinbase: Sequence[bytes]) -> bytes:
    witness_root = merkle_root([NULL_HASH, *wtxids_after_coinbase])
    commitment = sha256d(witness_root + NULL_HASH)
    return b"\x6a\x24" + WITNESS_COMMITMENT_HEADER + commitment


def build_coinbase(
    height: int, payout_script: bytes, value: int, txs: Sequence[Tx], extra_nonce: int = 0
) -> Tx:
    # The trailing push keeps the scriptSig at least two bytes (bad-cb-length) and lets competing
    # branches at the same height differ.
    script_sig = script_number_push(height) + script_number_push(extra_nonce)
    coinbase_in = TxIn(NULL_HASH, 0xFFFFFFFF, script_sig, 0xFFFFFFFF, (NULL_HASH,))
    outputs = [
        TxOut(value, payout_script),
        TxOut(0, witness_commitment_script([tx.wtxid for tx in txs])),
    ]
    return decode_tx(serialize_tx(2, [coinbase_in], outputs, 0))


def grind(header: BlockHeader) -> BlockHeader:
    """Find a nonce meeting the target; at regtest difficulty about two attempts."""
    target = bits_to_target(header.bits)
    prefix = header.serialize()[:76]
    for nonce in range(1 << 32):
        candidate = prefix + struct.pack("<I", nonce)
        digest = hashlib.sha256(hashlib.sha256(candidate).digest()).digest()
        if int.from_bytes(digest, "little") <= target:
            return BlockHeader(
                header.version, header.prev_hash, header.merkle_root, header.time, header.bits, nonce
            )
    raise RuntimeError("nonce space exhausted")


def assemble_block(prev_hash: bytes, time: int, coinbase: Tx, txs: Sequence[Tx]) -> tuple[bytes, bytes]:
    """Serialized block and its hash, with proof of work done."""
    all_txs = [coinbase, *txs]
    root = merkle_root([tx.txid for tx in all_txs])
    header = grind(BlockHeader(BLOCK_VERSION, prev_hash, root, time, REGTEST_BITS, 0))
    return serialize_block(header, [tx.raw for tx in all_txs]), header.hash
