"""The webhook routes on both databases: the secret shown once, client scoping, the delivery log with its
attempts, redelivery, and bad input answered with problem+json and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.db import Database
from corridor.http import app as http_app
from corridor.registry import service as registry
from corridor.registry.service import utc_now
from corridor.settings import Settings
from corridor.webhooks import service as webhooks
from corridor.webhooks.api import router as webhooks_router
from corridor.webhooks.service import WebhookConfig

from .conftest import FakeClock, Parties, Receiver, settlement_event


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def api(db: Database, settings: Settings) -> Iterator[TestClient]:
    app = http_app.create_app(db, settings)
    if webhooks_router not in http_app.API_ROUTERS:
        app.include_router(webhooks_router, prefix="/v1")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def keys(db: Database, parties: Parties) -> dict[str, dict[str, str]]:
    def key(role: Role, name: str, participant_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {bootstrap_key(db, role, name, participant_id).key}"}

    return {
        "ops": key(Role.OPERATOR_ADMIN, "ops"),
        "first": key(Role.CLIENT, "first client", parties.first),
        "second": key(Role.CLIENT, "second client", parties.second),
        "regulator": key(Role.REGULATOR, "supervisor"),
        "officer": key(Role.COMPLIANCE_OFFICER, "officer"),
    }


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def rows(db: Database, table: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


URL = "https://hooks.uralsk.example/corridor"


def test_the_secret_is_shown_once_and_clients_see_only_their_own(
    api: TestClient, db: Database, keys: dict[str, dict[str, str]], parties: Parties, settings: Settings
) -> None:
    created = api.post("/v1/webhooks/endpoints", json={"url": URL}, headers=keys["first"])
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["participant_id"] == parties.first
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) > 40
    assert endpoint["secret"].startswith(endpoint["secret_hint"])
    assert endpoint["event_types"] == ["settlement.invoice.", "settlement.payment_order."]
    assert (settings.data_dir / "webhook-key.hex").stat().st_mode & 0o777 == 0o600
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT sealed_secret FROM webhooks_endpoints")).scalar_one()
    assert endpoint["secret"].encode() not in bytes(stored)

    fetched = api.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=keys["first"])
    assert fetched.status_code == 200 and "secret" not in fetched.json()
    assert fetched.json()["secret_hint"] == endpoint["secret_hint"]

    other = api.post(
        "/v1/webhooks/endpoints",
        json={
            "url": URL + "/volga",
            "participant_id": parties.second,
            "event_types": ["settlement.invoice."],
        },
        headers=keys["ops"],
    )
    assert other.status_code == 201, other.text
    other_id = other.json()["id"]

    mine = api.get("/v1/webhooks/endpoints", headers=keys["first"]).json()["items"]
    assert [e["id"] for e in mine] == [endpoint["id"]]
    assert len(api.get("/v1/webhooks/endpoints", headers=keys["ops"]).json()["items"]) == 2
    assert len(api.get("/v1/webhooks/endpoints", headers=keys["regulator"]).json()["items"]) == 2
    problem(api.get(f"/v1/webhooks/endpoints/{other_id}", headers=keys["first"]), 403, "forbidden_scope")
    problem(
        api.get("/v1/webhooks/endpoints", params={"participant_id": parties.second}, headers=keys["first"]),
        403,
        "forbidden_scope",
    )
    problem(
        api.get("/v1/webhooks/deliveries", params={"endpoint_id": other_id}, headers=keys["first"]),
        403,
        "forbidden_scope",
    )
    problem(api.delete(f"/v1/webhooks/endpoints/{other_id}", headers=keys["first"]), 403, "forbidden_scope")
    problem(
        api.post(
            "/v1/webhooks/endpoints",
            json={"url": URL, "participant_id": parties.second},
            headers=keys["first"],
        ),
        403,
        "forbidden_scope",
    )
    problem(
        api.post("/v1/webhooks/endpoints", json={"url": URL}, headers=keys["regulator"]), 403, "forbidden"
    )
    problem(api.get("/v1/webhooks/endpoints", headers=keys["officer"]), 403, "forbidden")
    problem(api.get("/v1/webhooks/endpoints/nope", headers=keys["ops"]), 404, "webhook_endpoint_not_found")
    problem(
        api.post("/v1/webhooks/endpoints", json={"url": URL}, headers=keys["ops"]),
        422,
        "participant_required",
    )
    problem(
        api.post("/v1/webhooks/endpoints", json={"url": URL, "participant_id": "ghost"}, headers=keys["ops"]),
        404,
        "participant_not_found",
    )
    assert rows(db, "webhooks_endpoints") == 2

    patched = api.patch(
        f"/v1/webhooks/endpoints/{endpoint['id']}",
        json={"enabled": False, "event_types": ["settlement.invoice.settled"]},
        headers=keys["first"],
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False
    assert patched.json()["event_types"] == ["settlement.invoice.settled"]

    assert api.delete(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=keys["first"]).status_code == 204
    problem(
        api.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=keys["first"]),
        404,
        "webhook_endpoint_not_found",
    )
    kinds = [
        e.kind for e in registry.list_entries(db, parties.ops, kind=None) if e.kind.startswith("webhooks.")
    ]
    assert kinds == [
        "webhooks.endpoint.created",
        "webhooks.endpoint.created",
        "webhooks.endpoint.updated",
        "webhooks.endpoint.deleted",
    ]


BAD_BODIES: list[tuple[dict[str, Any], int, str]] = [
    ({"url": "ftp://hooks.example/x"}, 422, "webhook_url_invalid"),
    ({"url": "not a url"}, 422, "webhook_url_invalid"),
    ({"url": "https://"}, 422, "webhook_url_invalid"),
    ({"url": "https://user:pw@hooks.example/x"}, 422, "webhook_url_invalid"),
    ({"url": "https://hooks.example/x#frag"}, 422, "webhook_url_invalid"),
    ({"url": "http://127.0.0.1:8080/x"}, 422, "webhook_url_not_allowed"),
    ({"url": "http://169.254.169.254/latest/meta-data"}, 422, "webhook_url_not_allowed"),
    ({"url": "http://[::1]/x"}, 422, "webhook_url_not_allowed"),
    ({"url": "http://localhost/x"}, 422, "webhook_url_not_allowed"),
    ({"url": URL, "event_types": ["ledger.transfer.single"]}, 422, "webhook_event_types_invalid"),
    ({"url": URL, "event_types": ["Settlement.Invoice.*"]}, 422, "webhook_event_types_invalid"),
    ({"url": URL, "secret": "mine"}, 422, "validation_error"),
    ({"url": URL, "enabled": "yes"}, 422, "validation_error"),
    ({"url": URL, "event_types": "settlement.invoice."}, 422, "validation_error"),
    ({}, 422, "validation_error"),
]


def test_bad_input_is_refused_and_nothing_is_stored(
    api: TestClient, db: Database, keys: dict[str, dict[str, str]]
) -> None:
    entries_before = rows(db, "registry_entries")
    for body, status, code in BAD_BODIES:
        problem(api.post("/v1/webhooks/endpoints", json=body, headers=keys["first"]), status, code)
    assert rows(db, "webhooks_endpoints") == 0
    assert rows(db, "registry_entries") == entries_before


def test_malformed_json_and_bad_patches_change_nothing(
    api: TestClient, db: Database, keys: dict[str, dict[str, str]]
) -> None:
    bad_json = api.post(
        "/v1/webhooks/endpoints",
        content=b'{"url": ',
        headers={**keys["first"], "Content-Type": "application/json"},
    )
    problem(bad_json, 400, "malformed_json")
    endpoint = api.post("/v1/webhooks/endpoints", json={"url": URL}, headers=keys["first"]).json()
    path = f"/v1/webhooks/endpoints/{endpoint['id']}"
    problem(api.patch(path, json={}, headers=keys["first"]), 422, "nothing_to_change")
    problem(api.patch(path, json={"url": "gopher://x"}, headers=keys["first"]), 422, "webhook_url_invalid")
    problem(api.patch(path, json={"colour": "red"}, headers=keys["first"]), 422, "validation_error")
    assert api.get(path, headers=keys["first"]).json()["url"] == URL
    problem(
        api.get("/v1/webhooks/deliveries", params={"status": "lost"}, headers=keys["first"]),
        422,
        "validation_error",
    )
    problem(
        api.get("/v1/webhooks/deliveries", params={"after": "zzz"}, headers=keys["first"]), 422, "bad_cursor"
    )


def test_the_delivery_log_and_redelivery_over_http(
    api: TestClient,
    db: Database,
    keys: dict[str, dict[str, str]],
    parties: Parties,
    receiver: Receiver,
    clock: FakeClock,
    settings: Settings,
) -> None:
    # Private targets are allowed in this deployment (the receiver is on localhost).
    config = WebhookConfig(
        timeout_seconds=0.5,
        max_attempts=2,
        allow_private_targets=True,
        key_file=settings.data_dir / "webhook-key.hex",
    )
    endpoint = webhooks.create_endpoint(
        db, parties.client_first, webhooks.EndpointIn(receiver.url("/log")), config=config, clock=clock
    )
    receiver.secrets["/log"] = endpoint.secret
    receiver.scripts["/log"] = [500]
    for number in range(3):
        settlement_event(db, parties.first, "settlement.invoice.created", f"inv-{number}")
    webhooks.run_webhooks_once(db, clock=clock, config=config)

    page = api.get("/v1/webhooks/deliveries", params={"limit": 2}, headers=keys["first"])
    assert page.status_code == 200, page.text
    first_page = page.json()
    assert len(first_page["items"]) == 2 and first_page["next_cursor"]
    rest = api.get(
        "/v1/webhooks/deliveries",
        params={"limit": 2, "after": first_page["next_cursor"]},
        headers=keys["first"],
    ).json()
    everything = first_page["items"] + rest["items"]
    assert rest["next_cursor"] is None
    assert len({d["id"] for d in everything}) == 3
    seqs = [int(d["event"]["id"].removeprefix("evt_")) for d in everything]
    assert seqs == sorted(seqs, reverse=True)

    pending = api.get("/v1/webhooks/deliveries", params={"status": "pending"}, headers=keys["first"]).json()[
        "items"
    ]
    [retrying] = pending
    assert retrying["attempt_count"] == 1
    assert retrying["attempts"][0]["status_code"] == 500
    assert retrying["next_attempt_at"] == "2026-03-02T09:00:10.000000Z"
    assert retrying["event"]["type"] == "settlement.invoice.created"
    assert retrying["event"]["subject"].startswith("invoice:")
    assert api.get("/v1/webhooks/deliveries", headers=keys["second"]).json()["items"] == []
    assert len(api.get("/v1/webhooks/deliveries", headers=keys["regulator"]).json()["items"]) == 3
    problem(
        api.get(f"/v1/webhooks/deliveries/{retrying['id']}", headers=keys["second"]), 403, "forbidden_scope"
    )
    problem(
        api.post(f"/v1/webhooks/deliveries/{retrying['id']}/redelivery", headers=keys["regulator"]),
        403,
        "forbidden",
    )

    delivered = api.get(
        "/v1/webhooks/deliveries", params={"status": "delivered"}, headers=keys["first"]
    ).json()
    target = delivered["items"][0]
    again = api.post(f"/v1/webhooks/deliveries/{target['id']}/redelivery", headers=keys["first"])
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    clock.now = utc_now()  # the API scheduled the redelivery by the real clock
    webhooks.deliver_due(db, clock=clock, config=config)
    one = api.get(f"/v1/webhooks/deliveries/{target['id']}", headers=keys["first"]).json()
    assert one["status"] == "delivered"
    assert [a["trigger"] for a in one["attempts"]] == ["initial", "redelivery"]
    assert all(r.verified for r in receiver.received)
    problem(
        api.post("/v1/webhooks/deliveries/nope/redelivery", headers=keys["first"]),
        404,
        "webhook_delivery_not_found",
    )
