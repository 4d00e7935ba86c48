"""Rates use cases: load official-rate payloads, answer official rates and conversions, price BTC.

Official rates are stored with the raw payload they came from (its SHA-256 is on every rate), their
publication date and the days they apply to, carried forward over weekends and holidays by the publisher's
calendar. A BTC price is a market price, directly or through one official rate, recorded with its path and
the hashes of every payload it rests on, so a quote can show how its price was made.

``*_in`` functions run inside the caller's transaction (the settlement service locks a quote with
:func:`btc_price_in` in its own).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.db import Database
from corridor.errors import Conflict, NotFound, ValidationFailed
from corridor.profiles.loader import load_configured_profile
from corridor.rates import store
from corridor.rates.model import (
    BusinessDays,
    CalendarNotCovered,
    Conversion,
    MarketPrice,
    Money,
    OfficialRate,
    RateBook,
    RateNotFound,
    RatePayloadError,
    RateSourceError,
    WeekdayCalendar,
    convert,
    sha256_hex,
)
from corridor.rates.sources import cbr, ecb
from corridor.rates.sources.market import (
    FailoverPriceSource,
    MarketPriceSource,
    parse_market_sources,
    utc_now,
)
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.settings import Settings, get_settings

SOURCE_PREFERENCE: tuple[str, ...] = ("CBR", "ECB")
"""Which publisher answers first. In the RU regime the Bank of Russia's rates are the official ones; the ECB
fills pairs it does not publish. Rates of two publishers are mixed in one cross rate only as a last resort."""

MOSCOW = timezone(timedelta(hours=3), "MSK")
"""The Bank of Russia's rate for day D applies on D in Moscow (UTC+3, no daylight saving since 2014)."""

DEFAULT_BRIDGES: tuple[str, ...] = ("USD", "EUR", "RUB")
"""Currencies through which a BTC price is derived when no market source quotes BTC in the wanted one."""

MAX_ORIGIN_LENGTH = 500


class OfficialFormat(StrEnum):
    CBR_XML = "cbr-xml"
    ECB_XML = "ecb-xml"
    ECB_CSV = "ecb-csv"
    ECB_ZIP = "ecb-zip"


class RejectedPayload(RatePayloadError):
    """An uploaded payload that is not a rate document: the caller's input, so 422, not a source outage."""

    status = 422
    title = "Invalid input"

    def __init__(self, error: RatePayloadError) -> None:
        super().__init__(error.source, error.detail)


@dataclass(frozen=True, slots=True)
class LoadResult:
    payload_sha256: str
    source: str
    format: str
    size: int
    first_published: date
    last_published: date
    publications: int
    rates: int
    """Rates the payload holds."""
    stored: int
    """Rates stored from this payload; the rest were already stored from another payload."""
    already_known: int
    calendar: str
    """The business-day calendar the carry-forward used."""
    created: bool
    """False when this very payload had been loaded before: nothing was stored the second time."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "payload_sha256": self.payload_sha256,
            "source": self.source,
            "format": self.format,
            "size": self.size,
            "first_published": self.first_published.isoformat(),
            "last_published": self.last_published.isoformat(),
            "publications": self.publications,
            "rates": self.rates,
            "stored": self.stored,
            "already_known": self.already_known,
            "calendar": self.calendar,
            "created": self.created,
        }


# --- loading official payloads ------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _ru_calendar() -> BusinessDays:
    return load_configured_profile().calendar


def _parse_cbr(payload: bytes) -> tuple[list[OfficialRate], str]:
    """CBR rates with the profile's Russian calendar; outside the years it covers, Monday to Friday (said so)."""
    try:
        return cbr.parse_xml_daily(payload, _ru_calendar()), "RU"
    except CalendarNotCovered as exc:
        rates = cbr.parse_xml_daily(payload, WeekdayCalendar())
        return rates, f"weekdays ({exc.detail})"


def official_format(fmt: str) -> OfficialFormat:
    try:
        return OfficialFormat(fmt)
    except ValueError:
        known = ", ".join(f.value for f in OfficialFormat)
        raise ValidationFailed(
            "rates.format_unknown", f"unknown format {fmt!r}; use one of {known}"
        ) from None


def parse_payload(fmt: str, payload: bytes) -> tuple[list[OfficialRate], str]:
    """The rates of a payload and the name of the calendar their validity was computed with."""
    chosen = official_format(fmt)
    if chosen is OfficialFormat.CBR_XML:
        return _parse_cbr(payload)
    parsers: dict[OfficialFormat, Callable[[bytes], list[OfficialRate]]] = {
        OfficialFormat.ECB_XML: ecb.parse_eurofxref_xml,
        OfficialFormat.ECB_CSV: ecb.parse_eurofxref_csv,
        OfficialFormat.ECB_ZIP: ecb.parse_eurofxref_hist_zip,
    }
    return parsers[chosen](payload), "TARGET"


def load_official_payload(
    db: Database, principal: Principal, payload: bytes, fmt: str, origin: str = ""
) -> LoadResult:
    """Parse and store an official-rate payload with its rates; the same payload again changes nothing.

    A payload that is not a rate document (an HTML error page, say) raises :class:`RejectedPayload` and
    stores nothing; one that contradicts a stored publication raises ``rates.conflicting_rate``.
    """
    authorize(principal, "rates.load")
    if len(origin) > MAX_ORIGIN_LENGTH:
        raise ValidationFailed(
            "rates.origin_too_long", f"origin is limited to {MAX_ORIGIN_LENGTH} characters"
        )
    chosen = official_format(fmt)
    digest = sha256_hex(payload)
    with db.transaction() as session:
        existing = store.get_payload(session, digest)
    if existing is not None:
        return _result(existing, created=False)  # stored once already: no need to parse it again
    try:
        rates, calendar = parse_payload(chosen, payload)
    except RatePayloadError as exc:
        raise RejectedPayload(exc) from None
    loading = _Loading(chosen, payload, digest, rates, calendar, origin)
    try:
        return _store_payload(db, principal, loading)
    except IntegrityError:
        # A concurrent load of the same payload, or of one with the same publications, committed first;
        # run again to find its rows (and answer as for a repeat, or refuse a contradiction).
        return _store_payload(db, principal, loading)


@dataclass(frozen=True, slots=True)
class _Loading:
    fmt: OfficialFormat
    payload: bytes
    sha256: str
    rates: list[OfficialRate]
    calendar: str
    origin: str

    @property
    def source(self) -> str:
        return self.rates[0].source


def _result(stored: store.StoredPayload, created: bool) -> LoadResult:
    return LoadResult(
        payload_sha256=stored.sha256,
        source=stored.source,
        format=stored.format,
        size=stored.size,
        first_published=stored.first_published,
        last_published=stored.last_published,
        publications=stored.publications,
        rates=stored.rate_count,
        stored=stored.stored,
        already_known=stored.already_known,
        calendar=stored.calendar,
        created=created,
    )


def _store_payload(db: Database, principal: Principal, loading: _Loading) -> LoadResult:
    with db.transaction() as session:
        existing = store.get_payload(session, loading.sha256)
        if existing is not None:
            return _result(existing, created=False)
        new = _new_rates(session, loading.rates)
        days = sorted({r.published_on for r in loading.rates})
        stored = store.StoredPayload(
            sha256=loading.sha256,
            source=loading.source,
            format=loading.fmt.value,
            size=len(loading.payload),
            origin=loading.origin,
            fetched_at=format_time(utc_now()),
            first_published=days[0],
            last_published=days[-1],
            publications=len(days),
            rate_count=len(loading.rates),
            stored=len(new),
            already_known=len(loading.rates) - len(new),
            calendar=loading.calendar,
            loaded_by=principal.actor,
        )
        store.insert_payload(session, stored, loading.payload)
        store.insert_rates(session, new)
        result = _result(stored, created=True)
        payload = {k: v for k, v in result.as_dict().items() if k != "created"}
        registry.append(
            session,
            principal.actor,
            "rates.official_loaded",
            f"rates_payload:{loading.sha256}",
            {**payload, "origin": loading.origin},
        )
    return result


def _new_rates(session: Session, rates: list[OfficialRate]) -> list[OfficialRate]:
    """The rates not stored yet; a publication stored with another value refuses the whole payload."""
    first = min(r.published_on for r in rates)
    last = max(r.published_on for r in rates)
    known = {
        (r.base, r.quote, r.published_on): r
        for r in store.rates_published_between(session, rates[0].source, first, last)
    }
    new: list[OfficialRate] = []
    for rate in rates:
        stored = known.get((rate.base, rate.quote, rate.published_on))
        if stored is None:
            new.append(rate)
        elif stored.rate != rate.rate:
            raise Conflict(
                "rates.conflicting_rate",
                f"{rate.source} {rate.pair} of {rate.published_on.isoformat()} is stored as {stored.rate} "
                f"(payload {stored.payload_sha256[:12]}); this payload says {rate.rate}",
            )
    return new


def get_payload(db: Database, principal: Principal, sha256: str) -> store.StoredPayload:
    _authorize_read(principal)
    with db.transaction() as session:
        found = store.get_payload(session, sha256.lower())
    if found is None:
        raise NotFound("rates.payload_not_found", f"no payload with SHA-256 {sha256}")
    return found


def payload_content(db: Database, principal: Principal, sha256: str) -> tuple[store.StoredPayload, bytes]:
    """The raw bytes as received, so anyone can check the hash the rates cite."""
    found = get_payload(db, principal, sha256)
    with db.transaction() as session:
        content = store.payload_content(session, found.sha256)
    assert content is not None  # the row was just read
    return found, content


# --- official rates -----------------------------------------------------------------------------------


def _authorize_read(principal: Principal) -> None:
    # Official rates and market prices are public figures, not any participant's records: a scoped key
    # reads them under its own participant.
    authorize(principal, "rates.read", principal.participant_id)


def currency_code(raw: str) -> str:
    code = raw.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValidationFailed("rates.currency_invalid", f"a currency is an ISO 4217 code, got {raw!r}")
    return code


def rate_day(moment: datetime) -> date:
    """The day whose official rate applies at ``moment``."""
    if moment.tzinfo is None:
        raise ValidationFailed("rates.naive_time", "times must carry a time zone")
    return moment.astimezone(MOSCOW).date()


def rate_today() -> date:
    return rate_day(utc_now())


def official_rate_in(
    session: Session, base: str, quote: str, day: date, source: str | None = None
) -> OfficialRate:
    """Direct, inverse or cross rate valid on ``day``, its path recorded; RateNotFound when none.

    Each publisher is asked alone, in :data:`SOURCE_PREFERENCE` order (``source`` restricts it to one), so a
    cross rate rests on one publication set; only if none can answer are publishers mixed.
    """
    base, quote = currency_code(base), currency_code(quote)
    if base == quote:
        raise ValidationFailed("rates.same_currency", f"{base}/{quote} is not an exchange rate")
    wanted = [source.upper()] if source else None
    rates = store.rates_valid_on(session, day, wanted)
    publishers = sorted({r.source for r in rates}, key=_preference)
    for publisher in publishers:
        try:
            return RateBook(r for r in rates if r.source == publisher).rate_on(base, quote, day)
        except RateNotFound:
            continue
    if len(publishers) > 1:
        return RateBook(rates).rate_on(base, quote, day)
    raise RateNotFound(base, quote, day)


def _preference(source: str) -> tuple[int, str]:
    order = SOURCE_PREFERENCE.index(source) if source in SOURCE_PREFERENCE else len(SOURCE_PREFERENCE)
    return order, source


def official_rate(
    db: Database, principal: Principal, base: str, quote: str, day: date, source: str | None = None
) -> OfficialRate:
    _authorize_read(principal)
    with db.transaction() as session:
        return official_rate_in(session, base, quote, day, source)


def convert_in(session: Session, amount: Money, to_currency: str, day: date) -> Conversion:
    """``amount`` in ``to_currency`` at the official rate of ``day``, rounded once to minor units."""
    to_currency = currency_code(to_currency)
    if amount.currency == to_currency:
        return convert(amount, to_currency, RateBook(), day)
    rate = official_rate_in(session, amount.currency, to_currency, day)
    return convert(amount, to_currency, RateBook([rate]), day)


# --- market BTC prices --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BtcPrice:
    """``price`` units of ``currency`` for 1 BTC, made from one market price and at most one official rate.

    ``id`` is set once the price is recorded (a settlement quote refers to it); ``path`` spells out the
    market leg and the official legs, ``payload_hashes`` the raw payloads under each.
    """

    id: str | None
    pair: str
    price: Decimal
    source: str
    observed_at: datetime
    market_pair: str
    market_price: Decimal
    official_rate: Decimal | None
    path: tuple[str, ...]
    payload_hashes: tuple[str, ...]
    recorded_at: datetime | None = None

    @property
    def currency(self) -> str:
        return self.pair.split("/")[1]

    @property
    def derivation(self) -> str:
        return "market" if self.official_rate is None else "market x official"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pair": self.pair,
            "currency": self.currency,
            "price": store.decimal_text(self.price),
            "source": self.source,
            "observed_at": format_time(self.observed_at),
            "derivation": self.derivation,
            "market_pair": self.market_pair,
            "market_price": store.decimal_text(self.market_price),
            "official_rate": None if self.official_rate is None else store.decimal_text(self.official_rate),
            "path": list(self.path),
            "payload_hashes": list(self.payload_hashes),
            "recorded_at": None if self.recorded_at is None else format_time(self.recorded_at),
        }


def _market_step(price: MarketPrice) -> str:
    return (
        f"market:{price.source} {price.pair} {format_time(price.as_of)} = {store.decimal_text(price.price)}"
    )


def _direct(price: MarketPrice) -> BtcPrice:
    return BtcPrice(
        id=None,
        pair=price.pair,
        price=price.price,
        source=price.source,
        observed_at=price.as_of,
        market_pair=price.pair,
        market_price=price.price,
        official_rate=None,
        path=(_market_step(price),),
        payload_hashes=(price.payload_sha256,),
    )


def _bridged(price: MarketPrice, official: OfficialRate, currency: str) -> BtcPrice:
    return BtcPrice(
        id=None,
        pair=f"BTC/{currency}",
        price=price.price * official.rate,
        source=price.source,
        observed_at=price.as_of,
        market_pair=price.pair,
        market_price=price.price,
        official_rate=official.rate,
        path=(_market_step(price), *official.path),
        payload_hashes=(price.payload_sha256, *official.payload_hashes),
    )


def quote_btc_price_in(
    session: Session,
    currency: str,
    market: MarketPriceSource,
    at: datetime | None = None,
    bridges: Sequence[str] = DEFAULT_BRIDGES,
) -> BtcPrice:
    """The BTC price in ``currency`` now, not recorded.

    A market source's BTC/currency price if one has it, else a market BTC/X price times the official
    X/currency rate of ``at``'s day (its Moscow date; ``at`` defaults to the market source's clock), trying
    each of ``bridges`` in turn. Freshness is judged by ``market`` at its own clock: pass a
    :class:`FailoverPriceSource` (:func:`configured_market_source`), which refuses prices older than its max
    age. When every way fails, the error of the direct pair is raised (StaleRate names the source and the
    price's age; AllSourcesFailed names each source and what went wrong).
    """
    currency = currency_code(currency)
    if currency == "BTC":
        raise ValidationFailed("rates.same_currency", "BTC/BTC is not a price")
    moment = at if at is not None else _clock_of(market)()
    day = rate_day(moment)
    try:
        return _direct(market.fetch(f"BTC/{currency}"))
    except RateSourceError as direct_failure:
        for bridge in (b for b in bridges if b != currency):
            try:
                official = official_rate_in(session, bridge, currency, day)
                return _bridged(market.fetch(f"BTC/{bridge}"), official, currency)
            except (RateSourceError, RateNotFound):
                continue
        raise direct_failure from None


def _clock_of(market: MarketPriceSource) -> Callable[[], datetime]:
    clock: Callable[[], datetime] | None = getattr(market, "clock", None)
    return clock if clock is not None else utc_now


def btc_price_in(
    session: Session,
    currency: str,
    market: MarketPriceSource,
    at: datetime | None = None,
    *,
    actor: str = "system:rates",
    bridges: Sequence[str] = DEFAULT_BRIDGES,
) -> BtcPrice:
    """:func:`quote_btc_price_in`, recorded in the caller's transaction with a registry entry; returns it
    with its id. On failure it raises and records nothing."""
    price = quote_btc_price_in(session, currency, market, at, bridges)
    recorded_at = utc_now()
    price_id = f"mp_{uuid.uuid4().hex}"
    store.insert_market_price(
        session,
        store.StoredMarketPrice(
            id=price_id,
            pair=price.pair,
            price=price.price,
            source=price.source,
            observed_at=price.observed_at,
            payload_sha256=price.payload_hashes[0],
            recorded_at=recorded_at,
            recorded_by=actor,
            market_pair=price.market_pair,
            market_price=price.market_price,
            official_rate=price.official_rate,
            path=price.path,
            payload_hashes=price.payload_hashes,
        ),
    )
    recorded = replace(price, id=price_id, recorded_at=recorded_at)
    entry = {k: v for k, v in recorded.as_dict().items() if k not in ("id", "recorded_at")}
    registry.append(session, actor, "rates.market_price_recorded", f"market_price:{price_id}", entry)
    return recorded


def get_market_price_in(session: Session, price_id: str) -> BtcPrice:
    found = store.get_market_price(session, price_id)
    if found is None:
        raise NotFound("rates.market_price_not_found", f"no recorded market price {price_id!r}")
    return BtcPrice(
        id=found.id,
        pair=found.pair,
        price=found.price,
        source=found.source,
        observed_at=found.observed_at,
        market_pair=found.market_pair,
        market_price=found.market_price,
        official_rate=found.official_rate,
        path=found.path,
        payload_hashes=found.payload_hashes,
        recorded_at=found.recorded_at,
    )


def get_market_price(db: Database, principal: Principal, price_id: str) -> BtcPrice:
    _authorize_read(principal)
    with db.transaction() as session:
        return get_market_price_in(session, price_id)


def current_btc_price(
    db: Database, principal: Principal, currency: str, market: MarketPriceSource
) -> BtcPrice:
    """The price a quote would lock now; nothing is recorded (a quote records its own)."""
    _authorize_read(principal)
    with db.transaction() as session:
        return quote_btc_price_in(session, currency, market)


# --- the configured market source ---------------------------------------------------------------------

_MARKET_LOCK = threading.Lock()


def market_settings(settings: Settings | None = None) -> tuple[str, int]:
    """``CORRIDOR_MARKET_SOURCES`` and ``CORRIDOR_MARKET_MAX_AGE_SECONDS``."""
    chosen = settings or get_settings()
    return chosen.market_sources, chosen.market_max_age_seconds


def configured_market_source(settings: Settings | None = None) -> FailoverPriceSource:
    """The process's failover market source, built once per configuration (feeds are read once)."""
    spec, max_age = market_settings(settings)
    with _MARKET_LOCK:
        return build_market_source(spec, max_age)


@lru_cache(maxsize=4)
def build_market_source(spec: str, max_age_seconds: int) -> FailoverPriceSource:
    """A failover source over ``spec`` (see ``MARKET_SOURCES_SYNTAX``), cached per (spec, max age)."""
    if max_age_seconds <= 0:
        raise ValidationFailed("rates.market_max_age_invalid", "the market price max age must be positive")
    return FailoverPriceSource(parse_market_sources(spec), timedelta(seconds=max_age_seconds))
