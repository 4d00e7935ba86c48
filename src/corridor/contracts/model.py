"""Foreign-trade contracts: validation, the registration threshold, UNK consistency, the statement. Pure.

A contract binds one admitted resident client to one non-resident counterparty (domain.md 1.3 "purpose
binding"); resident-to-resident and retail contracts are refused unless a profile allows domestic
settlement. Whether the contract must be registered with the bank (Instruction 181-I) is computed from
the profile's thresholds at the official rate on the contract date, or the date of the last amendment of
the amount, and recorded with the rate and its source.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from corridor.errors import PolicyRefused, ValidationFailed
from corridor.identity.identifiers import IdentifierError, Unk, parse_unk, validate_bic, validate_lei
from corridor.identity.model import RESIDENT_COUNTRY, ParticipantKind, check_country
from corridor.profiles.model import ProfileValues
from corridor.rates.model import Conversion, Money, OfficialRate, RateBook, convert_to_rub, minor_units


class ContractType(StrEnum):
    EXPORT = "export"
    IMPORT = "import"
    SERVICES = "services"
    LOAN = "loan"


class Direction(StrEnum):
    INCOMING = "incoming"
    """The resident receives money (export proceeds, services it renders, a loan it takes)."""
    OUTGOING = "outgoing"


class ContractStatus(StrEnum):
    ACTIVE = "active"
    CLOSED = "closed"


class CounterpartyKind(StrEnum):
    LEGAL_ENTITY = "legal_entity"
    NATURAL_PERSON = "natural_person"


INCOTERMS_2020 = frozenset({"EXW", "FCA", "CPT", "CIP", "DAP", "DPU", "DDP", "FAS", "FOB", "CFR", "CIF"})
_GOODS_CODE = re.compile(r"\d{4}(\d{2}){0,3}")  # HS / TN VED: 4, 6, 8 or 10 digits
_VO_CODE = re.compile(r"\d{5}")
_TXID = re.compile(r"[0-9a-f]{64}")


def _require(condition: bool, code: str, detail: str, **extra: str) -> None:
    if not condition:
        raise ValidationFailed(code, detail, **extra)


def _identifier(field_name: str, raw: str | None, validate: Callable[[str], str]) -> str | None:
    if raw is None:
        return None
    try:
        return validate(raw)
    except IdentifierError as error:
        error.extra["field"] = field_name
        raise


# --- the counterparty --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterpartyIn:
    name: str
    country: str
    kind: CounterpartyKind = CounterpartyKind.LEGAL_ENTITY
    lei: str | None = None
    bic: str | None = None
    registration_number: str | None = None
    inn: str | None = None
    vasp_name: str | None = None
    vasp_lei: str | None = None
    wallet_address: str | None = None


@dataclass(frozen=True)
class Counterparty:
    name: str
    country: str
    lei: str | None
    bic: str | None
    registration_number: str | None
    vasp_name: str | None
    vasp_lei: str | None
    wallet_address: str | None


def check_counterparty(raw: CounterpartyIn, profile: ProfileValues) -> Counterparty:
    """A non-resident organisation with an identity and a VASP or wallet; anything else is refused."""
    if raw.kind is CounterpartyKind.NATURAL_PERSON and not profile.retail_allowed:
        raise PolicyRefused(
            "retail_not_allowed", "the counterparty must be an organisation, not a natural person"
        )
    country = check_country(raw.country, "counterparty.country")
    if (country == RESIDENT_COUNTRY or raw.inn is not None) and not profile.domestic_settlement_allowed:
        raise PolicyRefused(
            "resident_counterparty",
            "the counterparty is a resident: resident-to-resident contracts are refused under this profile",
        )
    _require(bool(raw.name.strip()), "counterparty.name_required", "the counterparty's name is required")
    lei = _identifier("counterparty.lei", raw.lei, validate_lei)
    registration = (raw.registration_number or "").strip() or None
    _require(
        lei is not None or registration is not None,
        "counterparty.identity_required",
        "identify the counterparty by LEI or its registration number",
    )
    wallet = (raw.wallet_address or "").strip() or None
    vasp_name = (raw.vasp_name or "").strip() or None
    _require(
        vasp_name is not None or wallet is not None,
        "counterparty.vasp_or_wallet_required",
        "name the counterparty's VASP or its wallet address",
    )
    _require(
        wallet is None or 14 <= len(wallet) <= 100, "counterparty.wallet_format", "wallet address length"
    )
    return Counterparty(
        name=raw.name.strip(),
        country=country,
        lei=lei,
        bic=_identifier("counterparty.bic", raw.bic, validate_bic),
        registration_number=registration,
        vasp_name=vasp_name,
        vasp_lei=_identifier("counterparty.vasp_lei", raw.vasp_lei, validate_lei),
        wallet_address=wallet,
    )


# --- contract terms ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SuppliedRate:
    """An official rate given by the caller with its source, until the rates area stores official rates."""

    rate: Decimal
    source: str
    rate_date: date


@dataclass(frozen=True)
class ContractIn:
    participant_id: str
    number: str
    contract_type: ContractType
    contract_date: date
    currency: str
    amount_minor: int
    performance_deadline: date
    counterparty: CounterpartyIn
    direction: Direction | None = None
    goods_codes: tuple[str, ...] = ()
    incoterms: str | None = None
    rate: SuppliedRate | None = None
    unk: str | None = None
    unk_registered_on: date | None = None


def direction_of(contract_type: ContractType, given: Direction | None) -> Direction:
    implied = {ContractType.EXPORT: Direction.INCOMING, ContractType.IMPORT: Direction.OUTGOING}.get(
        contract_type
    )
    if implied is not None:
        _require(given in (None, implied), "direction.mismatch", f"a {contract_type} contract is {implied}")
        return implied
    _require(
        given is not None,
        "direction.required",
        f"say whether the {contract_type} contract is incoming or outgoing",
    )
    assert given is not None
    return given


def unk_type_code(contract_type: ContractType, direction: Direction) -> int:
    """The contract-type digit of the UNK (domain.md 2.2): 1 export, 2 import, 3/4 services, 5 loans."""
    if contract_type is ContractType.EXPORT:
        return 1
    if contract_type is ContractType.IMPORT:
        return 2
    if contract_type is ContractType.SERVICES:
        return 3 if direction is Direction.INCOMING else 4
    return 5


def check_terms(contract: ContractIn) -> None:
    _require(
        0 < len(contract.number.strip()) <= 100, "contract.number", "contract number is 1-100 characters"
    )
    _require(contract.amount_minor > 0, "amount.invalid", "the contract amount must be positive")
    minor_units(contract.currency)  # raises rates.currency_unknown
    _require(
        contract.performance_deadline >= contract.contract_date,
        "performance_deadline.before_contract",
        "the performance deadline is before the contract date",
    )
    goods = contract.contract_type in (ContractType.EXPORT, ContractType.IMPORT)
    for code in contract.goods_codes:
        _require(
            bool(_GOODS_CODE.fullmatch(code)), "goods_code.format", f"{code!r} is not a 4-10 digit HS code"
        )
    _require(
        not contract.goods_codes or goods, "goods_code.not_applicable", "goods codes are for goods contracts"
    )
    if contract.incoterms is not None:
        _require(goods, "incoterms.not_applicable", "Incoterms apply to export and import of goods")
        _require(
            contract.incoterms in INCOTERMS_2020,
            "incoterms.unknown",
            f"{contract.incoterms!r} is not an Incoterms 2020 rule",
        )


# --- registration threshold --------------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationAssessment:
    required: bool
    on: date
    amount_rub: Decimal
    threshold_rub: Decimal
    threshold_kind: str  # "export" or "import"
    rate: Decimal
    rate_source: str
    documents_required: bool


def threshold_kind(contract_type: ContractType, direction: Direction) -> str:
    """Export threshold for goods and services the resident sells; import threshold otherwise (loans too)."""
    if contract_type in (ContractType.EXPORT, ContractType.SERVICES) and direction is Direction.INCOMING:
        return "export"
    return "import"


def to_rub(amount_minor: int, currency: str, on: date, rate: SuppliedRate | None) -> Conversion:
    money = Money(Decimal(amount_minor).scaleb(-minor_units(currency)), currency)
    if currency == "RUB":
        return convert_to_rub(money, RateBook(), on)
    _require(
        rate is not None, "rate.required", f"give the official {currency}/RUB rate on {on} and its source"
    )
    assert rate is not None
    _require(rate.rate > 0, "rate.invalid", "the rate must be positive")
    _require(bool(rate.source.strip()), "rate.source_required", "say where the rate comes from")
    _require(
        rate.rate_date == on,
        "rate.date_mismatch",
        f"the rate must be the one valid on {on} (the contract or amendment date), not {rate.rate_date}",
    )
    official = OfficialRate(rate.source.strip(), currency, "RUB", rate.rate, on, on, on, "")
    return convert_to_rub(money, RateBook([official]), on)


def assess_registration(
    contract_type: ContractType,
    direction: Direction,
    amount_minor: int,
    currency: str,
    on: date,
    rate: SuppliedRate | None,
    profile: ProfileValues,
) -> RegistrationAssessment:
    """Registration is required when the ruble equivalent reaches the threshold (181-I: "равна или
    превышает", equal to or more than)."""
    conversion = to_rub(amount_minor, currency, on, rate)
    kind = threshold_kind(contract_type, direction)
    threshold = (
        profile.contract_registration_export_threshold
        if kind == "export"
        else profile.contract_registration_import_threshold
    )
    amount_rub = conversion.result.amount
    return RegistrationAssessment(
        required=amount_rub >= threshold.amount,
        on=on,
        amount_rub=amount_rub,
        threshold_rub=threshold.amount,
        threshold_kind=kind,
        rate=conversion.rate.rate,
        rate_source=conversion.rate.source,
        documents_required=amount_rub > profile.documents_not_required_up_to.amount,
    )


# --- UNK ---------------------------------------------------------------------------------------------


def check_unk(
    raw: str,
    contract_type: ContractType,
    direction: Direction,
    participant_kind: ParticipantKind,
    contract_date: date,
    registered_on: date | None,
) -> Unk:
    """The UNK must parse and agree with the contract: type digit, resident-type digit, dates."""
    unk = parse_unk(raw)
    expected_type = unk_type_code(contract_type, direction)
    if unk.contract_type.value != expected_type:
        raise IdentifierError(
            "unk.contract_type_mismatch",
            f"UNK says contract type {unk.contract_type.value}, this {contract_type} contract is {expected_type}",
        )
    expected_resident = 1 if participant_kind is ParticipantKind.LEGAL_ENTITY else 2
    if unk.resident_type.value != expected_resident:
        raise IdentifierError(
            "unk.resident_type_mismatch",
            f"UNK says resident type {unk.resident_type.value}, the client is {participant_kind} ({expected_resident})",
        )
    _require(
        registered_on is not None,
        "unk.registered_on_required",
        "give the date the bank registered the contract",
    )
    assert registered_on is not None
    _require(
        registered_on >= contract_date, "unk.registered_before_contract", "registration predates the contract"
    )
    _require(
        (unk.year, unk.month) == (registered_on.year, registered_on.month),
        "unk.month_mismatch",
        "the UNK's year and month must be those of the registration date",
    )
    return unk


# --- payments, shipments, statement ------------------------------------------------------------------


def check_vo_code(raw: str) -> str:
    _require(bool(_VO_CODE.fullmatch(raw)), "vo_code.format", "the currency operation (VO) code is 5 digits")
    return raw


def check_txid(raw: str | None) -> str | None:
    if raw is None:
        return None
    value = raw.lower()
    _require(bool(_TXID.fullmatch(value)), "txid.format", "a Bitcoin txid is 64 hex digits")
    return value


@dataclass(frozen=True)
class Obligation:
    id: str
    payment_id: str
    due_on: date
    document_id: str | None


@dataclass(frozen=True)
class Statement:
    contract_id: str
    as_of: date
    currency: str
    contract_amount_minor: int
    paid_minor: int
    shipped_minor: int
    outstanding_minor: int
    """For the resident: positive = it is owed (goods shipped, not paid); negative = it owes (paid ahead)."""
    unpaid_contract_minor: int
    repatriation: str
    documents: list[dict[str, str | None]]


def repatriation_status(
    direction: Direction, shipped: int, received: int, deadline: date, as_of: date
) -> str:
    """Whether the proceeds for what was delivered came home. The EPR rules for BTC proceeds are unknown
    (domain.md 2.3), so the status is a fact for a person to attest, never a verdict."""
    if direction is Direction.OUTGOING:
        return "not_applicable"
    if received >= shipped:
        return "complete"
    return "overdue" if as_of > deadline else "outstanding"


def document_status(obligation: Obligation, as_of: date) -> str:
    if obligation.document_id is not None:
        return "submitted"
    return "overdue" if as_of > obligation.due_on else "due"


def build_statement(
    contract_id: str,
    as_of: date,
    currency: str,
    amount_minor: int,
    direction: Direction,
    deadline: date,
    payments: Sequence[int],
    shipments: Sequence[int],
    obligations: Sequence[Obligation],
) -> Statement:
    paid, shipped = sum(payments), sum(shipments)
    # Incoming: the resident delivers and is paid, so shipments not yet paid are owed to it.
    outstanding = shipped - paid if direction is Direction.INCOMING else paid - shipped
    return Statement(
        contract_id=contract_id,
        as_of=as_of,
        currency=currency,
        contract_amount_minor=amount_minor,
        paid_minor=paid,
        shipped_minor=shipped,
        outstanding_minor=outstanding,
        unpaid_contract_minor=max(amount_minor - paid, 0),
        repatriation=repatriation_status(direction, shipped, paid, deadline, as_of),
        documents=[
            {
                "obligation_id": o.id,
                "payment_id": o.payment_id,
                "due_on": o.due_on.isoformat(),
                "status": document_status(o, as_of),
                "document_id": o.document_id,
            }
            for o in obligations
        ],
    )
