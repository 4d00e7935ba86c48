"""Invalid transactions and blocks are refused, with Core's error codes and reject reasons."""

from __future__ import annotations

import time

from corridor.bitcoin.devnode.encoding import Tx, TxIn, decode_tx, id_from_hex, serialize_tx
from corridor.bitcoin.devnode.mining import assemble_block, block_subsidy, build_coinbase
from corridor.bitcoin.devnode.testkit import DevKey, RawRpc, Spendable, build_spend, coinbase_spendable

FEE = 2000


def _corrupt_signature(tx: Tx) -> Tx:
    """Flip one bit inside the first input's signature (first witness item)."""
    first = tx.inputs[0]
    signature = bytearray(first.witness[0])
    signature[10] ^= 0x01
    broken = TxIn(first.prev_txid, first.prev_vout, first.script_sig, first.sequence,
                  (bytes(signature), *first.witness[1:]))  # fmt: skip
    return decode_tx(serialize_tx(tx.version, [broken, *tx.inputs[1:]], list(tx.outputs), tx.locktime))


def _spend(key: DevKey, coin: Spendable, fee: int = FEE, sequence: int = 0xFFFFFFFD) -> Tx:
    return build_spend([coin], [(key.p2wpkh, coin.value - fee)], sequence=sequence)


def _block_with(rpc: RawRpc, key: DevKey, txs: list[Tx], coinbase_extra: int = 0, fees: int = 0) -> str:
    tip = rpc("getblockchaininfo")
    height = tip["blocks"] + 1
    coinbase = build_coinbase(height, key.p2wpkh, block_subsidy(height) + fees + coinbase_extra, txs)
    block_time = max(tip["mediantime"] + 1, int(time.time()))
    raw, _ = assemble_block(id_from_hex(tip["bestblockhash"]), block_time, coinbase, txs)
    return raw.hex()


def test_bad_ecdsa_signature_refused(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    bad = _corrupt_signature(_spend(key, funded[0]))
    reply = rpc.request("sendrawtransaction", bad.raw.hex())
    assert reply["error"]["code"] == -26
    assert reply["error"]["message"].startswith("mandatory-script-verify-flag-failed")
    [verdict] = rpc("testmempoolaccept", [bad.raw.hex()])
    assert verdict["allowed"] is False and verdict["reject-reason"].startswith("mandatory-script-verify-flag")
    assert rpc("getrawmempool") == []


def test_bad_taproot_signature_refused_by_mempool_and_in_blocks(
    rpc: RawRpc, key: DevKey, funded: list[Spendable]
) -> None:
    taproot_coin = funded[1]
    assert taproot_coin.is_taproot
    good = _spend(key, taproot_coin)
    bad = _corrupt_signature(good)
    reply = rpc.request("sendrawtransaction", bad.raw.hex())
    assert reply["error"]["code"] == -26
    tip = rpc("getbestblockhash")
    assert rpc("submitblock", _block_with(rpc, key, [bad], fees=FEE)).startswith(
        "mandatory-script-verify-flag"
    )
    assert rpc("getbestblockhash") == tip
    assert rpc("sendrawtransaction", good.raw.hex()) == good.txid[::-1].hex()


def test_coinbase_paying_too_much_refused(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    tip = rpc("getbestblockhash")
    assert rpc("submitblock", _block_with(rpc, key, [], coinbase_extra=1)) == "bad-cb-amount"
    assert rpc("getbestblockhash") == tip
    assert rpc("submitblock", _block_with(rpc, key, [])) is None
    assert rpc("getbestblockhash") != tip


def test_double_spend_refused(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    coin = funded[0]
    first = _spend(key, coin, sequence=0xFFFFFFFF)
    second = _spend(key, coin, fee=FEE * 10, sequence=0xFFFFFFFF)
    rpc("sendrawtransaction", first.raw.hex())
    conflict = rpc.request("sendrawtransaction", second.raw.hex())
    assert conflict["error"] == {"code": -26, "message": "txn-mempool-conflict"}
    tip = rpc("getbestblockhash")
    assert rpc("submitblock", _block_with(rpc, key, [first, second], fees=FEE * 11)) == (
        "bad-txns-inputs-missingorspent"
    )
    assert rpc("getbestblockhash") == tip
    rpc("generatetoaddress", 1, key.address())
    spent = rpc.request("sendrawtransaction", second.raw.hex())
    assert spent["error"] == {"code": -25, "message": "bad-txns-inputs-missingorspent"}
    [verdict] = rpc("testmempoolaccept", [second.raw.hex()])
    assert verdict["reject-reason"] == "missing-inputs"
    again = rpc.request("sendrawtransaction", first.raw.hex())
    assert again["error"] == {"code": -27, "message": "Transaction outputs already in utxo set"}


def test_immature_coinbase_spend_refused(rpc: RawRpc, key: DevKey) -> None:
    block_hash = rpc("generatetoaddress", 1, key.address())[0]
    rpc("generatetoaddress", 98, DevKey.from_seed("other").address())
    young = _spend(key, coinbase_spendable(rpc, block_hash, key))
    reply = rpc.request("sendrawtransaction", young.raw.hex())
    assert reply["error"] == {
        "code": -26,
        "message": "bad-txns-premature-spend-of-coinbase, tried to spend coinbase at depth 99",
    }
    tip = rpc("getbestblockhash")
    assert (
        rpc("submitblock", _block_with(rpc, key, [young], fees=FEE)) == "bad-txns-premature-spend-of-coinbase"
    )
    assert rpc("getbestblockhash") == tip
    rpc("generatetoaddress", 1, DevKey.from_seed("other").address())
    assert rpc("sendrawtransaction", young.raw.hex()) == young.txid[::-1].hex()


def test_fee_below_relay_minimum_refused(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    cheap = _spend(key, funded[0], fee=50)
    reply = rpc.request("sendrawtransaction", cheap.raw.hex())
    assert reply["error"]["code"] == -26
    assert reply["error"]["message"] == f"min relay fee not met, 50 < {cheap.vsize}"


def test_replacement_follows_bip125(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    coin = funded[0]
    original = _spend(key, coin, fee=FEE)
    rpc("sendrawtransaction", original.raw.hex())
    stingy = _spend(key, coin, fee=FEE + 10)
    reply = rpc.request("sendrawtransaction", stingy.raw.hex())
    assert reply["error"]["code"] == -26
    assert reply["error"]["message"].startswith("insufficient fee, rejecting replacement")
    generous = _spend(key, coin, fee=FEE * 3)
    rpc("sendrawtransaction", generous.raw.hex())
    assert rpc("getrawmempool") == [generous.txid[::-1].hex()]


def test_child_of_mempool_parent_accepted_with_ancestors(
    rpc: RawRpc, key: DevKey, funded: list[Spendable]
) -> None:
    parent = _spend(key, funded[0])
    rpc("sendrawtransaction", parent.raw.hex())
    child_coin = Spendable(parent.txid, 0, parent.outputs[0].value, parent.outputs[0].script_pubkey, key)
    child = _spend(key, child_coin)
    rpc("sendrawtransaction", child.raw.hex())
    entry = rpc("getmempoolentry", child.txid[::-1].hex())
    assert entry["ancestorcount"] == 2 and entry["depends"] == [parent.txid[::-1].hex()]
    assert rpc("getmempoolentry", parent.txid[::-1].hex())["spentby"] == [child.txid[::-1].hex()]
    block_hash = rpc("generatetoaddress", 1, key.address())[0]
    assert rpc("getblock", block_hash)["tx"][1:] == [parent.txid[::-1].hex(), child.txid[::-1].hex()]
    assert rpc("getrawmempool") == []
