"""Clients ordering while the settlement worker runs, as deployed (API and worker side by side), on both
databases: no deadlock between them, every order paid once, the ledger and the registry whole.

On PostgreSQL this once deadlocked: an approval batch held the registry head and wanted a ledger account
or the wallet row that the worker held while it wanted the head. The registry's lock is now taken last, at
commit, and the wallet's `FOR NO KEY UPDATE` lets payouts be inserted under it."""

from __future__ import annotations

import threading
import time

import pytest

from corridor.registry.service import verify
from corridor.settlement import service
from corridor.settlement.service import PaymentOrderIn

from .conftest import World
from .test_flows import client_of

pytestmark = [pytest.mark.db, pytest.mark.chain]

BATCHES, PER_BATCH = 4, 15


def test_clients_and_the_worker_side_by_side_pay_every_order_once(settlement_world: World) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(50_000_000)
    failures: list[BaseException] = []
    stop = threading.Event()

    def worker() -> None:
        try:
            while not stop.is_set():
                w.settle_round()
                w.mine(1)
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    thread = threading.Thread(target=worker, name="settlement-worker")
    thread.start()
    ids: list[str] = []
    try:
        for _ in range(BATCHES):
            order = PaymentOrderIn(contract_id=w.import_contract, amount="1000.00", currency="RUB")
            made = service.create_payment_orders(w.db, client_of(w.importer), [order] * PER_BATCH)
            batch = [r["order"]["id"] for r in made]
            approved = service.approve_payment_orders(w.db, w.officers.treasurer, batch)
            assert [r["status"] for r in approved] == [200] * PER_BATCH, approved
            ids += batch
        deadline = time.monotonic() + 120
        while not failures and time.monotonic() < deadline and _confirmed(w) < len(ids):
            time.sleep(0.1)
    finally:
        stop.set()
        thread.join(60)
    assert not failures, failures
    orders = [service.get_payment_order(w.db, w.officers.ops, i) for i in ids]
    assert {o["state"] for o in orders} == {"confirmed"}
    operations = service.list_operations(w.db, w.officers.ops, None, 500)
    outputs = [out for op in operations for out in op["outputs"]]
    assert len(outputs) == len(set(outputs)) == len(ids)  # one output each, none paid twice
    assert service.balance(w.db, w.officers.ops, w.importer)["held_sats"] == 0
    assert verify(w.db).ok


def _confirmed(w: World) -> int:
    return len(service.list_payment_orders(w.db, w.officers.ops, "confirmed", limit=500))
