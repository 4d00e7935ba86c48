"""Payment orders in batches and re-quotes, through HTTP on both databases: one result per item, a refused item leaves
nothing behind and does not stop the others, and an approval batch queues its orders for one transaction."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corridor.access.model import Role
from corridor.contracts import service as contracts
from corridor.contracts import store as contracts_store
from corridor.db.batch_reads import batch_reads
from corridor.demo import world
from corridor.errors import CorridorError
from corridor.http.app import create_app
from corridor.identity import service as identity
from corridor.registry.service import verify
from corridor.settlement import service

from .conftest import World, later
from .test_flows import client_of, count
from .test_http import headers

pytestmark = [pytest.mark.db, pytest.mark.chain]


@pytest.fixture
def http(settlement_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settlement_world.db), raise_server_exceptions=False) as client:
        yield client


def results_of(response: object) -> list[tuple[int, str]]:
    """(status, order id or error code) per item."""
    body = response.json()  # type: ignore[attr-defined]
    return [(r["status"], r["order"]["id"] if "order" in r else r["error"]["code"]) for r in body["results"]]


def test_a_batch_creates_the_good_orders_and_refuses_the_bad_without_trace(
    settlement_world: World, http: TestClient
) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(20_000_000)
    client = headers(w, Role.CLIENT, "volga-accountant", w.importer)
    sanctioned = world.demo_list_addresses()[0]
    good = {"contract_id": w.import_contract, "amount": "1000.00", "currency": "RUB"}
    orders = [
        {**good, "id": "po-b1"},
        {**good, "id": "po-b2", "address": sanctioned,
         "beneficiary": {"name": "Blackfin", "country": "AE", "wallet_address": sanctioned}},
        {**good, "id": "po-b3", "currency": "CNY"},
        {**good, "id": "po-b4", "amount": "9999999999"},
        {**good, "id": "po-b5"},
    ]  # fmt: skip
    entries_before = count(w.db, "registry_entries")
    made = http.post(
        "/v1/payment-orders/batch", json={"orders": orders}, headers=client | {"Idempotency-Key": "b1"}
    )
    assert made.status_code == 200, made.text
    assert results_of(made) == [
        (201, "po-b1"), (422, "screening_hit"), (422, "currency_mismatch"), (422, "limit_exceeded"), (201, "po-b5"),
    ]  # fmt: skip
    assert [r["index"] for r in made.json()["results"]] == [0, 1, 2, 3, 4]
    listed = service.list_payment_orders(w.db, w.officers.ops, None, limit=50)
    assert sorted(o["id"] for o in listed) == ["po-b1", "po-b5"]
    held = sum(r["order"]["sats"] for r in made.json()["results"] if "order" in r)
    assert service.balance(w.db, w.officers.ops, w.importer)["held_sats"] == held
    assert count(w.db, "registry_entries") > entries_before and verify(w.db).ok

    # the same orders again (a client retrying item by item): the stored orders, nothing new
    again = http.post("/v1/payment-orders/batch", json={"orders": [orders[0], orders[4]]},
                      headers=client | {"Idempotency-Key": "b2"})  # fmt: skip
    assert results_of(again) == [(201, "po-b1"), (201, "po-b5")]
    assert service.balance(w.db, w.officers.ops, w.importer)["held_sats"] == held

    treasury = headers(w, Role.TREASURY, "treasurer")
    approved = http.post("/v1/payment-orders/approvals", json={"ids": ["po-b1", "po-b5", "po-b1", "po-b2"]},
                         headers=treasury | {"Idempotency-Key": "b3"})  # fmt: skip
    assert approved.status_code == 200, approved.text
    assert results_of(approved) == [
        (200, "po-b1"), (200, "po-b5"), (409, "payment_order.state"), (404, "payment_order_not_found"),
    ]  # fmt: skip
    assert [r["order"]["state"] for r in approved.json()["results"][:2]] == ["queued", "queued"]
    w.settle_round()
    w.mine(6)
    w.settle_round()
    final = [service.get_payment_order(w.db, w.officers.ops, i) for i in ("po-b1", "po-b5")]
    assert [o["state"] for o in final] == ["confirmed", "confirmed"]
    assert final[0]["txid"] == final[1]["txid"]  # batched together
    # same supplier, same amount: still two outputs, and each record names its own
    outputs = [o["outputs"] for o in service.list_operations(w.db, w.officers.ops, None, 10)]
    assert sorted(outputs) == [[f"{final[0]['txid']}:0"], [f"{final[0]['txid']}:1"]]
    assert service.balance(w.db, w.officers.ops, w.importer)["held_sats"] == 0
    assert verify(w.db).ok


def test_an_approval_batch_expires_stale_orders_and_approves_the_rest(settlement_world: World) -> None:
    w = settlement_world
    w.fund_importer(10_000_000)
    base = {"contract_id": w.import_contract, "amount": "1000", "currency": "RUB"}
    made = service.create_payment_orders(
        w.db, client_of(w.importer),
        [service.PaymentOrderIn(**base, id="po-short", ttl_minutes=1), service.PaymentOrderIn(**base, id="po-long")],
    )  # fmt: skip
    assert [r["status"] for r in made] == [201, 201]
    results = service.approve_payment_orders(
        w.db, w.officers.treasurer, ["po-short", "po-long"], clock=later(2)
    )
    assert [(r["status"], r.get("error", {}).get("code")) for r in results] == [
        (422, "quote.expired"),
        (200, None),
    ]
    states = [service.get_payment_order(w.db, w.officers.ops, i)["state"] for i in ("po-short", "po-long")]
    assert states == ["expired", "queued"]  # the expiry sticks although its approval was refused
    # the expired order's hold is voided; the approved one's sats stay held, now as custody's reservation
    assert service.balance(w.db, w.officers.ops, w.importer)["held_sats"] == made[1]["order"]["sats"]


def test_batch_size_and_shape_are_checked(settlement_world: World, http: TestClient) -> None:
    w = settlement_world
    client = headers(w, Role.CLIENT, "volga-accountant", w.importer)
    order = {"contract_id": w.import_contract, "amount": "1.00", "currency": "RUB"}
    cases = [
        ("/v1/payment-orders/batch", {"orders": []}),
        ("/v1/payment-orders/batch", {"orders": [order] * 101}),
        ("/v1/payment-orders/batch", {"orders": [{**order, "amount": 1.5}]}),
        ("/v1/payment-orders/approvals", {"ids": []}),
    ]
    for n, (path, body) in enumerate(cases):
        response = http.post(path, json=body, headers=client | {"Idempotency-Key": f"s{n}"})
        assert (response.status_code, response.json()["code"]) == (422, "validation_error"), response.text
    denied = http.post(
        "/v1/payment-orders/approvals", json={"ids": ["x"]}, headers=client | {"Idempotency-Key": "d"}
    )
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    assert count(w.db, "settlement_payment_orders") == 0


def test_a_payment_already_sent_is_recorded_although_its_contract_closed_meanwhile(
    settlement_world: World,
) -> None:
    # The checks ran when the order was accepted; once the coins are on chain the records must follow.
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(10_000_000)
    base = {"contract_id": w.import_contract, "amount": "1000", "currency": "RUB"}
    service.create_payment_orders(w.db, client_of(w.importer), [service.PaymentOrderIn(**base, id="po-late")])
    service.approve_payment_orders(w.db, w.officers.treasurer, ["po-late"])
    w.settle_round()
    contracts.close_contract(w.db, w.officers.ops, w.import_contract, "supply ended")
    w.mine(6)
    w.settle_round()
    assert service.get_payment_order(w.db, w.officers.ops, "po-late")["state"] == "confirmed"
    operations = service.list_operations(w.db, w.officers.ops, None, 10)
    assert [o["source_id"] for o in operations] == ["po-late"]
    with w.db.transaction() as session:
        payment = contracts_store.get_payment(session, "po-late")
    assert payment is not None and payment["amount_rub_minor"] == operations[0]["amount_rub_minor"]


def test_an_expired_order_is_requoted_held_again_and_approved_afresh(settlement_world: World) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(60_000_000)
    client = client_of(w.importer)
    made = service.create_payment_order(
        w.db, client, service.PaymentOrderIn(w.import_contract, "1500000", "RUB", id="po-rq", ttl_minutes=1)
    )
    assert made["approvals_required"] == 2
    service.approve_payment_order(w.db, w.officers.treasurer, "po-rq")  # one of two, at the old price
    with pytest.raises(CorridorError) as stale:
        service.approve_payment_order(w.db, w.officers.checker, "po-rq", clock=later(2))
    assert stale.value.code == "quote.expired"
    assert service.balance(w.db, w.officers.ops, w.importer)["held_sats"] == 0
    with pytest.raises(CorridorError) as foreign:
        service.requote_payment_order(w.db, client_of(w.exporter), "po-rq", clock=later(3))
    assert foreign.value.code == "payment_order_not_found"

    again = service.requote_payment_order(w.db, client, "po-rq", clock=later(3))
    assert again["state"] == "pending_approval" and again["approvals"] == []
    assert again["quote"]["id"] != made["quote"]["id"]
    assert service.balance(w.db, w.officers.ops, w.importer)["held_sats"] == again["sats"]
    with pytest.raises(CorridorError) as twice:
        service.requote_payment_order(w.db, client, "po-rq", clock=later(3))
    assert twice.value.code == "payment_order.state"  # a live order is not re-quoted

    service.approve_payment_order(w.db, w.officers.treasurer, "po-rq", clock=later(4))
    queued = service.approve_payment_order(w.db, w.officers.checker, "po-rq", clock=later(4))
    assert queued["state"] == "queued"
    with w.db.engine.connect() as connection:
        used = connection.execute(
            text("SELECT count(*) FROM identity_limit_usage WHERE id = 'contract_payment:po-rq'")
        ).scalar_one()
    assert used == 1  # the limit is counted once, for the live quote
    assert verify(w.db).ok


def test_a_batch_counts_its_own_orders_against_the_period_limit(settlement_world: World) -> None:
    # The period's usage is read once per batch and kept in step by each order, so the batch cannot pass
    # the limit by each order seeing only what was used before the batch; a refused order gives its share back.
    w = settlement_world
    day = later(0)().date()
    status = identity.limit_status(w.db, w.officers.ops, w.importer, day)
    per_order = status["per_transaction_limit_rub_minor"]
    fits = status["remaining_rub_minor"] // per_order
    refused: list[int] = []
    with w.db.transaction() as session, batch_reads(session):
        for n in range(fits + 2):
            try:
                with session.begin_nested():
                    identity.consume_limit_in(
                        session, "user:test", w.importer, per_order, day, f"batch-limit-{n}", "test"
                    )
            except CorridorError as error:
                assert error.code == "limit_exceeded", error.code
                refused.append(n)
    assert refused == [fits, fits + 1]
    after = identity.limit_status(w.db, w.officers.ops, w.importer, day)
    assert after["used_rub_minor"] == status["used_rub_minor"] + fits * per_order


def test_a_batch_beyond_the_funds_holds_what_fits_and_refuses_the_rest(settlement_world: World) -> None:
    # The holds of a batch are applied together at its end; when one cannot be covered the batch runs again
    # order by order, so the orders that fit are held and the others refused with nothing left behind.
    w = settlement_world
    w.fund_importer(100_000)
    client = client_of(w.importer)
    order = service.PaymentOrderIn(contract_id=w.import_contract, amount="1000.00", currency="RUB")
    probe = service.create_payment_order(w.db, client, order)
    service.cancel_payment_order(w.db, client, probe["id"], "probe for the price")
    available = service.balance(w.db, w.officers.ops, w.importer)["available_sats"]
    fits = available // probe["sats"]
    assert 1 <= fits < 30, (available, probe["sats"])
    entries = count(w.db, "registry_entries")
    results = service.create_payment_orders(w.db, client, [order] * (fits + 2))
    assert [r["status"] for r in results] == [201] * fits + [422, 422]
    assert {r["error"]["code"] for r in results[fits:]} == {"insufficient_funds"}
    held = service.balance(w.db, w.officers.ops, w.importer)["held_sats"]
    assert held == sum(r["order"]["sats"] for r in results[:fits])
    assert len(service.list_payment_orders(w.db, w.officers.ops, "pending_approval", limit=100)) == fits
    assert count(w.db, "registry_entries") > entries and verify(w.db).ok
