"""The rates routes mounted on the real app, and `corridor rates` against a real database: upload a payload
as published, read a rate with its path, refuse an HTML page with 422 and nothing stored, price BTC."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from corridor.access.model import Principal, Role
from corridor.access.service import bootstrap_key
from corridor.cli.rates import rates_app
from corridor.db import Database
from corridor.http import app as http_app
from corridor.rates import service
from corridor.rates.api import router as rates_router
from corridor.rates.sources.market import FailoverPriceSource, RecordedFeedSource
from corridor.settings import get_settings

from .conftest import count, nothing_stored

SUNDAY_NOON = datetime(2022, 7, 24, 12, 0, tzinfo=UTC)


@pytest.fixture
def api(db: Database) -> Iterator[TestClient]:
    app = http_app.create_app(db)
    if rates_router not in http_app.API_ROUTERS:
        app.include_router(rates_router, prefix="/v1")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def key(db: Database, role: Role, participant_id: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {bootstrap_key(db, role, role.value, participant_id).key}"}


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


def test_upload_then_read_a_cross_rate_with_its_path(api: TestClient, db: Database, cbr_dir: Path) -> None:
    treasury, client = key(db, Role.TREASURY), key(db, Role.CLIENT, "p-1")
    raw = (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes()
    upload = {"format": "cbr-xml", "origin": "https://www.cbr.ru/scripts/XML_daily.asp?date_req=23/07/2022"}
    created = api.post("/v1/rates/official/payloads", params=upload, content=raw, headers=treasury)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["payload_sha256"] == hashlib.sha256(raw).hexdigest()
    assert (body["rates"], body["stored"], body["created"]) == (34, 34, True)
    again = api.post("/v1/rates/official/payloads", params=upload, content=raw, headers=treasury)
    assert again.status_code == 200 and again.json() == {**body, "created": False}

    rate = api.get(
        "/v1/rates/official", params={"base": "USD", "quote": "CNY", "date": "2022-07-24"}, headers=client
    )
    assert rate.status_code == 200, rate.text
    found = rate.json()
    assert (found["source"], found["derivation"], found["published_on"]) == ("CBR", "cross", "2022-07-23")
    assert found["path"][0] == "USD/RUB CBR 2022-07-23 = 57.3917"
    assert found["payload_hashes"] == [body["payload_sha256"]] * 2
    assert [leg["base"] + "/" + leg["quote"] for leg in found["legs"]] == ["USD/RUB", "RUB/CNY"]

    meta = api.get(f"/v1/rates/official/payloads/{body['payload_sha256']}", headers=client).json()
    assert meta["origin"] == upload["origin"] and meta["loaded_by"].startswith("user:")
    content = api.get(f"/v1/rates/official/payloads/{body['payload_sha256']}/raw", headers=client)
    assert content.content == raw and content.headers["content-type"] == "application/xml"


def test_the_html_error_page_is_a_422_and_nothing_is_stored(
    api: TestClient, db: Database, ecb_dir: Path
) -> None:
    page = (ecb_dir / "eu_central_bank/illegal_exchange_rates.xml").read_bytes()
    refused = api.post(
        "/v1/rates/official/payloads",
        params={"format": "ecb-xml"},
        content=page,
        headers=key(db, Role.OPERATOR_ADMIN),
    )
    body = problem(refused, 422, "rates.bad_payload")
    assert body["source"] == "ECB" and "Illegal xml file" in body["detail"]
    assert nothing_stored(db)


def test_refusals(api: TestClient, db: Database, cbr_dir: Path) -> None:
    raw = (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes()
    regulator = key(db, Role.REGULATOR)
    problem(
        api.post("/v1/rates/official/payloads", params={"format": "cbr-xml"}, content=raw, headers=regulator),
        403,
        "forbidden",
    )
    problem(
        api.post(
            "/v1/rates/official/payloads",
            params={"format": "xls"},
            content=raw,
            headers=key(db, Role.TREASURY),
        ),
        422,
        "validation_error",
    )
    problem(
        api.post("/v1/rates/official/payloads", params={"format": "cbr-xml"}, content=raw),
        401,
        "unauthenticated",
    )
    missing = api.get(
        "/v1/rates/official", params={"base": "USD", "quote": "RUB", "date": "2022-07-24"}, headers=regulator
    )
    problem(missing, 404, "rates.not_found")
    problem(
        api.get("/v1/rates/official/payloads/" + "0" * 64, headers=regulator), 404, "rates.payload_not_found"
    )
    problem(
        api.get("/v1/rates/market-prices/mp_nothing", headers=regulator), 404, "rates.market_price_not_found"
    )
    assert count(db, "rates_payloads") == 0


def test_an_upload_retried_with_an_idempotency_key_is_replayed(
    api: TestClient, db: Database, cbr_dir: Path
) -> None:
    headers = {**key(db, Role.TREASURY), "Idempotency-Key": "cbr-2022-07-23"}
    raw = (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes()
    first = api.post(
        "/v1/rates/official/payloads", params={"format": "cbr-xml"}, content=raw, headers=headers
    )
    replay = api.post(
        "/v1/rates/official/payloads", params={"format": "cbr-xml"}, content=raw, headers=headers
    )
    assert first.status_code == replay.status_code == 201
    assert replay.headers.get("idempotent-replayed") == "true" and replay.json() == first.json()


def test_the_current_btc_price_from_the_configured_feed_is_not_recorded(
    api: TestClient, db: Database
) -> None:
    price = api.get("/v1/rates/btc/RUB", headers=key(db, Role.CLIENT, "p-1"))
    assert price.status_code == 200, price.text
    body = price.json()
    assert (body["pair"], body["source"], body["derivation"], body["id"]) == (
        "BTC/RUB",
        "recorded",
        "market",
        None,
    )
    assert body["path"][0].startswith("market:recorded BTC/RUB ")
    assert count(db, "rates_market_prices") == 0


def test_a_bridged_btc_price_and_a_recorded_one_over_http(
    api: TestClient, db: Database, operator: Principal, cbr_dir: Path
) -> None:
    service.load_official_payload(
        db, operator, (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes(), "cbr-xml"
    )
    feed = RecordedFeedSource(clock=lambda: SUNDAY_NOON, cycle=True)
    market = FailoverPriceSource([feed], clock=lambda: SUNDAY_NOON)
    api.app.state.market_source = market  # type: ignore[attr-defined]
    reader = key(db, Role.REGULATOR)
    bridged = api.get("/v1/rates/btc/gbp", headers=reader).json()
    assert (bridged["pair"], bridged["market_pair"], bridged["derivation"]) == (
        "BTC/GBP",
        "BTC/USD",
        "market x official",
    )
    assert bridged["path"][1:] == [
        "USD/RUB CBR 2022-07-23 = 57.3917",
        "1 / [GBP/RUB CBR 2022-07-23 = 68.5659]",
    ]
    with db.transaction() as session:
        recorded = service.btc_price_in(session, "GBP", market)
    stored = api.get(f"/v1/rates/market-prices/{recorded.id}", headers=reader).json()
    assert stored == recorded.as_dict() and stored["price"] == bridged["price"]


# --- the command line ---------------------------------------------------------------------------------

cli = typer.Typer()
cli.add_typer(rates_app, name="rates")


@pytest.fixture
def cli_env(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", db.url)
    monkeypatch.setenv("CORRIDOR_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_load_and_show_from_the_command_line(
    db: Database, cli_env: None, cbr_dir: Path, ecb_dir: Path
) -> None:
    runner = CliRunner()
    path = cbr_dir / "XML_daily_2023-09-27_reformatted_utf8.xml"
    loaded = runner.invoke(cli, ["rates", "load", str(path), "--format", "cbr-xml", "--json"])
    assert loaded.exit_code == 0, loaded.output
    result = json.loads(loaded.stdout)
    assert result["created"] and result["source"] == "CBR"
    human = runner.invoke(cli, ["rates", "load", str(path), "--format", "cbr-xml"])
    assert human.exit_code == 0 and human.stdout.startswith("already loaded CBR cbr-xml payload")

    shown = runner.invoke(cli, ["rates", "show", "CNY", "EUR", "--date", "2023-09-27", "--json"])
    assert shown.exit_code == 0, shown.output
    rate = json.loads(shown.stdout)
    assert rate["derivation"] == "cross" and rate["payload_hashes"] == [result["payload_sha256"]] * 2
    text = runner.invoke(cli, ["rates", "show", "USD", "RUB", "--date", "2023-09-27"])
    assert text.stdout.splitlines()[:2] == [
        "USD/RUB on 2023-09-27: 96.2378 (CBR, published)",
        "  USD/RUB CBR 2023-09-27 = 96.2378",
    ]

    page = ecb_dir / "eu_central_bank/illegal_exchange_rates.xml"
    refused = runner.invoke(cli, ["rates", "load", str(page), "--format", "ecb-xml"])
    assert refused.exit_code == 2 and json.loads(refused.stderr)["code"] == "rates.bad_payload"
    missing = runner.invoke(cli, ["rates", "show", "USD", "RUB", "--date", "2023-09-28"])
    assert missing.exit_code == 2 and json.loads(missing.stderr)["code"] == "rates.not_found"
    assert count(db, "rates_payloads") == 1

    btc = runner.invoke(cli, ["rates", "btc", "CNY", "--json"])
    assert btc.exit_code == 0, btc.output
    assert json.loads(btc.stdout)["source"] == "recorded"
