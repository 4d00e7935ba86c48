"""The BTC price a quote locks: the configured sources, the recorded feed cycled for a running system, a
direct market pair or a market pair times an official rate, recorded with its path; timeouts fail over,
and stale or failing sources are clear errors that record nothing."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from corridor.access.model import Principal
from corridor.db import Database
from corridor.errors import NotFound, ValidationFailed
from corridor.rates import service
from corridor.rates.model import RateSourceError, StaleRate
from corridor.rates.sources.market import (
    RECORDED_FEED,
    AllSourcesFailed,
    FailoverPriceSource,
    HttpJsonPriceSource,
    MarketPriceSource,
    MarketSourcesInvalid,
    RecordedFeedSource,
    parse_market_sources,
    read_recorded_feed,
)

from .conftest import TICKER_AS_OF, count, nothing_stored, registry_kinds

FEED = read_recorded_feed(RECORDED_FEED)


def recorded_price(pair: str, hour: int, minute: int) -> Decimal:
    at = datetime(2024, 11, 1, hour, minute, tzinfo=UTC)
    return next(r.price for r in FEED if r.pair == pair and r.time == at)


def market(
    *sources: MarketPriceSource, now: datetime, max_age: timedelta = timedelta(minutes=5)
) -> FailoverPriceSource:
    return FailoverPriceSource(list(sources), max_age, lambda: now)


def cycled(now: datetime) -> RecordedFeedSource:
    return RecordedFeedSource(clock=lambda: now, cycle=True)


# --- the recorded feed, cycled ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now",
    [
        datetime(2031, 5, 5, 0, 15, tzinfo=UTC),
        datetime(2020, 2, 29, 0, 19, 59, tzinfo=UTC),
        datetime(2024, 11, 1, 0, 10, tzinfo=UTC),
    ],
)
def test_the_cycled_feed_repeats_every_day_and_is_never_stale(now: datetime) -> None:
    price = cycled(now).fetch("BTC/USD")
    assert price.price == recorded_price("BTC/USD", 0, 10)
    assert price.as_of == now


def test_the_cycled_feed_wraps_at_midnight_and_keeps_the_default_behaviour_otherwise() -> None:
    late = datetime(2030, 1, 1, 23, 59, tzinfo=UTC)
    assert cycled(late).fetch("BTC/RUB").price == recorded_price("BTC/RUB", 23, 50)
    assert cycled(late + timedelta(minutes=2)).fetch("BTC/RUB").price == recorded_price("BTC/RUB", 0, 0)
    assert RecordedFeedSource().period == timedelta(hours=24)
    # Not cycled, the feed's last price is as old as the feed: a running system would find it stale.
    assert RecordedFeedSource(clock=lambda: late).fetch("BTC/USD").as_of == datetime(2024, 11, 2, tzinfo=UTC)
    start = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    replayed = RecordedFeedSource(
        clock=lambda: start + timedelta(days=3, minutes=5), replay_from=start, cycle=True
    )
    assert replayed.fetch("BTC/EUR").price == recorded_price("BTC/EUR", 0, 0)


# --- the CORRIDOR_MARKET_SOURCES syntax ---------------------------------------------------------------


def test_market_sources_syntax() -> None:
    sources = parse_market_sources(
        "coinbase=http:https://api.coinbase.com/v2/prices/{pair}/spot#data.amount,"
        " http:https://api.kraken.com/0/public/Ticker?pair=XBT{quote}#result.XXBTZEUR.c.0@result.time,"
        " recorded",
        timeout_seconds=2.5,
    )
    coinbase, kraken, recorded = sources
    assert isinstance(coinbase, HttpJsonPriceSource) and isinstance(kraken, HttpJsonPriceSource)
    assert (coinbase.name, coinbase.price_path, coinbase.time_path) == ("coinbase", "data.amount", None)
    assert (kraken.name, kraken.time_path, kraken.timeout_seconds) == ("api.kraken.com", "result.time", 2.5)
    assert isinstance(recorded, RecordedFeedSource) and recorded.cycle and recorded.name == "recorded"
    assert service.market_settings() == ("recorded", 300)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "no sources"),
        ("ftp://example.org/x#a", "expected recorded"),
        ("http:https://example.org/price", "needs <url>#<json.path>"),
        ("http:example.org/{pair}#a", "not an http"),
        ("http:https://example.org/{symbol}#a", "bad URL template"),
        ("http:https://example.org/{pair}#a..b", "bad JSON path"),
        ("recorded,recorded", "named 'recorded'"),
        ("recorded:/nonexistent/feed.jsonl", "no feed file"),
    ],
)
def test_bad_market_sources_are_refused_whole(spec: str, message: str) -> None:
    with pytest.raises(MarketSourcesInvalid, match=message) as caught:
        parse_market_sources(spec)
    assert caught.value.code == "rates.market_sources_invalid"


def test_a_named_feed_file_can_replace_the_shipped_one(tmp_path: Path) -> None:
    feed = tmp_path / "feed.csv"
    feed.write_text(
        "time,pair,price\n2024-01-01T00:00:00Z,BTC/EUR,40000.5\n2024-01-01T00:01:00Z,BTC/EUR,40001\n"
    )
    (source,) = parse_market_sources(f"mine=recorded:{feed}")
    assert isinstance(source, RecordedFeedSource) and source.name == "mine"
    assert source.period == timedelta(minutes=2)


# --- recorded BTC prices ------------------------------------------------------------------------------


def test_a_direct_pair_is_recorded_with_its_path_and_read_back(db: Database) -> None:
    now = datetime(2026, 3, 3, 10, 25, tzinfo=UTC)
    with db.transaction() as session:
        price = service.btc_price_in(session, "rub", market(cycled(now), now=now), now, actor="user:u-1")
    assert price.id is not None and price.id.startswith("mp_")
    assert (price.pair, price.price, price.source) == (
        "BTC/RUB",
        recorded_price("BTC/RUB", 10, 20),
        "recorded",
    )
    assert price.path == (f"market:recorded BTC/RUB 2026-03-03T10:25:00.000000Z = {price.price}",)
    assert price.payload_hashes == (hashlib.sha256(RECORDED_FEED.read_bytes()).hexdigest(),)
    assert registry_kinds(db) == ["rates.market_price_recorded"]
    with db.transaction() as session:
        assert service.get_market_price_in(session, price.id) == price
    with pytest.raises(NotFound), db.transaction() as session:
        service.get_market_price_in(session, "mp_unknown")


def test_without_a_market_pair_the_price_goes_through_an_official_rate(
    db: Database, operator: Principal, cbr_dir: Path
) -> None:
    loaded = service.load_official_payload(
        db, operator, (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes(), "cbr-xml"
    )
    now = datetime(2022, 7, 24, 12, 0, tzinfo=UTC)
    with db.transaction() as session:
        price = service.btc_price_in(session, "GBP", market(cycled(now), now=now), now)
    btc_usd = recorded_price("BTC/USD", 12, 0)
    usd_gbp = Decimal("57.3917") * (Decimal(1) / Decimal("68.5659"))
    assert (price.pair, price.market_pair, price.derivation) == ("BTC/GBP", "BTC/USD", "market x official")
    assert price.official_rate == usd_gbp and price.price == btc_usd * usd_gbp
    assert price.path == (
        f"market:recorded BTC/USD 2022-07-24T12:00:00.000000Z = {btc_usd}",
        "USD/RUB CBR 2022-07-23 = 57.3917",
        "1 / [GBP/RUB CBR 2022-07-23 = 68.5659]",
    )
    assert price.payload_hashes[1:] == (loaded.payload_sha256, loaded.payload_sha256)
    with db.transaction() as session:
        assert service.get_market_price_in(session, str(price.id)).official_rate == usd_gbp


def test_the_official_day_is_the_moscow_date(db: Database, operator: Principal, cbr_dir: Path) -> None:
    service.load_official_payload(
        db, operator, (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes(), "cbr-xml"
    )
    assert service.rate_day(datetime(2022, 7, 22, 21, 0, tzinfo=UTC)) == date(2022, 7, 23)
    evening = datetime(2022, 7, 22, 20, 59, tzinfo=UTC)  # still the 22nd in Moscow: no rate loaded
    with db.transaction() as session, pytest.raises(RateSourceError, match="no BTC/GBP"):
        service.quote_btc_price_in(session, "GBP", market(cycled(evening), now=evening))
    with pytest.raises(ValidationFailed):
        service.rate_day(datetime(2022, 7, 22, 20, 59))


def test_a_timed_out_source_fails_over_to_the_recorded_feed(db: Database, slow_server: str) -> None:
    slow = HttpJsonPriceSource(
        "slow-exchange", slow_server + "/slow/{pair}", "data.amount", timeout_seconds=0.2
    )
    now = datetime.now(UTC)
    with db.transaction() as session:
        price = service.btc_price_in(session, "EUR", market(slow, cycled(now), now=now), now)
    assert price.source == "recorded" and count(db, "rates_market_prices") == 1


def test_when_every_source_fails_the_error_names_each_and_nothing_is_recorded(
    db: Database, slow_server: str
) -> None:
    slow = HttpJsonPriceSource(
        "slow-exchange", slow_server + "/slow/{pair}", "data.amount", timeout_seconds=0.2
    )
    down = HttpJsonPriceSource("down-exchange", slow_server + "/html/{pair}", "data.amount")
    with pytest.raises(AllSourcesFailed) as caught, db.transaction() as session:
        service.btc_price_in(session, "EUR", market(slow, down, now=datetime.now(UTC)))
    assert [f.code for f in caught.value.failures] == ["rates.timeout", "rates.source_failed"]
    assert "slow-exchange: no answer within 0.2 s" in caught.value.detail
    assert "down-exchange: HTTP 502 (an HTML error page)" in caught.value.detail
    assert nothing_stored(db)


def test_a_stale_price_names_its_source_and_age_and_records_nothing(db: Database, price_server: str) -> None:
    ticker = HttpJsonPriceSource(
        "exchange", price_server + "/ticker/{pair}", "data.amount", time_path="data.ts"
    )
    late = TICKER_AS_OF + timedelta(minutes=7)
    with pytest.raises(StaleRate) as caught, db.transaction() as session:
        service.btc_price_in(session, "RUB", market(ticker, now=late), late)
    assert caught.value.source == "exchange" and caught.value.code == "rates.stale"
    assert caught.value.age == timedelta(minutes=7)
    assert "exchange: price is 420 s old, more than the 300 s allowed" in str(caught.value)
    assert nothing_stored(db)
    with db.transaction() as session:
        fresh = service.btc_price_in(session, "RUB", market(ticker, now=TICKER_AS_OF), TICKER_AS_OF)
    assert fresh.price == Decimal("6543210.12") and fresh.observed_at == TICKER_AS_OF


def test_the_configured_source_is_built_once_per_configuration(price_server: str) -> None:
    spec = f"local=http:{price_server}/ticker/{{pair}}#data.amount@data.ts,recorded"
    built = service.build_market_source(spec, 60)
    assert built is service.build_market_source(spec, 60)
    assert [s.name for s in built.sources] == ["local", "recorded"] and built.max_age == timedelta(seconds=60)
    # The ticker's price is from 2024: stale, so the cycled feed answers.
    assert built.fetch("BTC/CNY").source == "recorded"
    assert service.configured_market_source().sources[0].name == "recorded"
