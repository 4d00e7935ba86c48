"""The RPC client against a fake bitcoind replaying Core-shaped answers, errors, timeouts and auth failures."""

from __future__ import annotations

import hashlib
import json
import socket
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from corridor.bitcoin.rpc import (
    BatchCall,
    BitcoinRpc,
    RetryPolicy,
    RpcAuthError,
    RpcError,
    RpcErrorCode,
    RpcProtocolError,
    RpcTransportError,
    btc_to_sats,
)

from .conftest import FakeCore, Reply, core_error, core_result

ANSWERS = Path(__file__).parent / "data" / "core_answers"


def answer(name: str) -> str:
    return (ANSWERS / f"{name}.json").read_text()


class RecordedChain:
    """The regtest chain Core's functional test rpc_getblockstats.py recorded (104 blocks, real bytes)."""

    def __init__(self, shared_data: Path) -> None:
        path = shared_data / "bitcoin-core-testdata/test/functional/data/rpc_getblockstats.json"
        self.blocks = [bytes.fromhex(b) for b in json.loads(path.read_text())["blocks"]]
        self.hashes = [
            hashlib.sha256(hashlib.sha256(b[:80]).digest()).digest()[::-1].hex() for b in self.blocks
        ]

    def respond(self, req: Any) -> Reply:
        method, params, rid = req["method"], req["params"], req["id"]
        if method == "getblockcount":
            return core_result(str(len(self.blocks) - 1), rid)
        if method == "getbestblockhash":
            return core_result(json.dumps(self.hashes[-1]), rid)
        if method == "getblockhash":
            if not 0 <= params[0] < len(self.blocks):
                return core_error(-8, "Block height out of range", rid)
            return core_result(json.dumps(self.hashes[params[0]]), rid)
        if method in ("getblock", "getblockheader"):
            if params[0] not in self.hashes:
                return core_error(-5, "Block not found", rid)
            raw = self.blocks[self.hashes.index(params[0])]
            return core_result(json.dumps((raw if method == "getblock" else raw[:80]).hex()), rid)
        return core_error(-32601, "Method not found", rid)


def client_for(fake: FakeCore, **kwargs: Any) -> BitcoinRpc:
    url = fake.url.replace("http://", f"http://{fake.user}:{fake.password.replace(':', '%3A')}@")
    kwargs.setdefault("sleep", lambda _s: None)
    return BitcoinRpc(url, **kwargs)


def replay(fake: FakeCore, answers: dict[str, str]) -> None:
    def respond(req: Any) -> Reply:
        name = answers.get(req["method"])
        if name is None:
            return core_error(-32601, "Method not found", req["id"])
        return core_result(answer(name), req["id"])

    fake.responder = respond


def test_amounts_become_exact_integer_satoshis() -> None:
    assert btc_to_sats(Decimal("49.89998590")) == 4_989_998_590
    assert btc_to_sats(Decimal("0.00000001")) == 1
    assert btc_to_sats(Decimal("20999999.97690000")) == 2_099_999_997_690_000
    assert btc_to_sats(50) == 5_000_000_000
    with pytest.raises(ValueError, match="whole number of satoshis"):
        btc_to_sats(Decimal("0.000000001"))
    with pytest.raises(ValueError):
        btc_to_sats(1.5)


def test_recorded_regtest_chain_is_read_through_the_client(fake_core: FakeCore, shared_data: Path) -> None:
    chain = RecordedChain(shared_data)
    fake_core.responder = chain.respond
    with client_for(fake_core) as rpc:
        assert rpc.getblockcount() == 103
        assert rpc.getbestblockhash() == chain.hashes[103]
        tip_hash = rpc.getblockhash(103)
        raw = rpc.getblock_raw(tip_hash)
        assert hashlib.sha256(hashlib.sha256(raw[:80]).digest()).digest()[::-1].hex() == tip_hash
        assert rpc.getblockheader_raw(tip_hash) == raw[:80]
        # The header links to its parent: bytes 4..36 are the previous block hash, little-endian.
        assert raw[4:36][::-1].hex() == rpc.getblockhash(102)


def test_batch_returns_results_and_per_call_errors_in_order(fake_core: FakeCore, shared_data: Path) -> None:
    chain = RecordedChain(shared_data)
    fake_core.responder = chain.respond
    with client_for(fake_core) as rpc:
        results = rpc.batch([BatchCall("getblockhash", (h,)) for h in (*range(104), 104)])
    assert results[:104] == chain.hashes
    error = results[104]
    assert isinstance(error, RpcError)
    assert error.named_code is RpcErrorCode.INVALID_PARAMETER
    assert len(fake_core.requests) == 1 and isinstance(fake_core.requests[0], list)


def test_typed_results_from_core_28_answers(fake_core: FakeCore) -> None:
    replay(
        fake_core,
        {
            "getblockchaininfo": "getblockchaininfo",
            "getrawtransaction": "getrawtransaction_verbose",
            "gettxout": "gettxout",
            "testmempoolaccept": "testmempoolaccept",
            "getmempoolentry": "getmempoolentry",
            "estimatesmartfee": "estimatesmartfee",
            "getchaintips": "getchaintips",
            "getblock": "getblock_v3",
            "generateblock": "generateblock",
        },
    )
    with client_for(fake_core) as rpc:
        info = rpc.getblockchaininfo()
        assert (info.chain, info.blocks, info.initialblockdownload) == ("regtest", 103, False)
        assert len(info.warnings) == 1

        tx = rpc.getrawtransaction_verbose("0bd5e2b6d3b9d35a3c7a0c3ec9d6a5e7e1e3f7a6d4c2b1a09f8e7d6c5b4a3928")
        assert [o.value_sats for o in tx.vout] == [10_000_000, 4_989_998_590]
        assert tx.vout[1].script_pubkey.type == "witness_v1_taproot"
        assert tx.vin[0].sequence == 0xFFFFFFFD and len(tx.vin[0].witness) == 2

        utxo = rpc.gettxout(tx.vin[0].txid or "", 0)
        assert utxo is not None and utxo.value_sats == 546 and not utxo.coinbase

        accepted, rejected = rpc.testmempoolaccept([b"\x02\x00", "0200"])
        assert accepted.allowed and accepted.base_fee_sats == 1410 and accepted.vsize == 141
        assert rejected.allowed is False and rejected.reject_reason is not None
        assert "min relay fee" in rejected.reject_reason

        entry = rpc.getmempoolentry(tx.txid)
        assert (entry.base_fee_sats, entry.vsize, entry.bip125_replaceable) == (1410, 141, True)

        fee = rpc.estimatesmartfee(2)
        assert fee.feerate_sat_per_kvb == 12_345 and fee.feerate_sat_per_vb == Decimal("12.345")

        tips = rpc.getchaintips()
        assert [t.status for t in tips] == ["active", "valid-fork"]

        block = rpc.getblock(tips[0].hash, verbosity=3)
        assert block.header.height == 103 and block.header.n_tx == len(block.transactions) == 2
        spend = block.transactions[1]
        assert spend.fee_sats == 1410
        prevout = spend.vin[0].prevout
        assert prevout is not None and prevout.value_sats == 5_000_000_000
        # No satoshi appears or vanishes: inputs = outputs + fee, in integers.
        assert prevout.value_sats == sum(o.value_sats for o in spend.vout) + spend.fee_sats
        assert block.transactions[0].vin[0].coinbase == "016700"

        assert rpc.generateblock("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080", []) == block.header.hash


def test_older_core_shapes_are_accepted(fake_core: FakeCore) -> None:
    replay(
        fake_core, {"getblockchaininfo": "getblockchaininfo_v27", "estimatesmartfee": "estimatesmartfee_none"}
    )
    with client_for(fake_core) as rpc:
        assert rpc.getblockchaininfo().warnings == ()
        estimate = rpc.estimatesmartfee(6, "economical")
    assert estimate.feerate_sat_per_kvb is None and estimate.feerate_sat_per_vb is None
    assert estimate.errors == ("Insufficient data or no feerate found",)
    assert fake_core.requests[-1]["params"] == [6, "economical"]


def test_requests_are_core_legacy_json_rpc_with_exact_amount_text(fake_core: FakeCore) -> None:
    fake_core.responder = lambda req: core_result(json.dumps("ab" * 32), req["id"])
    with client_for(fake_core) as rpc:
        rpc.sendrawtransaction(b"\x02\x00\x00\x00", Decimal("0.00010000"))
    sent = fake_core.requests[0]
    assert sent["version"] == "1.1" and "jsonrpc" not in sent
    assert sent["method"] == "sendrawtransaction"
    assert sent["params"] == ["02000000", "0.00010000"]


def test_rpc_error_names_method_code_and_reason(fake_core: FakeCore) -> None:
    fake_core.responder = lambda req: core_error(-26, "mandatory-script-verify-flag-failed", req["id"])
    with client_for(fake_core) as rpc, pytest.raises(RpcError) as caught:
        rpc.sendrawtransaction("0200")
    error = caught.value
    assert (error.method, error.code, error.named_code) == (
        "sendrawtransaction",
        -26,
        RpcErrorCode.VERIFY_REJECTED,
    )
    assert "sendrawtransaction" in str(error) and "VERIFY_REJECTED" in str(error)
    assert not isinstance(error, RpcTransportError)


def test_unknown_method_maps_to_method_not_found(fake_core: FakeCore) -> None:
    fake_core.responder = lambda req: core_error(-32601, "Method not found", req["id"])
    with client_for(fake_core) as rpc, pytest.raises(RpcError) as caught:
        rpc.getchaintips()
    assert caught.value.named_code is RpcErrorCode.METHOD_NOT_FOUND


def test_read_call_is_retried_after_timeout(fake_core: FakeCore) -> None:
    calls = 0

    def slow_then_fast(req: Any) -> Reply:
        nonlocal calls
        calls += 1
        return core_result("7", req["id"]) if calls > 1 else Reply(200, b"", delay=1.0)

    fake_core.responder = slow_then_fast
    sleeps: list[float] = []
    with client_for(fake_core, timeout=0.2, sleep=sleeps.append) as rpc:
        assert rpc.getblockcount() == 7
    assert calls == 2 and len(sleeps) == 1


def test_broadcast_is_never_retried_after_timeout(fake_core: FakeCore) -> None:
    fake_core.responder = lambda req: Reply(200, b"", delay=1.0)
    with client_for(fake_core, timeout=0.2, retry=RetryPolicy(attempts=5)) as rpc:
        with pytest.raises(RpcTransportError, match="sendrawtransaction: transport error: timed out"):
            rpc.sendrawtransaction("0200")
        with pytest.raises(RpcTransportError):
            rpc.submitblock(b"\x00")
    assert fake_core.methods_seen == ["sendrawtransaction", "submitblock"]


def test_read_retries_are_bounded_and_report_the_last_failure(fake_core: FakeCore) -> None:
    fake_core.responder = lambda req: Reply(503, b"Work queue depth exceeded")
    sleeps: list[float] = []
    with (
        client_for(fake_core, retry=RetryPolicy(attempts=4, backoff_seconds=0.5), sleep=sleeps.append) as rpc,
        pytest.raises(RpcTransportError, match=r"getbestblockhash.*HTTP 503"),
    ):
        rpc.getbestblockhash()
    assert fake_core.methods_seen == ["getbestblockhash"] * 4
    assert sleeps == [0.5, 1.0, 2.0]


def test_warmup_is_retried_for_reads_but_other_rpc_errors_are_not(fake_core: FakeCore) -> None:
    answers = iter([core_error(-28, "Loading block index…", 1), core_result("12", 2)])
    fake_core.responder = lambda req: next(answers)
    with client_for(fake_core) as rpc:
        assert rpc.getblockcount() == 12
    fake_core.responder = lambda req: core_error(-5, "No such mempool or blockchain transaction", req["id"])
    with client_for(fake_core) as rpc, pytest.raises(RpcError):
        rpc.getrawtransaction("00" * 32)
    assert fake_core.methods_seen == ["getblockcount", "getblockcount", "getrawtransaction"]


def test_wrong_password_is_an_auth_error_without_retry(fake_core: FakeCore) -> None:
    sleeps: list[float] = []
    rpc = BitcoinRpc(fake_core.url, auth=("corridor", "wrong"), sleep=sleeps.append)
    with rpc, pytest.raises(RpcAuthError) as caught:
        rpc.getblockcount()
    assert caught.value.status == 401 and caught.value.method == "getblockcount"
    assert sleeps == [] and fake_core.requests == []


def test_cookie_file_is_read_and_reread_after_node_restart(fake_core: FakeCore, tmp_path: Path) -> None:
    cookie = tmp_path / ".cookie"
    fake_core.user, fake_core.password = "__cookie__", "a" * 64
    cookie.write_text(f"__cookie__:{'a' * 64}")
    fake_core.responder = lambda req: core_result("5", req["id"])
    with BitcoinRpc(fake_core.url, cookie_file=cookie) as rpc:
        assert rpc.getblockcount() == 5
        fake_core.password = "b" * 64  # the node restarted and wrote a new cookie
        cookie.write_text(f"__cookie__:{'b' * 64}")
        assert rpc.getblockcount() == 5


def test_unreachable_node_is_a_transport_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        BitcoinRpc(
            f"http://u:p@127.0.0.1:{port}/", retry=RetryPolicy(attempts=2), sleep=lambda _s: None
        ) as rpc,
        pytest.raises(RpcTransportError, match="getblockchaininfo: transport error: ConnectError"),
    ):
        rpc.getblockchaininfo()


def test_malformed_answers_are_protocol_errors(fake_core: FakeCore) -> None:
    fake_core.responder = lambda req: Reply(200, b"<html>proxy</html>")
    with (
        client_for(fake_core) as rpc,
        pytest.raises(RpcProtocolError, match="getblockcount: answer is not JSON"),
    ):
        rpc.getblockcount()
    fake_core.responder = lambda req: core_result(
        '{"value": 0.000000001, "bestblock": "00", "confirmations": 1,'
        ' "scriptPubKey": {"hex": "", "type": "nonstandard"},'
        ' "coinbase": false}',
        req["id"],
    )
    with (
        client_for(fake_core) as rpc,
        pytest.raises(RpcProtocolError, match="gettxout: unexpected answer shape"),
    ):
        rpc.gettxout("00" * 32, 0)
    fake_core.responder = lambda req: core_result('"not a number"', req["id"])
    with client_for(fake_core) as rpc, pytest.raises(RpcProtocolError, match="expected int"):
        rpc.getblockcount()


def test_spent_output_is_none(fake_core: FakeCore) -> None:
    fake_core.responder = lambda req: core_result("null", req["id"])
    with client_for(fake_core) as rpc:
        assert rpc.gettxout("00" * 32, 1, include_mempool=False) is None
        assert rpc.submitblock("00") is None
    assert fake_core.requests[0]["params"] == ["00" * 32, 1, False]
