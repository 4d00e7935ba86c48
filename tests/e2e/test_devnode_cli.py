"""`corridor devnode` runs the node on its own; our RPC client talks to it; a restart keeps the chain."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from corridor.bitcoin.devnode.testkit import DevKey
from corridor.bitcoin.rpc import BitcoinRpc, RpcTransportError


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(datadir: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "corridor.cli", "devnode", "--datadir", str(datadir), "--rpcport", str(port)],
        env={**os.environ, "CORRIDOR_DATA_DIR": str(datadir.parent)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def connect(datadir: Path, port: int) -> BitcoinRpc:
    cookie = datadir / "regtest" / ".cookie"
    for _ in range(300):
        if cookie.exists():
            rpc = BitcoinRpc(f"http://127.0.0.1:{port}", cookie_file=cookie, timeout=5)
            try:
                rpc.getblockcount()
                return rpc
            except RpcTransportError:
                pass
        time.sleep(0.1)
    raise AssertionError("the devnode did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0


def test_corridor_devnode_serves_rpc_and_keeps_its_chain_across_restarts(tmp_path: Path) -> None:
    datadir, port = tmp_path / "devnode", free_port()
    address = DevKey.from_seed("cli-test").address()
    node = start(datadir, port)
    try:
        rpc = connect(datadir, port)
        hashes = rpc.generatetoaddress(12, address)
        assert rpc.getblockcount() == 12 and rpc.getbestblockhash() == hashes[-1]
    finally:
        stop(node)
    assert not (datadir / "regtest" / ".cookie").exists()
    node = start(datadir, port)
    try:
        rpc = connect(datadir, port)
        assert rpc.getblockcount() == 12 and rpc.getbestblockhash() == hashes[-1]
    finally:
        stop(node)
