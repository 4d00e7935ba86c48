"""The participants and contracts CLI against a real database: an application over the command line,
a refused one with its rule code and exit status 2, and a decision made by the key's named officer."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.cli.contracts import contracts_app
from corridor.cli.participants import participants_app
from corridor.db import Database
from corridor.settings import get_settings

app = typer.Typer()
app.add_typer(participants_app, name="participants")
app.add_typer(contracts_app, name="contracts")


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", db.url)
    monkeypatch.setenv("CORRIDOR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


APPLICATION = {
    "kind": "legal_entity",
    "residency": "resident",
    "name": "Uralsk Machine Works JSC",
    "country": "RU",
    "roles": ["exporter"],
    "industry": "machinery",
    "inn": "7707083893",
    "ogrn": "1027700132195",
    "kpp": "773601001",
    "persons": [{"role": "director", "full_name": "Anna Sidorova", "country": "RU"}],
}


def test_apply_refuse_and_review_from_the_command_line(db: Database, cli_env: None, tmp_path: Path) -> None:
    ops = bootstrap_key(db, Role.OPERATOR_ADMIN, "ops").key
    officer = bootstrap_key(db, Role.COMPLIANCE_OFFICER, "Maria Maker").key
    runner = CliRunner()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**APPLICATION, "ogrn": "1022500001328"}))
    refused = runner.invoke(app, ["participants", "apply", str(bad), "--key", ops])
    assert refused.exit_code == 2 and json.loads(refused.stderr)["code"] == "ogrn.check_digit"
    good = tmp_path / "good.json"
    good.write_text(json.dumps(APPLICATION))
    applied = runner.invoke(app, ["participants", "apply", str(good), "--key", ops])
    assert applied.exit_code == 0, applied.output
    participant = json.loads(applied.stdout)
    assert participant["status"] == "awaiting_screening"
    reviewed = runner.invoke(
        app, ["participants", "review", participant["id"], "--key", officer, "--notes", "file complete"]
    )
    assert json.loads(reviewed.stdout)["reviewed_by"].startswith("user:")
    blocked = runner.invoke(
        app, ["participants", "approve", participant["id"], "--key", ops, "--reason", "operator"]
    )
    assert blocked.exit_code == 2 and json.loads(blocked.stderr)["code"] == "forbidden"
    listed = runner.invoke(app, ["contracts", "list", "--key", ops])
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []
