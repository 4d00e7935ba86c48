"""The HTTP/JSON-RPC layer: authentication, JSON-RPC 1.1 and 2.0, batches, notifications."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from corridor.bitcoin.devnode import RunningDevnode, start_devnode
from corridor.bitcoin.devnode.testkit import RawRpc

GENESIS = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


def test_wrong_password_is_401(devnode: RunningDevnode) -> None:
    status, body = RawRpc(devnode.port, devnode.rpc_user, "wrong").post('{"method":"getblockcount"}')
    assert status == 401 and body is None
    status, _ = RawRpc(devnode.port, "", "").post('{"method":"getblockcount"}', auth=False)
    assert status == 401


def test_cookie_and_configured_user_both_work() -> None:
    running = start_devnode(rpc_user="alice", rpc_password="s3cret")
    try:
        assert running.url.startswith("http://alice:s3cret@127.0.0.1:")
        assert RawRpc(running.port, "alice", "s3cret")("getblockcount") == 0
        assert running.cookie_file is not None
        user, password = running.cookie_file.read_text().split(":", 1)
        assert RawRpc(running.port, user, password)("getblockcount") == 0
    finally:
        running.stop()


def test_legacy_protocol_shapes_and_status(rpc: RawRpc) -> None:
    status, body = rpc.post('{"id": 7, "method": "getblockhash", "params": [0]}')
    assert status == 200 and body == {"result": GENESIS, "error": None, "id": 7}
    status, body = rpc.post('{"id": 8, "method": "nosuch"}')
    assert status == 404 and body == {
        "result": None,
        "error": {"code": -32601, "message": "Method not found"},
        "id": 8,
    }
    status, body = rpc.post('{"id": 9, "method": "getblockhash", "params": [99]}')
    assert status == 500 and body["error"]["code"] == -8


def test_v2_protocol_shapes_and_notifications(rpc: RawRpc) -> None:
    status, body = rpc.post('{"jsonrpc": "2.0", "id": "a", "method": "getblockcount"}')
    assert status == 200 and body == {"jsonrpc": "2.0", "result": 0, "id": "a"}
    status, body = rpc.post('{"jsonrpc": "2.0", "id": "b", "method": "nosuch"}')
    assert status == 200 and body == {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"},
                                      "id": "b"}  # fmt: skip
    status, body = rpc.post('{"jsonrpc": "2.0", "method": "getblockcount"}')
    assert status == 204 and body is None


def test_batch(rpc: RawRpc) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "getblockcount"},
        {"jsonrpc": "2.0", "method": "getblockcount"},
        {"id": 2, "method": "getblockhash", "params": [0]},
        {"jsonrpc": "2.0", "id": 3, "method": "nosuch"},
        5,
    ]
    status, body = rpc.post(json.dumps(batch))
    assert status == 200
    assert body[0] == {"jsonrpc": "2.0", "result": 0, "id": 1}
    assert body[1] == {"result": GENESIS, "error": None, "id": 2}
    assert body[2]["error"]["code"] == -32601
    assert body[3]["error"]["code"] == -32600
    assert len(body) == 4


def test_parse_error(rpc: RawRpc) -> None:
    status, body = rpc.post("{not json")
    assert status == 500 and body["error"] == {"code": -32700, "message": "Parse error"}


def test_stop_rpc_shuts_down(devnode: RunningDevnode, rpc: RawRpc) -> None:
    assert rpc("stop") == "Bitcoin Core stopping"
    assert devnode.stopped.wait(10)


def test_python_dash_m_runs_and_stops(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "corridor.bitcoin.devnode", "--datadir", str(tmp_path), "--rpcport", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        assert "regtest only" in banner
        port = int(banner.rsplit(":", 1)[1])
        cookie = tmp_path / "regtest" / ".cookie"
        for _ in range(100):
            if cookie.exists():
                break
            time.sleep(0.05)
        user, password = cookie.read_text().split(":", 1)
        assert RawRpc(port, user, password)("getblockchaininfo")["chain"] == "regtest"
        process.terminate()
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert not cookie.exists()


def test_refuses_other_chains() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "corridor.bitcoin.devnode", "--chain", "main"], capture_output=True, text=True
    )
    assert result.returncode != 0 and "regtest-only" in result.stderr
