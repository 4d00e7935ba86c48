"""Jurisdiction profiles: the shipped RU-EPR-2024 values, date-versioned lookup, the business-day rule,
loading a second profile from a folder without code, and clear errors for broken files."""

from __future__ import annotations

import tomllib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.profiles.loader import (
    PACKAGE_DATA_DIR,
    ProfileError,
    available_profiles,
    load_configured_profile,
    load_profile,
)
from corridor.profiles.model import ProfileNotInForce
from corridor.rates.model import CalendarNotCovered, Money

RU_PROFILE_TEXT = (PACKAGE_DATA_DIR / "RU-EPR-2024.toml").read_text(encoding="utf-8")


RU_CALENDAR = load_profile().calendar


def rub(amount: str) -> Money:
    return Money(Decimal(amount), "RUB")


# --- shipped profile ---------------------------------------------------------------------------------


def test_default_profile_carries_the_domain_values() -> None:
    values = load_profile().on(date(2025, 3, 3))
    assert values.contract_registration_import_threshold == rub("3000000")
    assert values.contract_registration_export_threshold == rub("10000000")
    assert values.documents_not_required_up_to == rub("200000")
    assert values.documents_deadline_business_days == 15
    assert values.allowed_assets == ("BTC",)
    assert values.domestic_settlement_allowed is False
    assert values.retail_allowed is False
    assert values.quote_ttl_minutes == 15
    assert values.official_rate_source == "CBR"
    assert values.payout_fee_rate_floor_sat_vb < values.payout_fee_rate_ceiling_sat_vb
    assert values.screening_cutoff < values.screening_alert_threshold


def test_approval_tiers_by_amount() -> None:
    values = load_profile().on(date(2025, 3, 3))
    assert values.approvals_required(rub("1000000")) == 1
    assert values.approvals_required(rub("1000000.01")) == 2
    assert values.approvals_required(rub("999999999")) == 3


def test_profile_is_not_in_force_before_the_regime() -> None:
    with pytest.raises(ProfileNotInForce):
        load_profile().on(date(2024, 8, 31))


def test_entry_explains_source_and_confidence() -> None:
    entry = load_profile().entry("mandatory_control_threshold", date(2025, 1, 1))
    assert entry.confidence == "U"
    assert "115-FZ" in entry.source


# --- business days -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("year", "working_days"), [(2024, 248), (2025, 247), (2026, 247)])
def test_calendar_matches_the_decreed_working_day_totals(year: int, working_days: int) -> None:
    assert load_profile().calendar.business_days_in_year(year) == working_days


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2024, 12, 25), 15, date(2025, 1, 24)),  # Sat 28 Dec works, 29 Dec-8 Jan off
        (date(2025, 10, 31), 1, date(2025, 11, 1)),  # working Saturday
        (date(2025, 11, 1), 1, date(2025, 11, 5)),  # 3 and 4 Nov off
        (date(2026, 3, 6), 1, date(2026, 3, 10)),  # 8 Mar is Sunday, 9 Mar off
        (date(2025, 5, 7), 0, date(2025, 5, 7)),
    ],
)
def test_business_days_after(start: date, n: int, expected: date) -> None:
    assert load_profile().business_days_after(start, n) == expected


def test_documents_deadline_is_15_business_days_after_the_transfer() -> None:
    assert load_profile().documents_deadline(date(2024, 12, 25)) == date(2025, 1, 24)


def test_calendar_refuses_years_it_does_not_cover() -> None:
    with pytest.raises(CalendarNotCovered):
        load_profile().business_days_after(date(2026, 12, 20), 15)


@given(st.dates(date(2024, 1, 1), date(2026, 9, 30)), st.integers(0, 30), st.integers(0, 30))
def test_business_days_after_composes_and_lands_on_business_days(start: date, a: int, b: int) -> None:
    calendar = RU_CALENDAR
    end = calendar.business_days_after(start, a + b)
    assert end == calendar.business_days_after(calendar.business_days_after(start, a), b)
    if a + b:
        assert calendar.is_business_day(end)
        assert end > start
        days = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
        assert sum(calendar.is_business_day(d) for d in days) == a + b


# --- a second profile without code -------------------------------------------------------------------

SECOND_PROFILE = """
id = "XX-TEST-2025"
name = "A test jurisdiction"
jurisdiction = "XX"
version = 2
valid_from = 2025-01-01
calendar = "XX"
"""

XX_CALENDAR = """
name = "XX"
weekend = [5, 6]
[[years]]
year = 2025
non_working_days = [2025-03-03]
working_weekend_days = []
confidence = "U"
source = "test"
"""


def second_profile_text(export_windows: str) -> str:
    """RU's parameter blocks with the dates moved to 2025 and the export threshold replaced."""
    document = tomllib.loads(RU_PROFILE_TEXT)
    blocks = [SECOND_PROFILE]
    for name in document["parameters"]:
        if name == "contract_registration_export_threshold":
            continue
        section = RU_PROFILE_TEXT.split(f"[[parameters.{name}]]", 1)[1].split("[[parameters.", 1)[0]
        blocks.append(f"[[parameters.{name}]]" + section.replace("2024-09-01", "2025-01-01"))
    blocks.append(export_windows)
    return "\n".join(blocks)


EXPORT_WINDOWS = """
[[parameters.contract_registration_export_threshold]]
value = { amount = "5000", currency = "EUR" }
valid_from = 2025-01-01
valid_to = 2025-06-30

[[parameters.contract_registration_export_threshold]]
value = { amount = "7500", currency = "EUR" }
valid_from = 2025-07-01
"""


def write_second_profile(folder: Path, export_windows: str = EXPORT_WINDOWS) -> Path:
    (folder / "calendars").mkdir(exist_ok=True)
    (folder / "calendars" / "XX.toml").write_text(XX_CALENDAR, encoding="utf-8")
    path = folder / "XX-TEST-2025.toml"
    path.write_text(second_profile_text(export_windows), encoding="utf-8")
    return path


def test_second_profile_loads_from_an_extra_folder_and_versions_by_date(tmp_path: Path) -> None:
    write_second_profile(tmp_path)
    assert available_profiles(tmp_path) == ["RU-EPR-2024", "XX-TEST-2025"]
    profile = load_profile("XX-TEST-2025", tmp_path)
    assert profile.jurisdiction == "XX"
    assert profile.on(date(2025, 6, 30)).contract_registration_export_threshold == Money(Decimal(5000), "EUR")
    assert profile.on(date(2025, 7, 1)).contract_registration_export_threshold == Money(Decimal(7500), "EUR")
    # its own calendar: Friday-Saturday weekend and a holiday on Monday 3 March
    assert profile.business_days_after(date(2025, 2, 27), 2) == date(2025, 3, 4)


def test_a_changed_profile_file_is_read_again(tmp_path: Path) -> None:
    write_second_profile(tmp_path)
    first = load_profile("XX-TEST-2025", tmp_path)
    assert load_profile("XX-TEST-2025", tmp_path) is first  # kept while the files are unchanged
    write_second_profile(tmp_path, EXPORT_WINDOWS.replace('"7500"', '"9000"'))
    again = load_profile("XX-TEST-2025", tmp_path)
    assert again.on(date(2025, 7, 1)).contract_registration_export_threshold == Money(Decimal(9000), "EUR")


def test_configured_profile_comes_from_the_environment(tmp_path: Path) -> None:
    write_second_profile(tmp_path)
    env = {"CORRIDOR_PROFILE": "XX-TEST-2025", "CORRIDOR_PROFILE_DIR": str(tmp_path)}
    assert load_configured_profile(env).id == "XX-TEST-2025"
    assert load_configured_profile({}).id == "RU-EPR-2024"


# --- validation errors -------------------------------------------------------------------------------


def problems_of(tmp_path: Path, export_windows: str) -> list[str]:
    write_second_profile(tmp_path, export_windows)
    with pytest.raises(ProfileError) as caught:
        load_profile("XX-TEST-2025", tmp_path)
    assert caught.value.code == "profile.invalid"
    return caught.value.problems


def test_overlapping_windows_are_refused(tmp_path: Path) -> None:
    overlapping = EXPORT_WINDOWS.replace("valid_to = 2025-06-30", "valid_to = 2025-07-15")
    assert any("overlaps" in p for p in problems_of(tmp_path, overlapping))


def test_gaps_between_windows_are_refused(tmp_path: Path) -> None:
    gap = EXPORT_WINDOWS.replace("valid_to = 2025-06-30", "valid_to = 2025-06-20")
    assert any("no value between 2025-06-20 and 2025-07-01" in p for p in problems_of(tmp_path, gap))


def test_missing_parameter_is_named(tmp_path: Path) -> None:
    assert "parameters.contract_registration_export_threshold: missing" in problems_of(tmp_path, "")


def test_wrong_types_and_floats_are_refused_with_the_path(tmp_path: Path) -> None:
    broken = EXPORT_WINDOWS.replace('amount = "5000"', "amount = 5000.5").replace(
        'value = { amount = "7500", currency = "EUR" }', 'value = "7500 EUR"'
    )
    problems = problems_of(tmp_path, broken)
    assert any(
        p.startswith("parameters.contract_registration_export_threshold[0]") and "string" in p
        for p in problems
    )
    assert any(
        p.startswith("parameters.contract_registration_export_threshold[1]") and "table" in p
        for p in problems
    )


def test_unknown_parameter_and_late_start_are_refused(tmp_path: Path) -> None:
    extra = EXPORT_WINDOWS.replace("valid_from = 2025-01-01", "valid_from = 2025-02-01") + (
        "\n[[parameters.quote_ttl_minutess]]\nvalue = 15\nvalid_from = 2025-01-01\n"
    )
    problems = problems_of(tmp_path, extra)
    assert "parameters.quote_ttl_minutess: unknown parameter" in problems
    assert any("first value starts 2025-02-01, after the profile starts 2025-01-01" in p for p in problems)


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(ProfileError) as caught:
        load_profile("NOPE")
    assert "RU-EPR-2024" in caught.value.detail


def test_duplicate_profile_id_in_extra_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "RU-EPR-2024.toml").write_text(RU_PROFILE_TEXT, encoding="utf-8")
    with pytest.raises(ProfileError, match="also defined"):
        load_profile(extra_dir=tmp_path)


def test_calendar_working_weekend_day_must_be_a_weekend(tmp_path: Path) -> None:
    write_second_profile(tmp_path)
    (tmp_path / "calendars" / "XX.toml").write_text(
        XX_CALENDAR.replace("working_weekend_days = []", "working_weekend_days = [2025-03-04]"),
        encoding="utf-8",
    )
    with pytest.raises(ProfileError, match="must fall on weekend days"):
        load_profile("XX-TEST-2025", tmp_path)
