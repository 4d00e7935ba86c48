"""`corridor invoices|payments|operations` against a real database and devnode world, on SQLite and
PostgreSQL: each command acts as its API key's holder; refusals print the stable code and exit 2."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from corridor.access.model import Role
from corridor.access.service import bootstrap_key
from corridor.cli.settlement import invoices_app, operations_app, payments_app
from corridor.demo import world
from corridor.settings import get_settings

from .conftest import World

pytestmark = [pytest.mark.db, pytest.mark.chain]

app = typer.Typer()
app.add_typer(invoices_app, name="invoices")
app.add_typer(payments_app, name="payments")
app.add_typer(operations_app, name="operations")


@dataclass(frozen=True)
class Keys:
    ops: str
    exporter: str
    importer: str
    treasurer: str


@pytest.fixture
def keys(settlement_world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Keys]:
    """The CLI opens the world's database through the settings, as `corridor` does on a server."""
    w = settlement_world
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", w.db.url)
    monkeypatch.setenv("CORRIDOR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield Keys(
        ops=bootstrap_key(w.db, Role.OPERATOR_ADMIN, "Olga Operator").key,
        exporter=bootstrap_key(w.db, Role.CLIENT, "Uralsk accountant", w.exporter).key,
        importer=bootstrap_key(w.db, Role.CLIENT, "Volga accountant", w.importer).key,
        treasurer=bootstrap_key(w.db, Role.TREASURY, "Tatiana Treasury").key,
    )
    get_settings.cache_clear()


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, (args, result.output)
    return json.loads(result.stdout)


def refused(*args: str) -> str:
    """The stable code of a refused command (human form), checked against its --json form."""
    human = run(*args)
    assert human.exit_code == 2 and human.stdout == "", (args, human.output)
    assert human.stderr.startswith("error: ")
    machine = run(*args, "--json")
    assert machine.exit_code == 2
    code = str(json.loads(machine.stderr)["code"])
    assert human.stderr.startswith(f"error: {code}: ")
    return code


def settle(w: World) -> None:
    w.settle_round()


def test_invoices_from_the_command_line_with_a_refund(settlement_world: World, keys: Keys) -> None:
    w = settlement_world
    created = ok_json("invoices", "create", w.export_contract, "50000", "RUB", "--id", "inv-cli",
                      "--description", "lathe spares", "--key", keys.exporter)  # fmt: skip
    assert (created["id"], created["status"], created["amount"]) == ("inv-cli", "new", "50000.00")
    shown = run("invoices", "show", "inv-cli", "--key", keys.exporter)
    assert shown.exit_code == 0
    assert "invoice inv-cli: new" in shown.stdout and created["address"] in shown.stdout
    assert created["bip21"] in shown.stdout

    w.pay(created["address"], created["sats_due"] + 30_000)
    w.mine(6)
    settle(w)
    settled = ok_json("invoices", "list", "--status", "settled", "--key", keys.exporter)
    assert [(i["id"], i["exception"]) for i in settled] == [("inv-cli", "paid_over")]
    listed = run("invoices", "list", "--key", keys.exporter)
    assert listed.stdout.split()[:3] == ["inv-cli", "settled", "paid_over"]
    assert run("invoices", "list", "--key", keys.importer).stdout.strip() == "no invoices"
    request_id = settled[0]["requests"][0]["id"]
    request = run("invoices", "request", request_id, "--key", keys.exporter)
    assert request.stdout.startswith(f"request {request_id}: refund of 30000 sats, open")

    refunding = run(
        "invoices", "refund", request_id, "--address", world.BUYER.address(), "--key", keys.exporter
    )
    assert refunding.exit_code == 0, refunding.output
    assert "refunding" in refunding.stdout and f"refund rf-{request_id}: 30000 sats" in refunding.stdout
    assert refused("invoices", "refund", request_id, "--address", world.BUYER.address(),
                   "--key", keys.exporter) == "refund_in_progress"  # fmt: skip
    assert refused("invoices", "resolve", request_id, "--resolution", "done by hand",
                   "--key", keys.exporter) == "request_closed"  # fmt: skip

    assert refused("invoices", "create", w.export_contract, "100.001", "RUB",
                   "--key", keys.exporter) == "amount.too_many_decimals"  # fmt: skip
    assert (
        refused("invoices", "create", w.export_contract, "100", "USD", "--key", keys.exporter)
        == "currency_mismatch"
    )
    assert refused("invoices", "show", "inv-cli", "--key", keys.importer) == "invoice_not_found"
    assert refused("invoices", "show", "inv-cli", "--key", "cor_not_a_key") == "invalid_credentials"
    assert (
        refused("invoices", "resolve", request_id, "--resolution", "x", "--key", keys.ops)
        == "resolution.invalid"
    )
    usage = run("invoices", "list", "--limit", "0", "--key", keys.ops)
    assert usage.exit_code == 2 and "--limit" in usage.output


def test_payments_and_operations_from_the_command_line(
    settlement_world: World, keys: Keys, tmp_path: Path
) -> None:
    w = settlement_world
    w.fund_hot_wallet()
    w.fund_importer(20_000_000)
    created = ok_json("payments", "create", w.import_contract, "1000", "RUB", "--id", "po-cli",
                      "--reference", "invoice 77", "--key", keys.importer)  # fmt: skip
    assert (created["state"], created["approvals_required"]) == ("pending_approval", 1)
    assert created["beneficiary"]["name"] == "Almaty Steel LLP"
    assert refused("payments", "approve", "po-cli", "--key", keys.importer) == "forbidden"
    approved = run("payments", "approve", "po-cli", "--key", keys.treasurer)
    assert approved.exit_code == 0 and approved.stdout.startswith("payment order po-cli: queued")
    ok_json("payments", "create", w.import_contract, "2000", "RUB", "--id", "po-cli2", "--key", keys.importer)
    cancelled = ok_json("payments", "cancel", "po-cli2", "--reason", "wrong amount", "--key", keys.importer)
    assert (cancelled["state"], cancelled["reason"]) == ("cancelled", "wrong amount")
    assert (
        refused("payments", "cancel", "po-cli2", "--reason", "no", "--key", keys.importer) == "reason.invalid"
    )
    sanctioned = world.demo_list_addresses()[0]
    to_sanctioned = ["payments", "create", w.import_contract, "1000", "RUB", "--address", sanctioned,
                     "--beneficiary-name", "Blackfin", "--beneficiary-country", "AE"]  # fmt: skip
    assert refused(*to_sanctioned, "--key", keys.importer) == "screening_hit"
    mainnet = "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    to_mainnet = ["payments", "create", w.import_contract, "1000", "RUB", "--address", mainnet]
    assert refused(*to_mainnet, "--key", keys.importer) == "address.invalid"

    settle(w)
    w.mine(6)
    settle(w)
    shown = ok_json("payments", "show", "po-cli", "--key", keys.importer)
    assert shown["state"] == "confirmed" and shown["txid"]
    states = {o["id"]: o["state"] for o in ok_json("payments", "list", "--key", keys.importer)}
    assert states == {"po-cli": "confirmed", "po-cli2": "cancelled"}
    assert run("payments", "list", "--state", "confirmed", "--key", keys.importer).stdout.startswith(
        "po-cli "
    )

    operations = ok_json("operations", "list", "--key", keys.importer)
    assert [(o["id"], o["kind"], o["sats"]) for o in operations] == [
        ("op_po-cli", "import_payment", shown["sats"])
    ]
    human = run("operations", "show", "op_po-cli", "--key", keys.importer)
    assert (
        human.exit_code == 0 and "import_payment (VO 11100)" in human.stdout and shown["txid"] in human.stdout
    )
    assert refused("operations", "show", "op_po-cli", "--key", keys.exporter) == "operation_not_found"
    pdf = tmp_path / "statement.pdf"
    written = ok_json("operations", "statement", "op_po-cli", "--out", str(pdf), "--key", keys.importer)
    assert pdf.read_bytes().startswith(b"%PDF") and written["bytes"] == pdf.stat().st_size
    missing = tmp_path / "no-such-dir" / "statement.pdf"
    assert refused("operations", "statement", "op_po-cli", "--out", str(missing), "--key", keys.importer) == (
        "out.invalid"
    )
    assert not missing.parent.exists()
