"""Currency-operation records and operator statements: the facts a settlement leaves for currency control.

Currency control expects, per operation, the contract's UNK, the operation (VO) code and an extract from the
platform operator (domain.md 1.2). A :class:`CurrencyOperationRecord` is that extract's content, built by
the settlement area from data it already holds; an :class:`OperatorStatement` wraps one record for the
PDF. Both are validated on construction, so a renderer never has to guess: amounts are exact (Decimal in
the currency's minor units, integer satoshis), the RUB equivalent agrees with the rate printed beside it,
and every chain output and registry reference has its canonical shape. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from corridor.errors import ValidationFailed
from corridor.identity.identifiers import (
    validate_inn,
    validate_lei,
    validate_ogrn,
    validate_ogrnip,
    validate_unk,
)
from corridor.rates.model import Money, OfficialRate, minor_units

# [0-9], not \d: \d also matches Arabic-Indic and full-width digits.
_VO_CODE = re.compile(r"[0-9]{5}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# vout is a uint32 written without leading zeros, so one output has exactly one spelling.
_OUTPOINT = re.compile(r"([0-9a-f]{64}):(0|[1-9][0-9]{0,9})")
_MAX_VOUT = 2**32 - 1


class SettlementKind(StrEnum):
    EXPORT_PROCEEDS = "export_proceeds"
    IMPORT_PAYMENT = "import_payment"


def _fail(code: str, detail: str, where: str) -> ValidationFailed:
    return ValidationFailed(f"record.{code}", f"{where}: {detail}", field=where)


def _reject_floats(value: Any, where: str) -> None:
    """Type hints keep floats out for checked callers; this keeps them out of values built from JSON."""
    if isinstance(value, float):
        raise _fail("float", "floats are not allowed; use Decimal or int", where)
    if isinstance(value, tuple | list):
        for index, item in enumerate(value):
            _reject_floats(item, f"{where}[{index}]")


def _check_fields(instance: Any) -> None:
    for item in dataclasses.fields(instance):
        _reject_floats(getattr(instance, item.name), item.name)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail("text", "must be a non-blank string", where)
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise _fail("text", "must not contain control characters", where)
    return value


def _optional_text(value: object, where: str) -> str | None:
    # None, not "", means absent: an empty CSV cell reads back as None, so "" would not round-trip.
    return None if value is None else _text(value, where)


def _integer(value: object, where: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail("integer", f"must be an int, got {type(value).__name__}", where)
    if value < minimum:
        raise _fail("integer", f"must be at least {minimum}", where)
    return value


def _decimal(value: object, where: str) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise _fail("decimal", f"must be a finite Decimal, got {value!r}", where)
    return value


def _canonical(validate: Callable[[str], str], value: str, where: str) -> None:
    """Identifiers must already be in their canonical spelling, so exports and PDFs show one form."""
    if validate(value) != value:
        raise _fail("identifier", f"{value!r} is not in canonical form", where)


def _sha256(value: object, where: str) -> str:
    if not isinstance(value, str) or not _SHA256.fullmatch(value):
        raise _fail("sha256", "must be 64 lowercase hex digits", where)
    return value


def _exact_minor_units(money: Money, where: str) -> None:
    minor_units(money.currency)  # an unknown currency is rates.currency_unknown, not a rounding problem
    try:
        money.minor()
    except ValidationFailed:
        raise _fail("minor_units", f"{money} has more decimals than {money.currency} allows", where) from None


def check_outpoint(value: object, where: str = "outputs") -> str:
    """``txid:vout`` with a lowercase 64-hex txid and a uint32 vout without leading zeros."""
    match = _OUTPOINT.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match.group(2)) > _MAX_VOUT:
        raise _fail("outpoint", f"{value!r} is not txid:vout (64 lowercase hex, colon, 0-4294967295)", where)
    return match.group(0)


@dataclass(frozen=True)
class Participant:
    """The resident client. At least one of INN and LEI; OGRN (13 digits) or OGRNIP (15 digits) if given."""

    id: str
    name: str
    inn: str | None = None
    lei: str | None = None
    ogrn: str | None = None

    def __post_init__(self) -> None:
        _check_fields(self)
        _text(self.id, "participant.id")
        _text(self.name, "participant.name")
        if self.inn is None and self.lei is None:
            raise _fail("identifier", "give the participant's INN or LEI", "participant")
        if self.inn is not None:
            _canonical(validate_inn, self.inn, "participant.inn")
        if self.lei is not None:
            _canonical(validate_lei, self.lei, "participant.lei")
        if self.ogrn is not None:
            validate = validate_ogrnip if len(self.ogrn) == 15 else validate_ogrn
            _canonical(validate, self.ogrn, "participant.ogrn")


@dataclass(frozen=True)
class ContractRef:
    """The registered foreign-trade contract the operation settles; ``unk`` is None below the threshold."""

    id: str
    number: str
    contract_date: date
    contract_type: str
    counterparty_name: str
    counterparty_country: str
    unk: str | None = None

    def __post_init__(self) -> None:
        _check_fields(self)
        _text(self.id, "contract.id")
        _text(self.number, "contract.number")
        _text(self.contract_type, "contract.contract_type")
        _text(self.counterparty_name, "contract.counterparty_name")
        if not isinstance(self.contract_date, date) or isinstance(self.contract_date, datetime):
            raise _fail("date", "must be a date", "contract.contract_date")
        if not _COUNTRY.fullmatch(self.counterparty_country):
            raise _fail("country", "must be an ISO 3166 alpha-2 code", "contract.counterparty_country")
        if self.unk is not None:
            _canonical(validate_unk, self.unk, "contract.unk")


@dataclass(frozen=True)
class RateUsed:
    """The official ``rate`` (RUB per 1 unit of the fiat currency) and where it came from, plus the market
    BTC price the satoshi amount was quoted at."""

    rate: Decimal
    pair: str
    source: str
    published_on: date
    path: tuple[str, ...]
    payload_hashes: tuple[str, ...] = ()
    market_price_id: str | None = None
    market_price_source: str | None = None

    def __post_init__(self) -> None:
        _check_fields(self)
        if _decimal(self.rate, "rate.rate") <= 0:
            raise _fail("rate", "must be positive", "rate.rate")
        _text(self.pair, "rate.pair")
        _text(self.source, "rate.source")
        if not isinstance(self.published_on, date):
            raise _fail("date", "must be a date", "rate.published_on")
        if not isinstance(self.path, tuple) or not self.path:
            raise _fail("path", "must be a non-empty tuple of steps", "rate.path")
        for index, step in enumerate(self.path):
            _text(step, f"rate.path[{index}]")  # no control characters: steps are lines of one CSV cell
        if not isinstance(self.payload_hashes, tuple):
            raise _fail("sha256", "must be a tuple", "rate.payload_hashes")
        for index, digest in enumerate(self.payload_hashes):
            _sha256(digest, f"rate.payload_hashes[{index}]")
        _optional_text(self.market_price_id, "rate.market_price_id")
        _optional_text(self.market_price_source, "rate.market_price_source")
        if (self.market_price_id is None) != (self.market_price_source is None):
            raise _fail("market_price", "give both the market price id and its source", "rate")

    @classmethod
    def from_official(
        cls,
        rate: OfficialRate,
        market_price_id: str | None = None,
        market_price_source: str | None = None,
    ) -> RateUsed:
        """From the rates area's rate, keeping its derivation path and the payloads it rests on."""
        return cls(
            rate=rate.rate,
            pair=rate.pair,
            source=rate.source,
            published_on=rate.published_on,
            path=rate.path,
            # The identity rate (RUB to RUB) rests on no payload and carries an empty hash.
            payload_hashes=tuple(h for h in rate.payload_hashes if h),
            market_price_id=market_price_id,
            market_price_source=market_price_source,
        )


@dataclass(frozen=True)
class CurrencyOperationRecord:
    id: str
    kind: SettlementKind
    participant: Participant
    contract: ContractRef
    vo_code: str
    operation_date: date
    fiat: Money
    btc_sats: int
    rub_equivalent: Decimal
    rate: RateUsed
    outputs: tuple[str, ...]
    block_height: int | None
    confirmations: int
    status: str
    registry_seq: int
    registry_entry_hash: str

    def __post_init__(self) -> None:
        _check_fields(self)
        _text(self.id, "id")
        try:
            object.__setattr__(self, "kind", SettlementKind(self.kind))
        except (ValueError, TypeError):
            raise _fail(
                "kind", f"{self.kind!r} is not one of {[k.value for k in SettlementKind]}", "kind"
            ) from None
        if not isinstance(self.vo_code, str) or not _VO_CODE.fullmatch(self.vo_code):
            raise _fail("vo_code", "the currency operation (VO) code is 5 digits", "vo_code")
        if not isinstance(self.operation_date, date) or isinstance(self.operation_date, datetime):
            raise _fail("date", "must be a date", "operation_date")
        if self.operation_date < self.contract.contract_date:
            raise _fail("operation_date", "the operation is dated before its contract", "operation_date")
        self._check_amounts()
        self._check_chain()
        _text(self.status, "status")
        _integer(self.registry_seq, "registry_seq", minimum=1)
        _sha256(self.registry_entry_hash, "registry_entry_hash")

    def _check_amounts(self) -> None:
        if not isinstance(self.fiat, Money):
            raise _fail("fiat", "must be a Money", "fiat")
        if self.fiat.amount <= 0:
            raise _fail("fiat", "must be positive", "fiat")
        _exact_minor_units(self.fiat, "fiat")
        _integer(self.btc_sats, "btc_sats")
        rub = Money(_decimal(self.rub_equivalent, "rub_equivalent"), "RUB")
        _exact_minor_units(rub, "rub_equivalent")
        if self.rate.pair != f"{self.fiat.currency}/RUB":
            raise _fail("rate_pair", f"the rate must be {self.fiat.currency}/RUB", "rate.pair")
        # The same single half-up rounding as rates.model.convert, so the document can be checked by hand.
        expected = Money(self.fiat.amount * self.rate.rate, "RUB").rounded().amount
        if expected != self.rub_equivalent:
            raise _fail(
                "rub_equivalent_mismatch",
                f"{self.fiat} at {self.rate.rate} is {expected} RUB, not {self.rub_equivalent}",
                "rub_equivalent",
            )

    def _check_chain(self) -> None:
        if not isinstance(self.outputs, tuple) or not self.outputs:
            raise _fail("outputs", "must be a non-empty tuple of txid:vout", "outputs")
        for index, outpoint in enumerate(self.outputs):
            check_outpoint(outpoint, f"outputs[{index}]")
        if len(set(self.outputs)) != len(self.outputs):
            raise _fail("outputs", "an output is listed twice", "outputs")
        confirmations = _integer(self.confirmations, "confirmations")
        confirmed = self.block_height is not None
        if confirmed:
            _integer(self.block_height, "block_height")
        if confirmed != (confirmations > 0):
            raise _fail(
                "confirmations",
                "an operation in a block has 1 or more confirmations, one outside a block has 0",
                "confirmations",
            )


@dataclass(frozen=True)
class OperatorStatement:
    """The platform operator's extract for one operation (domain.md 1.2), rendered as a PDF."""

    operator_name: str
    operator_licence: str
    statement_id: str
    generated_at: datetime
    record: CurrencyOperationRecord
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        _check_fields(self)
        _text(self.operator_name, "operator_name")
        _text(self.operator_licence, "operator_licence")
        _text(self.statement_id, "statement_id")
        if not isinstance(self.generated_at, datetime) or self.generated_at.utcoffset() is None:
            raise _fail("generated_at", "must be a timezone-aware datetime", "generated_at")
        object.__setattr__(self, "generated_at", self.generated_at.astimezone(UTC))
        if not isinstance(self.record, CurrencyOperationRecord):
            raise _fail("record", "must be a CurrencyOperationRecord", "record")
        if not isinstance(self.notes, tuple):
            raise _fail("notes", "must be a tuple of strings", "notes")
        for index, note in enumerate(self.notes):
            if not isinstance(note, str) or not note.strip():
                raise _fail("notes", "must be non-blank text", f"notes[{index}]")
