"""A reorg to a longer branch behaves as in Core; a restart keeps the chain."""

from __future__ import annotations

from pathlib import Path

from corridor.bitcoin.devnode import start_devnode
from corridor.bitcoin.devnode.testkit import DevKey, RawRpc, Spendable, build_spend


def _send(rpc: RawRpc, key: DevKey, coin: Spendable, fee: int = 3000) -> str:
    tx = build_spend([coin], [(key.p2wpkh, coin.value - fee)])
    return str(rpc("sendrawtransaction", tx.raw.hex()))


def test_reorg_to_longer_branch(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    fork_height = rpc("getblockcount")
    txid = _send(rpc, key, funded[0])
    mined = rpc("generatetoaddress", 2, key.address())
    assert rpc("getrawtransaction", txid, 1)["confirmations"] == 2
    assert rpc("getrawmempool") == []
    old_tip = mined[-1]

    shorter = rpc("generatefork", fork_height, 2, key.address())
    assert rpc("getbestblockhash") == old_tip, "an equal-work branch must not take over"
    longer = rpc("generatefork", fork_height, 3, key.address())
    assert len(longer) == 3 and shorter[-1] != longer[-1]

    assert rpc("getbestblockhash") == longer[-1]
    assert rpc("getblockcount") == fork_height + 3
    assert rpc("getrawmempool") == [txid], "the abandoned branch's transaction returns to the mempool"
    assert "confirmations" not in rpc("getrawtransaction", txid, 1)
    assert rpc("getblockheader", old_tip)["confirmations"] == -1
    assert rpc("gettxout", txid, 0) is not None and rpc("gettxout", txid, 0)["confirmations"] == 0
    tips = {t["hash"]: t for t in rpc("getchaintips")}
    assert tips[longer[-1]]["status"] == "active"
    assert tips[old_tip]["status"] == "valid-fork" and tips[old_tip]["branchlen"] == 2

    block_hash = rpc("generatetoaddress", 1, key.address())[0]
    assert txid in rpc("getblock", block_hash)["tx"]
    assert rpc("getrawtransaction", txid, 1)["confirmations"] == 1


def test_reorg_drops_transactions_that_became_invalid(rpc: RawRpc, key: DevKey) -> None:
    """A spend of a coinbase that the reorg removes cannot come back to the mempool."""
    base = rpc("getblockcount")
    coinbase_block = rpc("generatetoaddress", 1, key.address())[0]
    rpc("generatetoaddress", 100, DevKey.from_seed("other").address())
    block = rpc("getblock", coinbase_block, 2)
    coin = Spendable(bytes.fromhex(block["tx"][0]["txid"])[::-1], 0, 50 * 10**8, key.p2wpkh, key)
    txid = _send(rpc, key, coin)
    rpc("generatetoaddress", 1, key.address())
    rpc("generatefork", base, 103, DevKey.from_seed("other").address())
    assert rpc("getblockcount") == base + 103
    assert txid not in rpc("getrawmempool")
    assert rpc("gettxout", txid, 0) is None


def test_restart_keeps_chain_indexes_and_mempool(tmp_path: Path) -> None:
    key = DevKey.from_seed("restart")
    first = start_devnode(tmp_path)
    try:
        rpc = RawRpc(first.port, first.rpc_user, first.rpc_password)
        hashes = rpc("generatetoaddress", 101, key.address())
        coin_block = rpc("getblock", hashes[0], 2)
        coin = Spendable(bytes.fromhex(coin_block["tx"][0]["txid"])[::-1], 0, 50 * 10**8, key.p2wpkh, key)
        txid = _send(rpc, key, coin)
        confirmed = rpc("generatetoaddress", 1, key.address())[0]
        pending = _send(rpc, key, Spendable(bytes.fromhex(txid)[::-1], 0, 50 * 10**8 - 3000, key.p2wpkh, key))
        cookie = first.cookie_file
        assert cookie is not None and cookie.read_text().startswith("__cookie__:")
    finally:
        first.stop()
    assert not cookie.exists()

    second = start_devnode(tmp_path)
    try:
        rpc = RawRpc(second.port, second.rpc_user, second.rpc_password)
        assert rpc("getblockcount") == 102
        assert rpc("getbestblockhash") == confirmed
        assert rpc("getrawtransaction", txid, 1)["blockhash"] == confirmed
        assert rpc("gettxout", txid, 0, False)["confirmations"] == 1
        assert rpc("getrawmempool") == [pending]
        assert rpc("generatetoaddress", 1, key.address())
        assert rpc("getblockcount") == 103
    finally:
        second.stop()
