"""scriptPubKey objects and scriptSig disassembly exactly as Bitcoin Core recorded them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corridor.bitcoin.devnode.checksums import add_descriptor_checksum
from corridor.bitcoin.devnode.scripts import script_pubkey_json, to_asm

CORE_TESTS = "bitcoin-core-testdata/test"


def _bitcoin_tx_outputs(shared_data: Path) -> list[dict[str, Any]]:
    """The transactions bitcoin-tx printed as JSON in Core's util tests (mainnet, so only the
    network-free fields compare)."""
    found = []
    for path in sorted((shared_data / CORE_TESTS / "util/data").glob("*.json")):
        loaded = json.loads(path.read_text())
        if isinstance(loaded, dict) and "vout" in loaded:
            found.append(loaded)
    return found


def test_bitcoin_tx_script_pubkeys(shared_data: Path) -> None:
    txs = _bitcoin_tx_outputs(shared_data)
    outputs = [out["scriptPubKey"] for tx in txs for out in tx["vout"]]
    assert len(outputs) >= 20
    for expected in outputs:
        got = script_pubkey_json(bytes.fromhex(expected["hex"]))
        assert (got["asm"], got["type"], got["hex"]) == (expected["asm"], expected["type"], expected["hex"])
        assert ("address" in got) == ("address" in expected)
        if "address" not in expected:  # pk(), multi() and raw() carry no network
            assert got["desc"] == expected["desc"]


def test_bitcoin_tx_script_sigs(shared_data: Path) -> None:
    inputs = [
        i["scriptSig"] for tx in _bitcoin_tx_outputs(shared_data) for i in tx["vin"] if "scriptSig" in i
    ]
    assert inputs
    for expected in inputs:
        assert to_asm(bytes.fromhex(expected["hex"]), decode_sighash=True) == expected["asm"]


def test_decodescript_regtest_script_pubkeys(shared_data: Path) -> None:
    """Core's regtest decodescript answers: rawtr() for taproot, [error] after what parsed,
    OP_RETURN followed by a non-push is nonstandard."""
    cases = json.loads((shared_data / CORE_TESTS / "functional/data/rpc_decodescript.json").read_text())
    assert len(cases) >= 10
    for script_hex, expected in cases:
        got = script_pubkey_json(bytes.fromhex(script_hex))
        shared = {k: v for k, v in expected.items() if k not in ("p2sh", "segwit")}
        assert {k: v for k, v in got.items() if k != "hex"} == shared, script_hex


def test_taproot_key_off_the_curve_is_an_addr_descriptor() -> None:
    off_curve = (5).to_bytes(32, "big")  # 5**3 + 7 is not a square modulo the field prime
    got = script_pubkey_json(b"\x51\x20" + off_curve)
    assert got["type"] == "witness_v1_taproot"
    assert got["desc"] == add_descriptor_checksum(f"addr({got['address']})")
    on_curve = script_pubkey_json(b"\x51\x20" + (1).to_bytes(32, "big"))
    assert on_curve["desc"] == add_descriptor_checksum(f"rawtr({(1).to_bytes(32, 'big').hex()})")
