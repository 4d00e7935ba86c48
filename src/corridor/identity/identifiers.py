"""Validators for the identifiers Corridor meets: Russian INN, KPP, OGRN, OGRNIP, BIK and bank account,
ISO 17442 LEI, ISO 9362 BIC and the Bank of Russia contract number (UNK).

Pure functions, no I/O. Every failure is an :class:`IdentifierError` with a stable dotted ``rule`` code
(``inn.check_digit``, ``unk.month``, ...) that the HTTP layer returns as its error code, so the codes are
part of the public contract: add new ones, never rename.

python-stdnum supplies the check-digit arithmetic where its implementation is right (INN, OGRN, MOD 97-10,
BIC country codes). OGRNIP is computed here: python-stdnum 2.2 compares the check digit with the full
``mod 13`` remainder, so it rejects every valid OGRNIP whose remainder is 10, 11 or 12 (see
``stdnum_rejects_valid_ogrnip``). Region lists are advisory: they only produce warnings, because tax-office
and region codes get created and abolished and an old, still-valid number must not be refused.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from stdnum import bic as stdnum_bic
from stdnum.exceptions import ValidationError as StdnumValidationError
from stdnum.iso7064 import mod_97_10
from stdnum.ru import inn as stdnum_inn
from stdnum.ru import ogrn as stdnum_ogrn

from corridor.errors import ValidationFailed


class IdentifierError(ValidationFailed, ValueError):
    """A value is not a valid identifier; ``rule`` (also the error ``code``) names the check that failed."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(rule, message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class IdentifierWarning:
    """A doubt that must not block the value (e.g. an unknown region code); shown to a reviewer."""

    rule: str
    message: str


@dataclass(frozen=True)
class CheckedIdentifier:
    scheme: str
    value: str
    warnings: tuple[IdentifierWarning, ...] = ()


_ASCII_DIGITS = re.compile(r"[0-9]+")

# Subject codes in use by the Federal Tax Service. Old numbers may carry codes of merged regions
# (80-82, 84, 85, 88) and new ones codes we have not heard of: hence a warning, never an error. [U]
RUSSIAN_REGION_CODES: frozenset[str] = frozenset(
    {f"{n:02d}" for n in range(1, 80)} | {"83", "86", "87", "89", "90", "91", "92", "93", "94", "95", "99"}
)


def _compact(raw: str) -> str:
    """Drop surrounding and embedded blanks, which people paste in from printed documents."""
    return "".join(raw.split())


def _require_digits(scheme: str, value: str, lengths: tuple[int, ...], label: str) -> None:
    # str.isdigit() would accept '٣' or '²'; identifiers are ASCII digits only.
    if not _ASCII_DIGITS.fullmatch(value):
        raise IdentifierError(f"{scheme}.not_digits", f"{label} must contain only the digits 0-9")
    if len(value) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise IdentifierError(f"{scheme}.length", f"{label} must have {expected} digits, got {len(value)}")


def _region_warning(scheme: str, region: str) -> tuple[IdentifierWarning, ...]:
    if region in RUSSIAN_REGION_CODES:
        return ()
    return (IdentifierWarning(f"{scheme}.region", f"region code {region} is not in the current list"),)


# --- INN ---------------------------------------------------------------------------------------------


def inn_check_digits(body: str) -> str:
    """Check digit(s) for an INN body: 9 digits (organisation) -> 1 digit, 10 digits (person) -> 2."""
    if len(body) == 9:
        return stdnum_inn.calc_company_check_digit(body)
    if len(body) == 10:
        return stdnum_inn.calc_personal_check_digits(body)
    raise ValueError("an INN body has 9 or 10 digits")


def validate_inn(raw: str) -> str:
    """Return the INN (10 digits: organisation, 12: person or entrepreneur) or raise IdentifierError."""
    value = _compact(raw)
    _require_digits("inn", value, (10, 12), "INN")
    body_length = 9 if len(value) == 10 else 10
    if inn_check_digits(value[:body_length]) != value[body_length:]:
        raise IdentifierError("inn.check_digit", "INN check digit does not match")
    return value


def check_inn(raw: str) -> CheckedIdentifier:
    value = validate_inn(raw)
    return CheckedIdentifier("inn", value, _region_warning("inn", value[:2]))


# --- KPP ---------------------------------------------------------------------------------------------

_KPP = re.compile(r"[0-9]{4}[0-9A-Z]{2}[0-9]{3}")


def validate_kpp(raw: str) -> str:
    """KPP: tax office (4 digits), reason code (2 digits or capital Latin letters), serial (3 digits)."""
    value = _compact(raw).upper()
    if len(value) != 9:
        raise IdentifierError("kpp.length", f"KPP must have 9 characters, got {len(value)}")
    if not _KPP.fullmatch(value):
        raise IdentifierError("kpp.format", "KPP must be 4 digits, 2 digits or letters A-Z, 3 digits")
    return value


def check_kpp(raw: str) -> CheckedIdentifier:
    value = validate_kpp(raw)
    return CheckedIdentifier("kpp", value, _region_warning("kpp", value[:2]))


# --- OGRN / OGRNIP -----------------------------------------------------------------------------------

OGRN_RECORD_TYPES = frozenset("15")
OGRNIP_RECORD_TYPE = "3"


def ogrn_check_digit(body: str) -> str:
    """Check digit of a 13-digit OGRN from its first 12 digits: remainder mod 11, last digit (10 -> 0)."""
    return str(int(body) % 11 % 10)


def ogrnip_check_digit(body: str) -> str:
    """Check digit of a 15-digit OGRNIP from its first 14 digits: the last digit of the remainder mod 13.

    Remainders 10, 11 and 12 give 0, 1 and 2. This is where python-stdnum 2.2 goes wrong.
    """
    return str(int(body) % 13 % 10)


def _validate_registration_number(
    scheme: str, raw: str, length: int, record_types: frozenset[str], check_digit: Callable[[str], str]
) -> str:
    value = _compact(raw)
    label = scheme.upper()
    _require_digits(scheme, value, (length,), label)
    if value[0] not in record_types:
        allowed = " or ".join(sorted(record_types))
        raise IdentifierError(f"{scheme}.record_type", f"{label} must start with {allowed}, got {value[0]}")
    if check_digit(value[:-1]) != value[-1]:
        raise IdentifierError(f"{scheme}.check_digit", f"{label} check digit does not match")
    return value


def validate_ogrn(raw: str) -> str:
    """13-digit primary state registration number of a legal entity (record type 1 or 5)."""
    return _validate_registration_number("ogrn", raw, 13, OGRN_RECORD_TYPES, ogrn_check_digit)


def validate_ogrnip(raw: str) -> str:
    """15-digit primary state registration number of an individual entrepreneur (record type 3)."""
    return _validate_registration_number("ogrnip", raw, 15, frozenset(OGRNIP_RECORD_TYPE), ogrnip_check_digit)


def check_ogrn(raw: str) -> CheckedIdentifier:
    value = validate_ogrn(raw)
    return CheckedIdentifier("ogrn", value, _region_warning("ogrn", value[3:5]))


def check_ogrnip(raw: str) -> CheckedIdentifier:
    value = validate_ogrnip(raw)
    return CheckedIdentifier("ogrnip", value, _region_warning("ogrnip", value[3:5]))


def stdnum_rejects_valid_ogrnip(value: str) -> bool:
    """True when ``value`` is a valid OGRNIP by the statutory rule but python-stdnum refuses it.

    Kept as a function so the test suite notices the day python-stdnum is fixed and we can drop our copy.
    """
    return is_valid("ogrnip", value) and not stdnum_ogrn.is_valid(value)


# --- BIK and account ---------------------------------------------------------------------------------

RUSSIAN_BIK_COUNTRY_CODE = "04"
_ACCOUNT_WEIGHTS = (7, 1, 3)


def validate_bik(raw: str) -> str:
    """Bank of Russia bank identification code: 9 digits."""
    value = _compact(raw)
    _require_digits("bik", value, (9,), "BIK")
    return value


def check_bik(raw: str) -> CheckedIdentifier:
    value = validate_bik(raw)
    warnings: tuple[IdentifierWarning, ...] = ()
    if not value.startswith(RUSSIAN_BIK_COUNTRY_CODE):
        warnings = (IdentifierWarning("bik.country", f"Russian BIKs start with {RUSSIAN_BIK_COUNTRY_CODE}"),)
    return CheckedIdentifier("bik", value, warnings)


def account_key_prefix(bik: str, *, correspondent: bool = False) -> str:
    """The 3 digits placed before the account for its check: the conditional number of the account holder.

    A client account at a credit institution uses the last 3 BIK digits. A correspondent account (kept at
    the Bank of Russia) uses "0" + BIK digits 5-6; checked against the published correspondent accounts
    of Sberbank, VTB and Alfa-Bank. Accounts of a Bank of Russia unit itself (BIK ending 000-002) use the
    same "0" form [U: from bank-requisites validators, the Bank of Russia rule text was not available].
    """
    if correspondent or bik[6:] in ("000", "001", "002"):
        return "0" + bik[4:6]
    return bik[6:]


def account_checksum(prefix: str, account: str) -> int:
    """Weighted sum (weights 7,1,3 repeated) of prefix + account, mod 10; 0 means the key is right."""
    digits = prefix + account
    return sum(int(d) * _ACCOUNT_WEIGHTS[i % 3] for i, d in enumerate(digits)) % 10


def account_check_digit(prefix: str, account_with_placeholder: str) -> str:
    """The control key (digit 9 of a 20-digit account) that makes :func:`account_checksum` zero."""
    zeroed = account_with_placeholder[:8] + "0" + account_with_placeholder[9:]
    remainder = account_checksum(prefix, zeroed)
    # Position 9 of the account is position 12 of the 23-digit string: weight 3 (3*7 = 21 = 1 mod 10).
    return str((-remainder * 7) % 10)


def _validate_account(raw_account: str, raw_bik: str, *, correspondent: bool) -> str:
    bik = validate_bik(raw_bik)
    account = _compact(raw_account)
    _require_digits("account", account, (20,), "account number")
    if account_checksum(account_key_prefix(bik, correspondent=correspondent), account) != 0:
        raise IdentifierError("account.check_digit", "account control key does not match the BIK")
    return account


def validate_account(raw_account: str, raw_bik: str) -> str:
    """20-digit Russian client bank account, checked against the BIK of the bank that keeps it."""
    return _validate_account(raw_account, raw_bik, correspondent=False)


def validate_correspondent_account(raw_account: str, raw_bik: str) -> str:
    """20-digit correspondent account of the bank with this BIK (kept at the Bank of Russia)."""
    return _validate_account(raw_account, raw_bik, correspondent=True)


# --- LEI ---------------------------------------------------------------------------------------------

_LEI = re.compile(r"[0-9A-Z]{18}[0-9]{2}")


def lei_check_digits(base18: str) -> str:
    """ISO 7064 MOD 97-10 check digits for the first 18 characters of an LEI."""
    return mod_97_10.calc_check_digits(base18)


def validate_lei(raw: str) -> str:
    """ISO 17442 Legal Entity Identifier: 18 alphanumerics and 2 check digits, MOD 97-10 == 1."""
    value = _compact(raw).upper()
    if len(value) != 20:
        raise IdentifierError("lei.length", f"LEI must have 20 characters, got {len(value)}")
    if not _LEI.fullmatch(value):
        raise IdentifierError("lei.format", "LEI must be 18 letters or digits followed by 2 digits")
    if mod_97_10.checksum(value) != 1:
        raise IdentifierError("lei.checksum", "LEI check digits do not match (ISO 7064 MOD 97-10)")
    return value


# --- SWIFT BIC ---------------------------------------------------------------------------------------

_BIC = re.compile(
    r"(?P<institution>[A-Z]{4})(?P<country>[A-Z]{2})(?P<location>[0-9A-Z]{2})(?P<branch>[0-9A-Z]{3})?"
)
HEAD_OFFICE_BRANCH = "XXX"


@dataclass(frozen=True)
class Bic:
    value: str
    institution: str
    country: str
    location: str
    branch: str  # "XXX" for the head office, also when the 8-character form was given

    @property
    def is_head_office(self) -> bool:
        return self.branch == HEAD_OFFICE_BRANCH


def parse_bic(raw: str) -> Bic:
    """ISO 9362 business identifier code, 8 or 11 characters. There is no checksum in a BIC."""
    value = _compact(raw).upper()
    if len(value) not in (8, 11):
        raise IdentifierError("bic.length", f"BIC must have 8 or 11 characters, got {len(value)}")
    match = _BIC.fullmatch(value)
    if match is None:
        raise IdentifierError(
            "bic.format", "BIC must be 4 letters, 2-letter country, 2 and optionally 3 alnum"
        )
    try:
        stdnum_bic.validate(value)
    except StdnumValidationError as exc:
        raise IdentifierError("bic.country", f"{match['country']} is not an ISO 3166 country code") from exc
    return Bic(value, match["institution"], match["country"], match["location"], match["branch"] or "XXX")


def validate_bic(raw: str) -> str:
    return parse_bic(raw).value


# --- UNK (unique contract number, Instruction 181-I) -------------------------------------------------

_UNK = re.compile(r"(\d{2})(\d{2})(\d{4})/(\d{4})/(\d{4})/(\d)/(\d)")
UNK_FIRST_YEAR = 2018  # UNKs replaced transaction passports on 1 March 2018


class ContractType(Enum):
    EXPORT_OF_GOODS = 1
    IMPORT_OF_GOODS = 2
    WORKS_SERVICES_BY_RESIDENT = 3
    WORKS_SERVICES_BY_NON_RESIDENT = 4  # [U]
    LOAN = 5  # [U]
    OTHER = 9  # [U]


class ResidentType(Enum):
    LEGAL_ENTITY = 1
    INDIVIDUAL_ENTREPRENEUR = 2
    PRIVATE_PRACTICE = 3  # [U]


@dataclass(frozen=True)
class Unk:
    value: str
    year: int
    month: int
    serial: int
    bank_registration_number: str
    branch_number: str
    contract_type: ContractType
    resident_type: ResidentType
    warnings: tuple[IdentifierWarning, ...] = ()


def parse_unk(raw: str) -> Unk:
    """Decode a UNK ``YYMMNNNN/BBBB/FFFF/K/R`` into registration month, bank, branch and codes."""
    value = _compact(raw)
    match = _UNK.fullmatch(value)
    if match is None:
        raise IdentifierError("unk.format", "UNK must look like YYMMNNNN/BBBB/FFFF/K/R (22 characters)")
    yy, mm, serial, bank, branch, kind, resident = match.groups()
    month = int(mm)
    if not 1 <= month <= 12:
        raise IdentifierError("unk.month", f"UNK month {mm} is not 01-12")
    if int(serial) == 0:
        raise IdentifierError("unk.serial", "UNK serial number 0000 is never assigned")
    if int(bank) == 0:
        raise IdentifierError("unk.bank", "UNK bank registration number 0000 does not exist")
    try:
        contract_type = ContractType(int(kind))
    except ValueError:
        raise IdentifierError("unk.contract_type", f"UNK contract type {kind} is not a known code") from None
    try:
        resident_type = ResidentType(int(resident))
    except ValueError:
        raise IdentifierError("unk.resident_type", f"UNK resident type {resident} is not 1-3") from None
    year = 2000 + int(yy)
    warnings: tuple[IdentifierWarning, ...] = ()
    if year < UNK_FIRST_YEAR:
        warnings = (
            IdentifierWarning("unk.year", f"UNKs exist since {UNK_FIRST_YEAR}, this one says {year}"),
        )
    return Unk(
        value=value,
        year=year,
        month=month,
        serial=int(serial),
        bank_registration_number=bank,
        branch_number=branch,
        contract_type=contract_type,
        resident_type=resident_type,
        warnings=warnings,
    )


def validate_unk(raw: str) -> str:
    return parse_unk(raw).value


# --- dispatch by scheme name -------------------------------------------------------------------------


def _checked(scheme: str, validate: Callable[[str], str]) -> Callable[[str], CheckedIdentifier]:
    return lambda raw: CheckedIdentifier(scheme, validate(raw))


def _check_unk(raw: str) -> CheckedIdentifier:
    unk = parse_unk(raw)
    return CheckedIdentifier("unk", unk.value, unk.warnings)


_CHECKERS: dict[str, Callable[[str], CheckedIdentifier]] = {
    "inn": check_inn,
    "kpp": check_kpp,
    "ogrn": check_ogrn,
    "ogrnip": check_ogrnip,
    "bik": check_bik,
    "lei": _checked("lei", validate_lei),
    "bic": _checked("bic", validate_bic),
    "unk": _check_unk,
}
SCHEMES: frozenset[str] = frozenset(_CHECKERS)


def check_identifier(scheme: str, raw: str) -> CheckedIdentifier:
    """Validate ``raw`` as ``scheme`` (inn, kpp, ogrn, ogrnip, bik, lei, bic, unk): normalised + warnings."""
    checker = _CHECKERS.get(scheme.lower())
    if checker is None:
        raise IdentifierError("identifier.scheme", f"unknown identifier scheme {scheme!r}")
    return checker(raw)


def is_valid(scheme: str, raw: str) -> bool:
    try:
        check_identifier(scheme, raw)
    except IdentifierError:
        return False
    return True
