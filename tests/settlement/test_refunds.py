"""Refund payouts of invoice refund requests on the devnode, on SQLite and PostgreSQL: an overpaid invoice's
excess paid back to a confirmed transaction, exactly once; refused refunds change nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corridor.access.model import Principal, Role
from corridor.access.service import bootstrap_key
from corridor.custody import service as custody
from corridor.db import Database
from corridor.demo import world
from corridor.errors import Conflict, CorridorError
from corridor.http.app import create_app
from corridor.settlement import refunds, service
from corridor.settlement.service import InvoiceIn

from .conftest import World, later

pytestmark = [pytest.mark.db, pytest.mark.chain]

EXCESS = 50_000


def count(db: Database, table: str, where: str = "") -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT count(*) FROM {table} {where}")).scalar_one())


def exporter_client(w: World) -> Principal:
    return Principal("client-exporter", Role.CLIENT, w.exporter, name="Exporter accountant")


def balance(w: World) -> dict[str, Any]:
    return service.balance(w.db, w.officers.ops, w.exporter)


def settle(w: World) -> None:
    """One worker round: invoices, payment orders and refunds."""
    w.settle_round()


def overpaid_invoice(w: World, invoice_id: str) -> tuple[dict[str, Any], str]:
    """A settled paid_over invoice and its refund request for EXCESS sats."""
    invoice = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "50000", "RUB", id=invoice_id)
    )
    w.pay(invoice["address"], invoice["sats_due"] + EXCESS)
    w.mine(6)
    settle(w)
    done = service.get_invoice(w.db, w.officers.ops, invoice_id)
    assert (done["status"], done["exception"]) == ("settled", "paid_over")
    assert [(r["kind"], r["sats"], r["status"]) for r in done["requests"]] == [("refund", EXCESS, "open")]
    return done, done["requests"][0]["id"]


def snapshot(w: World, request_id: str) -> tuple[Any, ...]:
    """Everything a refused refund must leave as it was."""
    request = refunds.get_request(w.db, w.officers.ops, request_id)
    return (
        request["status"], len(request["refunds"]), balance(w), count(w.db, "registry_entries"),
        count(w.db, "custody_payouts"), count(w.db, "settlement_refunds"),
    )  # fmt: skip


def test_overpaid_invoice_is_refunded_to_a_confirmed_transaction(settlement_world: World) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    invoice, request_id = overpaid_invoice(w, "inv-rf")
    assert balance(w)["balance_sats"] == invoice["sats_due"] + EXCESS  # the follower credited the excess too
    refund_to = world.BUYER.address()
    queued = refunds.refund_request(w.db, exporter_client(w), request_id, refund_to)
    assert queued["status"] == "refunding"
    attempt = queued["refunds"][0]
    assert (attempt["payout_id"], attempt["state"], attempt["sats"]) == (f"rf-{request_id}", "queued", EXCESS)
    # The payer is the contract's counterparty: the Travel Rule data default to it.
    assert attempt["beneficiary"]["name"] == "Shenzhen Trading Co Ltd"
    assert attempt["beneficiary"]["wallet_address"] == refund_to
    reserved = balance(w)
    assert (reserved["held_sats"], reserved["available_sats"]) == (EXCESS, invoice["sats_due"])
    with pytest.raises(Conflict) as raised:
        service.resolve_request(w.db, w.officers.ops, request_id, "closed by hand meanwhile")
    assert raised.value.code == "request_closed"  # a refund under way cannot be closed by hand

    settle(w)
    broadcast = refunds.get_request(w.db, w.officers.ops, request_id)["refunds"][0]
    assert broadcast["state"] == "broadcast" and broadcast["txid"]
    w.mine(6)
    settle(w)

    final = refunds.get_request(w.db, exporter_client(w), request_id)
    paid = final["refunds"][0]
    assert (final["status"], paid["state"], paid["txid"]) == ("resolved", "confirmed", broadcast["txid"])
    assert paid["txid"] in final["resolution"] and final["resolved_by"] == "user:client-exporter"
    assert paid["block_height"] is not None
    tx = w.rpc.getrawtransaction_verbose(paid["txid"])
    outputs = [o for o in tx.vout if o.script_pubkey.hex == world.BUYER.p2wpkh.hex()]
    assert [o.value_sats for o in outputs] == [EXCESS] and tx.vout.index(outputs[0]) == paid["vout"]
    after = balance(w)
    assert (after["balance_sats"], after["held_sats"]) == (
        invoice["sats_due"],
        0,
    )  # debited exactly the excess
    with w.db.engine.connect() as connection:
        kinds = list(connection.execute(
            text("SELECT kind FROM registry_entries WHERE subject = 'invoice:inv-rf' ORDER BY seq")
        ).scalars())  # fmt: skip
    assert kinds[-4:] == [
        "settlement.invoice.refund_queued",
        "settlement.invoice.refund_broadcast",
        "settlement.invoice.refund_confirmed",
        "settlement.invoice.request_resolved",
    ]
    with pytest.raises(Conflict) as raised:
        refunds.refund_request(w.db, w.officers.ops, request_id, refund_to)
    assert raised.value.code == "request_closed"
    before = count(w.db, "registry_entries")
    settle(w)  # nothing left to follow, nothing done twice
    assert count(w.db, "registry_entries") == before


def test_refunds_of_one_request_at_once_queue_one_payout(settlement_world: World) -> None:
    w = settlement_world
    _, request_id = overpaid_invoice(w, "inv-rf2")
    outcomes: list[str] = []

    def refund() -> None:
        try:
            refunds.refund_request(w.db, w.officers.ops, request_id, world.BUYER.address())
            outcomes.append("queued")
        except CorridorError as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=refund) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["queued", "refund_in_progress", "refund_in_progress"]
    with pytest.raises(Conflict) as raised:  # and a plain retry later
        refunds.refund_request(w.db, w.officers.ops, request_id, world.BUYER.address())
    assert raised.value.code == "refund_in_progress"
    assert count(w.db, "custody_payouts", "WHERE id LIKE 'rf-%'") == 1
    assert balance(w)["held_sats"] == EXCESS


def test_sanctioned_or_bad_refunds_are_refused_and_change_nothing(settlement_world: World) -> None:
    w = settlement_world
    _, request_id = overpaid_invoice(w, "inv-rf3")
    sanctioned = world.demo_list_addresses()[0]
    before = snapshot(w, request_id)
    cases: list[tuple[Principal, str, str, dict[str, Any] | None, str]] = [
        (w.officers.ops, request_id, sanctioned, None, "screening_hit"),
        (w.officers.ops, request_id, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", None, "address.invalid"),
        (w.officers.ops, request_id, "", None, "address.required"),
        (w.officers.ops, request_id, world.BUYER.address(), {"name": "Blackfin Shadow Trading FZE", "country": "AE"},
         "screening_hit"),  # a beneficiary other than the counterparty is screened by name
        (w.officers.ops, request_id, world.BUYER.address(), {"name": ""}, "travel_rule.incomplete"),
        (w.officers.ops, request_id, world.BUYER.address(), {"wallet_address": sanctioned},
         "travel_rule.address_mismatch"),
        (w.officers.ops, request_id, world.BUYER.address(), {"colour": "red"}, "travel_rule.unknown_fields"),
        (w.officers.ops, "req_nope", world.BUYER.address(), None, "request_not_found"),
        (Principal("client-importer", Role.CLIENT, w.importer), request_id, world.BUYER.address(), None,
         "request_not_found"),  # another participant's request does not exist for them
        (w.officers.treasurer, request_id, world.BUYER.address(), None, "forbidden"),
    ]  # fmt: skip
    for principal, rid, address, beneficiary, code in cases:
        with pytest.raises(CorridorError) as raised:
            refunds.refund_request(w.db, principal, rid, address, beneficiary)
        assert raised.value.code == code, (address, beneficiary, raised.value.code)
    assert snapshot(w, request_id) == before
    assert snapshot(w, request_id)[0] == "open"


def test_late_payment_is_refunded_whole_once_credited(settlement_world: World) -> None:
    w = settlement_world
    invoice = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "50000", "RUB", id="inv-late", ttl_minutes=1)
    )
    w.settle_round(later(2))
    w.pay(invoice["address"], invoice["sats_due"])
    w.settle_round(later(3))  # seen in the mempool only: judged paid_late at once, not yet credited
    late = service.get_invoice(w.db, w.officers.ops, "inv-late")
    assert (late["status"], late["exception"], late["confirmed_sats"]) == ("invalid", "paid_late", 0)
    request_id = late["requests"][0]["id"]
    before = snapshot(w, request_id)
    with pytest.raises(Conflict) as raised:
        refunds.refund_request(w.db, w.officers.ops, request_id, world.BUYER.address())
    assert raised.value.code == "refund.unconfirmed"
    assert snapshot(w, request_id) == before
    w.mine(6)
    w.settle_round(later(3))
    queued = refunds.refund_request(w.db, w.officers.ops, request_id, world.BUYER.address())
    assert (queued["status"], queued["refunds"][0]["sats"]) == ("refunding", invoice["sats_due"])
    assert balance(w)["held_sats"] == invoice["sats_due"]


def test_top_up_request_is_not_refunded(settlement_world: World) -> None:
    w = settlement_world
    invoice = service.create_invoice(
        w.db, w.officers.ops, InvoiceIn(w.export_contract, "50000", "RUB", id="inv-tu")
    )
    w.pay(invoice["address"], invoice["sats_due"] - 1_000)
    w.mine(6)
    w.settle_round()  # seen in time: partly paid
    w.settle_round(later(16))
    expired = service.get_invoice(w.db, w.officers.ops, "inv-tu")
    assert [(r["kind"], r["status"]) for r in expired["requests"]] == [("top_up", "open")]
    request_id = expired["requests"][0]["id"]
    before = snapshot(w, request_id)
    with pytest.raises(Conflict) as raised:
        refunds.refund_request(w.db, w.officers.ops, request_id, world.BUYER.address())
    assert raised.value.code == "request_kind"
    assert snapshot(w, request_id) == before


def test_dropped_refund_payout_reopens_the_request_and_a_new_attempt_pays_once(
    settlement_world: World,
) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    invoice, request_id = overpaid_invoice(w, "inv-rf4")
    first = refunds.refund_request(w.db, w.officers.ops, request_id, world.SUPPLIERS[1].address())
    payout_id = first["refunds"][0]["payout_id"]
    with w.db.transaction() as session:  # custody takes the payout out of the queue before any batch
        custody.cancel_queued_payout_in(session, "ops-demo", payout_id, "payer gave another address")
    settle(w)
    reopened = refunds.get_request(w.db, w.officers.ops, request_id)
    assert reopened["status"] == "open"
    assert [(r["state"], r["reason"]) for r in reopened["refunds"]] == [
        ("failed", "payer gave another address")
    ]
    assert balance(w)["held_sats"] == 0  # custody voided the reservation once
    second = refunds.refund_request(w.db, w.officers.ops, request_id, world.BUYER.address())
    assert second["refunds"][-1]["payout_id"] == f"rf-{request_id}.2"
    settle(w)
    w.mine(6)
    settle(w)
    final = refunds.get_request(w.db, w.officers.ops, request_id)
    assert final["status"] == "resolved"
    assert [r["state"] for r in final["refunds"]] == ["failed", "confirmed"]
    assert balance(w)["balance_sats"] == invoice["sats_due"]


def test_refund_payout_ids_fit_custody() -> None:
    long_id = "req_" + "x" * 40 + "_paid_over"
    first, second = refunds.refund_payout_id(long_id, 1), refunds.refund_payout_id(long_id, 2)
    assert len(first) == len(second) == 48 and first != second and second.endswith(".2")
    assert refunds.refund_payout_id(long_id, 1) == first  # stable: a retry finds the same payout
    assert refunds.refund_payout_id("req_inv-1_paid_over", 1) == "rf-req_inv-1_paid_over"


# --- HTTP ---------------------------------------------------------------------------------------------


@pytest.fixture
def http(settlement_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settlement_world.db), raise_server_exceptions=False) as client:
        yield client


def test_refund_over_http_is_accepted_once_and_bad_bodies_are_problem_json(
    settlement_world: World, http: TestClient
) -> None:
    w = settlement_world
    _, request_id = overpaid_invoice(w, "inv-rf5")
    client = {"Authorization": f"Bearer {bootstrap_key(w.db, Role.CLIENT, 'exp', w.exporter).key}"}
    url = f"/v1/invoice-requests/{request_id}/refund"
    bad = http.post(url, json={"address": world.BUYER.address(), "tip": 1}, headers=client)
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    hit = http.post(url, json={"address": world.demo_list_addresses()[0]}, headers=client)
    assert (hit.status_code, hit.json()["code"]) == (422, "screening_hit")
    accepted = http.post(
        url, json={"address": world.BUYER.address()}, headers=client | {"Idempotency-Key": "r1"}
    )
    assert accepted.status_code == 202, accepted.text
    replay = http.post(
        url, json={"address": world.BUYER.address()}, headers=client | {"Idempotency-Key": "r1"}
    )
    assert replay.status_code == 202 and replay.json() == accepted.json()
    again = http.post(
        url, json={"address": world.BUYER.address()}, headers=client | {"Idempotency-Key": "r2"}
    )
    assert (again.status_code, again.json()["code"]) == (409, "refund_in_progress")
    shown = http.get(f"/v1/invoice-requests/{request_id}", headers=client).json()
    assert shown["status"] == "refunding" and len(shown["refunds"]) == 1
