"""Bank of Russia official rates: ``XML_daily.asp`` (windows-1251, decimal comma, ``Nominal``, ``VunitRate``).

``Value`` is roubles per ``Nominal`` units. We store Value / Nominal, which is exact; the newer ``VunitRate``
is the same figure rounded by the Bank, so where it is present we check that it agrees instead of trusting
either blindly.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import httpx
from lxml import etree

from corridor.rates.model import (
    BusinessDays,
    OfficialRate,
    RatePayloadError,
    RateSourceError,
    WeekdayCalendar,
    cbr_valid_to,
    parse_decimal,
    sha256_hex,
)
from corridor.rates.sources._xml import looks_like_html, parse_xml

SOURCE = "CBR"
DAILY_URL = "https://www.cbr.ru/scripts/XML_daily.asp"
QUOTE_CURRENCY = "RUB"


def parse_xml_daily(payload: bytes, calendar: BusinessDays | None = None) -> list[OfficialRate]:
    """Every currency of one ``XML_daily`` document as an OfficialRate X/RUB.

    ``calendar`` decides how far the rate carries forward over weekends and holidays; pass the profile's
    Russian business-day calendar. The default (Monday-Friday) is only right outside public holidays.
    """
    root = parse_xml(SOURCE, payload, "ValCurs")
    effective = _document_date(root)
    valid_to = cbr_valid_to(effective, calendar or WeekdayCalendar())
    digest = sha256_hex(payload)
    rates = [_valute_rate(valute, effective, valid_to, digest) for valute in root.iterfind("Valute")]
    if not rates:
        raise RatePayloadError(SOURCE, f"ValCurs of {effective.isoformat()} lists no currencies")
    return rates


def _document_date(root: etree._Element) -> date:
    text = root.get("Date")
    if text is None:
        raise RatePayloadError(SOURCE, "ValCurs has no Date attribute")
    try:
        return datetime.strptime(text, "%d.%m.%Y").date()
    except ValueError:
        raise RatePayloadError(SOURCE, f"ValCurs Date {text!r} is not DD.MM.YYYY") from None


def _child_text(valute: etree._Element, tag: str) -> str:
    text: str | None = valute.findtext(tag)
    if text is None or not text.strip():
        raise RatePayloadError(SOURCE, f"Valute {valute.get('ID')} has no {tag}")
    return text.strip()


def _number(valute: etree._Element, tag: str) -> Decimal:
    text = _child_text(valute, tag)
    try:
        value = parse_decimal(text, decimal_comma=True)
    except ValueError as exc:
        raise RatePayloadError(SOURCE, f"Valute {valute.get('ID')} {tag}: {exc}") from None
    if value <= 0:
        raise RatePayloadError(SOURCE, f"Valute {valute.get('ID')} {tag} must be positive, got {text}")
    return value


def _valute_rate(valute: etree._Element, effective: date, valid_to: date, digest: str) -> OfficialRate:
    code = _child_text(valute, "CharCode")
    nominal = _number(valute, "Nominal")
    per_unit = _number(valute, "Value") / nominal
    if valute.find("VunitRate") is not None:
        _check_vunit_rate(code, per_unit, _number(valute, "VunitRate"))
    return OfficialRate(
        source=SOURCE,
        base=code,
        quote=QUOTE_CURRENCY,
        rate=per_unit,
        published_on=effective,
        valid_from=effective,
        valid_to=valid_to,
        payload_sha256=digest,
    )


def _check_vunit_rate(code: str, per_unit: Decimal, vunit_rate: Decimal) -> None:
    places = vunit_rate.as_tuple().exponent
    assert isinstance(places, int)  # parse_decimal only returns finite numbers
    if per_unit.quantize(Decimal(1).scaleb(places), rounding=ROUND_HALF_UP) != vunit_rate:
        raise RatePayloadError(
            SOURCE, f"{code}: VunitRate {vunit_rate} disagrees with Value/Nominal {per_unit}"
        )


def fetch_xml_daily(client: httpx.Client, day: date, url: str = DAILY_URL) -> bytes:
    """Raw ``XML_daily`` bytes for ``day`` (the Bank may answer with the latest earlier date)."""
    try:
        response = client.get(url, params={"date_req": day.strftime("%d/%m/%Y")})
    except httpx.TimeoutException as exc:
        raise RateSourceError(SOURCE, f"timed out after {client.timeout.read} s") from exc
    except httpx.HTTPError as exc:
        raise RateSourceError(SOURCE, f"request failed: {exc}") from exc
    if response.status_code != 200:
        raise RateSourceError(SOURCE, f"HTTP {response.status_code} from {url}")
    if looks_like_html(response.content):
        raise RatePayloadError(SOURCE, "answered with an HTML page instead of XML_daily")
    return response.content
