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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

import httpx

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


@dataclass
class HttpJsonPriceSource:
    """Any JSON price API: ``url`` may contain ``{base}`` and ``{quote}``; ``price_path`` (and optionally
    ``time_path``) locate the values. Without a time in the answer, the receipt time is the as-of time."""

    name: str
    url: str
    price_path: str
    time_path: str | None = None
    timeout_seconds: float = 5.0
    client: httpx.Client | None = None
    clock: Clock = utc_now

    def fetch(self, pair: str) -> MarketPrice:
        base, quote = split_pair(pair)
        url = self.url.format(base=base, quote=quote, base_lower=base.lower(), quote_lower=quote.lower())
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
    """

    path: Path = RECORDED_FEED
    name: str = "recorded"
    clock: Clock = utc_now
    replay_from: datetime | None = None

    def __post_init__(self) -> None:
        self._records = read_recorded_feed(self.path, self.name)
        if not self._records:
            raise RatePayloadError(self.name, f"{self.path.name} holds no prices")
        self._shift = timedelta(0) if self.replay_from is None else self.replay_from - self._records[0].time
        self._digest = sha256_hex(self.path.read_bytes())

    def fetch(self, pair: str) -> MarketPrice:
        wanted = "/".join(split_pair(pair))
        now = self.clock()
        seen = [r for r in self._records if r.pair == wanted and r.time + self._shift <= now]
        if not seen:
            raise RateSourceError(self.name, f"no recorded {wanted} price at or before {now.isoformat()}")
        last = seen[-1]
        return MarketPrice(wanted, last.price, last.time + self._shift, self.name, self._digest)


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
