"""Devnode benchmarks: mining rate, mempool acceptance rate, getblock verbosity 3, start-up time.

Run: python bench/bench_devnode.py [--quick] [--only mining|mempool|startup]   (prints a JSON list)

The getblock figure is the first call on a freshly mined block (nothing about its scripts cached
yet); its baseline is the median of the four calls after it.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from corridor.bitcoin.devnode import RunningDevnode, start_devnode
from corridor.bitcoin.devnode.encoding import Tx
from corridor.bitcoin.devnode.testkit import DevKey, RawRpc, Spendable, build_spend, outputs_of

FEE = 1000


def _rpc(running: RunningDevnode) -> RawRpc:
    return RawRpc(running.port, running.rpc_user, running.rpc_password)


class KeepAliveRpc:
    """One persistent HTTP/1.1 connection, as a production client keeps, so the server is measured
    rather than the cost of opening a TCP connection per call."""

    def __init__(self, running: RunningDevnode) -> None:
        self._conn = http.client.HTTPConnection("127.0.0.1", running.port, timeout=60)
        token = base64.b64encode(f"{running.rpc_user}:{running.rpc_password}".encode()).decode()
        self._headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def __call__(self, method: str, *params: Any) -> Any:
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        self._conn.request("POST", "/", body, self._headers)
        reply = json.loads(self._conn.getresponse().read())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply["result"]


def bench_mining(count: int) -> list[dict[str, Any]]:
    running = start_devnode()
    try:
        rpc = _rpc(running)
        address = DevKey.from_seed("bench-miner").address()
        started = time.perf_counter()
        rpc("generatetoaddress", count, address)
        elapsed = time.perf_counter() - started
    finally:
        running.stop()
    return [{"name": "devnode_generatetoaddress_empty_blocks", "value": round(count / elapsed, 1),
             "unit": "blocks/s", "goal": ">= 1000", "baseline": None}]  # fmt: skip


def _fan_out(running: RunningDevnode, key: DevKey, count: int) -> list[Spendable]:
    """`count` confirmed P2WPKH outputs, from fan-out transactions of at most 2,000 outputs each
    (a bigger one would exceed the standard transaction weight)."""
    rpc = _rpc(running)
    chunks = [min(2000, count - start) for start in range(0, count, 2000)]
    firsts = [rpc("generatetoaddress", 1, key.address())[0] for _ in chunks]
    rpc("generatetoaddress", 100, DevKey.from_seed("bench-miner").address())
    fans = []
    for first, size in zip(firsts, chunks, strict=True):
        block = running.node.read_block(bytes.fromhex(first)[::-1])
        assert block is not None
        [coin] = outputs_of(block.txs[0], key)
        each = (coin.value - 100_000) // size
        fan = build_spend([coin], [(key.p2wpkh, each)] * size)
        rpc("sendrawtransaction", fan.raw.hex())
        fans.append(fan)
    rpc("generatetoaddress", 1, key.address())
    return [coin for fan in fans for coin in outputs_of(fan, key)]


def _payments(coins: list[Spendable], key: DevKey) -> list[Tx]:
    """One payment per coin, each to a different payee so no script repeats across the block."""
    payees = [DevKey.from_seed(f"bench-payee-{n}").p2wpkh for n in range(len(coins))]
    return [
        build_spend([c], [(payee, c.value // 2), (key.p2wpkh, c.value - c.value // 2 - FEE)])
        for c, payee in zip(coins, payees, strict=True)
    ]


def bench_mempool_and_getblock(count: int) -> list[dict[str, Any]]:
    key = DevKey.from_seed("bench-payer")
    running = start_devnode()
    try:
        rpc = _rpc(running)
        coins = _fan_out(running, key, 2 * count)
        direct = _payments(coins[:count], key)
        over_rpc = _payments(coins[count:], key)
        started = time.perf_counter()
        for tx in direct:
            running.node.accept(tx)
        direct_rate = count / (time.perf_counter() - started)
        block_hash = rpc("generatetoaddress", 1, key.address())[0]
        keep_alive = KeepAliveRpc(running)
        started = time.perf_counter()
        for tx in over_rpc:
            keep_alive("sendrawtransaction", tx.raw.hex())
        rpc_rate = count / (time.perf_counter() - started)
        tx_count = len(rpc("getblock", block_hash)["tx"])
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            keep_alive("getblock", block_hash, 3)
            timings.append(time.perf_counter() - started)
    finally:
        running.stop()
    return [
        {"name": "devnode_mempool_accept_p2wpkh_1in_2out", "value": round(direct_rate, 1), "unit": "tx/s",
         "goal": ">= 1000", "baseline": None},
        {"name": "devnode_sendrawtransaction_p2wpkh_1in_2out", "value": round(rpc_rate, 1), "unit": "tx/s",
         "goal": ">= 1000", "baseline": round(direct_rate, 1)},
        {"name": f"devnode_getblock_verbosity3_{tx_count}_tx_first_call", "value": round(timings[0] * 1000, 1),
         "unit": "ms", "goal": "< 250", "baseline": round(statistics.median(timings[1:]) * 1000, 1)},
    ]  # fmt: skip


def bench_startup(blocks: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        datadir = Path(tmp)
        running = start_devnode(datadir)
        _rpc(running)("generatetoaddress", blocks, DevKey.from_seed("bench-miner").address())
        running.stop()
        timings = []
        for _ in range(3):
            started = time.perf_counter()
            running = start_devnode(datadir)
            _rpc(running)("getblockcount")
            timings.append(time.perf_counter() - started)
            running.stop()
    return [{"name": f"devnode_startup_existing_datadir_{blocks}_blocks", "value": round(min(timings), 3),
             "unit": "s", "goal": "< 1", "baseline": round(max(timings), 3)}]  # fmt: skip


def run(quick: bool, only: str | None = None) -> list[dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    if only in (None, "mining"):
        figures += bench_mining(500 if quick else 2000)
    if only in (None, "mempool"):
        figures += bench_mempool_and_getblock(500 if quick else 2000)
    if only in (None, "startup"):
        figures += bench_startup(500 if quick else 5000)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="500 blocks/transactions instead of 2,000")
    parser.add_argument("--only", choices=["mining", "mempool", "startup"], help="one group of figures")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.only), indent=2))
