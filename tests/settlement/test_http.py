"""Settlement through HTTP on both databases: a client orders, treasury approves, the batch confirms; bad
requests get problem+json with a stable code and change nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.http.app import create_app

from .conftest import World

pytestmark = [pytest.mark.db, pytest.mark.chain]


@pytest.fixture
def http(settlement_world: World) -> Iterator[TestClient]:
    with TestClient(create_app(settlement_world.db), raise_server_exceptions=False) as client:
        yield client


def headers(
    w: World, role: Role, name: str, participant_id: str | None = None, key: str = ""
) -> dict[str, str]:
    found = {"Authorization": f"Bearer {bootstrap_key(w.db, role, name, participant_id).key}"}
    return found | ({"Idempotency-Key": key} if key else {})


def test_payment_order_through_http_is_approved_batched_and_confirmed(
    settlement_world: World, http: TestClient
) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(20_000_000)
    client = headers(w, Role.CLIENT, "volga-accountant", w.importer)
    body = {"contract_id": w.import_contract, "amount": "250000.00", "currency": "RUB", "reference": "inv 77"}
    created = http.post("/v1/payment-orders", json=body, headers=client | {"Idempotency-Key": "po-http-1"})
    assert created.status_code == 201, created.text
    replay = http.post("/v1/payment-orders", json=body, headers=client | {"Idempotency-Key": "po-http-1"})
    assert replay.json()["id"] == created.json()["id"]  # a retried request creates nothing new
    order_id = created.json()["id"]
    denied = http.post(f"/v1/payment-orders/{order_id}/approve", headers=client | {"Idempotency-Key": "a0"})
    assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
    treasury = headers(w, Role.TREASURY, "treasurer")
    approved = http.post(
        f"/v1/payment-orders/{order_id}/approve", headers=treasury | {"Idempotency-Key": "a1"}
    )
    assert approved.status_code == 200 and approved.json()["state"] == "queued"
    w.settle_round()
    w.mine(6)
    w.settle_round()
    final = http.get(f"/v1/payment-orders/{order_id}", headers=client).json()
    assert final["state"] == "confirmed" and final["txid"]
    operations = http.get("/v1/currency-operations", headers=client).json()["items"]
    assert [o["source_id"] for o in operations] == [order_id]
    pdf = http.get(f"/v1/currency-operations/{operations[0]['id']}/statement.pdf", headers=client)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), pdf.text
    digest = hashlib.sha256(pdf.content).hexdigest()
    assert pdf.headers["Corridor-Statement-SHA256"] == digest
    with w.db.engine.connect() as connection:
        issued = (
            connection.execute(
                text("SELECT payload FROM registry_entries WHERE kind = 'settlement.statement_issued'")
            )
            .scalars()
            .all()
        )
    assert [json.loads(p)["sha256"] for p in issued] == [
        digest
    ]  # the copy the client holds is on the registry
    assert (
        http.get("/v1/payment-orders", headers=headers(w, Role.CLIENT, "other", w.exporter)).json()["items"]
        == []
    )


def test_bad_settlement_requests_are_problem_json_and_write_nothing(
    settlement_world: World, http: TestClient
) -> None:
    w = settlement_world
    client = headers(w, Role.CLIENT, "uralsk-accountant", w.exporter)
    good = {"contract_id": w.export_contract, "amount": "100.00", "currency": "RUB"}
    cases = [
        ({**good, "amount": 100.5}, 422, "validation_error"),  # a float, not a decimal string
        ({**good, "amount": "100.001"}, 422, "amount.too_many_decimals"),
        ({**good, "currency": "USD"}, 422, "currency_mismatch"),
        ({**good, "colour": "red"}, 422, "validation_error"),
    ]
    for n, (body, status, code) in enumerate(cases):
        response = http.post("/v1/invoices", json=body, headers=client | {"Idempotency-Key": f"bad-{n}"})
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    malformed = http.post("/v1/invoices", content=b"{not json", headers=client | {"Idempotency-Key": "bad-x",
                          "Content-Type": "application/json"})  # fmt: skip
    assert malformed.status_code == 400 and malformed.json()["code"] == "malformed_json"
    anonymous = http.post("/v1/invoices", json=good, headers={"Idempotency-Key": "anon"})
    assert anonymous.status_code == 401
    assert http.get("/v1/invoices", headers=client).json()["items"] == []
