"""Ledger throughput: two-phase transfers (reserve, then post), each with its registry entries.

Figures per database: one two-phase transfer per database transaction, and in batches of 100; over HTTP
on PostgreSQL, one transfer per request from concurrent clients. Baseline: registry appends alone, one
per transaction (the cost of the audit entry and a commit, without any ledger work).
"""

from __future__ import annotations

import json
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import backends, figure, scratch_database
from corridor.access.model import Role, system_principal
from corridor.db import Database
from corridor.ledger import service
from corridor.ledger.model import AccountFlags, AccountSpec, TransferKind, TransferRequest
from corridor.registry import service as registry

OPERATOR = system_principal("bench")


def prepare(db: Database, funded: int) -> None:
    service.open_account(db, OPERATOR, AccountSpec("custody", "BTC", "custody"))
    service.open_account(
        db, OPERATOR, AccountSpec("payer", "BTC", "client", "p1", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    )
    service.open_account(db, OPERATOR, AccountSpec("payee", "BTC", "client", "p2"))
    service.create_transfer(
        db,
        OPERATOR,
        TransferRequest("fund", debit_account_id="custody", credit_account_id="payer", amount=funded),
    )


def reserve(i: int, tag: str) -> TransferRequest:
    return TransferRequest(
        f"{tag}-h{i}",
        kind=TransferKind.PENDING,
        debit_account_id="payer",
        credit_account_id="payee",
        amount=1_000,
    )


def post(i: int, tag: str) -> TransferRequest:
    return TransferRequest(f"{tag}-p{i}", kind=TransferKind.POST, pending_id=f"{tag}-h{i}")


def two_phase_one_per_transaction(db: Database, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        service.create_transfer(db, OPERATOR, reserve(i, "s"))
        service.create_transfer(db, OPERATOR, post(i, "s"))
    return count / (time.perf_counter() - started)


def two_phase_in_batches(db: Database, count: int, size: int = 100) -> float:
    started = time.perf_counter()
    for first in range(0, count, size):
        ids = range(first, min(first + size, count))
        service.create_transfers(db, OPERATOR, [reserve(i, "b") for i in ids])
        service.create_transfers(db, OPERATOR, [post(i, "b") for i in ids])
    return count / (time.perf_counter() - started)


def registry_appends_one_per_transaction(db: Database, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        with db.transaction() as session:
            registry.append(session, "system:bench", "bench.event", f"b:{i}", {"i": i})
    return count / (time.perf_counter() - started)


def http_transfers(db: Database, count: int, clients: int = 8) -> float:
    """Transfers per second through a real API server process (uvicorn) on loopback, one per request."""
    import os
    import subprocess

    import httpx

    from corridor.access.service import bootstrap_key

    key = bootstrap_key(db, Role.TREASURY, "bench").key
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CORRIDOR_DATABASE_URL": db.url, "CORRIDOR_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "corridor.http.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base)

        def send(worker: int, ids: range) -> None:
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
                for i in ids[worker::clients]:
                    body = {
                        "id": f"h-{i}",
                        "debit_account_id": "payer",
                        "credit_account_id": "payee",
                        "amount": 1_000,
                    }
                    response = client.post(
                        "/v1/ledger/transfers",
                        content=json.dumps(body),
                        headers={"Idempotency-Key": f"k-{i}", "Content-Type": "application/json"},
                    )
                    response.raise_for_status()

        with ThreadPoolExecutor(clients) as pool:  # warm-up: connections, first argon2 check, caches
            list(pool.map(lambda w: send(w, range(count, count + clients)), range(clients)))
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda w: send(w, range(count)), range(clients)))
        return count / (time.perf_counter() - started)
    finally:
        server.terminate()
        server.wait(timeout=20)


def _wait_until_ready(base: str, attempts: int = 200) -> None:
    import httpx

    for _ in range(attempts):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the API server did not become ready")


def run(quick: bool) -> list[dict[str, Any]]:
    count = 200 if quick else 2_000
    figures: list[dict[str, Any]] = []
    for backend in backends():
        with scratch_database(backend) as db:
            prepare(db, funded=10**15)
            baseline = registry_appends_one_per_transaction(db, count // 2)
            base = {
                "name": f"registry.append.{backend}.one_per_txn",
                "value": round(baseline, 1),
                "unit": "appends/s",
            }
            single = two_phase_one_per_transaction(db, count // 2)
            batched = two_phase_in_batches(db, count * 2)
            goal = ">= 2000/s on PostgreSQL in batches" if backend == "postgresql" else None
            figures.append(
                figure(f"ledger.two_phase.{backend}.one_per_txn", single, "transfers/s", None, base)
            )
            figures.append(
                figure(f"ledger.two_phase.{backend}.batch_100", batched, "transfers/s", goal, base)
            )
            assert all(t.balanced for t in service.totals(db)) and registry.verify(db).ok
        if backend == "postgresql":
            with scratch_database(backend) as db:
                prepare(db, funded=10**15)
                rate = http_transfers(db, max(count, 1_000))
                figures.append(
                    figure("ledger.http.postgresql.one_per_request", rate, "transfers/s", ">= 200/s", None)
                )
    return figures


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
