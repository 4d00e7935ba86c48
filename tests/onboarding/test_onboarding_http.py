"""The issue's "done" scenario over HTTP on both databases: onboard an exporter and an importer, admit them,
register an export and an import contract with a foreign counterparty, and see each refused case fail
with a clear problem+json code and nothing stored."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.contracts.api import router as contracts_router
from corridor.db import Database
from corridor.http import app as http_app
from corridor.identity.api import router as participants_router


@pytest.fixture
def api(db: Database) -> Iterator[TestClient]:
    app = http_app.create_app(db)
    # Mount only what the app does not mount already (works before and after the lead wires them in).
    for router in (participants_router, contracts_router):
        if router not in http_app.API_ROUTERS:
            app.include_router(router, prefix="/v1")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def key(db: Database, role: Role, name: str, participant_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {bootstrap_key(db, role, name, participant_id).key}"}


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def rows(db: Database, table: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


PERSONS = [
    {
        "role": "beneficial_owner",
        "full_name": "Ivan Petrov",
        "country": "RU",
        "inn": "123456789047",
        "ownership_percent": "60",
    },
    {"role": "director", "full_name": "Anna Sidorova", "country": "RU", "birth_date": "1980-02-02"},
]


def application(name: str, inn: str, ogrn: str, role: str) -> dict[str, Any]:
    return {
        "kind": "legal_entity",
        "residency": "resident",
        "name": name,
        "country": "RU",
        "roles": [role],
        "industry": "machinery",
        "inn": inn,
        "ogrn": ogrn,
        "kpp": "773601001",
        "persons": PERSONS,
        "documents": [
            {
                "kind": "charter",
                "filename": "charter.pdf",
                "content_base64": base64.b64encode(b"%PDF").decode(),
            }
        ],
    }


def onboard(api: TestClient, h: dict[str, dict[str, str]], body: dict[str, Any]) -> str:
    created = api.post("/v1/participants", json=body, headers=h["ops"])
    assert created.status_code == 201, created.text
    participant = created.json()
    assert participant["status"] == "awaiting_screening"
    pid: str = participant["id"]
    api.post(f"/v1/participants/{pid}/review", json={"notes": "file complete"}, headers=h["maker"])
    blocked = api.post(
        f"/v1/participants/{pid}/decision",
        json={"decision": "approve", "reason": "all fine"},
        headers=h["checker"],
    )
    problem(blocked, 422, "screening_pending")
    for party in participant["screening"]:
        cleared = api.post(
            f"/v1/participants/{pid}/screening/clearances",
            json={"subject": party["subject"], "reason": "checked by hand against the lists"},
            headers=h["maker"],
        )
        assert cleared.status_code == 201, cleared.text
    same_officer = api.post(
        f"/v1/participants/{pid}/decision",
        json={"decision": "approve", "reason": "all fine"},
        headers=h["maker"],
    )
    problem(same_officer, 409, "maker_checker")
    approved = api.post(
        f"/v1/participants/{pid}/decision",
        json={"decision": "approve", "reason": "complete"},
        headers=h["checker"],
    )
    assert approved.json()["status"] == "approved", approved.text
    admission = {
        "reference": f"CBR-EPR-{pid[:6]}",
        "admitted_on": "2025-01-01",
        "valid_to": "2030-12-31",
        "per_transaction_limit_rub_minor": 500_000_000,
        "per_period_limit_rub_minor": 800_000_000,
    }
    admitted = api.post(f"/v1/participants/{pid}/admission", json=admission, headers=h["ops"])
    assert admitted.json()["status"] == "admitted", admitted.text
    return pid


COUNTERPARTY = {
    "name": "Shenzhen Trading Co Ltd",
    "country": "CN",
    "lei": "213800KUD8LAJWSQ9D15",
    "registration_number": "91440300MA5ABCDE1X",
    "vasp_name": "Example VASP Ltd",
}


def contract(pid: str, contract_type: str, **changes: Any) -> dict[str, Any]:
    body = {
        "participant_id": pid,
        "number": f"{contract_type}-1",
        "contract_type": contract_type,
        "contract_date": "2025-03-03",
        "currency": "CNY",
        "amount_minor": 200_000_000,
        "performance_deadline": "2025-12-31",
        "counterparty": COUNTERPARTY,
        "goods_codes": ["8429"],
        "incoterms": "FCA",
        "rate": {"rate": "12.0110", "source": "CBR XML_daily 2025-03-03", "rate_date": "2025-03-03"},
    }
    return {**body, **changes}


def test_operator_onboards_admits_registers_contracts_and_sees_every_refusal(
    api: TestClient, db: Database
) -> None:
    h = {
        "ops": key(db, Role.OPERATOR_ADMIN, "ops"),
        "maker": key(db, Role.COMPLIANCE_OFFICER, "Maria Maker"),
        "checker": key(db, Role.COMPLIANCE_OFFICER, "Chen Checker"),
        "treasury": key(db, Role.TREASURY, "treasury"),
    }
    exporter = onboard(
        api, h, application("Uralsk Machine Works JSC", "7707083893", "1027700132195", "exporter")
    )
    importer = onboard(api, h, application("Volga Import LLC", "7736050003", "1022200525819", "importer"))
    exporter_client = key(db, Role.CLIENT, "exporter user", exporter)
    importer_client = key(db, Role.CLIENT, "importer user", importer)

    export = api.post("/v1/contracts", json=contract(exporter, "export"), headers=exporter_client)
    assert export.status_code == 201, export.text
    assert export.json()["registration"]["required"] is True and export.json()["direction"] == "incoming"
    imported = api.post(
        "/v1/contracts",
        json=contract(
            importer,
            "import",
            currency="USD",
            amount_minor=5_000_000,
            incoterms="CIP",
            rate={"rate": "90", "source": "CBR", "rate_date": "2025-03-03"},
        ),
        headers=importer_client,
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["registration"] == {
        **imported.json()["registration"],
        "required": True,
        "threshold_kind": "import",
    }

    # Client isolation: the importer cannot read the exporter's contract or participant.
    problem(api.get(f"/v1/contracts/{export.json()['id']}", headers=importer_client), 403, "forbidden_scope")
    problem(api.get(f"/v1/participants/{exporter}", headers=importer_client), 403, "forbidden_scope")
    assert [p["id"] for p in api.get("/v1/participants", headers=importer_client).json()["items"]] == [
        importer
    ]

    before = {t: rows(db, t) for t in ("identity_participants", "contracts_contracts")}
    retail = {
        **application("Ivan Petrov", "123456789047", "1027700132195", "exporter"),
        "kind": "natural_person",
    }
    problem(api.post("/v1/participants", json=retail, headers=h["ops"]), 422, "retail_not_allowed")
    bad_inn = application("Bad INN LLC", "7707083894", "1027700132195", "exporter")
    assert (
        problem(api.post("/v1/participants", json=bad_inn, headers=h["ops"]), 422, "inn.check_digit")["field"]
        == "inn"
    )
    resident_cp = contract(exporter, "export", counterparty={**COUNTERPARTY, "country": "RU"})
    problem(
        api.post("/v1/contracts", json=resident_cp, headers=exporter_client), 422, "resident_counterparty"
    )
    applicant = api.post(
        "/v1/participants",
        json=application("New Co", "1234567894", "1022500001325", "exporter"),
        headers=h["ops"],
    ).json()["id"]
    problem(
        api.post("/v1/contracts", json=contract(applicant, "export"), headers=h["ops"]),
        422,
        "participant_not_admitted",
    )
    assert rows(db, "contracts_contracts") == before["contracts_contracts"]
    assert (
        rows(db, "identity_participants") == before["identity_participants"] + 1
    )  # only the valid applicant

    # Limit exceeded: a payment above the per-transaction limit, once the contract may settle.
    contract_id = imported.json()["id"]
    problem(
        api.post(
            f"/v1/contracts/{contract_id}/payments",
            json={
                "id": "p1",
                "direction": "outgoing",
                "paid_on": "2025-04-01",
                "amount_minor": 100_000,
                "amount_rub_minor": 9_000_000,
                "vo_code": "11200",
            },
            headers=h["treasury"],
        ),
        422,
        "contract_not_registered",
    )
    registered = api.put(
        f"/v1/contracts/{contract_id}/registration",
        json={"unk": "25030001/1481/0000/2/1", "registered_on": "2025-03-05"},
        headers=importer_client,
    )
    assert registered.status_code == 200, registered.text
    for party in registered.json()["screening"]:
        api.post(
            f"/v1/contracts/{contract_id}/screening/clearances",
            json={"subject": party["subject"], "reason": "verified by hand"},
            headers=h["maker"],
        )
    too_big = {
        "id": "p2",
        "direction": "outgoing",
        "paid_on": "2025-04-01",
        "amount_minor": 6_000_000,
        "amount_rub_minor": 540_000_000,
        "vo_code": "11200",
    }
    assert (
        problem(
            api.post(f"/v1/contracts/{contract_id}/payments", json=too_big, headers=h["treasury"]),
            422,
            "limit_exceeded",
        )["limit"]
        == "per_transaction"
    )
    ok = api.post(
        f"/v1/contracts/{contract_id}/payments",
        json={**too_big, "id": "p3", "amount_minor": 1_000_000, "amount_rub_minor": 90_000_000},
        headers=h["treasury"],
    )
    assert ok.status_code == 201, ok.text
    statement = api.get(
        f"/v1/contracts/{contract_id}/statement", params={"as_of": "2025-04-02"}, headers=importer_client
    ).json()
    assert statement["paid_minor"] == 1_000_000 and statement["documents"][0]["status"] == "due"
