"""Market price sources against a local HTTP server (JSON, an HTML error page, a slow answer), the
recorded feed shipped for the devnode and demo, failover and staleness."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corridor.rates.model import MarketPrice, RatePayloadError, RateSourceError, StaleRate
from corridor.rates.sources.market import (
    RECORDED_FEED,
    AllSourcesFailed,
    FailoverPriceSource,
    HttpJsonPriceSource,
    RecordedFeedSource,
    read_recorded_feed,
)

AS_OF = datetime(2024, 11, 1, 12, 0, tzinfo=UTC)
RELEASE_SLOW = threading.Event()

ROUTES: dict[str, tuple[int, str, bytes]] = {
    "/ticker/BTC-RUB": (
        200,
        "application/json",
        json.dumps({"data": {"amount": "6543210.12", "ts": int(AS_OF.timestamp())}}).encode(),
    ),
    "/number/BTC-RUB": (200, "application/json", b'{"result": [{"last": 6543210.123456789012345}]}'),
    "/maintenance": (503, "text/html", b"<html><head><title>Down for maintenance</title></head></html>"),
    "/html-200": (200, "text/html; charset=utf-8", b"<!DOCTYPE html><html><body>Cloudflare</body></html>"),
    "/not-json": (200, "application/json", b"price=5"),
    "/negative": (200, "application/json", b'{"data": {"amount": "-1"}}'),
}


class FeedHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow":
            RELEASE_SLOW.wait(timeout=5)
            status, kind, body = ROUTES["/ticker/BTC-RUB"]
        else:
            status, kind, body = ROUTES.get(self.path, (404, "text/plain", b"no such route"))
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    RELEASE_SLOW.set()
    httpd.shutdown()
    httpd.server_close()


def source(server: str, route: str, **kwargs: object) -> HttpJsonPriceSource:
    options: dict[str, object] = {"price_path": "data.amount", "timeout_seconds": 2.0, **kwargs}
    return HttpJsonPriceSource(name="local", url=server + route, **options)  # type: ignore[arg-type]


def test_json_price_with_timestamp(server: str) -> None:
    price = source(server, "/ticker/{base}-{quote}", time_path="data.ts").fetch("btc/rub")
    assert price == MarketPrice("BTC/RUB", Decimal("6543210.12"), AS_OF, "local", price.payload_sha256)
    assert len(price.payload_sha256) == 64


def test_json_numbers_never_pass_through_float(server: str) -> None:
    price = source(server, "/number/{base}-{quote}", price_path="result.0.last").fetch("BTC/RUB")
    assert price.price == Decimal("6543210.123456789012345")


def test_missing_time_uses_the_receipt_time(server: str) -> None:
    received = datetime(2030, 1, 1, tzinfo=UTC)
    price = source(server, "/ticker/BTC-RUB", clock=lambda: received).fetch("BTC/RUB")
    assert price.as_of == received


@pytest.mark.parametrize(
    ("route", "error", "message"),
    [
        ("/maintenance", RateSourceError, "HTTP 503 \\(an HTML error page\\)"),
        ("/html-200", RatePayloadError, "HTML page instead of JSON"),
        ("/not-json", RatePayloadError, "not JSON"),
        ("/negative", RatePayloadError, "positive"),
        ("/ticker/BTC-RUB?x", RateSourceError, "HTTP 404"),
    ],
)
def test_bad_answers_are_clear_errors(server: str, route: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message) as caught:
        source(server, route).fetch("BTC/RUB")
    assert isinstance(caught.value, RateSourceError)
    assert caught.value.source == "local"


def test_wrong_json_path_names_the_path(server: str) -> None:
    with pytest.raises(RatePayloadError, match=r"'data\.price'"):
        source(server, "/ticker/BTC-RUB", price_path="data.price").fetch("BTC/RUB")


def test_slow_source_times_out(server: str) -> None:
    RELEASE_SLOW.clear()
    try:
        with pytest.raises(RateSourceError) as caught:
            source(server, "/slow", timeout_seconds=0.2).fetch("BTC/RUB")
    finally:
        RELEASE_SLOW.set()
    assert caught.value.code == "rates.timeout"
    assert "0.2 s" in caught.value.detail


def test_unreachable_source_is_a_source_error() -> None:
    with pytest.raises(RateSourceError, match="request failed"):
        HttpJsonPriceSource("down", "http://127.0.0.1:9/x", "p", timeout_seconds=1).fetch("BTC/RUB")


# --- recorded feed -----------------------------------------------------------------------------------


def test_shipped_feed_is_deterministic_and_covers_the_demo_pairs() -> None:
    records = read_recorded_feed(RECORDED_FEED)
    assert {r.pair for r in records} == {"BTC/USD", "BTC/RUB", "BTC/EUR", "BTC/CNY"}
    assert records == read_recorded_feed(RECORDED_FEED)
    assert all(r.price > 0 for r in records)


def test_recorded_feed_answers_with_the_last_price_before_now() -> None:
    at = datetime(2024, 11, 1, 0, 15, tzinfo=UTC)
    price = RecordedFeedSource(clock=lambda: at).fetch("BTC/USD")
    assert price.as_of == datetime(2024, 11, 1, 0, 10, tzinfo=UTC)
    expected = [r for r in read_recorded_feed(RECORDED_FEED) if r.pair == "BTC/USD"][1].price
    assert price.price == expected


def test_recorded_feed_replays_from_a_chosen_start() -> None:
    start = datetime(2031, 5, 5, 9, 0, tzinfo=UTC)
    price = RecordedFeedSource(clock=lambda: start + timedelta(minutes=25), replay_from=start).fetch(
        "BTC/RUB"
    )
    assert price.as_of == start + timedelta(minutes=20)


def test_recorded_feed_before_its_first_record_is_an_error() -> None:
    with pytest.raises(RateSourceError, match="no recorded BTC/USD price"):
        RecordedFeedSource(clock=lambda: datetime(2020, 1, 1, tzinfo=UTC)).fetch("BTC/USD")


def test_recorded_feed_reads_csv(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text("time,pair,price\n2024-01-01T00:00:00Z,BTC/EUR,40000.5\n1704067260,BTC/EUR,40001\n")
    price = RecordedFeedSource(feed, clock=lambda: datetime(2024, 1, 2, tzinfo=UTC)).fetch("BTC/EUR")
    assert price.price == Decimal("40001")


def test_recorded_feed_refuses_naive_times(tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    feed.write_text('{"time": "2024-01-01T00:00:00", "pair": "BTC/EUR", "price": "1"}\n')
    with pytest.raises(RatePayloadError, match=r"record 1.*time zone"):
        RecordedFeedSource(feed)


# --- failover and staleness --------------------------------------------------------------------------


def test_failover_skips_failing_and_stale_sources(server: str) -> None:
    late = AS_OF + timedelta(hours=1)
    stale = source(server, "/ticker/{base}-{quote}", time_path="data.ts")  # an hour old at `late`
    recorded = RecordedFeedSource(clock=lambda: late, replay_from=late - timedelta(minutes=1))
    chain = FailoverPriceSource(
        [source(server, "/maintenance"), stale, recorded], timedelta(minutes=5), lambda: late
    )
    assert chain.fetch("BTC/RUB").source == "recorded"


def test_stale_price_names_source_and_age(server: str) -> None:
    late = AS_OF + timedelta(minutes=7)
    only = FailoverPriceSource(
        [source(server, "/ticker/{base}-{quote}", time_path="data.ts")], timedelta(minutes=5), lambda: late
    )
    with pytest.raises(StaleRate) as caught:
        only.fetch("BTC/RUB")
    assert caught.value.source == "local"
    assert caught.value.age == timedelta(minutes=7)
    assert "420 s old" in caught.value.detail


def test_all_sources_failing_lists_each_failure(server: str) -> None:
    chain = FailoverPriceSource([source(server, "/maintenance"), source(server, "/html-200")])
    with pytest.raises(AllSourcesFailed) as caught:
        chain.fetch("BTC/RUB")
    assert [f.code for f in caught.value.failures] == ["rates.source_failed", "rates.bad_payload"]
    assert "HTTP 503" in caught.value.detail and "HTML page" in caught.value.detail
