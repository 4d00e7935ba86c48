"""Balance bounds under real concurrency: 50 threads race to overdraw one guarded account."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from corridor.access.model import Principal
from corridor.db import Database
from corridor.errors import Conflict
from corridor.ledger import service
from corridor.ledger.model import AccountFlags, AccountSpec, TransferKind, TransferRequest
from corridor.registry import service as registry

WRITERS = 50

# One xdist worker runs these one after another: two 50-connection bursts at once would exceed
# PostgreSQL's default max_connections.
pytestmark = pytest.mark.xdist_group("postgres-connection-bursts")


@pytest.mark.parametrize("kind", [TransferKind.SINGLE, TransferKind.PENDING])
def test_fifty_concurrent_writers_never_take_a_guarded_account_negative(
    db: Database, operator: Principal, kind: TransferKind
) -> None:
    service.open_account(db, operator, AccountSpec("custody", "BTC", "custody"))
    service.open_account(
        db, operator, AccountSpec("payer", "BTC", "client", "p1", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    )
    for i in range(WRITERS):
        service.open_account(db, operator, AccountSpec(f"payee-{i}", "BTC", "client", f"p{i}"))
    service.create_transfer(
        db,
        operator,
        TransferRequest("fund", debit_account_id="custody", credit_account_id="payer", amount=1_000),
    )

    start = threading.Barrier(WRITERS)

    def attempt(i: int) -> str:
        request = TransferRequest(
            f"t{i}", kind=kind, debit_account_id="payer", credit_account_id=f"payee-{i}", amount=70
        )
        start.wait()  # release every thread at once so the writes really overlap
        try:
            service.create_transfer(db, operator, request)
            return "ok"
        except Conflict as error:
            return error.code

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        outcomes = list(pool.map(attempt, range(WRITERS)))

    assert outcomes.count("ok") == 1_000 // 70
    assert set(outcomes) == {"ok", "exceeds_credits"}
    payer = service.get_account(db, operator, "payer")
    assert payer.available == 1_000 - 70 * (1_000 // 70) >= 0
    assert all(t.balanced for t in service.totals(db))
    assert registry.verify(db).ok
    wait_for_burst_backends_to_exit(db)


def wait_for_burst_backends_to_exit(db: Database, timeout: float = 30.0) -> None:
    """The pool closes the burst's overflow connections on return, but PostgreSQL lets their backends go a
    moment later; the next burst (this test's other parameter) would otherwise meet them and the server's
    connection limit ("too many clients", seen in CI)."""
    if db.dialect != "postgresql":
        return
    query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as connection:
            if connection.execute(query).scalar_one() <= db.engine.pool.size() + 1:
                return
        time.sleep(0.05)


def test_concurrent_posts_of_one_reservation_post_it_exactly_once(db: Database, operator: Principal) -> None:
    service.open_account(db, operator, AccountSpec("custody", "BTC", "custody"))
    service.open_account(
        db, operator, AccountSpec("payer", "BTC", "client", "p1", AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
    )
    service.open_account(db, operator, AccountSpec("payee", "BTC", "client", "p2"))
    service.create_transfer(
        db,
        operator,
        TransferRequest("fund", debit_account_id="custody", credit_account_id="payer", amount=500),
    )
    service.create_transfer(
        db,
        operator,
        TransferRequest(
            "hold", kind=TransferKind.PENDING, debit_account_id="payer", credit_account_id="payee", amount=500
        ),
    )
    start = threading.Barrier(20)

    def resolve(i: int) -> str:
        kind = TransferKind.POST if i % 2 else TransferKind.VOID
        start.wait()
        try:
            service.create_transfer(db, operator, TransferRequest(f"r{i}", kind=kind, pending_id="hold"))
            return kind.value
        except Conflict as error:
            return error.code

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(resolve, range(20)))
    winners = [o for o in outcomes if o in ("post", "void")]
    assert len(winners) == 1
    assert all(o.startswith("pending_transfer_already_") for o in outcomes if o not in winners)
    payee = service.get_account(db, operator, "payee")
    assert payee.credits_posted == (500 if winners[0] == "post" else 0)
    assert payee.credits_pending == 0
