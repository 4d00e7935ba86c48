"""Participants of the regime and their admission (KYB): types, validation and rules. Pure: no I/O.

Who may be a participant: a legal entity or an individual entrepreneur, resident or not. A natural person
without entrepreneur status appears only as a beneficial owner (over 25%) or a director of one; an
application by one is refused (no retail, DESIGN.md 2.1).

The KYB life cycle (``ParticipantStatus``)::

    awaiting_screening --(all parties clear)--> screened --review--> reviewed --approve--> approved --admit--> admitted
            |  ^                                                          |                                  |  ^
            v  | (hit / pending / clear again)                            +--reject--> rejected     suspend v  | reinstate
    screening_hit                                                                                      suspended
                                                                    admitted / suspended --exclude--> excluded

Review may happen before screening finishes; approval may not: any party not ``clear`` blocks it with
``screening_pending`` or ``screening_hit``. The approver (or rejecter) must be neither the officer who
submitted the application nor the one who reviewed it (maker-checker).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum

from corridor.errors import Conflict, PolicyRefused, ValidationFailed
from corridor.identity.identifiers import (
    IdentifierError,
    validate_bic,
    validate_inn,
    validate_kpp,
    validate_lei,
    validate_ogrn,
    validate_ogrnip,
)

RESIDENT_COUNTRY = "RU"
"""The country whose residents the first profile regulates (RU-EPR-2024)."""


class ParticipantKind(StrEnum):
    LEGAL_ENTITY = "legal_entity"
    INDIVIDUAL_ENTREPRENEUR = "individual_entrepreneur"
    NATURAL_PERSON = "natural_person"
    """Only ever named to refuse it: natural persons are owners or directors, never participants."""


class Residency(StrEnum):
    RESIDENT = "resident"
    NON_RESIDENT = "non_resident"


class ParticipantRole(StrEnum):
    EXPORTER = "exporter"
    IMPORTER = "importer"


class ParticipantStatus(StrEnum):
    AWAITING_SCREENING = "awaiting_screening"
    SCREENING_HIT = "screening_hit"
    SCREENED = "screened"
    REVIEWED = "reviewed"
    APPROVED = "approved"
    REJECTED = "rejected"
    ADMITTED = "admitted"
    SUSPENDED = "suspended"
    EXCLUDED = "excluded"


class PersonRole(StrEnum):
    BENEFICIAL_OWNER = "beneficial_owner"
    DIRECTOR = "director"


class ScreeningStatus(StrEnum):
    CLEAR = "clear"
    HIT = "hit"
    PENDING = "pending"


class RiskTier(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


BENEFICIAL_OWNER_THRESHOLD = Decimal("25")
"""A beneficial owner holds more than 25% (115-FZ art. 3; FATF R.24 practice)."""

_COUNTRY = re.compile(r"[A-Z]{2}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_PERCENT = re.compile(r"\d{1,3}(\.\d{1,2})?")


# --- applications ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonIn:
    role: PersonRole
    full_name: str
    country: str
    birth_date: date | None = None
    inn: str | None = None
    ownership_percent: str | None = None


@dataclass(frozen=True)
class ApplicationIn:
    """What an applicant declares; :func:`check_application` turns it into a :class:`CheckedApplication`."""

    kind: ParticipantKind
    residency: Residency
    name: str
    country: str
    roles: tuple[ParticipantRole, ...]
    industry: str
    persons: tuple[PersonIn, ...]
    inn: str | None = None
    kpp: str | None = None
    ogrn: str | None = None
    ogrnip: str | None = None
    lei: str | None = None
    bic: str | None = None
    registration_number: str | None = None


@dataclass(frozen=True)
class Person:
    role: PersonRole
    full_name: str
    country: str
    birth_date: date | None
    inn: str | None
    ownership_percent: Decimal | None


@dataclass(frozen=True)
class CheckedApplication:
    kind: ParticipantKind
    residency: Residency
    name: str
    country: str
    roles: tuple[ParticipantRole, ...]
    industry: str
    persons: tuple[Person, ...]
    identifiers: dict[str, str]
    """Normalised identifiers by scheme: inn, kpp, ogrn, ogrnip, lei, bic, registration_number."""


def _field_error(error: IdentifierError, field_name: str) -> IdentifierError:
    # Say which field failed as well as which rule; the rule stays the error code.
    error.extra["field"] = field_name
    return error


def _validated(field_name: str, raw: str | None, validate: Callable[[str], str]) -> str | None:
    if raw is None:
        return None
    try:
        return validate(raw)
    except IdentifierError as error:
        raise _field_error(error, field_name) from None


def _require(condition: bool, code: str, detail: str, **extra: str) -> None:
    if not condition:
        raise ValidationFailed(code, detail, **extra)


def check_country(raw: str, field_name: str = "country") -> str:
    value = raw.strip().upper()
    _require(
        bool(_COUNTRY.fullmatch(value)),
        "country.format",
        "country must be an ISO 3166 alpha-2 code",
        field=field_name,
    )
    return value


def check_application(app: ApplicationIn) -> CheckedApplication:
    """Validate every field and identifier; raise on the first problem with a stable code."""
    if app.kind is ParticipantKind.NATURAL_PERSON:
        raise PolicyRefused(
            "retail_not_allowed",
            "natural persons cannot be participants (no retail); they may be owners or directors of one",
        )
    _require(
        bool(app.name.strip()), "name.required", "the participant's legal name is required", field="name"
    )
    _require(
        bool(app.roles), "roles.required", "a participant is an exporter, an importer or both", field="roles"
    )
    _require(bool(app.industry.strip()), "industry.required", "industry is required for the risk rating")
    country = check_country(app.country)
    if app.residency is Residency.RESIDENT:
        identifiers = _resident_identifiers(app, country)
    else:
        identifiers = _non_resident_identifiers(app, country)
    persons = tuple(_check_person(p, i) for i, p in enumerate(app.persons))
    _check_persons(persons)
    return CheckedApplication(
        kind=app.kind,
        residency=app.residency,
        name=app.name.strip(),
        country=country,
        roles=tuple(dict.fromkeys(app.roles)),
        industry=app.industry.strip().lower(),
        persons=persons,
        identifiers=identifiers,
    )


def _resident_identifiers(app: ApplicationIn, country: str) -> dict[str, str]:
    _require(
        country == RESIDENT_COUNTRY, "residency.country", f"a resident is registered in {RESIDENT_COUNTRY}"
    )
    _require(app.inn is not None, "inn.required", "a resident needs an INN", field="inn")
    inn = _validated("inn", app.inn, validate_inn)
    assert inn is not None
    found: dict[str, str] = {"inn": inn}
    if app.kind is ParticipantKind.LEGAL_ENTITY:
        _require(len(inn) == 10, "inn.kind_mismatch", "a legal entity has a 10-digit INN", field="inn")
        _require(app.ogrn is not None, "ogrn.required", "a resident legal entity needs an OGRN", field="ogrn")
        _require(app.kpp is not None, "kpp.required", "a resident legal entity needs a KPP", field="kpp")
        _require(app.ogrnip is None, "ogrnip.not_allowed", "OGRNIP is for entrepreneurs", field="ogrnip")
        found["ogrn"] = _validated("ogrn", app.ogrn, validate_ogrn) or ""
        found["kpp"] = _validated("kpp", app.kpp, validate_kpp) or ""
    else:
        _require(len(inn) == 12, "inn.kind_mismatch", "an entrepreneur has a 12-digit INN", field="inn")
        _require(app.ogrnip is not None, "ogrnip.required", "an entrepreneur needs an OGRNIP", field="ogrnip")
        _require(app.kpp is None, "kpp.not_allowed", "entrepreneurs have no KPP", field="kpp")
        _require(app.ogrn is None, "ogrn.not_allowed", "OGRN is for legal entities", field="ogrn")
        found["ogrnip"] = _validated("ogrnip", app.ogrnip, validate_ogrnip) or ""
    for optional, validate in (("lei", validate_lei), ("bic", validate_bic)):
        value = _validated(optional, getattr(app, optional), validate)
        if value is not None:
            found[optional] = value
    return found


def _non_resident_identifiers(app: ApplicationIn, country: str) -> dict[str, str]:
    _require(country != RESIDENT_COUNTRY, "residency.country", "a non-resident is registered abroad")
    _require(
        app.kind is ParticipantKind.LEGAL_ENTITY,
        "kind.not_allowed",
        "a non-resident participant must be a legal entity",
    )
    for resident_only in ("inn", "kpp", "ogrn", "ogrnip"):
        _require(
            getattr(app, resident_only) is None, f"{resident_only}.not_allowed", "resident identifier given"
        )
    _require(app.lei is not None, "lei.required", "a non-resident legal entity needs an LEI", field="lei")
    registration = (app.registration_number or "").strip()
    _require(
        0 < len(registration) <= 64,
        "registration_number.required",
        "the home-country registration number is required (1-64 characters)",
        field="registration_number",
    )
    found = {"lei": _validated("lei", app.lei, validate_lei) or "", "registration_number": registration}
    bic = _validated("bic", app.bic, validate_bic)
    if bic is not None:
        found["bic"] = bic
    return found


def parse_percent(raw: str, field_name: str) -> Decimal:
    _require(
        bool(_PERCENT.fullmatch(raw)),
        "ownership.format",
        "ownership is a percentage like 30 or 30.5",
        field=field_name,
    )
    try:
        return Decimal(raw)
    except InvalidOperation:  # pragma: no cover - the pattern already guarantees a number
        raise ValidationFailed("ownership.format", "not a number", field=field_name) from None


def _check_person(person: PersonIn, index: int) -> Person:
    where = f"persons[{index}]"
    _require(
        bool(person.full_name.strip()), "person.name_required", "a person needs a full name", field=where
    )
    inn = _validated(f"{where}.inn", person.inn, validate_inn)
    if inn is not None:
        _require(
            len(inn) == 12, "inn.kind_mismatch", "a natural person has a 12-digit INN", field=f"{where}.inn"
        )
    share: Decimal | None = None
    if person.role is PersonRole.BENEFICIAL_OWNER:
        _require(
            person.ownership_percent is not None,
            "ownership.required",
            "an owner's share is required",
            field=where,
        )
        assert person.ownership_percent is not None
        share = parse_percent(person.ownership_percent, where)
        _require(
            BENEFICIAL_OWNER_THRESHOLD < share <= 100,
            "ownership.threshold",
            "beneficial owners are those holding more than 25% (and at most 100%)",
            field=where,
        )
    else:
        _require(
            person.ownership_percent is None, "ownership.not_allowed", "a director has no share", field=where
        )
    return Person(
        role=person.role,
        full_name=person.full_name.strip(),
        country=check_country(person.country, f"{where}.country"),
        birth_date=person.birth_date,
        inn=inn,
        ownership_percent=share,
    )


def _check_persons(persons: Sequence[Person]) -> None:
    directors = [p for p in persons if p.role is PersonRole.DIRECTOR]
    _require(bool(directors), "director.required", "name at least one director (the sole executive body)")
    total = sum((p.ownership_percent or Decimal(0) for p in persons), Decimal(0))
    _require(total <= 100, "ownership.total", f"owners' shares add up to {total}%, more than 100%")


# --- documents ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentIn:
    kind: str
    filename: str
    content: bytes


@dataclass(frozen=True)
class CheckedDocument:
    kind: str
    filename: str
    content: bytes
    sha256: str
    size: int


MAX_DOCUMENT_BYTES = 512 * 1024


def check_document(doc: DocumentIn) -> CheckedDocument:
    """Name, kind and size; the SHA-256 is computed here from the bytes, never taken on trust."""
    _require(0 < len(doc.kind.strip()) <= 64, "document.kind", "document kind is 1-64 characters")
    _require(0 < len(doc.filename.strip()) <= 200, "document.filename", "file name is 1-200 characters")
    _require(
        0 < len(doc.content) <= MAX_DOCUMENT_BYTES,
        "document.size",
        f"a document is 1 to {MAX_DOCUMENT_BYTES} bytes",
    )
    digest = hashlib.sha256(doc.content).hexdigest()
    return CheckedDocument(doc.kind.strip(), doc.filename.strip(), doc.content, digest, len(doc.content))


def is_sha256_hex(value: str) -> bool:
    return bool(_SHA256.fullmatch(value))


# --- screening ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PartyScreening:
    """The latest screening result of one party of an application (entity, owner or director)."""

    subject: str
    name: str
    status: ScreeningStatus
    source: str  # "gate" or "manual_clearance"
    reason: str
    ever_hit: bool = False


def status_after_screening(results: Iterable[PartyScreening]) -> ParticipantStatus:
    statuses = {r.status for r in results}
    if ScreeningStatus.HIT in statuses:
        return ParticipantStatus.SCREENING_HIT
    if ScreeningStatus.PENDING in statuses or not statuses:
        return ParticipantStatus.AWAITING_SCREENING
    return ParticipantStatus.SCREENED


def ensure_screening_clear(results: Sequence[PartyScreening]) -> None:
    """Approval needs every party clear; say which are not, never pass silently."""
    hits = [r.subject for r in results if r.status is ScreeningStatus.HIT]
    if hits:
        raise PolicyRefused("screening_hit", "unresolved screening hits block approval", parties=hits)
    pending = [r.subject for r in results if r.status is not ScreeningStatus.CLEAR]
    if pending or not results:
        raise PolicyRefused(
            "screening_pending", "screening has not cleared every party; approval is blocked", parties=pending
        )


# --- risk rating -------------------------------------------------------------------------------------

# FATF "high-risk jurisdictions subject to a call for action" and a sample of "increased monitoring"
# jurisdictions. [U: lists change three times a year; the operator must keep them current.]
HIGH_RISK_COUNTRIES = frozenset({"KP", "IR", "MM"})
INCREASED_MONITORING_COUNTRIES = frozenset(
    {
        "BG",
        "BF",
        "CM",
        "CD",
        "HR",
        "HT",
        "KE",
        "ML",
        "MZ",
        "NG",
        "PH",
        "SN",
        "ZA",
        "SS",
        "SY",
        "TZ",
        "VN",
        "YE",
    }
)
HIGH_RISK_INDUSTRIES = frozenset(
    {"arms", "dual_use", "precious_metals", "precious_stones", "gambling", "money_services", "virtual_assets"}
)
REVIEW_MONTHS = {RiskTier.LOW: 36, RiskTier.MEDIUM: 24, RiskTier.HIGH: 12}
"""Periodic review interval by tier (operator policy [U]; 115-FZ practice: high risk at least yearly)."""


@dataclass(frozen=True)
class RiskRating:
    score: int
    tier: RiskTier
    factors: tuple[str, ...] = field(default=())


def rate_risk(application: CheckedApplication, screenings: Sequence[PartyScreening]) -> RiskRating:
    """Score jurisdiction, industry, structure and screening proximity; the factors say why."""
    factors: list[tuple[str, int]] = []
    countries = {application.country} | {p.country for p in application.persons}
    if countries & HIGH_RISK_COUNTRIES:
        factors.append(("jurisdiction.high_risk", 4))
    elif countries & INCREASED_MONITORING_COUNTRIES:
        factors.append(("jurisdiction.increased_monitoring", 2))
    if application.industry in HIGH_RISK_INDUSTRIES:
        factors.append(("industry.high_risk", 2))
    owners = [p for p in application.persons if p.role is PersonRole.BENEFICIAL_OWNER]
    if not owners and application.kind is ParticipantKind.LEGAL_ENTITY:
        factors.append(("structure.no_beneficial_owner_over_25", 1))
    if any(p.country != application.country for p in owners):
        factors.append(("structure.foreign_owner", 1))
    if any(s.ever_hit for s in screenings):
        factors.append(("screening.past_hit", 3))
    elif any(s.source == "manual_clearance" for s in screenings):
        factors.append(("screening.manual_clearance", 1))
    score = sum(points for _, points in factors)
    tier = RiskTier.HIGH if score >= 4 else RiskTier.MEDIUM if score >= 2 else RiskTier.LOW
    return RiskRating(score, tier, tuple(name for name, _ in factors))


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, clamped to the month's end (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last_day))


def next_review_on(admitted_on: date, tier: RiskTier) -> date:
    return add_months(admitted_on, REVIEW_MONTHS[tier])


# --- admission and limits ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AdmissionIn:
    reference: str
    admitted_on: date
    valid_to: date
    per_transaction_limit_rub_minor: int
    per_period_limit_rub_minor: int


def check_admission(admission: AdmissionIn) -> AdmissionIn:
    _require(
        0 < len(admission.reference.strip()) <= 100,
        "admission.reference",
        "admission reference is 1-100 characters",
    )
    _require(
        admission.valid_to >= admission.admitted_on, "admission.validity", "valid_to is before admitted_on"
    )
    _require(
        admission.per_transaction_limit_rub_minor > 0,
        "limit.invalid",
        "per-transaction limit must be positive",
    )
    _require(
        admission.per_period_limit_rub_minor >= admission.per_transaction_limit_rub_minor,
        "limit.invalid",
        "the monthly limit must be at least the per-transaction limit",
    )
    return AdmissionIn(
        admission.reference.strip(),
        admission.admitted_on,
        admission.valid_to,
        admission.per_transaction_limit_rub_minor,
        admission.per_period_limit_rub_minor,
    )


@dataclass(frozen=True)
class AdmissionState:
    status: ParticipantStatus
    admitted_on: date | None
    valid_to: date | None
    per_transaction_limit_rub_minor: int | None
    per_period_limit_rub_minor: int | None


def period_bounds(on: date) -> tuple[date, date]:
    """The limit period containing ``on``: its calendar month, both ends inclusive."""
    first = on.replace(day=1)
    return first, add_months(first, 1) - timedelta(days=1)


def ensure_admitted_on(state: AdmissionState, on: date) -> None:
    """Admitted (not suspended, not excluded) and within the admission's validity on ``on``."""
    if state.status is ParticipantStatus.SUSPENDED:
        raise PolicyRefused("participant_suspended", "the participant is suspended")
    if state.status is ParticipantStatus.EXCLUDED:
        raise PolicyRefused("participant_excluded", "the participant is excluded from the regime")
    if state.status is not ParticipantStatus.ADMITTED:
        raise PolicyRefused("participant_not_admitted", f"the participant is {state.status}, not admitted")
    if state.admitted_on is None or state.valid_to is None or not state.admitted_on <= on <= state.valid_to:
        raise PolicyRefused(
            "admission_not_valid",
            f"the admission is valid {state.admitted_on} to {state.valid_to}, not on {on}",
        )


def ensure_within_admission(
    state: AdmissionState, amount_rub_minor: int, on: date, used_in_period: int
) -> None:
    """The scope rule for moving money: admitted, in validity, within both limits."""
    ensure_admitted_on(state, on)
    if amount_rub_minor <= 0:
        raise ValidationFailed("amount.invalid", "the amount must be positive")
    per_tx, per_period = state.per_transaction_limit_rub_minor or 0, state.per_period_limit_rub_minor or 0
    if amount_rub_minor > per_tx:
        raise PolicyRefused(
            "limit_exceeded",
            f"{amount_rub_minor} exceeds the per-transaction limit of {per_tx} (RUB minor units)",
            limit="per_transaction",
        )
    if used_in_period + amount_rub_minor > per_period:
        raise PolicyRefused(
            "limit_exceeded",
            f"{used_in_period} used + {amount_rub_minor} exceeds the monthly limit of {per_period}",
            limit="per_period",
        )


# --- transitions -------------------------------------------------------------------------------------


def require_status(current: ParticipantStatus, allowed: Iterable[ParticipantStatus], action: str) -> None:
    allowed_set = set(allowed)
    if current not in allowed_set:
        names = ", ".join(sorted(allowed_set))
        raise Conflict("invalid_state", f"cannot {action} a participant that is {current} (needs: {names})")


REVIEWABLE = (
    ParticipantStatus.AWAITING_SCREENING,
    ParticipantStatus.SCREENING_HIT,
    ParticipantStatus.SCREENED,
)
SCREENABLE = (*REVIEWABLE, ParticipantStatus.REVIEWED)


def require_reason(reason: str) -> str:
    text = reason.strip()
    _require(3 <= len(text) <= 2000, "reason.required", "give a reason (3-2000 characters)")
    return text
