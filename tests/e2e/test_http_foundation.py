"""The HTTP API end to end on both databases: auth, roles, bad input, idempotency, operations."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.db import Database
from corridor.http.app import create_app
from corridor.settings import Settings


@pytest.fixture
def api(db: Database) -> Iterator[TestClient]:
    app = create_app(db, Settings(max_body_bytes=4_096))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def admin(db: Database) -> dict[str, str]:
    return {"Authorization": f"Bearer {bootstrap_key(db, Role.OPERATOR_ADMIN, 'ops').key}"}


def written(db: Database) -> tuple[int, int]:
    with db.engine.connect() as connection:
        entries = connection.execute(text("SELECT COUNT(*) FROM registry_entries")).scalar_one()
        transfers = connection.execute(text("SELECT COUNT(*) FROM ledger_transfers")).scalar_one()
    return int(entries), int(transfers)


def open_accounts(api: TestClient, headers: dict[str, str]) -> None:
    for body in (
        {"id": "custody", "asset": "BTC", "code": "custody"},
        {
            "id": "alice",
            "asset": "BTC",
            "code": "client_available",
            "owner": "p-alice",
            "must_not_go_negative": True,
        },
    ):
        assert api.post("/v1/ledger/accounts", json=body, headers=headers).status_code == 201


def assert_problem(response: object, status: int, code: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"].startswith("application/problem+json")  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code and body["status"] == status and body["type"].endswith(code)


def test_health_readiness_metrics_and_openapi(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}
    api.get("/v1/me")
    metrics = api.get("/metrics")
    assert metrics.status_code == 200 and "corridor_http_requests_total" in metrics.text
    spec = api.get("/v1/openapi.json").json()
    assert "/v1/ledger/transfers" in spec["paths"]


def test_missing_and_wrong_credentials_are_401(api: TestClient) -> None:
    assert_problem(api.get("/v1/me"), 401, "unauthenticated")
    assert_problem(
        api.get("/v1/me", headers={"Authorization": "Bearer cor_deadbeef_nope"}), 401, "invalid_credentials"
    )
    assert_problem(api.get("/v1/me", headers={"Authorization": "Bearer garbage"}), 401, "invalid_credentials")


def test_a_key_works_until_revoked(api: TestClient, admin: dict[str, str], db: Database) -> None:
    user = api.post("/v1/users", json={"name": "t", "role": "treasury"}, headers=admin).json()
    issued = api.post(f"/v1/users/{user['id']}/keys", json={"label": "laptop"}, headers=admin).json()
    treasury = {"Authorization": f"Bearer {issued['key']}"}
    assert api.get("/v1/me", headers=treasury).json()["role"] == "treasury"
    assert issued["key"].startswith(issued["prefix"] + "_")
    with db.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT hash FROM access_api_keys WHERE id = :i"), {"i": issued["id"]}
        ).scalar_one()
    assert issued["key"] not in stored and stored.startswith("$argon2id$")
    assert api.delete(f"/v1/keys/{issued['id']}", headers=admin).status_code == 204
    assert_problem(api.get("/v1/me", headers=treasury), 401, "invalid_credentials")


def test_roles_are_enforced(api: TestClient, admin: dict[str, str], db: Database) -> None:
    regulator = {"Authorization": f"Bearer {bootstrap_key(db, Role.REGULATOR, 'cbr').key}"}
    treasury = {"Authorization": f"Bearer {bootstrap_key(db, Role.TREASURY, 'tr').key}"}
    assert_problem(
        api.post("/v1/users", json={"name": "x", "role": "treasury"}, headers=treasury), 403, "forbidden"
    )
    assert_problem(
        api.post("/v1/ledger/accounts", json={"id": "a", "asset": "BTC", "code": "c"}, headers=regulator),
        403,
        "forbidden",
    )
    assert api.get("/v1/registry/entries", headers=regulator).status_code == 200
    assert_problem(api.post("/v1/registry/checkpoints", headers=regulator), 403, "forbidden")


def test_client_keys_are_scoped_to_their_participant(
    api: TestClient, admin: dict[str, str], db: Database
) -> None:
    open_accounts(api, admin)
    alice = {"Authorization": f"Bearer {bootstrap_key(db, Role.CLIENT, 'alice', 'p-alice').key}"}
    mallory = {"Authorization": f"Bearer {bootstrap_key(db, Role.CLIENT, 'mallory', 'p-mallory').key}"}
    assert api.get("/v1/ledger/accounts/alice", headers=alice).status_code == 200
    assert_problem(api.get("/v1/ledger/accounts/alice", headers=mallory), 403, "forbidden_scope")
    assert_problem(api.get("/v1/ledger/accounts/custody", headers=alice), 403, "forbidden_scope")
    assert_problem(api.get("/v1/registry/entries", headers=alice), 403, "forbidden")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"id": "t1", "debit_account_id": "custody",', 400, "malformed_json"),
        (
            b'{"id": "t1", "debit_account_id": "custody", "credit_account_id": "alice", "amount": "100"}',
            422,
            "validation_error",
        ),
        (
            b'{"id": "t1", "debit_account_id": "custody", "credit_account_id": "alice", "amount": 1.5}',
            422,
            "validation_error",
        ),
        (
            b'{"id": "t1", "debit_account_id": "custody", "credit_account_id": "alice", "amount": 100, "x": 1}',
            422,
            "validation_error",
        ),
        (
            b'{"id": "t1", "debit_account_id": "custody", "credit_account_id": "alice", "amount": -100}',
            422,
            "amount_must_be_positive",
        ),
        (
            b'{"id": "t1", "debit_account_id": "custody", "credit_account_id": "nobody", "amount": 100}',
            404,
            "account_not_found",
        ),
        (b"[1, 2, 3]", 422, "validation_error"),
        (b'{"id": "' + b"x" * 5_000 + b'"}', 413, "body_too_large"),
    ],
)
def test_bad_input_gets_a_problem_and_writes_nothing(
    api: TestClient, admin: dict[str, str], db: Database, body: bytes, status: int, code: str
) -> None:
    open_accounts(api, admin)
    before = written(db)
    response = api.post(
        "/v1/ledger/transfers",
        content=body,
        headers={**admin, "Content-Type": "application/json", "Idempotency-Key": "k1"},
    )
    assert_problem(response, status, code)
    assert written(db) == before


def test_idempotency_key_replays_and_refuses_a_different_body(
    api: TestClient, admin: dict[str, str], db: Database
) -> None:
    open_accounts(api, admin)
    body = {"id": "dep-1", "debit_account_id": "custody", "credit_account_id": "alice", "amount": 5_000}
    headers = {**admin, "Idempotency-Key": "deposit-1"}
    first = api.post("/v1/ledger/transfers", json=body, headers=headers)
    assert first.status_code == 201
    before = written(db)
    replay = api.post("/v1/ledger/transfers", json=body, headers=headers)
    assert replay.status_code == 201 and replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert written(db) == before
    other = api.post("/v1/ledger/transfers", json={**body, "amount": 6_000}, headers=headers)
    assert_problem(other, 409, "idempotency_key_reused")
    assert api.get("/v1/ledger/accounts/alice", headers=admin).json()["available"] == 5_000


def test_two_phase_transfer_over_http(api: TestClient, admin: dict[str, str]) -> None:
    open_accounts(api, admin)
    api.post(
        "/v1/ledger/transfers",
        json={"id": "f", "debit_account_id": "custody", "credit_account_id": "alice", "amount": 900},
        headers=admin,
    )
    hold = {
        "id": "h",
        "kind": "pending",
        "debit_account_id": "alice",
        "credit_account_id": "custody",
        "amount": 400,
        "timeout_seconds": 60,
    }
    assert api.post("/v1/ledger/transfers", json=hold, headers=admin).json()["state"] == "pending"
    assert api.get("/v1/ledger/accounts/alice", headers=admin).json()["available"] == 500
    assert (
        api.post(
            "/v1/ledger/transfers", json={"id": "v", "kind": "void", "pending_id": "h"}, headers=admin
        ).status_code
        == 201
    )
    assert_problem(
        api.post("/v1/ledger/transfers", json={"id": "p", "kind": "post", "pending_id": "h"}, headers=admin),
        409,
        "pending_transfer_already_voided",
    )
    assert api.get("/v1/ledger/accounts/alice", headers=admin).json()["available"] == 900


def test_registry_proof_over_http_verifies_standalone(api: TestClient, admin: dict[str, str]) -> None:
    from corridor.registry.verify import verify_bundle

    open_accounts(api, admin)
    entries = api.get("/v1/registry/entries", headers=admin).json()["items"]
    bundle = api.get(f"/v1/registry/entries/{entries[-1]['seq']}/proof", headers=admin).json()
    assert verify_bundle(bundle).ok
    assert api.get("/v1/registry/verify", headers=admin).json()["ok"] is True
