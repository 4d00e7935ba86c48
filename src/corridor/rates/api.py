"""Rates routes: official rates with their path and payloads, payload upload, the current BTC price."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from corridor.http.deps import DbDep, PrincipalDep
from corridor.rates import service, store
from corridor.rates.model import OfficialRate
from corridor.rates.sources.market import MarketPriceSource

router = APIRouter(prefix="/rates", tags=["rates"])

_MEDIA_TYPES = {
    service.OfficialFormat.CBR_XML: "application/xml",
    service.OfficialFormat.ECB_XML: "application/xml",
    service.OfficialFormat.ECB_CSV: "text/csv",
    service.OfficialFormat.ECB_ZIP: "application/zip",
}
CurrencyQuery = Annotated[str, Query(min_length=3, max_length=3, description="ISO 4217 code, e.g. USD.")]


def market_source(request: Request) -> MarketPriceSource:
    """The app's market source: one put on ``app.state.market_source``, else the configured one."""
    chosen: MarketPriceSource | None = getattr(request.app.state, "market_source", None)
    return chosen if chosen is not None else service.configured_market_source(request.app.state.settings)


def rate_out(rate: OfficialRate, day: date) -> dict[str, Any]:
    return {
        "base": rate.base,
        "quote": rate.quote,
        "rate": store.decimal_text(rate.rate),
        "date": day.isoformat(),
        "source": rate.source,
        "derivation": rate.derivation,
        "published_on": rate.published_on.isoformat(),
        "valid_from": rate.valid_from.isoformat(),
        "valid_to": rate.valid_to.isoformat(),
        "path": list(rate.path),
        "payload_hashes": list(rate.payload_hashes),
        "legs": [rate_out(leg, day) for leg in rate.legs],
    }


def payload_out(payload: store.StoredPayload) -> dict[str, Any]:
    return {
        "sha256": payload.sha256,
        "source": payload.source,
        "format": payload.format,
        "size": payload.size,
        "origin": payload.origin,
        "fetched_at": payload.fetched_at,
        "first_published": payload.first_published.isoformat(),
        "last_published": payload.last_published.isoformat(),
        "publications": payload.publications,
        "rates": payload.rate_count,
        "stored": payload.stored,
        "already_known": payload.already_known,
        "calendar": payload.calendar,
        "loaded_by": payload.loaded_by,
    }


@router.get("/official")
def get_official_rate(
    base: CurrencyQuery,
    quote: CurrencyQuery,
    db: DbDep,
    principal: PrincipalDep,
    day: Annotated[date | None, Query(alias="date", description="Default: today in Moscow.")] = None,
    source: Annotated[str | None, Query(max_length=16, description="Only this publisher (CBR, ECB).")] = None,
) -> dict[str, Any]:
    """The official rate (direct, inverse or cross) that applies on the day, with its path and payloads."""
    on = day or service.rate_today()
    return rate_out(service.official_rate(db, principal, base, quote, on, source), on)


_RAW_BODY = {
    "requestBody": {
        "required": True,
        "description": "The payload exactly as the publisher served it (its SHA-256 is kept with every rate).",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("application/xml", "text/csv", "application/zip")
        },
    }
}


@router.post("/official/payloads", status_code=201, openapi_extra=_RAW_BODY)
async def upload_official_payload(
    request: Request,
    response: Response,
    fmt: Annotated[service.OfficialFormat, Query(alias="format")],
    db: DbDep,
    principal: PrincipalDep,
    origin: Annotated[str, Query(max_length=service.MAX_ORIGIN_LENGTH)] = "",
) -> dict[str, Any]:
    """The raw payload as published is the body; 201 when stored, 200 when it had been loaded before."""
    payload = await request.body()
    result = await run_in_threadpool(service.load_official_payload, db, principal, payload, fmt, origin)
    if not result.created:
        response.status_code = 200
    return result.as_dict()


@router.get("/official/payloads/{sha256}")
def get_payload(sha256: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return payload_out(service.get_payload(db, principal, sha256))


@router.get("/official/payloads/{sha256}/raw")
def get_payload_content(sha256: str, db: DbDep, principal: PrincipalDep) -> Response:
    """The bytes exactly as received: their SHA-256 is the hash every rate of the payload cites."""
    payload, content = service.payload_content(db, principal, sha256)
    media_type = _MEDIA_TYPES.get(service.OfficialFormat(payload.format), "application/octet-stream")
    return Response(content, media_type=media_type)


@router.get("/btc/{currency}")
def get_btc_price(currency: str, request: Request, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """The price of 1 BTC a quote would lock now (not recorded), with its path."""
    return service.current_btc_price(db, principal, currency, market_source(request)).as_dict()


@router.get("/market-prices/{price_id}")
def get_market_price(price_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """A recorded BTC price, as a quote refers to it."""
    return service.get_market_price(db, principal, price_id).as_dict()
