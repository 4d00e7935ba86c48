"""`corridor rates …`: load official-rate payloads, show an official rate, price BTC.

The commands act as the system principal ``system:cli`` (an operator on the server, like ``lists load``).
Errors print ``{"code", "detail"}`` on stderr and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from corridor.access.model import system_principal
from corridor.cli.context import open_database
from corridor.db import Database
from corridor.errors import CorridorError
from corridor.rates import api, service

T = TypeVar("T")

rates_app = typer.Typer(
    help="Official exchange rates (Bank of Russia, ECB) and the market BTC price.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _run(action: Callable[[Database], T]) -> T:
    db = open_database()
    try:
        return action(db)
    except CorridorError as error:
        typer.echo(
            json.dumps({"code": error.code, "detail": error.detail, **error.extra}, default=str), err=True
        )
        raise typer.Exit(2) from None
    finally:
        db.dispose()


def _emit(document: dict[str, Any]) -> None:
    typer.echo(json.dumps(document, sort_keys=True, ensure_ascii=False))


@rates_app.command("load")
def load(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The payload as published.")],
    fmt: Annotated[service.OfficialFormat, typer.Option("--format", help="What the file is.")],
    as_json: JsonOption = False,
) -> None:
    """Store an official-rate file (XML_daily, eurofxref XML, CSV or history zip) with its rates."""
    payload = path.read_bytes()
    principal = system_principal("cli")
    origin = f"file:{path}"[: service.MAX_ORIGIN_LENGTH]
    result = _run(lambda db: service.load_official_payload(db, principal, payload, fmt, origin))
    if as_json:
        _emit(result.as_dict())
        return
    verb = "loaded" if result.created else "already loaded"
    span = result.first_published.isoformat()
    if result.last_published != result.first_published:
        span += f"..{result.last_published.isoformat()} ({result.publications} publications)"
    typer.echo(f"{verb} {result.source} {result.format} payload {result.payload_sha256}")
    typer.echo(
        f"  {result.rates} rates published {span}; {result.stored} stored, "
        f"{result.already_known} already known; carried forward by the {result.calendar} calendar"
    )


@rates_app.command("show")
def show(
    base: Annotated[str, typer.Argument(help="Currency of 1 unit, e.g. USD.")],
    quote: Annotated[str, typer.Argument(help="Currency of the price, e.g. RUB.")],
    day: Annotated[str | None, typer.Option("--date", help="YYYY-MM-DD (default: today in Moscow).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Only this publisher (CBR, ECB).")] = None,
    as_json: JsonOption = False,
) -> None:
    """The official rate that applies on a day: direct, inverse or cross, with its path and payloads."""
    try:
        on = date.fromisoformat(day) if day else service.rate_today()
    except ValueError:
        typer.echo(
            json.dumps({"code": "rates.date_invalid", "detail": f"{day!r} is not YYYY-MM-DD"}), err=True
        )
        raise typer.Exit(2) from None
    principal = system_principal("cli")
    rate = _run(lambda db: service.official_rate(db, principal, base, quote, on, source))
    if as_json:
        _emit(api.rate_out(rate, on))
        return
    typer.echo(f"{rate.pair} on {on.isoformat()}: {rate.rate} ({rate.source}, {rate.derivation})")
    for step in rate.path:
        typer.echo(f"  {step}")
    for digest in dict.fromkeys(rate.payload_hashes):
        typer.echo(f"  payload {digest}")


@rates_app.command("btc")
def btc(
    currency: Annotated[str, typer.Argument(help="Currency of the price, e.g. RUB.")],
    as_json: JsonOption = False,
) -> None:
    """The BTC price a quote would lock now, from the configured market sources (not recorded)."""
    principal = system_principal("cli")
    price = _run(
        lambda db: service.current_btc_price(db, principal, currency, service.configured_market_source())
    )
    if as_json:
        _emit(price.as_dict())
        return
    typer.echo(f"{price.pair}: {price.price}")
    for step in price.path:
        typer.echo(f"  {step}")
