"""Official exchange rates and market prices: types and rules, no I/O.

Rates are ``Decimal`` "quote currency per 1 unit of base currency" with any CBR ``Nominal`` already divided
out. Each rate carries where it came from (source, publication date, SHA-256 of the raw payload) and the
days it applies to, so a threshold check can show which rate it used and why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Protocol

from corridor.errors import NotFound, Unavailable, ValidationFailed

# ISO 4217 minor units (exponents). Currencies marked N.A. by ISO (XDR, XAU, ...) are left out on purpose:
# an amount in them cannot be rounded to minor units, so converting one is an error, not a guess.
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_FOUR_DECIMALS = "CLF UYW"
_TWO_DECIMALS = (
    "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF "
    "CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL "
    "HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP "
    "MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD "
    "SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS "
    "VES WST XCD YER ZAR ZMW ZWG"
)
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS.split(), 2),
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
    **dict.fromkeys(_FOUR_DECIMALS.split(), 4),
}


# --- errors ------------------------------------------------------------------------------------------


class UnknownCurrency(ValidationFailed):
    def __init__(self, currency: str) -> None:
        super().__init__("rates.currency_unknown", f"{currency!r} has no ISO 4217 minor unit we know")


class RateNotFound(NotFound):
    def __init__(self, base: str, quote: str, day: date) -> None:
        super().__init__("rates.not_found", f"no official {base}/{quote} rate valid on {day.isoformat()}")


class RateSourceError(Unavailable):
    """A rate source could not give a usable answer (network, timeout, HTML instead of data, ...)."""

    def __init__(self, source: str, detail: str, code: str = "rates.source_failed") -> None:
        super().__init__(code, f"{source}: {detail}", source=source)
        self.source = source


class RatePayloadError(RateSourceError):
    """The source answered, but not with a rate document we can read."""

    def __init__(self, source: str, detail: str) -> None:
        super().__init__(source, detail, code="rates.bad_payload")


class StaleRate(RateSourceError):
    """The newest price a source has is older than we accept."""

    def __init__(self, source: str, age: timedelta, max_age: timedelta) -> None:
        seconds = int(age.total_seconds())
        super().__init__(
            source,
            f"price is {seconds} s old, more than the {int(max_age.total_seconds())} s allowed",
            "rates.stale",
        )
        self.age = age
        self.max_age = max_age


class CalendarNotCovered(ValidationFailed):
    def __init__(self, day: date) -> None:
        super().__init__(
            "calendar.not_covered", f"the business-day calendar does not cover {day.isoformat()}"
        )


# --- money -------------------------------------------------------------------------------------------


def minor_units(currency: str) -> int:
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise UnknownCurrency(currency) from None


@dataclass(frozen=True)
class Money:
    """A fiat amount. Thresholds may carry any precision; :meth:`rounded` gives minor units."""

    amount: Decimal
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise ValidationFailed("money.amount", f"amount must be a finite Decimal, got {self.amount!r}")
        if len(self.currency) != 3 or not self.currency.isascii() or not self.currency.isupper():
            raise ValidationFailed(
                "money.currency", f"currency must be an ISO 4217 code, got {self.currency!r}"
            )

    def rounded(self, rounding: str = ROUND_HALF_UP) -> Money:
        exponent = Decimal(1).scaleb(-minor_units(self.currency))
        return Money(self.amount.quantize(exponent, rounding=rounding), self.currency)

    def minor(self) -> int:
        """The amount as an integer count of minor units; the amount must already be rounded."""
        scaled = self.amount.scaleb(minor_units(self.currency))
        if scaled != scaled.to_integral_value():
            raise ValidationFailed(
                "money.not_rounded", f"{self} has more decimals than {self.currency} allows"
            )
        return int(scaled)

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"


def parse_decimal(text: str, *, decimal_comma: bool = False) -> Decimal:
    """Parse a published number exactly; raises ValueError on anything that is not a plain number."""
    cleaned = text.strip().replace(",", ".") if decimal_comma else text.strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not a number: {text!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite number: {text!r}")
    return value


def sha256_hex(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


# --- business days for carry-forward -----------------------------------------------------------------


class BusinessDays(Protocol):
    def is_business_day(self, day: date) -> bool: ...


class WeekdayCalendar:
    """Monday to Friday, no holidays. Only a fallback where no real calendar covers the dates."""

    def is_business_day(self, day: date) -> bool:
        return day.isoweekday() <= 5


def easter_sunday(year: int) -> date:
    """Gregorian Easter (anonymous Gregorian algorithm), needed for TARGET closing days."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


class TargetCalendar:
    """TARGET2 closing days, on which the ECB publishes no reference rates: weekends, 1 January, Good Friday,
    Easter Monday, 1 May, 25 and 26 December (the set in force since 2002)."""

    def is_business_day(self, day: date) -> bool:
        if day.isoweekday() > 5 or (day.month, day.day) in {(1, 1), (5, 1), (12, 25), (12, 26)}:
            return False
        easter = easter_sunday(day.year)
        return day not in (easter - timedelta(days=2), easter + timedelta(days=1))


def next_business_day_on_or_after(day: date, calendar: BusinessDays, limit_days: int = 30) -> date:
    for offset in range(limit_days + 1):
        candidate = day + timedelta(days=offset)
        if calendar.is_business_day(candidate):
            return candidate
    raise CalendarNotCovered(day)


def cbr_valid_to(effective: date, calendar: BusinessDays) -> date:
    """Last day a CBR rate with ``Date=effective`` applies to.

    The Bank of Russia sets a rate on a business day for the next calendar day and until the next setting,
    so Friday's rate (Date = Saturday) covers Saturday to Monday and the New-Year rate covers the holidays.
    The rate therefore runs up to and including the first business day on or after its ``Date``.
    """
    return next_business_day_on_or_after(effective, calendar)


def ecb_valid_to(published: date, calendar: BusinessDays | None = None) -> date:
    """ECB rates are for the TARGET day they are published on and carry over closing days until the next."""
    target = calendar or TargetCalendar()
    return next_business_day_on_or_after(published + timedelta(days=1), target) - timedelta(days=1)


# --- official rates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfficialRate:
    """``rate`` units of ``quote`` for 1 unit of ``base``, applying from ``valid_from`` to ``valid_to`` inclusive.

    ``derivation`` is ``published`` for a rate read from a source, ``inverse`` or ``cross`` for one computed
    from the published rates kept in ``legs``; ``path`` spells out the route for the audit trail.
    """

    source: str
    base: str
    quote: str
    rate: Decimal
    published_on: date
    valid_from: date
    valid_to: date
    payload_sha256: str
    derivation: str = "published"
    legs: tuple[OfficialRate, ...] = field(default=())

    @property
    def pair(self) -> str:
        return f"{self.base}/{self.quote}"

    @property
    def path(self) -> tuple[str, ...]:
        if self.derivation == "inverse":
            return (f"1 / [{self.legs[0].path[0]}]",)
        if self.derivation == "cross":
            return tuple(step for leg in self.legs for step in leg.path)
        return (f"{self.pair} {self.source} {self.published_on.isoformat()} = {self.rate}",)

    @property
    def payload_hashes(self) -> tuple[str, ...]:
        """SHA-256 of every raw payload this rate rests on, in path order."""
        if not self.legs:
            return (self.payload_sha256,)
        return tuple(h for leg in self.legs for h in leg.payload_hashes)

    def applies_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_to


def inverse(rate: OfficialRate) -> OfficialRate:
    return OfficialRate(
        source=rate.source,
        base=rate.quote,
        quote=rate.base,
        rate=Decimal(1) / rate.rate,
        published_on=rate.published_on,
        valid_from=rate.valid_from,
        valid_to=rate.valid_to,
        payload_sha256=rate.payload_sha256,
        derivation="inverse",
        legs=(rate,),
    )


def chain(first: OfficialRate, second: OfficialRate) -> OfficialRate:
    """Cross rate first.base -> first.quote == second.base -> second.quote, valid where both are."""
    if first.quote != second.base:
        raise ValueError(f"cannot chain {first.pair} with {second.pair}")
    same_source = first.source == second.source
    same_payload = first.payload_sha256 == second.payload_sha256
    return OfficialRate(
        source=first.source if same_source else f"{first.source}+{second.source}",
        base=first.base,
        quote=second.quote,
        rate=first.rate * second.rate,
        published_on=max(first.published_on, second.published_on),
        valid_from=max(first.valid_from, second.valid_from),
        valid_to=min(first.valid_to, second.valid_to),
        payload_sha256=first.payload_sha256 if same_payload else "",
        derivation="cross",
        legs=(first, second),
    )


class RateBook:
    """The official rates known to us, answering "which rate applies to base/quote on this day"."""

    def __init__(self, rates: Iterable[OfficialRate] = ()) -> None:
        self._by_pair: dict[tuple[str, str], list[OfficialRate]] = {}
        for rate in rates:
            self.add(rate)

    def add(self, rate: OfficialRate) -> None:
        self._by_pair.setdefault((rate.base, rate.quote), []).append(rate)

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_pair.values())

    def currencies(self) -> set[str]:
        return {c for pair in self._by_pair for c in pair}

    def published(self, base: str, quote: str, day: date) -> OfficialRate | None:
        """The published rate for exactly this pair on ``day``; the latest publication wins if several apply."""
        candidates = [r for r in self._by_pair.get((base, quote), []) if r.applies_on(day)]
        return max(candidates, key=lambda r: r.published_on, default=None)

    def _direct_or_inverse(self, base: str, quote: str, day: date) -> OfficialRate | None:
        direct = self.published(base, quote, day)
        if direct is not None:
            return direct
        reverse = self.published(quote, base, day)
        return None if reverse is None else inverse(reverse)

    def rate_on(self, base: str, quote: str, day: date) -> OfficialRate:
        """Direct rate, else its inverse, else a cross through one common currency (path recorded)."""
        if base == quote:
            raise ValueError("base and quote are the same currency")
        found = self._direct_or_inverse(base, quote, day)
        if found is not None:
            return found
        for pivot in sorted(self.currencies() - {base, quote}):
            first = self._direct_or_inverse(base, pivot, day)
            second = self._direct_or_inverse(pivot, quote, day) if first else None
            if first is not None and second is not None:
                return chain(first, second)
        raise RateNotFound(base, quote, day)


@dataclass(frozen=True)
class Conversion:
    original: Money
    result: Money
    rate: OfficialRate
    on: date


def convert(
    amount: Money, to_currency: str, book: RateBook, on: date, rounding: str = ROUND_HALF_UP
) -> Conversion:
    """Convert at the official rate valid on ``on``, rounded once, at the end, to the target's minor units.

    Half-up is the rounding of Russian accounting and of the currency-control forms; the rate is not
    rounded first, because rounding twice can move the result by a kopeck.
    """
    if amount.currency == to_currency:
        return Conversion(amount, amount.rounded(rounding), _identity_rate(to_currency, on), on)
    rate = book.rate_on(amount.currency, to_currency, on)
    result = Money(amount.amount * rate.rate, to_currency).rounded(rounding)
    return Conversion(amount, result, rate, on)


def convert_to_rub(amount: Money, book: RateBook, on: date) -> Conversion:
    return convert(amount, "RUB", book, on)


def _identity_rate(currency: str, on: date) -> OfficialRate:
    return OfficialRate("identity", currency, currency, Decimal(1), on, on, on, "")


# --- market prices -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketPrice:
    """A market price for a crypto pair such as BTC/RUB: ``price`` quote units for 1 base unit."""

    pair: str
    price: Decimal
    as_of: datetime
    source: str
    payload_sha256: str = ""

    def age(self, now: datetime) -> timedelta:
        return now - self.as_of


def split_pair(pair: str) -> tuple[str, str]:
    base, sep, quote = pair.upper().partition("/")
    if not sep or not base or not quote:
        raise ValidationFailed("rates.pair", f"pair must look like BTC/RUB, got {pair!r}")
    return base, quote
