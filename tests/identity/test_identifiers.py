"""Identifier validators: domain.md appendix A vectors, structured error codes and check-digit properties.

Where a check digit cannot catch every single-character change, the tests say which changes are
guaranteed to be caught, test exactly those, and show a concrete change that slips through.
"""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.ru import ogrn as stdnum_ogrn

from corridor.identity.identifiers import (
    Bic,
    ContractType,
    IdentifierError,
    ResidentType,
    account_check_digit,
    account_key_prefix,
    check_identifier,
    inn_check_digits,
    is_valid,
    lei_check_digits,
    ogrn_check_digit,
    ogrnip_check_digit,
    parse_bic,
    parse_unk,
    stdnum_rejects_valid_ogrnip,
    validate_account,
    validate_correspondent_account,
    validate_inn,
    validate_kpp,
    validate_lei,
    validate_ogrn,
    validate_ogrnip,
)

ALNUM = string.digits + string.ascii_uppercase


def digits(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet=string.digits, min_size=n, max_size=n)


def single_digit_changes(value: str, positions: range) -> list[str]:
    return [value[:i] + d + value[i + 1 :] for i in positions for d in string.digits if d != value[i]]


def rule_of(scheme: str, value: str) -> str:
    with pytest.raises(IdentifierError) as caught:
        check_identifier(scheme, value)
    return caught.value.rule


# --- appendix A vectors ------------------------------------------------------------------------------

APPENDIX_A_VALID = [
    ("inn", "7736050003"),
    ("inn", "7707083893"),
    ("inn", "1234567894"),
    ("inn", "781100086042"),
    ("inn", "123456789047"),
    ("ogrn", "1022200525819"),
    ("ogrn", "1027700132195"),
    ("ogrn", "1022500001325"),
    ("ogrnip", "304500116000157"),
    ("ogrnip", "309565808600188"),
    ("ogrnip", "385768585948949"),
    ("ogrnip", "304500116000191"),
    ("ogrnip", "304500116000180"),
    ("lei", "213800KUD8LAJWSQ9D15"),
    ("lei", "5493001KJTIIGC8Y1R12"),
    ("bic", "AGRIFRPP882"),
    ("bic", "AGRIFRPP"),
    ("unk", "24110001/1481/0000/1/1"),
]

APPENDIX_A_INVALID = [
    ("inn", "123456789037", "inn.check_digit"),
    ("ogrn", "1022500001328", "ogrn.check_digit"),
    ("lei", "213800KUD8LXJWSQ9D15", "lei.checksum"),
    ("bic", "AGRIFRPP8", "bic.length"),
    ("bic", "AGRIF2PP", "bic.format"),
]


@pytest.mark.parametrize(("scheme", "value"), APPENDIX_A_VALID)
def test_appendix_a_valid_vectors_pass(scheme: str, value: str) -> None:
    assert check_identifier(scheme, value).value == value


@pytest.mark.parametrize(("scheme", "value", "rule"), APPENDIX_A_INVALID)
def test_appendix_a_invalid_vectors_fail_with_their_rule(scheme: str, value: str, rule: str) -> None:
    assert rule_of(scheme, value) == rule


# --- structured errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scheme", "value", "rule"),
    [
        ("inn", "77360500", "inn.length"),
        ("inn", "77360500031", "inn.length"),
        ("inn", "77360S0003", "inn.not_digits"),
        ("inn", "７７３６０５０００３", "inn.not_digits"),  # full-width digits pass str.isdigit()
        ("inn", "773605000²", "inn.not_digits"),
        ("kpp", "77360100", "kpp.length"),
        ("kpp", "77360100X", "kpp.format"),
        ("kpp", "7736-1001", "kpp.format"),
        ("ogrn", "102220052581", "ogrn.length"),
        ("ogrn", "3022200525819", "ogrn.record_type"),
        ("ogrnip", "30450011600015", "ogrnip.length"),
        ("ogrnip", "104500116000157", "ogrnip.record_type"),
        ("ogrnip", "304500116000158", "ogrnip.check_digit"),
        ("bik", "04452522", "bik.length"),
        ("bik", "04452522A", "bik.not_digits"),
        ("lei", "213800KUD8LAJWSQ9D1", "lei.length"),
        ("lei", "213800KUD8LAJWSQ9DA5", "lei.format"),
        ("lei", "213800KUD8LAJWSQ-D15", "lei.format"),
        ("bic", "AGRIZZPP", "bic.country"),
        ("unk", "2411001/1481/0000/1/1", "unk.format"),
        ("unk", "24110001-1481-0000-1-1", "unk.format"),
        ("unk", "24130001/1481/0000/1/1", "unk.month"),
        ("unk", "24000001/1481/0000/1/1", "unk.month"),
        ("unk", "24110000/1481/0000/1/1", "unk.serial"),
        ("unk", "24110001/0000/0000/1/1", "unk.bank"),
        ("unk", "24110001/1481/0000/7/1", "unk.contract_type"),
        ("unk", "24110001/1481/0000/1/4", "unk.resident_type"),
        ("unk", "24110001/1481/0000/1/0", "unk.resident_type"),
        ("swift", "AGRIFRPP", "identifier.scheme"),
    ],
)
def test_each_failure_names_its_rule(scheme: str, value: str, rule: str) -> None:
    assert rule_of(scheme, value) == rule


def test_error_carries_rule_and_human_message() -> None:
    with pytest.raises(IdentifierError) as caught:
        validate_inn("123")
    assert caught.value.rule == "inn.length"
    assert "10 or 12" in caught.value.message
    assert isinstance(caught.value, ValueError)


def test_whitespace_is_dropped_and_case_normalised() -> None:
    assert validate_inn(" 7707 083 893 ") == "7707083893"
    assert validate_lei("213800kud8lajwsq9d15") == "213800KUD8LAJWSQ9D15"
    assert validate_kpp("7736 01 001") == "773601001"
    assert validate_kpp("7736ab001") == "7736AB001"


# --- region lists are warnings -----------------------------------------------------------------------


def test_unknown_region_is_a_warning_not_an_error() -> None:
    body = "960000000"  # region 96 is not a current subject code
    inn = body + inn_check_digits(body)
    checked = check_identifier("inn", inn)
    assert checked.value == inn
    assert [w.rule for w in checked.warnings] == ["inn.region"]


def test_known_region_has_no_warning() -> None:
    assert check_identifier("inn", "7707083893").warnings == ()
    assert check_identifier("ogrn", "1027700132195").warnings == ()


def test_ogrnip_unknown_region_warns() -> None:
    body = "30400011600015"  # digits 4-5: region 00
    value = body + ogrnip_check_digit(body)
    checked = check_identifier("ogrnip", value)
    assert [w.rule for w in checked.warnings] == ["ogrnip.region"]


def test_non_russian_bik_prefix_warns() -> None:
    assert [w.rule for w in check_identifier("bik", "123456789").warnings] == ["bik.country"]
    assert check_identifier("bik", "044525225").warnings == ()


def test_unk_before_2018_warns() -> None:
    assert [w.rule for w in check_identifier("unk", "17110001/1481/0000/1/1").warnings] == ["unk.year"]


# --- UNK decoding ------------------------------------------------------------------------------------


def test_unk_parts_are_decoded() -> None:
    unk = parse_unk("24110001/1481/0000/1/1")
    assert (unk.year, unk.month, unk.serial) == (2024, 11, 1)
    assert unk.bank_registration_number == "1481"
    assert unk.branch_number == "0000"
    assert unk.contract_type is ContractType.EXPORT_OF_GOODS
    assert unk.resident_type is ResidentType.LEGAL_ENTITY


@given(
    year=st.integers(18, 99),
    month=st.integers(1, 12),
    serial=st.integers(1, 9999),
    bank=st.integers(1, 9999),
    branch=st.integers(0, 9999),
    kind=st.sampled_from(list(ContractType)),
    resident=st.sampled_from(list(ResidentType)),
)
def test_unk_round_trip(
    year: int, month: int, serial: int, bank: int, branch: int, kind: ContractType, resident: ResidentType
) -> None:
    text = f"{year:02d}{month:02d}{serial:04d}/{bank:04d}/{branch:04d}/{kind.value}/{resident.value}"
    unk = parse_unk(text)
    assert len(unk.value) == 22
    assert (unk.year, unk.month, unk.serial) == (2000 + year, month, serial)
    assert (int(unk.bank_registration_number), int(unk.branch_number)) == (bank, branch)
    assert (unk.contract_type, unk.resident_type) == (kind, resident)


# --- BIC ---------------------------------------------------------------------------------------------


def test_bic_parts() -> None:
    assert parse_bic("agrifrpp882") == Bic("AGRIFRPP882", "AGRI", "FR", "PP", "882")
    eight = parse_bic("SABRRUMM")
    assert eight.branch == "XXX"
    assert eight.is_head_office


# --- INN properties ----------------------------------------------------------------------------------
# INN check digits are (weighted sum mod 11) mod 10. A body-digit change always moves the sum mod 11 (the
# weights and digit differences are non-zero mod 11), but remainders 0 and 10 both give check digit 0.
# Guaranteed: a change of a check digit itself; a body change when the body's remainder is not 0 or 10.


def inn10_remainder(body: str) -> int:
    weights = (2, 4, 10, 3, 5, 9, 4, 6, 8)
    return sum(w * int(d) for w, d in zip(weights, body, strict=True)) % 11


@given(digits(9))
def test_generated_inn10_is_valid_and_check_digit_change_fails(body: str) -> None:
    inn = body + inn_check_digits(body)
    assert validate_inn(inn) == inn
    for changed in single_digit_changes(inn, range(9, 10)):
        assert not is_valid("inn", changed)


@given(digits(9).filter(lambda b: inn10_remainder(b) not in (0, 10)))
def test_inn10_any_body_digit_change_fails_when_remainder_is_not_0_or_10(body: str) -> None:
    inn = body + inn_check_digits(body)
    for changed in single_digit_changes(inn, range(9)):
        assert not is_valid("inn", changed)


def test_inn10_limitation_a_body_change_between_remainders_0_and_10_is_not_caught() -> None:
    body = next(f"{n:09d}" for n in range(10**6) if inn10_remainder(f"{n:09d}") == 0)
    gap = [c for c in single_digit_changes(body + inn_check_digits(body), range(9)) if is_valid("inn", c)]
    assert gap, "a remainder-0 body must have a single-digit change landing on remainder 10"
    assert all(inn10_remainder(c[:9]) == 10 for c in gap)


@given(digits(10))
def test_generated_inn12_is_valid_and_check_digit_changes_fail(body: str) -> None:
    inn = body + inn_check_digits(body)
    assert validate_inn(inn) == inn
    for changed in single_digit_changes(inn, range(10, 12)):
        assert not is_valid("inn", changed)


def inn12_first_remainder(body: str) -> int:
    weights = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
    return sum(w * int(d) for w, d in zip(weights, body, strict=True)) % 11


@given(digits(10).filter(lambda b: inn12_first_remainder(b) not in (0, 10)))
def test_inn12_any_body_digit_change_fails_when_first_remainder_is_not_0_or_10(body: str) -> None:
    inn = body + inn_check_digits(body)
    for changed in single_digit_changes(inn, range(10)):
        assert not is_valid("inn", changed)


# --- OGRN / OGRNIP properties ------------------------------------------------------------------------
# OGRN: int(first 12) mod 11, last digit. 10^k is never 0 mod 11, so a digit change always moves the
# remainder; only the pair {0, 10} shares a check digit. OGRNIP: mod 13, last digit; pairs {0,10},
# {1,11}, {2,12} share one, so changes are guaranteed to be caught when the remainder is 3..9.


ogrn_bodies = st.builds(lambda t, rest: t + rest, st.sampled_from("15"), digits(11))


@given(ogrn_bodies)
def test_generated_ogrn_is_valid(body: str) -> None:
    assert validate_ogrn(body + ogrn_check_digit(body)) == body + ogrn_check_digit(body)


@given(ogrn_bodies.filter(lambda body: int(body) % 11 not in (0, 10)))
def test_ogrn_any_digit_change_fails_when_remainder_is_not_0_or_10(body: str) -> None:
    ogrn = body + ogrn_check_digit(body)
    for changed in single_digit_changes(ogrn, range(1, 13)):
        assert not is_valid("ogrn", changed)


@given(digits(13).filter(lambda r: int("3" + r) % 13 in range(3, 10)))
def test_ogrnip_any_digit_change_fails_when_remainder_is_3_to_9(rest: str) -> None:
    body = "3" + rest
    ogrnip = body + ogrnip_check_digit(body)
    assert validate_ogrnip(ogrnip) == ogrnip
    for changed in single_digit_changes(ogrnip, range(1, 15)):
        assert not is_valid("ogrnip", changed)


def test_ogrnip_limitation_remainder_pairs_share_a_check_digit() -> None:
    body = next(b for n in range(10**6) if int(b := f"3{n:013d}") % 13 == 11)
    ogrnip = body + ogrnip_check_digit(body)
    slipping = [c for c in single_digit_changes(ogrnip, range(1, 14)) if is_valid("ogrnip", c)]
    assert slipping
    assert all(int(c[:14]) % 13 == 1 for c in slipping)


# --- the python-stdnum OGRNIP bug --------------------------------------------------------------------
# python-stdnum 2.2 compares the check digit with str(remainder mod 13), i.e. "10", "11", "12" for the
# high remainders, which can never equal one digit: it refuses every valid OGRNIP with those remainders.
# domain.md saw remainders 11 and 12 refused at commit 05d2a57 (which mapped 10 -> 0); 2.2 refuses 10 too.


@pytest.mark.parametrize("value", ["304500116000191", "304500116000180"])
def test_stdnum_refuses_the_appendix_ogrnips_we_accept(value: str) -> None:
    assert validate_ogrnip(value) == value
    assert not stdnum_ogrn.is_valid(value)
    assert stdnum_rejects_valid_ogrnip(value)


@given(digits(13))
def test_stdnum_agrees_below_remainder_10_and_refuses_at_10_to_12(rest: str) -> None:
    body = "3" + rest
    ogrnip = body + ogrnip_check_digit(body)
    assert is_valid("ogrnip", ogrnip)
    assert stdnum_ogrn.is_valid(ogrnip) == (int(body) % 13 < 10)


# --- LEI properties ----------------------------------------------------------------------------------
# MOD 97-10 catches every substitution that keeps the character class (digit for digit, letter for
# letter). A letter (two decimal digits after mapping) swapped for a digit changes the length of the
# number being checked, and about 1% of such swaps go unnoticed.

lei_bases = st.text(alphabet=ALNUM, min_size=18, max_size=18)


@settings(max_examples=60)
@given(lei_bases)
def test_lei_every_same_class_substitution_fails(base: str) -> None:
    lei = base + lei_check_digits(base)
    assert validate_lei(lei) == lei
    for i, original in enumerate(lei):
        pool = string.digits if original.isdigit() else string.ascii_uppercase
        for c in pool:
            if c != original:
                assert not is_valid("lei", lei[:i] + c + lei[i + 1 :])


def test_lei_limitation_some_letter_digit_swaps_slip_through() -> None:
    slipping = []
    for n in range(200):
        base = f"{n:06d}ABCDEFGHIJKL"
        lei = base + lei_check_digits(base)
        slipping += [
            (lei, i, d)
            for i in range(6, 18)
            for d in string.digits
            if is_valid("lei", lei[:i] + d + lei[i + 1 :])
        ]
    assert slipping, "MOD 97-10 over mapped letters should let some letter-to-digit swaps through"
    assert all(lei[i].isalpha() for lei, i, _ in slipping)


# --- account key -------------------------------------------------------------------------------------
# Weights 7, 1, 3 are coprime with 10, so every single-digit change of the account is caught.


@pytest.mark.parametrize(
    ("account", "bik"),
    [
        ("30101810400000000225", "044525225"),  # Sberbank
        ("30101810700000000187", "044525187"),  # VTB
        ("30101810200000000593", "044525593"),  # Alfa-Bank
    ],
)
def test_published_correspondent_accounts_pass(account: str, bik: str) -> None:
    assert validate_correspondent_account(account, bik) == account


def test_correspondent_account_is_not_a_client_account_of_the_same_bank() -> None:
    assert rule_of_account("30101810400000000225", "044525225") == "account.check_digit"


def rule_of_account(account: str, bik: str) -> str:
    with pytest.raises(IdentifierError) as caught:
        validate_account(account, bik)
    return caught.value.rule


def test_account_errors() -> None:
    assert rule_of_account("4070281040000000022", "044525225") == "account.length"
    assert rule_of_account("4070281040000000022X", "044525225") == "account.not_digits"
    assert rule_of_account("40702810400000000225", "04452522") == "bik.length"


@given(bik=digits(9), account=digits(20))
def test_generated_account_is_valid_and_any_digit_change_fails(bik: str, account: str) -> None:
    key = account_check_digit(account_key_prefix(bik), account)
    valid = account[:8] + key + account[9:]
    assert validate_account(valid, bik) == valid
    for changed in single_digit_changes(valid, range(20)):
        with pytest.raises(IdentifierError):
            validate_account(changed, bik)
