"""The screening service and gate on both databases, with real lists from /work/shared/data."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner

from corridor.access.model import Principal, Role
from corridor.access.service import bootstrap_key
from corridor.cli.screening import lists_app, screen_command
from corridor.compliance import gate
from corridor.compliance.screening import review, service
from corridor.compliance.screening.api import router
from corridor.compliance.screening.model import EntitySchema, PartyQuery
from corridor.db import Database
from corridor.errors import Forbidden, Unavailable
from corridor.http.app import create_app
from corridor.profiles.loader import DEFAULT_PROFILE_ID, PACKAGE_DATA_DIR
from corridor.settings import get_settings

FIXTURES = "opensanctions-yente-fixtures/tests/fixtures/dataset"
LISTED = PartyQuery(name="Maria Aleksandrovna Osetrova", schema=EntitySchema.PERSON, countries=("ru",))
UNLISTED = PartyQuery(name="Gutenberg Druckerei Mainz GmbH", schema=EntitySchema.COMPANY, countries=("de",))
OFAC_BTC = "12QtD5BFwRsdNsAZY76UVE1xyCGNTojH9h"


def zala(shared_data: Path) -> Path:
    return shared_data / FIXTURES / "zala/entities.ftm.json"


def registry_kinds(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        rows = connection.execute(text("SELECT kind FROM registry_entries ORDER BY seq"))
        return [row.kind for row in rows]


def test_load_stores_version_diff_and_registry_entry(
    db: Database, operator: Principal, shared_data: Path
) -> None:
    first = service.load_list_file(db, operator, zala(shared_data), "ftm")
    assert first.created
    assert first.version.source == "opensanctions"
    assert first.version.entity_count == 17
    assert first.version.diff == {"added": 17, "removed": 0, "changed": 0, "unchanged": 0}
    assert first.version.previous_id is None

    again = service.load_list_file(db, operator, zala(shared_data), "ftm")
    assert not again.created and again.version.id == first.version.id

    # Another file of the same source replaces it; the diff is against the zala version.
    second = service.load_list_file(db, operator, shared_data / FIXTURES / "t1/entities.ftm.json", "ftm")
    assert second.created and second.version.previous_id == first.version.id
    assert second.version.diff["added"] == 6 and second.version.diff["removed"] == 17
    current = service.list_versions(db, operator)
    assert [v.id for v in current] == [second.version.id]
    assert registry_kinds(db) == ["screening.list.loaded", "screening.list.loaded"]


def test_listed_name_is_a_hit_and_unlisted_is_clear(
    db: Database, operator: Principal, shared_data: Path
) -> None:
    loaded = service.load_list_file(db, operator, zala(shared_data), "ftm")
    hit, clear = service.screen(db, operator, [LISTED, UNLISTED])

    assert hit["hit"] and hit["outcome"] == "hit"
    top = hit["candidates"][0]
    assert top["caption"] == "OSETROVA, Maria Aleksandrovna"
    assert top["score"] >= 0.70 and top["features"]
    assert top["list_version_id"] == loaded.version.id
    assert [v["id"] for v in hit["list_versions"]] == [loaded.version.id]
    assert hit["algorithm"] and hit["algorithm_version"] and hit["threshold"] == "0.70"

    assert not clear["hit"] and clear["outcome"] == "clear"
    assert all(c["score"] < 0.70 for c in clear["candidates"])

    stored = service.get_screening(db, operator, hit["id"])
    assert stored == hit
    assert registry_kinds(db).count("screening.performed") == 2


def test_screening_without_lists_is_refused_and_regulator_cannot_screen(
    db: Database, operator: Principal, regulator: Principal
) -> None:
    with pytest.raises(Unavailable) as refused:
        service.screen(db, operator, [LISTED])
    assert refused.value.code == "screening.no_list_loaded"
    with pytest.raises(Forbidden):
        service.screen(db, regulator, [LISTED])


def test_gate_pending_without_lists_then_hit_and_clear(
    db: Database, operator: Principal, shared_data: Path
) -> None:
    listed = gate.PartyToScreen("owner:1", "Maria Aleksandrovna Osetrova", "Person", "RU")
    unlisted = gate.PartyToScreen("participant:2", "Gutenberg Druckerei Mainz GmbH", "Company", "DE")
    by_inn = gate.PartyToScreen("participant:3", "Some Other Name", "Company", "RU", {"inn": "1835045074"})
    with db.transaction() as session:
        pending = gate.screen_party(session, "system:tests", listed)
        pending_address = gate.screen_address(session, "system:tests", OFAC_BTC)
    assert pending.status is gate.GateStatus.PENDING and pending.screening_id is None
    assert pending.reason == "no sanctions list loaded" and not pending.may_proceed
    assert pending_address.status is gate.GateStatus.PENDING
    assert registry_kinds(db) == []

    service.load_list_file(db, operator, zala(shared_data), "ftm")
    with db.transaction() as session:
        hit = gate.screen_party(session, "system:tests", listed)
        clear = gate.screen_party(session, "system:tests", unlisted)
        identifier_hit = gate.screen_party(session, "system:tests", by_inn)
    assert hit.status is gate.GateStatus.HIT and "OSETROVA" in hit.reason
    assert clear.status is gate.GateStatus.CLEAR and clear.may_proceed
    assert identifier_hit.status is gate.GateStatus.HIT
    assert clear.screening_id is not None
    recorded = service.get_screening(db, operator, clear.screening_id)
    assert recorded["subject"] == "participant:2" and recorded["outcome"] == "clear"


def test_address_screening_with_ofac_csv(db: Database, operator: Principal, shared_data: Path) -> None:
    service.load_list_file(
        db, operator, shared_data / "ofac-sdn-csv-jackdwyer/sdn_2024-05-03.csv", "ofac-csv"
    )
    with db.transaction() as session:
        listed = gate.screen_address(session, "system:tests", OFAC_BTC)
        unlisted = gate.screen_address(session, "system:tests", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq")
    assert listed.status is gate.GateStatus.HIT and "YAN, Xiaobing" in listed.reason
    assert unlisted.status is gate.GateStatus.CLEAR
    view = service.screen_address(db, operator, OFAC_BTC, "BTC")
    assert view["hit"] and view["candidates"][0]["matched_identifier"]["value"] == OFAC_BTC


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", db.url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_cli_load_and_screen_exit_codes(cli_env: None, shared_data: Path, tmp_path: Path) -> None:
    import typer

    # Wired as the lead will wire it in corridor.cli.main.
    app = typer.Typer()
    app.add_typer(lists_app, name="lists")
    app.command("screen")(screen_command)
    runner = CliRunner()

    none_loaded = runner.invoke(app, ["screen", "--name", "Maria Osetrova"])
    assert none_loaded.exit_code == 2

    loaded = runner.invoke(app, ["lists", "load", str(zala(shared_data)), "--format", "ftm", "--quiet"])
    assert loaded.exit_code == 0, loaded.output
    assert json.loads(loaded.stdout)["entity_count"] == 17

    hit = runner.invoke(
        app, ["screen", "--name", "Maria Aleksandrovna Osetrova", "--schema", "Person", "--json"]
    )
    assert hit.exit_code == 1, hit.output
    assert json.loads(hit.stdout)["hit"] is True

    clean = runner.invoke(app, ["screen", "--name", "Gutenberg Druckerei Mainz GmbH", "--country", "DE"])
    assert clean.exit_code == 0, clean.output
    assert "clear" in clean.stdout

    names = tmp_path / "names.txt"
    names.write_text("Maria Aleksandrovna Osetrova\nGutenberg Druckerei Mainz GmbH\n", encoding="utf-8")
    batch = runner.invoke(app, ["screen", "--file", str(names), "--schema", "Person", "--json"])
    assert batch.exit_code == 1
    lines = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [(line["query"], line["hit"]) for line in lines] == [
        ("Maria Aleksandrovna Osetrova", True),
        ("Gutenberg Druckerei Mainz GmbH", False),
    ]
    assert lines[0]["matches"][0]["score"] >= 0.70


def test_http_single_batch_and_read(db: Database, operator: Principal, shared_data: Path) -> None:
    service.load_list_file(db, operator, zala(shared_data), "ftm")
    app = create_app(db)
    app.include_router(router, prefix="/v1")
    headers = {"Authorization": f"Bearer {bootstrap_key(db, Role.COMPLIANCE_OFFICER, 'co').key}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        single = client.post(
            "/v1/screenings",
            json={"name": "Maria Aleksandrovna Osetrova", "schema": "Person", "country": "RU"},
            headers=headers,
        )
        assert single.status_code == 201, single.text
        assert single.json()["hit"] and single.json()["candidates"][0]["features"]

        batch = client.post(
            "/v1/screenings",
            json={"queries": [{"name": "Gutenberg Druckerei Mainz GmbH"}, {"address": OFAC_BTC}]},
            headers=headers,
        )
        assert batch.status_code == 201, batch.text
        assert [r["outcome"] for r in batch.json()["results"]] == ["clear", "clear"]

        too_many = client.post(
            "/v1/screenings", json={"queries": [{"name": f"n{i}"} for i in range(101)]}, headers=headers
        )
        assert too_many.status_code == 422

        read = client.get(f"/v1/screenings/{single.json()['id']}", headers=headers)
        assert read.status_code == 200 and read.json() == single.json()
        assert client.get("/v1/screenings/scr_missing", headers=headers).status_code == 404


def strict_profile(folder: Path, threshold: float, cutoff: float) -> dict[str, str]:
    """A copy of the package's profile under another id with its own screening threshold and cutoff; the
    environment that makes it the profile in force."""
    source = (PACKAGE_DATA_DIR / f"{DEFAULT_PROFILE_ID}.toml").read_text(encoding="utf-8")
    text = source.replace(f'id = "{DEFAULT_PROFILE_ID}"', 'id = "XX-STRICT-2024"')
    for name, value in (("screening_alert_threshold", threshold), ("screening_cutoff", cutoff)):
        text = re.sub(
            rf'(\[\[parameters\.{name}\]\]\nvalue = )"[0-9.]+"', rf'\g<1>"{value:.2f}"', text, count=1
        )
    assert text.count(f'"{threshold:.2f}"') and text.count(f'"{cutoff:.2f}"')
    (folder / "XX-STRICT-2024.toml").write_text(text, encoding="utf-8")
    return {"CORRIDOR_PROFILE": "XX-STRICT-2024", "CORRIDOR_PROFILE_DIR": str(folder)}


def test_threshold_and_cutoff_come_from_the_profile_in_force(
    db: Database, operator: Principal, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service.load_list_file(db, operator, zala(shared_data), "ftm")
    near = PartyQuery(name="Masha Osetrova", schema=EntitySchema.PERSON, countries=("ru",))
    party = gate.PartyToScreen("owner:near", near.name, "Person", "RU")
    default = service.policy_on()
    (under_default,) = service.screen(db, operator, [near])
    score = under_default["candidates"][0]["score"]
    assert under_default["hit"] and under_default["threshold"] == f"{default.threshold:.2f}"
    assert default.threshold <= score < 0.97  # a near match: what a stricter profile judges differently
    with db.transaction() as session:
        assert gate.screen_party(session, "system:tests", party).status is gate.GateStatus.HIT

    # A profile whose threshold lies above that score: the same name is clear for every caller.
    threshold, cutoff = round(score + 0.02, 2), round(score - 0.01, 2)
    for name, value in strict_profile(tmp_path, threshold, cutoff).items():
        monkeypatch.setenv(name, value)
    assert service.policy_on() == service.Policy(threshold, cutoff, "XX-STRICT-2024")
    (under_strict,) = service.screen(db, operator, [near])
    assert not under_strict["hit"] and under_strict["threshold"] == f"{threshold:.2f}"
    assert [c["score"] for c in under_strict["candidates"]] == [score]  # the profile's cutoff too
    assert service.screen(db, operator, [near], threshold=default.threshold)[0]["hit"]  # ad hoc only
    with db.transaction() as session:
        assert gate.screen_party(session, "system:tests", party).status is gate.GateStatus.CLEAR
        other = gate.PartyToScreen("owner:other", near.name, "Person", "RU")
        assert gate.screen_party(session, "system:tests", other).status is gate.GateStatus.CLEAR
    report = review.rescreen_all(db, operator)
    assert (report.subjects, report.hits) == (2, 0)
    performed = _last_payload(db, "screening.performed")
    assert (performed["profile_id"], performed["threshold"]) == ("XX-STRICT-2024", f"{threshold:.2f}")

    app = create_app(db)
    app.include_router(router, prefix="/v1")
    headers = {"Authorization": f"Bearer {bootstrap_key(db, Role.COMPLIANCE_OFFICER, 'co').key}"}
    with TestClient(app, raise_server_exceptions=False) as client:
        body = {"name": near.name, "schema": "Person", "country": "RU"}
        over_http = client.post("/v1/screenings", json=body, headers=headers)
        assert over_http.status_code == 201, over_http.text
        assert not over_http.json()["hit"] and over_http.json()["threshold"] == f"{threshold:.2f}"
        own = client.post("/v1/screenings", json={**body, "threshold": default.threshold}, headers=headers)
        assert own.json()["hit"]

    monkeypatch.delenv("CORRIDOR_PROFILE")
    with db.transaction() as session:
        assert gate.screen_party(session, "system:tests", party).status is gate.GateStatus.HIT


def test_cli_screen_reads_the_profile_threshold(
    cli_env: None, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import typer

    app = typer.Typer()
    app.add_typer(lists_app, name="lists")
    app.command("screen")(screen_command)
    runner = CliRunner()
    loaded = runner.invoke(app, ["lists", "load", str(zala(shared_data)), "--format", "ftm", "--quiet"])
    assert loaded.exit_code == 0, loaded.output
    screen = ["screen", "--name", "Masha Osetrova", "--schema", "Person", "--country", "RU", "--json"]
    hit = runner.invoke(app, screen)
    assert hit.exit_code == 1, hit.output
    score = json.loads(hit.stdout)["matches"][0]["score"]
    assert score < 0.97
    for name, value in strict_profile(tmp_path, round(score + 0.02, 2), 0.10).items():
        monkeypatch.setenv(name, value)
    clear = runner.invoke(app, screen)
    assert clear.exit_code == 0, clear.output
    assert json.loads(clear.stdout)["threshold"] == f"{round(score + 0.02, 2):.2f}"
    forced = runner.invoke(app, [*screen, "--threshold", "0.7"])
    assert forced.exit_code == 1 and json.loads(forced.stdout)["threshold"] == "0.70"


def _last_payload(db: Database, kind: str) -> dict[str, Any]:
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT payload FROM registry_entries WHERE kind = :k ORDER BY seq DESC"), {"k": kind}
        ).first()
    assert row is not None
    return dict(json.loads(row.payload))
