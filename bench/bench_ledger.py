"""Ledger throughput: two-phase transfers (reserve, then post), each with its registry entries.

Figures per database: one two-phase transfer per database transaction, and in batches of 100; over HTTP
on PostgreSQL, one transfer per request from concurrent clients. Baseline: registry appends alone, one
per transaction (the cost of the audit entry and a commit, without any ledger work); for HTTP, reads of
one account through the same server (a request's cost without the ledger's writes).

    python bench/bench_ledger.py [--quick] [--only sqlite|postgresql|http ...] [--http-workers N] [--lines]
"""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
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


def http_rates(db: Database, count: int, clients: int = 8, workers: int = 1) -> tuple[float, float]:
    """Requests per second through a real API server (uvicorn, ``workers`` processes) on loopback.

    First one transfer per request, each with an ``Idempotency-Key``; then, as the baseline, reads of one
    account (authentication, routing, one small query: the cost of a request without ledger work). Both
    come from ``clients`` threads that each keep one connection open. The clients use the standard library's ``http.client``: on this 2-core machine
    the load generator shares the cores with the server and PostgreSQL, and httpx spent 1.2 ms of CPU per
    request where ``http.client`` spends 0.3 ms.
    """
    import http.client
    import os
    import subprocess

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
            "--workers",
            str(workers),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=60) for _ in range(clients)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def call(worker: int, method: str, path: str, body: str | None, extra: dict[str, str]) -> None:
        connection = connections[worker]
        connection.request(method, path, body=body, headers={**headers, **extra})
        response = connection.getresponse()
        answer = response.read()
        if response.status >= 300:
            raise RuntimeError(f"HTTP {response.status}: {answer[:300]!r}")

    def transfers(worker: int, ids: range) -> None:
        for i in ids[worker::clients]:
            body = {
                "id": f"h-{i}",
                "debit_account_id": "payer",
                "credit_account_id": "payee",
                "amount": 1_000,
            }
            call(worker, "POST", "/v1/ledger/transfers", json.dumps(body), {"Idempotency-Key": f"k-{i}"})

    def reads(worker: int, ids: range) -> None:
        for _ in ids[worker::clients]:
            call(worker, "GET", "/v1/ledger/accounts/payer", None, {})

    def rate(work: Callable[[int, range], None], ids: range) -> float:
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(lambda w: work(w, ids), range(clients)))
        return len(ids) / (time.perf_counter() - started)

    try:
        _wait_until_ready(f"http://127.0.0.1:{port}")
        rate(transfers, range(count, count + 4 * clients))  # warm-up: each worker's argon2 check, caches
        return rate(transfers, range(count)), rate(reads, range(count))
    finally:
        for connection in connections:
            connection.close()
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


def run(quick: bool, parts: set[str] | None = None, http_workers: int = 1) -> list[dict[str, Any]]:
    """All figures, or only those of ``parts`` (``sqlite``, ``postgresql``, ``http``)."""
    count = 200 if quick else 2_000
    parts = parts or {"sqlite", "postgresql", "http"}
    figures: list[dict[str, Any]] = []
    for backend in backends():
        if backend in parts:
            figures.extend(_database_figures(backend, count))
        if backend == "postgresql" and "http" in parts:
            with scratch_database(backend) as db:
                prepare(db, funded=10**15)
                rate, reads = http_rates(db, max(count, 1_000), workers=http_workers)
                base = {"name": "http.get_account.postgresql", "value": round(reads, 1), "unit": "requests/s"}
                figures.append(
                    figure("ledger.http.postgresql.one_per_request", rate, "transfers/s", ">= 200/s", base)
                )
    return figures


def _database_figures(backend: str, count: int) -> list[dict[str, Any]]:
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
        assert all(t.balanced for t in service.totals(db)) and registry.verify(db).ok
    return [
        figure(f"ledger.two_phase.{backend}.one_per_txn", single, "transfers/s", None, base),
        figure(f"ledger.two_phase.{backend}.batch_100", batched, "transfers/s", goal, base),
    ]


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (200 instead of 2,000)")
    parser.add_argument(
        "--only",
        action="append",
        choices=["sqlite", "postgresql", "http"],
        help="run only these parts (repeatable); default: all",
    )
    parser.add_argument("--http-workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--lines", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    figures = run(args.quick, set(args.only) if args.only else None, args.http_workers)
    if args.lines:
        for item in figures:
            print(json.dumps(item))
    else:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
