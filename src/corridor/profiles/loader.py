"""Load and validate jurisdiction profile files.

Profiles live in the package (``data/<id>.toml``, calendars in ``data/calendars/<name>.toml``) and,
optionally, in an operator's extra folder with the same layout (``CORRIDOR_PROFILE_DIR``). The profile in
force is ``CORRIDOR_PROFILE`` (default ``RU-EPR-2024``). A file with any problem is refused as a whole,
and every problem found is listed, so an operator fixes a file in one go.
"""

from __future__ import annotations

import os
import threading
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, get_type_hints

from corridor.errors import ValidationFailed
from corridor.profiles.model import (
    PARAMETER_NAMES,
    ApprovalTier,
    BusinessCalendar,
    CalendarYear,
    JurisdictionProfile,
    ProfileValues,
    Timeline,
    Versioned,
    coverage_problems,
    window_problems,
)
from corridor.rates.model import Money, parse_decimal

DEFAULT_PROFILE_ID = "RU-EPR-2024"
PROFILE_ENV = "CORRIDOR_PROFILE"
PROFILE_DIR_ENV = "CORRIDOR_PROFILE_DIR"
PACKAGE_DATA_DIR = Path(__file__).resolve().parent / "data"
_ENTRY_KEYS = {"value", "valid_from", "valid_to", "confidence", "source"}
_CONFIDENCE_TAGS = {"C", "C-", "U"}


class ProfileError(ValidationFailed):
    """A profile or calendar file is missing or invalid; ``problems`` lists every fault found."""

    def __init__(self, where: str, problems: list[str]) -> None:
        super().__init__("profile.invalid", f"{where}: " + "; ".join(problems), problems=problems)
        self.where = where
        self.problems = problems


class _Invalid(ValueError):
    """One value of the wrong shape; collected into the file's list of problems."""


# --- typed values ------------------------------------------------------------------------------------


def _decimal(raw: object) -> Decimal:
    if isinstance(raw, float):
        raise _Invalid('write decimals as strings (e.g. "0.70"): TOML floats lose precision')
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise _Invalid(f"expected a decimal string, got {type(raw).__name__}")
    try:
        return parse_decimal(str(raw))
    except ValueError as exc:
        raise _Invalid(str(exc)) from None


def _int(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _Invalid(f"expected an integer, got {type(raw).__name__}")
    if raw < 0:
        raise _Invalid(f"expected a non-negative integer, got {raw}")
    return raw


def _bool(raw: object) -> bool:
    if not isinstance(raw, bool):
        raise _Invalid(f"expected true or false, got {type(raw).__name__}")
    return raw


def _str(raw: object) -> str:
    if not isinstance(raw, str) or not raw:
        raise _Invalid(f"expected a non-empty string, got {type(raw).__name__}")
    return raw


def _table(raw: object, keys: set[str], required: set[str]) -> Mapping[str, object]:
    if not isinstance(raw, dict):
        raise _Invalid(f"expected a table, got {type(raw).__name__}")
    unknown, missing = set(raw) - keys, required - set(raw)
    if unknown or missing:
        raise _Invalid(f"table keys: unknown {sorted(unknown)}, missing {sorted(missing)}")
    return raw


def _money(raw: object) -> Money:
    table = _table(raw, {"amount", "currency"}, {"amount", "currency"})
    amount = _decimal(table["amount"])
    if amount < 0:
        raise _Invalid(f"amount must not be negative, got {amount}")
    try:
        return Money(amount, _str(table["currency"]))
    except ValidationFailed as exc:
        raise _Invalid(exc.detail) from None


def _str_tuple(raw: object) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        raise _Invalid("expected a non-empty list of strings")
    return tuple(_str(item) for item in raw)


def _approval_tiers(raw: object) -> tuple[ApprovalTier, ...]:
    if not isinstance(raw, list) or not raw:
        raise _Invalid("expected a non-empty list of tiers")
    tiers = []
    for item in raw:
        table = _table(item, {"up_to", "approvals"}, {"approvals"})
        up_to = _money(table["up_to"]) if "up_to" in table else None
        approvals = _int(table["approvals"])
        if approvals < 1:
            raise _Invalid("every tier needs at least 1 approval")
        tiers.append(ApprovalTier(up_to, approvals))
    bounded = [t.up_to for t in tiers[:-1]]
    if tiers[-1].up_to is not None or any(b is None for b in bounded):
        raise _Invalid("only the last tier, and it must, have no up_to")
    amounts = [b.amount for b in bounded if b is not None]
    if amounts != sorted(set(amounts)) or len({b.currency for b in bounded if b is not None}) > 1:
        raise _Invalid("tier limits must rise strictly and share one currency")
    return tuple(tiers)


_PARSERS: dict[object, Callable[[object], Any]] = {
    bool: _bool,
    int: _int,
    str: _str,
    Decimal: _decimal,
    Money: _money,
    tuple[str, ...]: _str_tuple,
    tuple[ApprovalTier, ...]: _approval_tiers,
}
_PARAMETER_TYPES = get_type_hints(ProfileValues)
_PARAMETER_PARSERS: dict[str, Callable[[object], Any]] = {
    name: _PARSERS[_PARAMETER_TYPES[name]] for name in PARAMETER_NAMES
}


# --- windows and parameters --------------------------------------------------------------------------


def _date(raw: object, what: str) -> date:
    # tomllib gives datetime for "2024-09-01T00:00"; a date-only field must stay a date.
    if not isinstance(raw, date) or hasattr(raw, "hour"):
        raise _Invalid(f"{what} must be a TOML date like 2024-09-01, got {raw!r}")
    return raw


def _entry(name: str, raw: object) -> Versioned[object]:
    table = _table(raw, _ENTRY_KEYS, {"value", "valid_from"})
    confidence = table.get("confidence", "")
    if confidence and confidence not in _CONFIDENCE_TAGS:
        raise _Invalid(f"confidence must be one of {sorted(_CONFIDENCE_TAGS)}, got {confidence!r}")
    return Versioned(
        value=_PARAMETER_PARSERS[name](table["value"]),
        valid_from=_date(table["valid_from"], "valid_from"),
        valid_to=_date(table["valid_to"], "valid_to") if "valid_to" in table else None,
        confidence=str(confidence),
        source=str(table.get("source", "")),
    )


def _timeline(name: str, raw: object, problems: list[str]) -> Timeline[object]:
    if not isinstance(raw, list):
        problems.append(f"parameters.{name}: expected [[parameters.{name}]] entries")
        return Timeline(name, ())
    entries = []
    for index, item in enumerate(raw):
        try:
            entries.append(_entry(name, item))
        except _Invalid as exc:
            problems.append(f"parameters.{name}[{index}]: {exc}")
    problems.extend(window_problems(name, entries))
    return Timeline(name, tuple(sorted(entries, key=lambda e: e.valid_from)))


def _timelines(
    raw: object, start: date, end: date | None, problems: list[str]
) -> dict[str, Timeline[object]]:
    if not isinstance(raw, dict):
        problems.append("missing [parameters]")
        return {}
    for unknown in sorted(set(raw) - set(PARAMETER_NAMES)):
        problems.append(f"parameters.{unknown}: unknown parameter")
    for missing in [n for n in PARAMETER_NAMES if n not in raw]:
        problems.append(f"parameters.{missing}: missing")
    timelines = {name: _timeline(name, raw[name], problems) for name in PARAMETER_NAMES if name in raw}
    for name, timeline in timelines.items():
        if timeline.entries:
            problems.extend(coverage_problems(name, timeline.entries, start, end))
    return timelines


# --- files -------------------------------------------------------------------------------------------


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(str(path), [f"not valid TOML: {exc}"]) from exc


def _header_field(
    document: Mapping[str, object], key: str, parse: Callable[[object], Any], problems: list[str]
) -> Any:
    if key not in document:
        problems.append(f"{key}: missing")
        return None
    try:
        return parse(document[key])
    except _Invalid as exc:
        problems.append(f"{key}: {exc}")
        return None


def parse_calendar(document: Mapping[str, object], where: str) -> BusinessCalendar:
    problems: list[str] = []
    name = _header_field(document, "name", _str, problems)
    weekend = _header_field(document, "weekend", _weekend, problems)
    years: dict[int, CalendarYear] = {}
    raw_years = document.get("years")
    if not isinstance(raw_years, list) or not raw_years:
        problems.append("years: expected [[years]] entries")
        raw_years = []
    for index, raw in enumerate(raw_years):
        try:
            year = _calendar_year(raw, weekend or frozenset())
        except _Invalid as exc:
            problems.append(f"years[{index}]: {exc}")
            continue
        if year.year in years:
            problems.append(f"years[{index}]: year {year.year} listed twice")
        years[year.year] = year
    if years and sorted(years) != list(range(min(years), max(years) + 1)):
        problems.append(f"years must be consecutive, got {sorted(years)}")
    if problems:
        raise ProfileError(where, problems)
    return BusinessCalendar(name, weekend, years)


def _weekend(raw: object) -> frozenset[int]:
    if not isinstance(raw, list) or not all(isinstance(d, int) and 1 <= d <= 7 for d in raw):
        raise _Invalid("expected a list of ISO weekdays 1-7")
    return frozenset(raw)


def _calendar_year(raw: object, weekend: frozenset[int]) -> CalendarYear:
    keys = {"year", "non_working_days", "working_weekend_days", "confidence", "source"}
    table = _table(raw, keys, {"year", "non_working_days", "working_weekend_days", "confidence", "source"})
    year = _int(table["year"])
    off = _date_set(table["non_working_days"], year, "non_working_days")
    on = _date_set(table["working_weekend_days"], year, "working_weekend_days")
    if not all(d.isoweekday() in weekend for d in on):
        raise _Invalid("working_weekend_days must fall on weekend days")
    if off & on:
        raise _Invalid(f"days both working and non-working: {sorted(off & on)}")
    if table["confidence"] not in _CONFIDENCE_TAGS:
        raise _Invalid(f"confidence must be one of {sorted(_CONFIDENCE_TAGS)}")
    return CalendarYear(year, off, on, str(table["confidence"]), _str(table["source"]))


def _date_set(raw: object, year: int, what: str) -> frozenset[date]:
    if not isinstance(raw, list):
        raise _Invalid(f"{what} must be a list of dates")
    days = frozenset(_date(d, what) for d in raw)
    if any(d.year != year for d in days):
        raise _Invalid(f"{what} holds dates outside {year}")
    return days


def parse_profile(
    document: Mapping[str, object], where: str, calendars: Mapping[str, BusinessCalendar]
) -> JurisdictionProfile:
    """Build a profile from a parsed TOML document; every problem found is reported together."""
    problems: list[str] = []
    unknown = set(document) - {
        "id",
        "name",
        "jurisdiction",
        "version",
        "valid_from",
        "valid_to",
        "calendar",
        "parameters",
    }
    problems.extend(f"{key}: unknown top-level key" for key in sorted(unknown))
    profile_id = _header_field(document, "id", _str, problems)
    name = _header_field(document, "name", _str, problems)
    jurisdiction = _header_field(document, "jurisdiction", _str, problems)
    version = _header_field(document, "version", _int, problems)
    valid_from = _header_field(document, "valid_from", lambda r: _date(r, "valid_from"), problems)
    valid_to = _date(document["valid_to"], "valid_to") if "valid_to" in document else None
    calendar_name = _header_field(document, "calendar", _str, problems)
    calendar = calendars.get(calendar_name) if calendar_name else None
    if calendar_name and calendar is None:
        problems.append(f"calendar: no calendar named {calendar_name!r}")
    timelines = _timelines(document.get("parameters"), valid_from or date.min, valid_to, problems)
    if problems or calendar is None:
        raise ProfileError(where, problems)
    return JurisdictionProfile(
        profile_id, name, jurisdiction, version, valid_from, valid_to, calendar, timelines
    )


# --- finding files -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileLocations:
    """Where profiles are looked for: the package's data and an optional operator folder."""

    extra_dir: Path | None = None

    @property
    def folders(self) -> tuple[Path, ...]:
        return (PACKAGE_DATA_DIR,) if self.extra_dir is None else (PACKAGE_DATA_DIR, self.extra_dir)

    def profile_files(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for folder in self.folders:
            for path in sorted(folder.glob("*.toml")):
                if path.stem in found:
                    raise ProfileError(
                        str(path), [f"profile {path.stem} is also defined in {found[path.stem]}"]
                    )
                found[path.stem] = path
        return found

    def calendars(self) -> dict[str, BusinessCalendar]:
        calendars: dict[str, BusinessCalendar] = {}
        for folder in self.folders:
            for path in sorted((folder / "calendars").glob("*.toml")):
                calendar = parse_calendar(_read_toml(path), str(path))
                if calendar.name != path.stem:
                    raise ProfileError(str(path), [f"name {calendar.name!r} differs from the file name"])
                if calendar.name in calendars:
                    raise ProfileError(str(path), [f"calendar {calendar.name} is defined twice"])
                calendars[calendar.name] = calendar
        return calendars


def available_profiles(extra_dir: Path | None = None) -> list[str]:
    return sorted(ProfileLocations(extra_dir).profile_files())


_FileStamp = tuple[str, int, int]
_LOADED: dict[tuple[str, Path | None], tuple[tuple[_FileStamp, ...], JurisdictionProfile]] = {}
_LOADED_LOCK = threading.Lock()


def _stamps(locations: ProfileLocations) -> tuple[_FileStamp, ...]:
    """Name, size and modification time of every file a load reads: a changed file means a reload."""
    paths = [p for folder in locations.folders for p in sorted(folder.glob("*.toml"))]
    paths += [p for folder in locations.folders for p in sorted((folder / "calendars").glob("*.toml"))]
    stamped = []
    for path in paths:
        stat = path.stat()
        stamped.append((str(path), stat.st_size, stat.st_mtime_ns))
    return tuple(stamped)


def load_profile(profile_id: str = DEFAULT_PROFILE_ID, extra_dir: Path | None = None) -> JurisdictionProfile:
    """Load and validate one profile by id from the package data and ``extra_dir``.

    Every money movement asks for the profile; parsing its TOML and calendars each time cost more than the
    movement's own SQL, so a load is kept until one of the files it read changes (profiles are immutable)."""
    locations = ProfileLocations(extra_dir)
    stamps = _stamps(locations)
    with _LOADED_LOCK:
        kept = _LOADED.get((profile_id, extra_dir))
    if kept is not None and kept[0] == stamps:
        return kept[1]
    profile = _parse_profile_files(profile_id, locations)
    with _LOADED_LOCK:
        _LOADED[(profile_id, extra_dir)] = (stamps, profile)
    return profile


def _parse_profile_files(profile_id: str, locations: ProfileLocations) -> JurisdictionProfile:
    files = locations.profile_files()
    path = files.get(profile_id)
    if path is None:
        raise ProfileError(profile_id, [f"no profile file {profile_id}.toml; available: {sorted(files)}"])
    profile = parse_profile(_read_toml(path), str(path), locations.calendars())
    if profile.id != profile_id:
        raise ProfileError(str(path), [f"id {profile.id!r} differs from the file name {profile_id!r}"])
    return profile


def load_configured_profile(environ: Mapping[str, str] | None = None) -> JurisdictionProfile:
    """The profile named by ``CORRIDOR_PROFILE``, with ``CORRIDOR_PROFILE_DIR`` as the extra folder."""
    env = os.environ if environ is None else environ
    extra = env.get(PROFILE_DIR_ENV)
    return load_profile(env.get(PROFILE_ENV) or DEFAULT_PROFILE_ID, Path(extra) if extra else None)
