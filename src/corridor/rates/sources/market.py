"""Market BTC price sources behind one small interface, with failover and a staleness guard.

The Bank of Russia publishes no BTC rate, so the BTC leg of a quote comes from a market source named in the
settlement. Rate sources die, change shape or answer with an HTML error page (BTCPay's most common rate
complaints, peers.md 1); every such case here is a :class:`RateSourceError` that says which source failed
and how, and :class:`FailoverPriceSource` moves on to the next source.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from corridor.errors import ValidationFailed
from corridor.rates.model import (
    MarketPrice,
    RatePayloadError,
    RateSourceError,
    StaleRate,
    parse_decimal,
    sha256_hex,
    split_pair,
)
from corridor.rates.sources._xml import looks_like_html

Clock = Callable[[], datetime]
RECORDED_FEED = Path(__file__).resolve().parent.parent / "data" / "btc-recorded-feed.jsonl"


def utc_now() -> datetime:
    return datetime.now(UTC)


class MarketPriceSource(Protocol):
    name: str

    def fetch(self, pair: str) -> MarketPrice: ...


class AllSourcesFailed(RateSourceError):
    def __init__(self, failures: Sequence[RateSourceError]) -> None:
        summary = "; ".join(f"{f.source}: {f.detail}" for f in failures) or "no sources configured"
        super().__init__(
            "failover", f"every market source failed ({summary})", code="rates.all_sources_failed"
        )
        self.failures = tuple(failures)


def ensure_fresh(price: MarketPrice, max_age: timedelta, now: datetime) -> MarketPrice:
    age = price.age(now)
    if age > max_age:
        raise StaleRate(price.source, age, max_age)
    return price


def _positive_price(source: str, raw: object) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise RatePayloadError(source, f"price must be a number or numeric string, got {type(raw).__name__}")
    try:
        price = parse_decimal(str(raw))
    except ValueError as exc:
        raise RatePayloadError(source, str(exc)) from None
    if price <= 0:
        raise RatePayloadError(source, f"price must be positive, got {price}")
    return price


def parse_timestamp(source: str, raw: object) -> datetime:
    """Unix seconds (number or numeric string) or ISO 8601 with a zone; naive times are refused."""
    if isinstance(raw, int | Decimal) and not isinstance(raw, bool):
        return datetime.fromtimestamp(int(raw), UTC)
    if isinstance(raw, str):
        if raw.isdigit():
            return datetime.fromtimestamp(int(raw), UTC)
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise RatePayloadError(source, f"unreadable timestamp {raw!r}") from None
        if parsed.tzinfo is None:
            raise RatePayloadError(source, f"timestamp {raw!r} has no time zone")
        return parsed.astimezone(UTC)
    raise RatePayloadError(source, f"unreadable timestamp {raw!r}")


def extract_path(source: str, document: object, path: str) -> object:
    """Follow a dotted path (``result.XXBTZEUR.c.0``): names index objects, integers index lists."""
    current = document
    for step in path.split("."):
        if isinstance(current, dict) and step in current:
            current = current[step]
        elif (
            isinstance(current, list)
            and step.lstrip("-").isdigit()
            and -len(current) <= int(step) < len(current)
        ):
            current = current[int(step)]
        else:
            raise RatePayloadError(source, f"JSON has no value at {path!r} (stopped at {step!r})")
    return current


URL_PLACEHOLDERS = ("pair", "base", "quote", "base_lower", "quote_lower")


def format_url(template: str, base: str, quote: str) -> str:
    """Fill ``{pair}`` (``BTC-RUB``), ``{base}``, ``{quote}``, ``{base_lower}``, ``{quote_lower}``."""
    return template.format(
        pair=f"{base}-{quote}", base=base, quote=quote, base_lower=base.lower(), quote_lower=quote.lower()
    )


@dataclass
class HttpJsonPriceSource:
    """Any JSON price API: ``url`` may contain the placeholders of :func:`format_url`; ``price_path`` (and
    optionally ``time_path``) locate the values. Without a time in the answer, the receipt time is the as-of
    time."""

    name: str
    url: str
    price_path: str
    time_path: str | None = None
    timeout_seconds: float = 5.0
    client: httpx.Client | None = None
    clock: Clock = utc_now

    def fetch(self, pair: str) -> MarketPrice:
        base, quote = split_pair(pair)
        url = format_url(self.url, base, quote)
        response = self._get(url)
        received = self.clock()
        document = self._json(response)
        price = _positive_price(self.name, extract_path(self.name, document, self.price_path))
        as_of = received
        if self.time_path is not None:
            as_of = parse_timestamp(self.name, extract_path(self.name, document, self.time_path))
        return MarketPrice(f"{base}/{quote}", price, as_of, self.name, sha256_hex(response.content))

    def _get(self, url: str) -> httpx.Response:
        client = self.client or httpx.Client()
        try:
            return client.get(url, timeout=self.timeout_seconds, headers={"Accept": "application/json"})
        except httpx.TimeoutException as exc:
            raise RateSourceError(
                self.name, f"no answer within {self.timeout_seconds} s", "rates.timeout"
            ) from exc
        except httpx.HTTPError as exc:
            raise RateSourceError(self.name, f"request failed: {type(exc).__name__}: {exc}") from exc
        finally:
            if self.client is None:
                client.close()

    def _json(self, response: httpx.Response) -> object:
        content_type = response.headers.get("content-type", "")
        is_html = "html" in content_type or looks_like_html(response.content)
        if response.status_code != 200:
            kind = " (an HTML error page)" if is_html else ""
            raise RateSourceError(self.name, f"HTTP {response.status_code}{kind}")
        if is_html:
            raise RatePayloadError(self.name, "answered with an HTML page instead of JSON")
        try:
            # parse_float keeps prices exact: a JSON number never passes through float.
            return json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise RatePayloadError(self.name, f"answer is not JSON: {exc}") from None


@dataclass(frozen=True)
class RecordedPrice:
    pair: str
    price: Decimal
    time: datetime


def read_recorded_feed(path: Path, source: str = "recorded") -> list[RecordedPrice]:
    """A feed of timestamped prices: JSON lines ``{"time", "pair", "price"}`` or CSV ``time,pair,price``."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        rows: list[dict[str, object]] = list(csv.DictReader(io.StringIO(text)))
    else:
        rows = [json.loads(line, parse_float=Decimal) for line in text.splitlines() if line.strip()]
    records = []
    for number, row in enumerate(rows, start=1):
        try:
            pair = "/".join(split_pair(str(row["pair"])))
            records.append(
                RecordedPrice(
                    pair, _positive_price(source, row["price"]), parse_timestamp(source, row["time"])
                )
            )
        except (KeyError, RatePayloadError) as exc:
            raise RatePayloadError(source, f"{path.name} record {number}: {exc}") from None
    return sorted(records, key=lambda r: r.time)


@dataclass
class RecordedFeedSource:
    """Prices replayed from a recorded feed, for the devnode, the demo and offline tests.

    ``fetch`` answers with the last record at or before ``clock()``. With ``replay_from`` set, the feed is
    shifted so that its first record falls on that instant: the demo started today sees the recorded prices
    unfold from its start, deterministically.

    With ``cycle`` set, the feed repeats for ever, before and after its span, every ``period`` (24 h for
    the shipped feed), aligned on its first record (or ``replay_from``). A cycled feed is a synthetic price
    curve rather than a list of observations, so its answer is as of the instant asked: a running devnode
    or demo never sees a stale price, at any hour, and every process sees the same price at the same time.
    """

    path: Path = RECORDED_FEED
    name: str = "recorded"
    clock: Clock = utc_now
    replay_from: datetime | None = None
    cycle: bool = False

    def __post_init__(self) -> None:
        self._records = read_recorded_feed(self.path, self.name)
        if not self._records:
            raise RatePayloadError(self.name, f"{self.path.name} holds no prices")
        self._shift = timedelta(0) if self.replay_from is None else self.replay_from - self._records[0].time
        self._digest = sha256_hex(self.path.read_bytes())
        self._period = _feed_period(self._records)

    @property
    def period(self) -> timedelta:
        return self._period

    def fetch(self, pair: str) -> MarketPrice:
        wanted = "/".join(split_pair(pair))
        now = self.clock()
        if self.cycle:
            return self._cycled(wanted, now)
        seen = [r for r in self._records if r.pair == wanted and r.time + self._shift <= now]
        if not seen:
            raise RateSourceError(self.name, f"no recorded {wanted} price at or before {now.isoformat()}")
        last = seen[-1]
        return MarketPrice(wanted, last.price, last.time + self._shift, self.name, self._digest)

    def _cycled(self, wanted: str, now: datetime) -> MarketPrice:
        first = self._records[0].time
        feed_time = first + (now - self._shift - first) % self._period
        of_pair = [r for r in self._records if r.pair == wanted]
        if not of_pair:
            raise RateSourceError(self.name, f"the recorded feed has no {wanted} prices")
        seen = [r for r in of_pair if r.time <= feed_time]
        # Before the pair's first record in this cycle, its last record of the previous cycle holds.
        last = seen[-1] if seen else of_pair[-1]
        return MarketPrice(wanted, last.price, now, self.name, self._digest)


def _feed_period(records: Sequence[RecordedPrice]) -> timedelta:
    """How often a cycled feed repeats: its span when that is whole days (a feed recorded from midnight to
    midnight ends where the next cycle begins), else its span plus its last step, so that the last record
    lasts one step like the others."""
    times = sorted({r.time for r in records})
    span = times[-1] - times[0]
    if span and span % timedelta(days=1) == timedelta(0):
        return span
    step = times[-1] - times[-2] if len(times) > 1 else timedelta(minutes=1)
    return span + step


@dataclass
class FailoverPriceSource:
    """Try each source in order; the first fresh price wins. Every failure is kept for the error message."""

    sources: Sequence[MarketPriceSource]
    max_age: timedelta = timedelta(minutes=5)
    clock: Clock = utc_now
    name: str = "failover"

    def fetch(self, pair: str) -> MarketPrice:
        failures: list[RateSourceError] = []
        for source in self.sources:
            try:
                return ensure_fresh(source.fetch(pair), self.max_age, self.clock())
            except RateSourceError as exc:
                failures.append(exc)
        if len(failures) == 1:
            raise failures[0]
        raise AllSourcesFailed(failures)


# --- configuration -----------------------------------------------------------------------------------

MARKET_SOURCES_SYNTAX = """\
A comma-separated list of market sources, tried in order (failover). Each item is one of:
  recorded                         the shipped synthetic feed, cycled every 24 h (never stale; demo only)
  recorded:<path>                  another feed file (JSON lines or CSV time,pair,price), cycled
  http:<url>#<price.path>          a JSON API; <url> may hold {pair} (BTC-RUB), {base}, {quote},
  http:<url>#<price.path>@<time.path>   {base_lower}, {quote_lower}; the paths are dotted (data.amount,
                                   result.XXBTZEUR.c.0); the time is unix seconds or ISO 8601 with a zone
and may be named with a prefix: coinbase=http:https://api.coinbase.com/v2/prices/{pair}/spot#data.amount
A source is named after its host unless named so. Write a comma inside a URL as %2C."""

_NAME_PREFIX = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})=(.+)$", re.DOTALL)


class MarketSourcesInvalid(ValidationFailed):
    def __init__(self, item: str, detail: str) -> None:
        super().__init__("rates.market_sources_invalid", f"market source {item!r}: {detail}")


def parse_market_sources(
    spec: str, *, timeout_seconds: float = 5.0, clock: Clock = utc_now
) -> list[MarketPriceSource]:
    """Build the sources ``spec`` names (syntax: :data:`MARKET_SOURCES_SYNTAX`); any fault refuses it all."""
    items = [item.strip() for item in spec.split(",") if item.strip()]
    if not items:
        raise MarketSourcesInvalid(spec, "no sources listed")
    sources = [_market_source(item, timeout_seconds, clock) for item in items]
    names = [source.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise MarketSourcesInvalid(spec, f"two sources are named {duplicates[0]!r}; name them with name=...")
    return sources


def _market_source(item: str, timeout_seconds: float, clock: Clock) -> MarketPriceSource:
    named = _NAME_PREFIX.match(item)
    name, body = (named.group(1), named.group(2)) if named else (None, item)
    if body == "recorded" or body.startswith("recorded:"):
        path = Path(body.removeprefix("recorded").removeprefix(":") or RECORDED_FEED)
        if not path.is_file():
            raise MarketSourcesInvalid(item, f"no feed file at {path}")
        return RecordedFeedSource(path, name or "recorded", clock, cycle=True)
    if body.startswith("http:"):
        return _http_source(item, name, body.removeprefix("http:"), timeout_seconds, clock)
    raise MarketSourcesInvalid(item, "expected recorded, recorded:<path> or http:<url>#<json.path>")


def _http_source(
    item: str, name: str | None, body: str, timeout_seconds: float, clock: Clock
) -> HttpJsonPriceSource:
    url, sep, paths = body.rpartition("#")
    if not sep or not url or not paths:
        raise MarketSourcesInvalid(item, "an http source needs <url>#<json.path>")
    price_path, _, time_path = paths.partition("@")
    if not price_path or any(not step for step in price_path.split(".")):
        raise MarketSourcesInvalid(item, f"bad JSON path {price_path!r}")
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise MarketSourcesInvalid(item, f"{url!r} is not an http(s) URL")
    try:
        format_url(url, "BTC", "USD")
    except (KeyError, IndexError, ValueError) as exc:
        placeholders = ", ".join("{" + p + "}" for p in URL_PLACEHOLDERS)
        raise MarketSourcesInvalid(item, f"bad URL template ({exc!r}); use {placeholders}") from None
    return HttpJsonPriceSource(
        name=name or parsed.hostname,
        url=url,
        price_path=price_path,
        time_path=time_path or None,
        timeout_seconds=timeout_seconds,
        clock=clock,
    )
