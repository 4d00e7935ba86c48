"""The follower's byte-level block scanner against a real mainnet block, cross-checked with a full decoder."""

from __future__ import annotations

from pathlib import Path

from corridor.bitcoin.devnode.encoding import decode_block, hex_id
from corridor.custody.blockscan import outpoint_key, scan_block

BLOCK = (
    "btcd-testdata/wire/testdata/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk"
)


def test_scanner_finds_exactly_the_watched_outputs_and_spends(shared_data: Path) -> None:
    raw = (shared_data / BLOCK).read_bytes()
    block = decode_block(raw)
    watched_scripts = {tx.outputs[0].script_pubkey for tx in block.txs[1::97]}
    spent = {
        tx.inputs[0].prev_txid + tx.inputs[0].prev_vout.to_bytes(4, "little") for tx in block.txs[5::211]
    }
    scan = scan_block(raw, watched_scripts, spent)

    assert scan.block_hash == "0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2"
    assert scan.tx_count == len(block.txs) == 3315
    expected_outputs = {
        (hex_id(tx.txid), n, out.value)
        for tx in block.txs
        for n, out in enumerate(tx.outputs)
        if out.script_pubkey in watched_scripts
    }
    assert {(o.txid, o.vout, o.value_sats) for o in scan.outputs} == expected_outputs
    # Outputs found in this block are ours too, so later transactions in it that spend them are followed.
    ours = spent | {outpoint_key(txid, vout) for txid, vout, _ in expected_outputs}
    expected_spends = {
        hex_id(tx.txid)
        for tx in block.txs
        for i in tx.inputs
        if i.prev_txid + i.prev_vout.to_bytes(4, "little") in ours
    }
    assert {s.txid for s in scan.spends} == expected_spends and len(expected_spends) >= len(spent)
    assert outpoint_key(hex_id(block.txs[1].txid), 3)[:32] == block.txs[1].txid
