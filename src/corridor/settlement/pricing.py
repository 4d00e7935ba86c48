"""The rates a settlement uses, through the rates service: the BTC price a quote locks, and the official
ruble equivalent that limits and currency-control records are counted in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from corridor.db.batch_reads import remembered
from corridor.rates import service as rates
from corridor.rates.model import Money
from corridor.rates.sources.market import MarketPriceSource

RUB = "RUB"


@dataclass(frozen=True, slots=True)
class LockedPrice:
    price: Decimal
    price_id: str
    path: tuple[str, ...]


def market_source() -> MarketPriceSource:
    """The configured failover market source (``CORRIDOR_MARKET_SOURCES``)."""
    return rates.configured_market_source()


def lock_btc_price(session: Session, currency: str, at: datetime) -> LockedPrice:
    """Record the BTC price in ``currency`` now; a quote keeps its id, so the rate it used can be shown.
    The orders of one batch share one moment, so they share one recorded price."""
    price = remembered(
        session, ("settlement.btc_price", currency, at), lambda: _record_btc_price(session, currency, at)
    )
    assert price.id is not None
    return LockedPrice(price.price, price.id, price.path)


def _record_btc_price(session: Session, currency: str, at: datetime) -> rates.BtcPrice:
    return rates.btc_price_in(session, currency, market_source(), at, actor="system:settlement")


def rub_minor(session: Session, amount: Decimal, currency: str, day: date) -> int:
    """The amount in kopecks at the official rate of ``day`` (RUB amounts are their own equivalent)."""
    conversion = rates.convert_in(session, Money(amount, currency), RUB, day)
    return conversion.result.minor()


def official_conversion(
    session: Session, amount: Decimal, currency: str, day: date
) -> tuple[dict[str, Any], int]:
    """The official rate to RUB a currency-operation record cites (value, source, publication, path) and the
    amount in kopecks at that rate, from one conversion."""
    conversion = rates.convert_in(session, Money(amount, currency), RUB, day)
    rate = conversion.rate
    record = {
        "pair": rate.pair,
        "rate": str(rate.rate),
        "source": rate.source,
        "published_on": rate.published_on.isoformat(),
        "path": list(rate.path),
        "payload_hashes": [h for h in rate.payload_hashes if h],
    }
    return record, conversion.result.minor()
