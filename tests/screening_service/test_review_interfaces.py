"""Decisions and alerts over HTTP and the command line (the router and sub-apps wired as in main)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from corridor.access.model import Principal, Role
from corridor.access.service import bootstrap_key
from corridor.cli.screening import alerts_app, lists_app
from corridor.compliance import gate
from corridor.compliance.screening import service
from corridor.compliance.screening.api import router
from corridor.db import Database
from corridor.http.app import create_app
from corridor.settings import get_settings

from .conftest import T1, ZALA, data

OSETROVA = gate.PartyToScreen("person:osetrova", "Maria Aleksandrovna Osetrova", "Person", "RU")


def _remember_pending(db: Database) -> None:
    with db.transaction() as session:
        assert gate.screen_party(session, "system:tests", OSETROVA).status is gate.GateStatus.PENDING


def test_http_alerts_decisions_and_standing(db: Database, operator: Principal, shared_data: Path) -> None:
    _remember_pending(db)
    service.load_list_file(db, operator, data(shared_data, ZALA), "ftm")
    app = create_app(db)
    app.include_router(router, prefix="/v1")
    officer = {"Authorization": f"Bearer {bootstrap_key(db, Role.COMPLIANCE_OFFICER, 'Olga Officer').key}"}
    checker = {"Authorization": f"Bearer {bootstrap_key(db, Role.COMPLIANCE_OFFICER, 'Chen Checker').key}"}
    watcher = {"Authorization": f"Bearer {bootstrap_key(db, Role.REGULATOR, 'regulator').key}"}
    ops = {"Authorization": f"Bearer {bootstrap_key(db, Role.OPERATOR_ADMIN, 'ops').key}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        rescreened = client.post("/v1/screenings/rescreen", headers=ops)
        assert rescreened.status_code == 200, rescreened.text
        assert rescreened.json()["alerts_raised"] == 1
        assert client.post("/v1/screenings/rescreen", headers=watcher).status_code == 403

        listed = client.get("/v1/screenings/alerts", headers=watcher)
        assert listed.status_code == 200
        (alert,) = listed.json()["alerts"]
        assert client.get(f"/v1/screenings/alerts/{alert['id']}", headers=watcher).json() == alert
        assert client.get("/v1/screenings/alerts/alr_missing", headers=watcher).status_code == 404
        assert client.get("/v1/screenings/alerts?status=bogus", headers=watcher).status_code == 422

        standing = client.get(f"/v1/screenings/subjects/{OSETROVA.subject}", headers=watcher).json()
        assert standing["status"] == "hit" and standing["open_alert_ids"] == [alert["id"]]

        body = {"verdict": "false_positive", "reason": "namesake, different INN"}
        decide_path = f"/v1/screenings/alerts/{alert['id']}/decision"
        assert client.post(decide_path, json=body, headers=watcher).status_code == 403
        assert client.post(decide_path, json=body, headers=ops).status_code == 403
        bad = client.post(decide_path, json={**body, "verdict": "perhaps"}, headers=officer)
        assert bad.status_code == 422
        proposed = client.post(decide_path, json=body, headers=officer)
        assert proposed.status_code == 201, proposed.text
        assert (proposed.json()["status"], proposed.json()["standing"]["status"]) == ("pending", "hit")
        assert proposed.json()["officer_name"] == "Olga Officer"
        again = client.post(decide_path, json=body, headers=checker)
        assert (again.status_code, again.json()["code"]) == (409, "screening.decision_pending")

        # Maker-checker: the same officer cannot confirm; a second one can, once.
        check = {"reason": "file reviewed, agreed"}
        confirm_path = f"/v1/screenings/decisions/{proposed.json()['id']}/confirm"
        own = client.post(confirm_path, json=check, headers=officer)
        assert (own.status_code, own.json()["code"]) == (409, "maker_checker")
        assert client.post(confirm_path, json=check, headers=watcher).status_code == 403
        assert client.post(confirm_path, json={"reason": ""}, headers=checker).status_code == 422
        unknown = client.post("/v1/screenings/decisions/dec_missing/confirm", json=check, headers=checker)
        assert (unknown.status_code, unknown.json()["code"]) == (404, "screening.decision_not_found")
        decided = client.post(confirm_path, json=check, headers=checker)
        assert decided.status_code == 200, decided.text
        assert (decided.json()["status"], decided.json()["checker_name"]) == ("confirmed", "Chen Checker")
        assert decided.json()["standing"]["status"] == "clear"
        twice = client.post(confirm_path.replace("/confirm", "/reject"), json=check, headers=checker)
        assert (twice.status_code, twice.json()["code"]) == (409, "screening.decision_checked")
        assert (
            client.post(decide_path, json=body, headers=officer).json()["code"] == "screening.alert_resolved"
        )

        # A decision on a hit of a screening (not an alert): the same pair, the other verdict; rejected
        # by the second officer, it changes nothing.
        hit_path = f"/v1/screenings/{alert['screening_id']}/decisions"
        confirm = {"entity_ref": alert["entity_ref"], "verdict": "true_match", "reason": "INN matches"}
        retracted = client.post(hit_path, json=confirm, headers=officer)
        assert retracted.status_code == 201, retracted.text
        rejected = client.post(
            f"/v1/screenings/decisions/{retracted.json()['id']}/reject", json=check, headers=checker
        )
        assert rejected.status_code == 200, rejected.text
        assert (rejected.json()["status"], rejected.json()["standing"]["status"]) == ("rejected", "clear")
        confirmed = client.post(hit_path, json=confirm, headers=checker)
        assert confirmed.status_code == 201, confirmed.text
        checked = client.post(
            f"/v1/screenings/decisions/{confirmed.json()['id']}/confirm", json=check, headers=officer
        )
        assert checked.status_code == 200 and checked.json()["standing"]["status"] == "hit"
        shown = client.get(f"/v1/screenings/decisions/{confirmed.json()['id']}", headers=watcher)
        assert shown.json()["checked_by"] == checked.json()["checked_by"]
        missing = client.post(hit_path, json={**confirm, "entity_ref": "x:y"}, headers=officer)
        assert missing.status_code == 404

        decisions = client.get(
            f"/v1/screenings/decisions?subject={OSETROVA.subject}&status=confirmed", headers=watcher
        )
        assert [d["verdict"] for d in decisions.json()["decisions"]] == ["true_match", "false_positive"]
        assert client.get("/v1/screenings/decisions?status=maybe", headers=watcher).status_code == 422
        assert (
            client.get("/v1/screenings/alerts?status=resolved", headers=watcher).json()["alerts"][0][
                "decision_id"
            ]
            == decided.json()["id"]
        )


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", db.url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_load_rescreens_and_officer_decides(cli_env: None, db: Database, shared_data: Path) -> None:
    app = typer.Typer()  # wired as corridor.cli.main wires them
    app.add_typer(lists_app, name="lists")
    app.add_typer(alerts_app, name="alerts")
    runner = CliRunner()
    _remember_pending(db)
    officer = bootstrap_key(db, Role.COMPLIANCE_OFFICER, "Olga Officer").key
    checker = bootstrap_key(db, Role.COMPLIANCE_OFFICER, "Chen Checker").key
    reader = bootstrap_key(db, Role.REGULATOR, "regulator").key

    skipped = runner.invoke(
        app, ["lists", "load", str(data(shared_data, T1)), "--format", "ftm", "--quiet", "--no-rescreen"]
    )
    assert skipped.exit_code == 0, skipped.output
    assert json.loads(skipped.stdout)["rescreen"] is None
    loaded = runner.invoke(app, ["lists", "load", str(data(shared_data, ZALA)), "--format", "ftm", "--quiet"])
    assert loaded.exit_code == 0, loaded.output
    report = json.loads(loaded.stdout)["rescreen"]
    assert report["subjects"] == 1 and report["alerts_raised"] == 1
    again = runner.invoke(app, ["lists", "rescreen", "--quiet"])
    assert again.exit_code == 0 and json.loads(again.stdout)["alerts_raised"] == 0

    listed = runner.invoke(app, ["alerts", "list", "--key", reader])
    assert listed.exit_code == 0, listed.output
    (alert,) = json.loads(listed.stdout)
    refused = runner.invoke(
        app,
        ["alerts", "decide", alert["id"], "--key", reader, "--verdict", "false_positive", "--reason", "no"],
    )
    assert refused.exit_code == 2 and json.loads(refused.stderr)["code"] == "forbidden"
    decided = runner.invoke(
        app,
        [
            "alerts",
            "decide",
            alert["id"],
            "--key",
            officer,
            "--verdict",
            "false_positive",
            "--reason",
            "namesake",
        ],
    )
    assert decided.exit_code == 0, decided.output
    assert json.loads(decided.stdout)["standing"]["status"] == "hit"  # pending a second officer
    pending = runner.invoke(app, ["alerts", "decisions", "--key", reader, "--status", "pending"])
    (decision,) = json.loads(pending.stdout)
    assert decision["decided_by"] == json.loads(decided.stdout)["decided_by"]
    confirm = ["alerts", "confirm", decision["id"], "--reason", "agreed"]
    own = runner.invoke(app, [*confirm, "--key", officer])
    assert own.exit_code == 2 and json.loads(own.stderr)["code"] == "maker_checker"
    confirmed = runner.invoke(app, [*confirm, "--key", checker])
    assert confirmed.exit_code == 0, confirmed.output
    assert json.loads(confirmed.stdout)["standing"]["status"] == "clear"
    late = runner.invoke(app, ["alerts", "reject", decision["id"], "--reason", "too late", "--key", checker])
    assert late.exit_code == 2 and json.loads(late.stderr)["code"] == "screening.decision_checked"
    standing = runner.invoke(app, ["alerts", "standing", OSETROVA.subject, "--key", reader])
    assert json.loads(standing.stdout)["status"] == "clear"
    resolved = runner.invoke(app, ["alerts", "list", "--key", reader, "--status", "all"])
    assert [a["status"] for a in json.loads(resolved.stdout)] == ["resolved"]
