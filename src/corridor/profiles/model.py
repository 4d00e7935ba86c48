"""Jurisdiction profiles: every jurisdiction-specific value, versioned by date, and the business-day rule.

A profile is data (see ``data/*.toml``). Each parameter is a timeline of values with ``valid_from`` and
``valid_to`` (both inclusive, ``valid_to`` None = open); a rule evaluated for a date asks
:meth:`JurisdictionProfile.on` for the values of that date. The parameters a profile must define are the
fields of :class:`ProfileValues`; adding a profile needs a data file, not code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Generic, TypeVar

from corridor.errors import ValidationFailed
from corridor.rates.model import CalendarNotCovered, Money

T = TypeVar("T")


class ProfileNotInForce(ValidationFailed):
    def __init__(self, profile_id: str, day: date) -> None:
        super().__init__("profile.not_in_force", f"profile {profile_id} is not in force on {day.isoformat()}")


@dataclass(frozen=True)
class Versioned(Generic[T]):
    value: T
    valid_from: date
    valid_to: date | None  # inclusive; None: until further notice
    confidence: str = ""  # C, C-, U as in domain.md
    source: str = ""

    def applies_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)


@dataclass(frozen=True)
class Timeline(Generic[T]):
    name: str
    entries: tuple[Versioned[T], ...]

    def at(self, day: date) -> Versioned[T]:
        for entry in self.entries:
            if entry.applies_on(day):
                return entry
        raise ValidationFailed("profile.no_value", f"{self.name} has no value valid on {day.isoformat()}")


def window_problems(name: str, entries: Sequence[Versioned[object]]) -> list[str]:
    """Overlaps, reversed windows and gaps in one parameter's timeline (entries in any order)."""
    problems = [
        f"{name}: valid_to {e.valid_to} is before valid_from {e.valid_from}"
        for e in entries
        if e.valid_to is not None and e.valid_to < e.valid_from
    ]
    ordered = sorted(entries, key=lambda e: e.valid_from)
    for earlier, later in pairwise(ordered):
        if earlier.valid_to is None or earlier.valid_to >= later.valid_from:
            problems.append(
                f"{name}: window from {earlier.valid_from} to {earlier.valid_to or 'open'} overlaps the one "
                f"from {later.valid_from}"
            )
        elif earlier.valid_to + timedelta(days=1) != later.valid_from:
            problems.append(f"{name}: no value between {earlier.valid_to} and {later.valid_from}")
    return problems


def coverage_problems(
    name: str, entries: Sequence[Versioned[object]], start: date, end: date | None
) -> list[str]:
    """The timeline must cover the profile's whole validity, so every rule has a value on every day."""
    if not entries:
        return [f"{name}: no values"]
    first = min(e.valid_from for e in entries)
    problems = []
    if first > start:
        problems.append(f"{name}: first value starts {first}, after the profile starts {start}")
    ends = [e.valid_to for e in entries]
    if None not in ends:
        last = max(d for d in ends if d is not None)
        if end is None or last < end:
            problems.append(f"{name}: last value ends {last}, before the profile ends ({end or 'open'})")
    return problems


@dataclass(frozen=True)
class ApprovalTier:
    """Payment orders up to ``up_to`` (inclusive; None = any amount) need ``approvals`` distinct approvers."""

    up_to: Money | None
    approvals: int


@dataclass(frozen=True)
class ProfileValues:
    """The values of a profile on one day. Field names are the parameter names in the profile files."""

    allowed_assets: tuple[str, ...]
    domestic_settlement_allowed: bool
    retail_allowed: bool
    official_rate_source: str
    contract_registration_import_threshold: Money
    contract_registration_export_threshold: Money
    documents_not_required_up_to: Money
    documents_deadline_business_days: int
    mandatory_control_threshold: Money
    travel_rule_threshold: Money
    invoice_credit_confirmations: int
    payout_final_confirmations: int
    quote_ttl_minutes: int
    underpayment_tolerance_bps: int
    payout_fee_rate_floor_sat_vb: Decimal
    payout_fee_rate_ceiling_sat_vb: Decimal
    screening_alert_threshold: Decimal
    screening_cutoff: Decimal
    payment_order_approval_tiers: tuple[ApprovalTier, ...]

    def approvals_required(self, amount: Money) -> int:
        for tier in self.payment_order_approval_tiers:
            if tier.up_to is None or amount.amount <= tier.up_to.amount:
                return tier.approvals
        raise ValidationFailed("profile.approval_tiers", "approval tiers must end with an open tier")


PARAMETER_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ProfileValues))


@dataclass(frozen=True)
class CalendarYear:
    year: int
    non_working_days: frozenset[date]  # public holidays and days off moved onto weekdays
    working_weekend_days: frozenset[date]  # Saturdays or Sundays made working days by a transfer
    confidence: str
    source: str


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days by an official production calendar; outside the years it covers it refuses to guess."""

    name: str
    weekend_isoweekdays: frozenset[int]
    years: Mapping[int, CalendarYear]

    def is_business_day(self, day: date) -> bool:
        year = self.years.get(day.year)
        if year is None:
            raise CalendarNotCovered(day)
        if day in year.working_weekend_days:
            return True
        return day.isoweekday() not in self.weekend_isoweekdays and day not in year.non_working_days

    def business_days_after(self, start: date, n: int) -> date:
        """The n-th business day after ``start`` (``start`` itself never counts; n = 0 gives ``start``)."""
        if n < 0:
            raise ValueError("n must not be negative")
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_business_day(day):
                counted += 1
        return day

    def business_days_in_year(self, year: int) -> int:
        first = date(year, 1, 1)
        days = (date(year + 1, 1, 1) - first).days
        return sum(self.is_business_day(first + timedelta(days=i)) for i in range(days))


@dataclass(frozen=True)
class JurisdictionProfile:
    id: str
    name: str
    jurisdiction: str
    version: int
    valid_from: date
    valid_to: date | None
    calendar: BusinessCalendar
    timelines: Mapping[str, Timeline[object]]

    def in_force_on(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day <= self.valid_to)

    def on(self, day: date) -> ProfileValues:
        """Every parameter as valid on ``day``."""
        if not self.in_force_on(day):
            raise ProfileNotInForce(self.id, day)
        values = {name: self.timelines[name].at(day).value for name in PARAMETER_NAMES}
        return ProfileValues(**values)  # type: ignore[arg-type]  # types are checked by the loader

    def entry(self, name: str, day: date) -> Versioned[object]:
        """One parameter with its window, confidence and source, for explanations and audit."""
        if name not in self.timelines:
            raise ValidationFailed("profile.unknown_parameter", f"profile has no parameter {name!r}")
        return self.timelines[name].at(day)

    def business_days_after(self, start: date, n: int) -> date:
        return self.calendar.business_days_after(start, n)

    def documents_deadline(self, transfer_day: date) -> date:
        """Last day to give the bank the UNK, VO code and operator extract after a transfer."""
        return self.business_days_after(transfer_day, self.on(transfer_day).documents_deadline_business_days)
