"""Every RPC method answers in Bitcoin Core's shape."""

from __future__ import annotations

from decimal import Decimal

from corridor.bitcoin.devnode.encoding import hex_id
from corridor.bitcoin.devnode.testkit import DevKey, RawRpc, Spendable, build_spend

GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"
HEADER_KEYS = {"hash", "confirmations", "height", "version", "versionHex", "merkleroot", "time", "mediantime",
               "nonce", "bits", "target", "difficulty", "chainwork", "nTx"}  # fmt: skip
SPK_KEYS = {"asm", "desc", "hex", "address", "type"}


def _pay(key: DevKey, coin: Spendable, amount: int = 10**8, fee: int = 2000) -> str:
    tx = build_spend([coin], [(key.p2wpkh, amount), (key.p2tr, coin.value - amount - fee)])
    return tx.raw.hex()


def test_fresh_chain_info(rpc: RawRpc) -> None:
    info = rpc("getblockchaininfo")
    assert info["chain"] == "regtest"
    assert info["blocks"] == 0 and info["headers"] == 0
    assert info["bestblockhash"] == GENESIS
    assert info["chainwork"] == "0" * 63 + "2"
    assert info["initialblockdownload"] is False and info["pruned"] is False
    assert isinstance(info["warnings"], list)
    assert rpc("getblockcount") == 0
    assert rpc("getbestblockhash") == GENESIS
    assert rpc("getblockhash", 0) == GENESIS


def test_generatetoaddress_and_headers(rpc: RawRpc, key: DevKey) -> None:
    hashes = rpc("generatetoaddress", 3, key.address())
    assert len(hashes) == 3 and rpc("getbestblockhash") == hashes[-1]
    assert rpc("getblockhash", 2) == hashes[1]
    header = rpc("getblockheader", hashes[1])
    assert header.keys() >= HEADER_KEYS
    assert header["height"] == 2 and header["confirmations"] == 2
    assert header["previousblockhash"] == hashes[0] and header["nextblockhash"] == hashes[2]
    assert header["bits"] == "207fffff" and header["chainwork"].endswith("6")
    raw_header = rpc("getblockheader", hashes[1], False)
    assert len(raw_header) == 160 and rpc("getblock", hashes[1], 0).startswith(raw_header)


def test_getblock_verbosities(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    txid = rpc("sendrawtransaction", _pay(key, funded[0]))
    block_hash = rpc("generatetoaddress", 1, key.address())[0]
    v1 = rpc("getblock", block_hash)
    assert v1["tx"][1] == txid and v1["nTx"] == 2
    assert {"strippedsize", "size", "weight"} <= v1.keys()
    v2 = rpc("getblock", block_hash, 2)
    spend = v2["tx"][1]
    assert spend["fee"] == Decimal("0.00002000")
    assert {
        "txid",
        "hash",
        "version",
        "size",
        "vsize",
        "weight",
        "locktime",
        "vin",
        "vout",
        "hex",
    } <= spend.keys()
    assert "prevout" not in spend["vin"][0]
    v3 = rpc("getblock", block_hash, 3)
    prevout = v3["tx"][1]["vin"][0]["prevout"]
    assert prevout["generated"] is True and prevout["height"] == 103 - 102
    assert prevout["value"] == Decimal("50.00000000")
    assert prevout["scriptPubKey"]["address"] == key.address()
    coinbase = v3["tx"][0]
    assert "coinbase" in coinbase["vin"][0] and "fee" not in coinbase
    assert coinbase["vout"][0]["value"] == Decimal("50.00002000")
    assert coinbase["vout"][1]["scriptPubKey"]["type"] == "nulldata"


def test_getblock_unknown_block(rpc: RawRpc) -> None:
    reply = rpc.request("getblock", "00" * 32)
    assert reply["error"] == {"code": -5, "message": "Block not found"}
    assert rpc.request("getblockhash", 5)["error"]["code"] == -8
    assert rpc.request("getblock", "xyz")["error"]["code"] == -8


def test_getrawtransaction_mempool_and_block(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    raw = _pay(key, funded[0])
    txid = rpc("sendrawtransaction", raw)
    assert rpc("getrawtransaction", txid) == raw
    in_pool = rpc("getrawtransaction", txid, 1)
    assert "confirmations" not in in_pool and in_pool["txid"] == txid
    block_hash = rpc("generatetoaddress", 1, key.address())[0]
    mined = rpc("getrawtransaction", txid, True)
    assert mined["blockhash"] == block_hash and mined["confirmations"] == 1
    assert mined["time"] == mined["blocktime"]
    assert mined["vout"][0]["scriptPubKey"].keys() == SPK_KEYS
    with_block = rpc("getrawtransaction", txid, 1, block_hash)
    assert with_block["in_active_chain"] is True
    detailed = rpc("getrawtransaction", txid, 2)
    assert detailed["fee"] == Decimal("0.00002000") and "prevout" in detailed["vin"][0]
    missing = rpc.request("getrawtransaction", "11" * 32)
    assert missing["error"]["code"] == -5
    genesis_cb = rpc("getblock", GENESIS)["tx"][0]
    assert "genesis block coinbase" in rpc.request("getrawtransaction", genesis_cb)["error"]["message"]


def test_gettxout_follows_mempool_and_chain(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    coin = funded[0]
    out = rpc("gettxout", hex_id(coin.txid), coin.vout)
    assert out.keys() == {"bestblock", "confirmations", "value", "scriptPubKey", "coinbase"}
    assert out["coinbase"] is True and out["confirmations"] == 102 and out["value"] == Decimal("50.00000000")
    txid = rpc("sendrawtransaction", _pay(key, coin))
    assert rpc("gettxout", hex_id(coin.txid), coin.vout) is None
    assert rpc("gettxout", hex_id(coin.txid), coin.vout, False)["confirmations"] == 102
    assert rpc("gettxout", txid, 0)["confirmations"] == 0
    assert rpc("gettxout", txid, 0, False) is None


def test_mempool_methods(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    txid = rpc("sendrawtransaction", _pay(key, funded[0]))
    assert rpc("getrawmempool") == [txid]
    seq = rpc("getrawmempool", False, True)
    assert seq["txids"] == [txid] and isinstance(seq["mempool_sequence"], int)
    verbose = rpc("getrawmempool", True)
    entry = rpc("getmempoolentry", txid)
    assert verbose[txid] == entry
    assert {"vsize", "weight", "time", "height", "descendantcount", "descendantsize", "ancestorcount",
            "ancestorsize", "wtxid", "fees", "depends", "spentby", "bip125-replaceable",
            "unbroadcast"} == entry.keys()  # fmt: skip
    assert entry["fees"]["base"] == Decimal("0.00002000") and entry["bip125-replaceable"] is True
    assert rpc.request("getmempoolentry", "22" * 32)["error"] == {
        "code": -5,
        "message": "Transaction not in mempool",
    }


def test_testmempoolaccept_shapes(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    raw = _pay(key, funded[0])
    [ok] = rpc("testmempoolaccept", [raw])
    assert ok["allowed"] is True and ok["fees"]["base"] == Decimal("0.00002000")
    assert {"txid", "wtxid", "allowed", "vsize", "fees"} == ok.keys()
    assert rpc("getrawmempool") == []
    [too_rich] = rpc("testmempoolaccept", [raw], Decimal("0.00000001"))
    assert too_rich["reject-reason"] == "max-fee-exceeded"
    assert rpc.request("testmempoolaccept", [])["error"]["code"] == -8


def test_estimatesmartfee(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    assert rpc("estimatesmartfee", 6) == {"errors": ["Insufficient data or no feerate found"], "blocks": 0}
    rpc("sendrawtransaction", _pay(key, funded[0], fee=20_000))
    rpc("generatetoaddress", 1, key.address())
    estimate = rpc("estimatesmartfee", 6)
    assert estimate["blocks"] == 6 and estimate["feerate"] > Decimal("0.00001000")
    assert rpc.request("estimatesmartfee", 0)["error"]["code"] == -8


def test_generateblock_and_submitblock(rpc: RawRpc, key: DevKey, funded: list[Spendable]) -> None:
    raw = _pay(key, funded[0])
    result = rpc("generateblock", key.address(), [raw])
    assert result.keys() == {"hash"} and rpc("getbestblockhash") == result["hash"]
    assert len(rpc("getblock", result["hash"])["tx"]) == 2
    block_hex = rpc("getblock", result["hash"], 0)
    assert rpc("submitblock", block_hex) == "duplicate"
    assert rpc.request("submitblock", "00")["error"] == {"code": -22, "message": "Block decode failed"}
    bad_address = rpc.request("generatetoaddress", 1, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
    assert bad_address["error"] == {"code": -5, "message": "Error: Invalid address"}


def test_getchaintips_after_fork(rpc: RawRpc, key: DevKey) -> None:
    rpc("generatetoaddress", 5, key.address())
    short = rpc("generatefork", 3, 1, key.address())
    tips = rpc("getchaintips")
    assert tips[0] == {"height": 5, "hash": rpc("getbestblockhash"), "branchlen": 0, "status": "active"}
    assert {"height": 4, "hash": short[0], "branchlen": 1, "status": "valid-headers"} in tips


def test_node_methods(rpc: RawRpc) -> None:
    assert rpc("getnetworkinfo")["connections"] == 0
    assert rpc("uptime") >= 0
    reply = rpc.request("nosuchmethod")
    assert reply["error"] == {"code": -32601, "message": "Method not found"}


def test_refuses_non_regtest_addresses(rpc: RawRpc) -> None:
    for address in ("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"):
        assert rpc.request("generatetoaddress", 1, address)["error"]["code"] == -5


def test_unknown_named_parameter(rpc: RawRpc) -> None:
    _, reply = rpc.post('{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":{"height":0}}')
    assert reply["result"] == GENESIS
    _, reply = rpc.post('{"jsonrpc":"2.0","id":1,"method":"getblockhash","params":{"hight":0}}')
    assert reply["error"]["code"] == -8
