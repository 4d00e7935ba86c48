"""ECB euro foreign exchange reference rates: eurofxref XML (daily and 90-day), the daily CSV, and the
history CSV inside ``eurofxref-hist.zip``. Rates are foreign units per 1 EUR, decimal point.

A rate applies from its TARGET day until the day before the next publication in the same document; the
last publication carries over TARGET closing days only. A currency missing from the next publication (RUB
after 1 March 2022, for instance) therefore stops, instead of being carried forward for ever.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from lxml import etree

from corridor.rates.model import (
    OfficialRate,
    RatePayloadError,
    ecb_valid_to,
    parse_decimal,
    sha256_hex,
)
from corridor.rates.sources._xml import looks_like_html, parse_xml

SOURCE = "ECB"
BASE_CURRENCY = "EUR"
DAILY_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml"
HIST_90D_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml"
HIST_ZIP_URL = "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist.zip"
_EUROFXREF_NS = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"

Publication = tuple[date, dict[str, Decimal]]


def parse_eurofxref_xml(payload: bytes) -> list[OfficialRate]:
    """Daily or 90-day eurofxref XML (``gesmes:Envelope``/``Cube``/``Cube@time``/``Cube@currency,rate``)."""
    root = parse_xml(SOURCE, payload, "Envelope")
    publications = [_xml_publication(cube) for cube in root.iterfind(f".//{{{_EUROFXREF_NS}}}Cube[@time]")]
    return _to_rates(publications, sha256_hex(payload))


def _xml_publication(cube: etree._Element) -> Publication:
    day = _parse_day(cube.get("time", ""), "%Y-%m-%d")
    values: dict[str, Decimal] = {}
    for item in cube.iterfind(f"{{{_EUROFXREF_NS}}}Cube"):
        currency, rate = item.get("currency"), item.get("rate")
        if not currency or rate is None:
            raise RatePayloadError(SOURCE, f"{day.isoformat()}: a Cube lacks currency or rate")
        values[currency] = _rate(day, currency, rate)
    return day, values


def parse_eurofxref_csv(payload: bytes) -> list[OfficialRate]:
    """The daily ``eurofxref.csv`` (``13 April 2026``) or the history CSV (``2026-04-13``, ``N/A`` gaps)."""
    if looks_like_html(payload):
        raise RatePayloadError(SOURCE, "got an HTML page instead of the eurofxref CSV")
    try:
        text = payload.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RatePayloadError(SOURCE, f"CSV is not UTF-8: {exc}") from exc
    rows = [[cell.strip() for cell in row] for row in csv.reader(io.StringIO(text)) if any(row)]
    if len(rows) < 2 or rows[0][0] != "Date":
        raise RatePayloadError(SOURCE, "CSV does not start with a Date header and at least one row")
    header = rows[0]
    publications = [_csv_publication(header, row) for row in rows[1:]]
    return _to_rates(publications, sha256_hex(payload))


def parse_eurofxref_hist_zip(payload: bytes) -> list[OfficialRate]:
    """``eurofxref-hist.zip``: one CSV inside. Rates carry the hash of the zip as downloaded."""
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise RatePayloadError(SOURCE, f"zip should hold one CSV, holds {names}")
            inner = archive.read(names[0])
    except zipfile.BadZipFile as exc:
        detail = "an HTML page" if looks_like_html(payload) else f"not a zip file ({exc})"
        raise RatePayloadError(SOURCE, f"history download is {detail}") from exc
    digest = sha256_hex(payload)
    return [_with_hash(rate, digest) for rate in parse_eurofxref_csv(inner)]


def _with_hash(rate: OfficialRate, digest: str) -> OfficialRate:
    return OfficialRate(
        rate.source,
        rate.base,
        rate.quote,
        rate.rate,
        rate.published_on,
        rate.valid_from,
        rate.valid_to,
        digest,
    )


def _csv_publication(header: Sequence[str], row: Sequence[str]) -> Publication:
    day = _parse_csv_day(row[0])
    values: dict[str, Decimal] = {}
    for currency, cell in zip(header[1:], row[1:], strict=False):
        if currency and cell and cell != "N/A":
            values[currency] = _rate(day, currency, cell)
    return day, values


def _parse_csv_day(text: str) -> date:
    for pattern in ("%Y-%m-%d", "%d %B %Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise RatePayloadError(SOURCE, f"unreadable date {text!r}")


def _parse_day(text: str, pattern: str) -> date:
    try:
        return datetime.strptime(text, pattern).date()
    except ValueError:
        raise RatePayloadError(SOURCE, f"unreadable date {text!r}") from None


def _rate(day: date, currency: str, text: str) -> Decimal:
    try:
        value = parse_decimal(text)
    except ValueError as exc:
        raise RatePayloadError(SOURCE, f"{day.isoformat()} {currency}: {exc}") from None
    if value <= 0:
        raise RatePayloadError(SOURCE, f"{day.isoformat()} {currency}: rate must be positive, got {text}")
    return value


def _to_rates(publications: Iterable[Publication], digest: str) -> list[OfficialRate]:
    ordered = sorted(publications, key=lambda p: p[0])
    if not ordered or not any(values for _, values in ordered):
        raise RatePayloadError(SOURCE, "document holds no rates")
    days = [day for day, _ in ordered]
    if len(set(days)) != len(days):
        raise RatePayloadError(SOURCE, "document lists the same date twice")
    rates: list[OfficialRate] = []
    for index, (day, values) in enumerate(ordered):
        valid_to = days[index + 1] - timedelta(days=1) if index + 1 < len(days) else ecb_valid_to(day)
        rates.extend(
            OfficialRate(SOURCE, BASE_CURRENCY, currency, value, day, day, valid_to, digest)
            for currency, value in values.items()
        )
    return rates
