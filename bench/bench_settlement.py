"""End-to-end payment orders per second through HTTP: create -> approve -> batched -> confirmed on the devnode.

Orders go through the real app (API keys, idempotency keys, problem+json stack) served in-process by
Starlette's test client, in batches of 100 (``/v1/payment-orders/batch`` and
``/v1/payment-orders/approvals``) or as two requests per order (create, approve).

Two ways of running the rest of the path:
- **sustained** (the goal's figure): as deployed, the settlement worker (chain follower, batcher,
  settlement rounds) runs in its own process and the devnode in another, while clients keep sending
  orders; each worker round that finds payouts waiting for confirmations mines one block. The figure is
  orders over the time from the first request until the last order is confirmed at the profile's depth.
- **stage by stage**: all requests first, then worker rounds in the same process until every order is
  confirmed; the sum of the stages' times, a lower bound that shows what each stage costs.

The baseline in the same run is the same path on SQLite.

Run: python bench/bench_settlement.py [--quick]  -> prints a JSON list of results.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import text

from _support import backends, figure, scratch_database
from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.bitcoin.address import parse_address
from corridor.bitcoin.devnode import start_devnode
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.compliance import gate
from corridor.custody.descriptors import write_new_kek
from corridor.db import Database
from corridor.demo import world
from corridor.demo.story import DemoRun, set_the_stage
from corridor.http.app import create_app
from corridor.settlement import service

GOAL = 60.0
BATCH = 100
SUSTAINED_ORDERS = 1000
"""Long enough that the fixed wait for the last batch's six blocks (reported apart) does not dominate."""


ORDER = {"amount": "1000.00", "currency": "RUB"}


def _order_one_by_one(
    http: TestClient, client: dict[str, str], treasury: dict[str, str], contract: str, orders: int
) -> None:
    """Two requests per order: create (client), approve (treasury)."""
    for n in range(orders):
        made = http.post("/v1/payment-orders", json={**ORDER, "contract_id": contract},
                         headers=client | {"Idempotency-Key": f"c{n}"})  # fmt: skip
        assert made.status_code == 201, made.text
        done = http.post(f"/v1/payment-orders/{made.json()['id']}/approve",
                         headers=treasury | {"Idempotency-Key": f"a{n}"})  # fmt: skip
        assert done.status_code == 200, done.text


def _order_in_batches(
    http: TestClient, client: dict[str, str], treasury: dict[str, str], contract: str, orders: int, size: int
) -> None:
    """Two requests per ``size`` orders: a create batch (client), an approval batch (treasury)."""
    for first in range(0, orders, size):
        body = {"orders": [{**ORDER, "contract_id": contract} for _ in range(min(size, orders - first))]}
        made = http.post(
            "/v1/payment-orders/batch", json=body, headers=client | {"Idempotency-Key": f"c{first}"}
        )
        assert made.status_code == 200, made.text
        results = made.json()["results"]
        assert all(r["status"] == 201 for r in results), results
        ids = [r["order"]["id"] for r in results]
        done = http.post("/v1/payment-orders/approvals", json={"ids": ids},
                         headers=treasury | {"Idempotency-Key": f"a{first}"})  # fmt: skip
        assert done.status_code == 200 and all(r["status"] == 200 for r in done.json()["results"]), done.text


@contextmanager
def _devnode_process(folder: Path) -> Iterator[tuple[BitcoinRpc, str]]:
    """``corridor devnode`` in its own process, as bitcoind would be."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "corridor.cli", "devnode", "--datadir", str(folder / "node"), "--rpcport",
               str(port), "--rpcuser", "bench", "--rpcpassword", "bench"]  # fmt: skip
    node = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://bench:bench@127.0.0.1:{port}"
    rpc = BitcoinRpc(url)
    try:
        _wait_until_listening(rpc, node)
        yield rpc, url
    finally:
        rpc.close()
        node.terminate()
        node.wait(30)


def _wait_until_listening(rpc: BitcoinRpc, node: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        try:
            rpc.getblockcount()
            return
        except Exception:  # not listening yet
            if node.poll() is not None:
                break
            time.sleep(0.1)
    raise RuntimeError(f"the devnode did not start (exit code {node.poll()})")


def _stage(db: Database, rpc: BitcoinRpc, kek: Path) -> tuple[DemoRun, str, dict[str, str], dict[str, str]]:
    """Operator, importer, contract, funds; API keys for the importer's client and a treasurer."""
    write_new_kek(kek)
    run = DemoRun(db, rpc, kek, lambda line: None)
    cast = set_the_stage(run)
    world.fund_hot_wallet(db, rpc, 4)
    deposit = service.issue_deposit_address(db, cast.officers.ops, cast.importer)
    for coin in world.coins_of(rpc, world.IMPORTER_FUNDING, 2):
        script = parse_address(deposit["address"], world.NETWORK).script_pubkey
        world.pay_to(rpc, coin, script, coin.value - 10_000, fee=10_000)
    run.mine(7)
    with db.transaction() as session:
        # The supplier's address is screened against the current lists before the clock starts, as the
        # re-screening after a list load does: the first screening in a process builds the list index
        # (several seconds), a warm-up the figure should not include.
        gate.screen_address(session, "system:bench", world.SUPPLIER.address())
    client_key = bootstrap_key(db, Role.CLIENT, "bench-client", cast.importer).key
    treasury_key = bootstrap_key(db, Role.TREASURY, "bench-treasury").key
    client = {"Authorization": f"Bearer {client_key}"}
    return run, cast.import_contract, client, {"Authorization": f"Bearer {treasury_key}"}


def _orders_by_state(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT state, count(*) FROM settlement_payment_orders GROUP BY state")
        )
        return {state: int(count) for state, count in rows}


def _worker(url: str, rpc_url: str, kek: str, orders: int) -> None:
    """The settlement worker's process: rounds until every order is confirmed; a block per round while
    payouts wait for confirmations. Prints the moment (``time.monotonic``, one clock for all processes
    on Linux) the last order was confirmed."""
    db = Database(url)
    rpc = BitcoinRpc(rpc_url)
    run = DemoRun(db, rpc, Path(kek), lambda line: None)
    try:
        while True:
            run.round()
            states = _orders_by_state(db)
            if states.get("confirmed", 0) >= orders:
                print(time.monotonic(), flush=True)
                return
            if states.get("broadcast", 0):
                world.mine(rpc, 1)
            else:
                time.sleep(0.02)  # nothing on chain yet: orders are still coming in
    finally:
        rpc.close()
        db.dispose()


def _sustained(db: Database, orders: int, batch: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder, _devnode_process(Path(folder)) as (rpc, rpc_url):
        kek = Path(folder) / "kek.hex"
        _, contract, client, treasury = _stage(db, rpc, kek)
        # A process of its own, started from this file: `corridor bench` loads the file under another name.
        command = [sys.executable, __file__, "--worker", db.url, rpc_url, str(kek), str(orders)]
        worker = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            with TestClient(create_app(db)) as http:
                started = time.monotonic()
                if batch == 1:
                    _order_one_by_one(http, client, treasury, contract, orders)
                else:
                    _order_in_batches(http, client, treasury, contract, orders, batch)
                accepted = time.monotonic()
            output, _ = worker.communicate(timeout=600)
            done = float(output.split()[-1])
        finally:
            if worker.poll() is None:
                worker.kill()
    return {"orders_per_s": orders / (done - started), "http_orders_per_s": orders / (accepted - started),
            "tail_seconds": done - accepted}  # fmt: skip


def _stage_by_stage(db: Database, orders: int, batch: int) -> dict[str, float]:
    node = start_devnode()
    rpc = BitcoinRpc(node.url)
    try:
        with tempfile.TemporaryDirectory() as folder:
            run, contract, client, treasury = _stage(db, rpc, Path(folder) / "kek.hex")
            with TestClient(create_app(db)) as http:
                started = time.perf_counter()
                if batch == 1:
                    _order_one_by_one(http, client, treasury, contract, orders)
                else:
                    _order_in_batches(http, client, treasury, contract, orders, batch)
                accepted = time.perf_counter()
                run.round()
                run.mine(6)
                while _orders_by_state(db).get("confirmed", 0) < orders:
                    run.mine(1)
                finished = time.perf_counter()
    finally:
        rpc.close()
        node.stop()
    return {
        "orders_per_s": orders / (finished - started),
        "http_orders_per_s": orders / (accepted - started),
        "chain_seconds": finished - accepted,
    }


def run(quick: bool = False) -> list[dict[str, Any]]:
    orders = 100 if quick else 400
    stream = 100 if quick else SUSTAINED_ORDERS
    main = "sqlite" if "postgresql" not in backends() else "postgresql"
    runs = {
        "sustained": lambda db: _sustained(db, stream, BATCH),
        "sustained_single": lambda db: _sustained(db, orders, 1),
        "stages": lambda db: _stage_by_stage(db, orders, BATCH),
    }
    results: dict[str, dict[str, float]] = {}
    for name, measure in runs.items():
        with scratch_database(main) as db:
            results[name] = measure(db)
    baseline = None
    if main != "sqlite":
        with scratch_database("sqlite") as db:
            baseline = {"sqlite": round(_sustained(db, stream, BATCH)["orders_per_s"], 2)}
    sustained, single, stages = results["sustained"], results["sustained_single"], results["stages"]
    return [
        figure(f"settlement: payment orders end to end, sustained, batches of {BATCH} ({main}, {stream} orders, HTTP)",
               sustained["orders_per_s"], "orders/s", f">= {GOAL:.0f} orders/s", baseline),
        figure(f"settlement: sustained run, last confirmation after the last request ({main})",
               sustained["tail_seconds"], "s"),
        figure(f"settlement: payment orders end to end, sustained, one request each ({main}, {orders} orders, HTTP)",
               single["orders_per_s"], "orders/s", f">= {GOAL:.0f} orders/s"),
        figure(f"settlement: payment orders end to end, stage by stage, batches of {BATCH} ({main})",
               stages["orders_per_s"], "orders/s"),
        figure(f"settlement: create + approve in batches of {BATCH} through HTTP ({main})",
               stages["http_orders_per_s"], "orders/s"),
        figure(f"settlement: batch, broadcast, 6 confirmations of {orders} orders, one process ({main})",
               stages["chain_seconds"], "s"),
    ]  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        print(json.dumps(run("--quick" in sys.argv), indent=2))
