"""Tables and queries of rates: raw official payloads, the official rates read from them, market prices.

Rates and prices are stored as decimal strings, never as floats or SQLite's float-backed NUMERIC, so what
comes back is exactly what the source published. Official rates are unique per (source, pair, publication
date): a publication seen in several payloads (the daily file, then the 90-day file) is stored once, from
the payload that brought it first.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.orm import Session

from corridor.db import metadata
from corridor.rates.model import OfficialRate

payloads = Table(
    "rates_payloads",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("source", String(16), nullable=False),
    Column("format", String(16), nullable=False),
    Column("size", Integer, nullable=False),
    Column("origin", String(500), nullable=False),
    Column("fetched_at", String(32), nullable=False),
    Column("first_published", Date, nullable=False),
    Column("last_published", Date, nullable=False),
    Column("publications", Integer, nullable=False),
    Column("rate_count", Integer, nullable=False),
    Column("stored", Integer, nullable=False),
    Column("already_known", Integer, nullable=False),
    Column("calendar", String(200), nullable=False),
    Column("loaded_by", String(100), nullable=False),
    Column("content", LargeBinary, nullable=False),
)

official = Table(
    "rates_official",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("source", String(16), nullable=False),
    Column("base", String(3), nullable=False),
    Column("quote", String(3), nullable=False),
    Column("rate", String(64), nullable=False),
    Column("published_on", Date, nullable=False),
    Column("valid_from", Date, nullable=False, index=True),
    Column("valid_to", Date, nullable=False, index=True),
    Column("payload_sha256", String(64), ForeignKey("rates_payloads.sha256"), nullable=False, index=True),
    UniqueConstraint("source", "base", "quote", "published_on", name="uq_rates_official_publication"),
)

market_prices = Table(
    "rates_market_prices",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("pair", String(16), nullable=False),
    Column("price", String(64), nullable=False),
    Column("source", String(100), nullable=False),
    Column("observed_at", String(32), nullable=False),
    Column("payload_sha256", String(64), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("market_pair", String(16), nullable=False),
    Column("market_price", String(64), nullable=False),
    Column("official_rate", String(64), nullable=True),
    Column("path", Text, nullable=False),
    Column("payload_hashes", Text, nullable=False),
)

_INSERT_CHUNK = 2000


def decimal_text(value: Decimal) -> str:
    """Fixed-point text (no exponent), which reads back as the same Decimal, exponent and all."""
    return format(value, "f")


# --- payloads -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredPayload:
    sha256: str
    source: str
    format: str
    size: int
    origin: str
    fetched_at: str
    first_published: date
    last_published: date
    publications: int
    rate_count: int
    stored: int
    already_known: int
    calendar: str
    loaded_by: str


_PAYLOAD_COLUMNS = [c for c in payloads.c if c.name != "content"]


def _payload(row: Any) -> StoredPayload:
    return StoredPayload(**{c.name: getattr(row, c.name) for c in _PAYLOAD_COLUMNS})


def get_payload(session: Session, sha256: str) -> StoredPayload | None:
    row = session.execute(select(*_PAYLOAD_COLUMNS).where(payloads.c.sha256 == sha256)).first()
    return None if row is None else _payload(row)


def payload_content(session: Session, sha256: str) -> bytes | None:
    content: bytes | None = session.execute(
        select(payloads.c.content).where(payloads.c.sha256 == sha256)
    ).scalar_one_or_none()
    return content


def insert_payload(session: Session, payload: StoredPayload, content: bytes) -> None:
    values = {c.name: getattr(payload, c.name) for c in _PAYLOAD_COLUMNS}
    session.execute(insert(payloads), dict(**values, content=content))


# --- official rates -----------------------------------------------------------------------------------


def _rate(row: Any) -> OfficialRate:
    return OfficialRate(
        source=row.source,
        base=row.base,
        quote=row.quote,
        rate=Decimal(row.rate),
        published_on=row.published_on,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        payload_sha256=row.payload_sha256,
    )


def rates_published_between(session: Session, source: str, first: date, last: date) -> list[OfficialRate]:
    rows = session.execute(
        select(official).where(official.c.source == source, official.c.published_on.between(first, last))
    )
    return [_rate(row) for row in rows]


def insert_rates(session: Session, rates: Sequence[OfficialRate]) -> None:
    rows = [
        {
            "source": r.source,
            "base": r.base,
            "quote": r.quote,
            "rate": decimal_text(r.rate),
            "published_on": r.published_on,
            "valid_from": r.valid_from,
            "valid_to": r.valid_to,
            "payload_sha256": r.payload_sha256,
        }
        for r in rates
    ]
    for start in range(0, len(rows), _INSERT_CHUNK):
        session.execute(insert(official), rows[start : start + _INSERT_CHUNK])


def rates_valid_on(session: Session, day: date, sources: Iterable[str] | None = None) -> list[OfficialRate]:
    """Every stored official rate that applies on ``day`` (of the given sources, if any)."""
    query = select(official).where(official.c.valid_from <= day, official.c.valid_to >= day)
    if sources is not None:
        query = query.where(official.c.source.in_(list(sources)))
    return [_rate(row) for row in session.execute(query.order_by(official.c.id))]


# --- market prices ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredMarketPrice:
    id: str
    pair: str
    price: Decimal
    source: str
    observed_at: datetime
    payload_sha256: str
    recorded_at: datetime
    recorded_by: str
    market_pair: str
    market_price: Decimal
    official_rate: Decimal | None
    path: tuple[str, ...]
    payload_hashes: tuple[str, ...]


def _time_text(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def insert_market_price(session: Session, price: StoredMarketPrice) -> None:
    session.execute(
        insert(market_prices),
        dict(
            id=price.id,
            pair=price.pair,
            price=decimal_text(price.price),
            source=price.source,
            observed_at=_time_text(price.observed_at),
            payload_sha256=price.payload_sha256,
            recorded_at=_time_text(price.recorded_at),
            recorded_by=price.recorded_by,
            market_pair=price.market_pair,
            market_price=decimal_text(price.market_price),
            official_rate=None if price.official_rate is None else decimal_text(price.official_rate),
            path=json.dumps(list(price.path), ensure_ascii=False),
            payload_hashes=json.dumps(list(price.payload_hashes)),
        ),
    )


def get_market_price(session: Session, price_id: str) -> StoredMarketPrice | None:
    row = session.execute(select(market_prices).where(market_prices.c.id == price_id)).first()
    if row is None:
        return None
    return StoredMarketPrice(
        id=row.id,
        pair=row.pair,
        price=Decimal(row.price),
        source=row.source,
        observed_at=_time(row.observed_at),
        payload_sha256=row.payload_sha256,
        recorded_at=_time(row.recorded_at),
        recorded_by=row.recorded_by,
        market_pair=row.market_pair,
        market_price=Decimal(row.market_price),
        official_rate=None if row.official_rate is None else Decimal(row.official_rate),
        path=tuple(json.loads(row.path)),
        payload_hashes=tuple(json.loads(row.payload_hashes)),
    )
