"""End-to-end payment orders per second through HTTP: create -> approve -> batched -> confirmed on the devnode.

Orders go through the real app (API keys, idempotency keys, problem+json stack) served in-process by
Starlette's test client, either as two requests per order (create, approve) or as two requests per 100
orders (``/v1/payment-orders/batch`` and ``/v1/payment-orders/approvals``); the batcher, the chain follower
and the settlement worker then run their rounds against a real devnode until every order is confirmed at
the profile's depth. The time is the whole path; the baseline in the same run is the same path on SQLite.

Run: python bench/bench_settlement.py [--quick]  -> prints a JSON list of results.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from _support import backends, figure, scratch_database
from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.bitcoin.address import parse_address
from corridor.bitcoin.devnode import start_devnode
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody.descriptors import write_new_kek
from corridor.db import Database
from corridor.demo import world
from corridor.demo.story import DemoRun, set_the_stage
from corridor.http.app import create_app
from corridor.settlement import service

GOAL = 60.0
BATCH = 100


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


def _one_backend(db: Database, orders: int, batch: int = 1) -> dict[str, float]:
    node = start_devnode()
    rpc = BitcoinRpc(node.url)
    try:
        with tempfile.TemporaryDirectory() as folder:
            kek = Path(folder) / "kek.hex"
            write_new_kek(kek)
            run = DemoRun(db, rpc, kek, lambda line: None)
            cast = set_the_stage(run)
            world.fund_hot_wallet(db, rpc, 4)
            deposit = service.issue_deposit_address(db, cast.officers.ops, cast.importer)
            for coin in world.coins_of(rpc, world.IMPORTER_FUNDING, 2):
                script = parse_address(deposit["address"], world.NETWORK).script_pubkey
                world.pay_to(rpc, coin, script, coin.value - 10_000, fee=10_000)
            run.mine(7)
            client_key = bootstrap_key(db, Role.CLIENT, "bench-client", cast.importer).key
            treasury_key = bootstrap_key(db, Role.TREASURY, "bench-treasury").key
            with TestClient(create_app(db)) as http:
                client = {"Authorization": f"Bearer {client_key}"}
                treasury = {"Authorization": f"Bearer {treasury_key}"}
                started = time.perf_counter()
                if batch == 1:
                    _order_one_by_one(http, client, treasury, cast.import_contract, orders)
                else:
                    _order_in_batches(http, client, treasury, cast.import_contract, orders, batch)
                accepted = time.perf_counter()
                run.round()
                run.mine(6)
                confirmed = [
                    o for o in service.list_payment_orders(db, cast.officers.ops, "confirmed", limit=500)
                ]
                while len(confirmed) < orders:
                    run.mine(1)
                    confirmed = service.list_payment_orders(db, cast.officers.ops, "confirmed", limit=500)
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
    results: dict[tuple[str, int], dict[str, float]] = {}
    for backend in backends():
        for batch in (BATCH, 1):
            with scratch_database(backend) as db:
                results[(backend, batch)] = _one_backend(db, orders, batch)
    main = "postgresql" if ("postgresql", BATCH) in results else "sqlite"
    batched, single = results[(main, BATCH)], results[(main, 1)]
    baseline = {"sqlite": round(results[("sqlite", BATCH)]["orders_per_s"], 2)} if main != "sqlite" else None
    return [
        figure(
            f"settlement: payment orders end to end, batches of {BATCH} ({main}, {orders} orders, HTTP)",
            batched["orders_per_s"], "orders/s", f">= {GOAL:.0f} orders/s", baseline,
        ),
        figure(f"settlement: create + approve in batches of {BATCH} through HTTP ({main})",
               batched["http_orders_per_s"], "orders/s"),
        figure(f"settlement: batch, broadcast, 6 confirmations of {orders} orders ({main})",
               batched["chain_seconds"], "s"),
        figure(f"settlement: payment orders end to end, one request each ({main}, {orders} orders, HTTP)",
               single["orders_per_s"], "orders/s", f">= {GOAL:.0f} orders/s"),
        figure(f"settlement: create + approve one request each through HTTP ({main})",
               single["http_orders_per_s"], "orders/s"),
    ]  # fmt: skip


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
