"""Pure onboarding and contract rules: applications with Appendix A vectors, property tests on identifiers
through the application check, risk rating, limits, registration threshold, UNK consistency, statement."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.contracts.model import (
    ContractType,
    Direction,
    Obligation,
    SuppliedRate,
    assess_registration,
    build_statement,
    check_counterparty,
    check_unk,
)
from corridor.errors import CorridorError, PolicyRefused, ValidationFailed
from corridor.identity.identifiers import IdentifierError, inn_check_digits, ogrn_check_digit
from corridor.identity.model import (
    AdmissionState,
    ParticipantKind,
    ParticipantStatus,
    PartyScreening,
    PersonIn,
    PersonRole,
    Residency,
    RiskTier,
    ScreeningStatus,
    add_months,
    check_application,
    ensure_screening_clear,
    ensure_within_admission,
    next_review_on,
    period_bounds,
    rate_risk,
)
from corridor.profiles.loader import load_profile

PROFILE = load_profile("RU-EPR-2024").on(date(2025, 3, 3))


def rule_of(error: CorridorError) -> str:
    return error.code


# --- Appendix A vectors through the application ------------------------------------------------------


@pytest.mark.parametrize("inn", ["7736050003", "7707083893", "1234567894"])
@pytest.mark.parametrize("ogrn", ["1022200525819", "1027700132195", "1022500001325"])
def test_appendix_a_organisation_vectors_are_accepted(build: SimpleNamespace, inn: str, ogrn: str) -> None:
    checked = check_application(build.exporter(inn=inn, ogrn=ogrn))
    assert checked.identifiers == {"inn": inn, "ogrn": ogrn, "kpp": "773601001"}


@pytest.mark.parametrize(
    "ogrnip", ["304500116000157", "309565808600188", "385768585948949", "304500116000191", "304500116000180"]
)
def test_appendix_a_ogrnip_vectors_are_accepted(build: SimpleNamespace, ogrnip: str) -> None:
    checked = check_application(replace(build.entrepreneur(), ogrnip=ogrnip))
    assert checked.identifiers["ogrnip"] == ogrnip and checked.kind is ParticipantKind.INDIVIDUAL_ENTREPRENEUR


@pytest.mark.parametrize(
    ("changes", "rule", "field"),
    [
        ({"ogrn": "1022500001328"}, "ogrn.check_digit", "ogrn"),
        ({"inn": "7707083894"}, "inn.check_digit", "inn"),
        ({"inn": "77070838"}, "inn.length", "inn"),
        ({"kpp": "77360100"}, "kpp.length", "kpp"),
        ({"kpp": "77360100X"}, "kpp.format", "kpp"),
        ({"ogrn": "3027700132195"}, "ogrn.record_type", "ogrn"),
    ],
)
def test_appendix_a_and_malformed_identifiers_name_their_rule_and_field(
    build: SimpleNamespace, changes: dict[str, str], rule: str, field: str
) -> None:
    with pytest.raises(IdentifierError) as raised:
        check_application(build.exporter(**changes))
    assert raised.value.rule == rule and raised.value.code == rule and raised.value.extra["field"] == field
    assert raised.value.status == 422


def test_person_inn_invalid_vector_is_refused_with_its_field(build: SimpleNamespace) -> None:
    owner = replace(build.owner, inn="123456789037")  # Appendix A: invalid check digit
    with pytest.raises(IdentifierError) as raised:
        check_application(build.exporter(persons=(owner, build.director)))
    assert raised.value.rule == "inn.check_digit" and raised.value.extra["field"] == "persons[0].inn"


def test_non_resident_needs_a_valid_lei(build: SimpleNamespace) -> None:
    foreign = dict(
        residency=Residency.NON_RESIDENT,
        country="CN",
        inn=None,
        kpp=None,
        ogrn=None,
        registration_number="91440300MA5ABCDE1X",
        bic="AGRIFRPP882",
    )
    checked = check_application(build.exporter(lei="213800KUD8LAJWSQ9D15", **foreign))
    assert (
        checked.identifiers["lei"] == "213800KUD8LAJWSQ9D15" and checked.identifiers["bic"] == "AGRIFRPP882"
    )
    with pytest.raises(IdentifierError) as raised:
        check_application(build.exporter(lei="213800KUD8LXJWSQ9D15", **foreign))
    assert raised.value.rule == "lei.checksum"
    with pytest.raises(IdentifierError) as raised:
        check_application(build.exporter(lei="213800KUD8LAJWSQ9D15", **{**foreign, "bic": "AGRIF2PP"}))
    assert raised.value.rule == "bic.format"


# --- property tests: generated identifiers through the application -----------------------------------

bodies9 = st.text(alphabet="0123456789", min_size=9, max_size=9)
bodies12 = st.text(alphabet="0123456789", min_size=11, max_size=11).map(lambda rest: "1" + rest)


@settings(max_examples=150, deadline=None)
@given(inn_body=bodies9, ogrn_body=bodies12, delta=st.integers(1, 9))
def test_generated_identifiers_pass_and_a_changed_check_digit_fails(
    build: SimpleNamespace, inn_body: str, ogrn_body: str, delta: int
) -> None:
    inn = inn_body + inn_check_digits(inn_body)
    ogrn = ogrn_body + ogrn_check_digit(ogrn_body)
    assert check_application(build.exporter(inn=inn, ogrn=ogrn)).identifiers["inn"] == inn
    bad_inn = inn[:9] + str((int(inn[9]) + delta) % 10)
    with pytest.raises(IdentifierError) as raised:
        check_application(build.exporter(inn=bad_inn, ogrn=ogrn))
    assert raised.value.rule == "inn.check_digit"
    bad_ogrn = ogrn[:12] + str((int(ogrn[12]) + delta) % 10)
    with pytest.raises(IdentifierError) as raised:
        check_application(build.exporter(inn=inn, ogrn=bad_ogrn))
    assert raised.value.rule == "ogrn.check_digit"


@settings(max_examples=150, deadline=None)
@given(position=st.integers(0, 9), delta=st.integers(1, 9))
def test_any_single_digit_change_of_a_known_inn_fails(
    build: SimpleNamespace, position: int, delta: int
) -> None:
    # 7707083893's weighted remainder is neither 0 nor 10, so every single-digit change moves the check.
    inn = build.exporter_inn
    changed = inn[:position] + str((int(inn[position]) + delta) % 10) + inn[position + 1 :]
    with pytest.raises(IdentifierError) as raised:
        check_application(build.exporter(inn=changed))
    assert raised.value.rule == "inn.check_digit"


# --- scope of who may apply --------------------------------------------------------------------------


def test_natural_person_applicant_is_refused_as_retail(build: SimpleNamespace) -> None:
    with pytest.raises(PolicyRefused) as raised:
        check_application(build.exporter(kind=ParticipantKind.NATURAL_PERSON))
    assert raised.value.code == "retail_not_allowed"


@pytest.mark.parametrize(
    ("person", "code"),
    [
        (
            PersonIn(PersonRole.BENEFICIAL_OWNER, "Small Holder", "RU", ownership_percent="25"),
            "ownership.threshold",
        ),
        (
            PersonIn(PersonRole.BENEFICIAL_OWNER, "Big Holder", "RU", ownership_percent="100.5"),
            "ownership.threshold",
        ),
        (
            PersonIn(PersonRole.BENEFICIAL_OWNER, "Odd Holder", "RU", ownership_percent="30%"),
            "ownership.format",
        ),
        (PersonIn(PersonRole.BENEFICIAL_OWNER, "No Share", "RU"), "ownership.required"),
        (
            PersonIn(PersonRole.DIRECTOR, "Shareholding Director", "RU", ownership_percent="30"),
            "ownership.not_allowed",
        ),
    ],
)
def test_owner_and_director_rules(build: SimpleNamespace, person: PersonIn, code: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_application(build.exporter(persons=(person, build.director)))
    assert raised.value.code == code


def test_owner_shares_cannot_exceed_100_and_a_director_is_required(build: SimpleNamespace) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_application(
            build.exporter(
                persons=(
                    build.owner,
                    replace(build.owner, full_name="B", ownership_percent="50"),
                    build.director,
                )
            )
        )
    assert raised.value.code == "ownership.total"
    with pytest.raises(ValidationFailed) as raised:
        check_application(build.exporter(persons=(build.owner,)))
    assert raised.value.code == "director.required"


def test_entity_kind_and_identifier_must_agree(build: SimpleNamespace) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_application(build.exporter(inn="781100086042"))
    assert raised.value.code == "inn.kind_mismatch"
    with pytest.raises(ValidationFailed) as raised:
        check_application(replace(build.entrepreneur(), kpp="773601001"))
    assert raised.value.code == "kpp.not_allowed"


# --- risk rating and review dates --------------------------------------------------------------------


def test_risk_rises_with_jurisdiction_industry_structure_and_screening(build: SimpleNamespace) -> None:
    plain = check_application(build.exporter())
    assert rate_risk(plain, []).tier is RiskTier.LOW
    risky = check_application(
        build.exporter(
            industry="precious_metals",
            persons=(replace(build.owner, country="IR"), build.director),
        )
    )
    rating = rate_risk(
        risky,
        [PartyScreening("participant:x", "n", ScreeningStatus.CLEAR, "manual_clearance", "r", ever_hit=True)],
    )
    assert rating.tier is RiskTier.HIGH
    assert set(rating.factors) == {
        "jurisdiction.high_risk",
        "industry.high_risk",
        "structure.foreign_owner",
        "screening.past_hit",
    }


def test_review_dates_follow_the_tier_and_clamp_month_ends() -> None:
    assert next_review_on(date(2025, 1, 31), RiskTier.HIGH) == date(2026, 1, 31)
    assert next_review_on(date(2025, 1, 31), RiskTier.LOW) == date(2028, 1, 31)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
    assert period_bounds(date(2025, 2, 14)) == (date(2025, 2, 1), date(2025, 2, 28))
    assert period_bounds(date(2025, 12, 5)) == (date(2025, 12, 1), date(2025, 12, 31))


# --- screening and limits ----------------------------------------------------------------------------


def test_approval_needs_every_party_clear() -> None:
    clear = PartyScreening("participant:a", "A", ScreeningStatus.CLEAR, "gate", "")
    pending = PartyScreening("person:b", "B", ScreeningStatus.PENDING, "gate", "awaiting screening")
    hit = PartyScreening("person:c", "C", ScreeningStatus.HIT, "gate", "matched")
    ensure_screening_clear([clear])
    for results, code in (
        ([clear, pending], "screening_pending"),
        ([clear, hit, pending], "screening_hit"),
        ([], "screening_pending"),
    ):
        with pytest.raises(PolicyRefused) as raised:
            ensure_screening_clear(results)
        assert raised.value.code == code


ADMITTED = AdmissionState(ParticipantStatus.ADMITTED, date(2025, 1, 1), date(2025, 12, 31), 1_000, 2_500)


@pytest.mark.parametrize(
    ("state", "amount", "on", "used", "code"),
    [
        (ADMITTED, 1_001, date(2025, 5, 1), 0, "limit_exceeded"),
        (ADMITTED, 1_000, date(2025, 5, 1), 1_501, "limit_exceeded"),
        (ADMITTED, 10, date(2026, 1, 1), 0, "admission_not_valid"),
        (
            replace(ADMITTED, status=ParticipantStatus.SUSPENDED),
            10,
            date(2025, 5, 1),
            0,
            "participant_suspended",
        ),
        (
            replace(ADMITTED, status=ParticipantStatus.EXCLUDED),
            10,
            date(2025, 5, 1),
            0,
            "participant_excluded",
        ),
        (
            replace(ADMITTED, status=ParticipantStatus.APPROVED),
            10,
            date(2025, 5, 1),
            0,
            "participant_not_admitted",
        ),
    ],
)
def test_scope_and_limit_refusals(state: AdmissionState, amount: int, on: date, used: int, code: str) -> None:
    with pytest.raises(PolicyRefused) as raised:
        ensure_within_admission(state, amount, on, used)
    assert raised.value.code == code


def test_limits_allow_up_to_the_boundary() -> None:
    ensure_within_admission(ADMITTED, 1_000, date(2025, 5, 1), 1_500)


# --- contracts: counterparty, threshold, UNK, statement ----------------------------------------------


def test_resident_and_retail_counterparties_are_refused(build: SimpleNamespace) -> None:
    for changes, code in (
        ({"country": "RU"}, "resident_counterparty"),
        ({"inn": "7736050003"}, "resident_counterparty"),
        ({"kind": "natural_person"}, "retail_not_allowed"),
    ):
        cp = build.counterparty(**changes)
        if "kind" in changes:
            from corridor.contracts.model import CounterpartyKind

            cp = replace(cp, kind=CounterpartyKind.NATURAL_PERSON)
        with pytest.raises(PolicyRefused) as raised:
            check_counterparty(cp, PROFILE)
        assert raised.value.code == code


def test_counterparty_needs_identity_and_vasp_or_wallet(build: SimpleNamespace) -> None:
    with pytest.raises(ValidationFailed) as raised:
        check_counterparty(build.counterparty(vasp_name=None, wallet_address=None), PROFILE)
    assert raised.value.code == "counterparty.vasp_or_wallet_required"
    with pytest.raises(IdentifierError) as raised_id:
        check_counterparty(build.counterparty(lei="213800KUD8LXJWSQ9D15"), PROFILE)
    assert raised_id.value.rule == "lei.checksum" and raised_id.value.extra["field"] == "counterparty.lei"


@pytest.mark.parametrize(
    ("kind", "direction", "amount_minor", "rate", "required", "threshold"),
    [
        # export threshold RUB 10 mln: CNY 832,570.00 x 12.0110 = RUB 9,999,998.27 (below)
        (ContractType.EXPORT, Direction.INCOMING, 83_257_000, "12.0110", False, "export"),
        (ContractType.EXPORT, Direction.INCOMING, 83_257_100, "12.0110", True, "export"),
        # import threshold RUB 3 mln, reached exactly: equal to the threshold counts (181-I)
        (ContractType.IMPORT, Direction.OUTGOING, 30_000_000, "10", True, "import"),
        (ContractType.IMPORT, Direction.OUTGOING, 29_999_999, "10", False, "import"),
        (ContractType.SERVICES, Direction.INCOMING, 30_000_000, "10", False, "export"),
        (ContractType.LOAN, Direction.INCOMING, 30_000_000, "10", True, "import"),
    ],
)
def test_registration_threshold_at_the_supplied_official_rate(
    kind: ContractType, direction: Direction, amount_minor: int, rate: str, required: bool, threshold: str
) -> None:
    on = date(2025, 3, 3)
    assessment = assess_registration(
        kind, direction, amount_minor, "CNY", on, SuppliedRate(Decimal(rate), "CBR", on), PROFILE
    )
    assert assessment.required is required and assessment.threshold_kind == threshold
    assert assessment.amount_rub == (Decimal(amount_minor) / 100 * Decimal(rate)).quantize(Decimal("0.01"))


def test_rate_must_be_for_the_relevant_day_and_rub_needs_none() -> None:
    on = date(2025, 3, 3)
    with pytest.raises(ValidationFailed) as raised:
        assess_registration(
            ContractType.IMPORT,
            Direction.OUTGOING,
            1,
            "USD",
            on,
            SuppliedRate(Decimal(90), "CBR", date(2025, 3, 4)),
            PROFILE,
        )
    assert raised.value.code == "rate.date_mismatch"
    with pytest.raises(ValidationFailed) as raised:
        assess_registration(ContractType.IMPORT, Direction.OUTGOING, 1, "USD", on, None, PROFILE)
    assert raised.value.code == "rate.required"
    rub = assess_registration(ContractType.IMPORT, Direction.OUTGOING, 300_000_000, "RUB", on, None, PROFILE)
    assert rub.required and rub.amount_rub == Decimal("3000000.00") and rub.rate_source == "identity"


def test_unk_must_match_contract_type_resident_type_and_registration_month() -> None:
    on = date(2024, 11, 5)
    unk = check_unk(
        "24110001/1481/0000/1/1",
        ContractType.EXPORT,
        Direction.INCOMING,
        ParticipantKind.LEGAL_ENTITY,
        date(2024, 10, 1),
        on,
    )
    assert unk.bank_registration_number == "1481"
    for raw, kind, participant, rule in (
        (
            "24110001/1481/0000/2/1",
            ContractType.EXPORT,
            ParticipantKind.LEGAL_ENTITY,
            "unk.contract_type_mismatch",
        ),
        (
            "24110001/1481/0000/1/2",
            ContractType.EXPORT,
            ParticipantKind.LEGAL_ENTITY,
            "unk.resident_type_mismatch",
        ),
        ("24130001/1481/0000/1/1", ContractType.EXPORT, ParticipantKind.LEGAL_ENTITY, "unk.month"),
        ("2411001/1481/0000/1/1", ContractType.EXPORT, ParticipantKind.LEGAL_ENTITY, "unk.format"),
    ):
        with pytest.raises(IdentifierError) as raised:
            check_unk(raw, kind, Direction.INCOMING, participant, date(2024, 10, 1), on)
        assert raised.value.rule == rule
    with pytest.raises(ValidationFailed) as raised_month:
        check_unk(
            "24100001/1481/0000/1/1",
            ContractType.EXPORT,
            Direction.INCOMING,
            ParticipantKind.LEGAL_ENTITY,
            date(2024, 10, 1),
            on,
        )
    assert raised_month.value.code == "unk.month_mismatch"


def test_statement_shows_outstanding_repatriation_and_document_deadlines() -> None:
    obligations = [
        Obligation("o1", "p1", date(2025, 4, 22), None),
        Obligation("o2", "p2", date(2025, 5, 20), "d1"),
    ]
    statement = build_statement(
        "c",
        date(2025, 5, 1),
        "CNY",
        1_000,
        Direction.INCOMING,
        date(2025, 12, 31),
        [300],
        [500, 200],
        obligations,
    )
    assert (statement.paid_minor, statement.shipped_minor, statement.outstanding_minor) == (300, 700, 400)
    assert statement.unpaid_contract_minor == 700 and statement.repatriation == "outstanding"
    assert [d["status"] for d in statement.documents] == ["overdue", "submitted"]
    late = build_statement(
        "c", date(2026, 1, 10), "CNY", 1_000, Direction.INCOMING, date(2025, 12, 31), [300], [700], []
    )
    assert late.repatriation == "overdue"
    done = build_statement(
        "c", date(2026, 1, 10), "CNY", 1_000, Direction.INCOMING, date(2025, 12, 31), [700], [700], []
    )
    assert done.repatriation == "complete" and done.outstanding_minor == 0
    imported = build_statement(
        "c", date(2025, 5, 1), "USD", 1_000, Direction.OUTGOING, date(2025, 12, 31), [600], [200], []
    )
    assert imported.repatriation == "not_applicable" and imported.outstanding_minor == 400
