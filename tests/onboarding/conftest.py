"""Fixtures for onboarding and contracts: named officers, valid applications, an admitted-participant path.

The screening gate answers ``pending`` until the screening service is wired in, so the path to admission
goes through a named officer's manual clearance of each party, which is what the regime allows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from corridor.access.model import Principal, Role
from corridor.contracts.model import ContractIn, ContractType, CounterpartyIn, SuppliedRate
from corridor.db import Database
from corridor.identity import service as identity
from corridor.identity.model import (
    AdmissionIn,
    ApplicationIn,
    DocumentIn,
    ParticipantKind,
    ParticipantRole,
    PersonIn,
    PersonRole,
    Residency,
)

EXPORTER_INN, EXPORTER_OGRN, EXPORTER_KPP = "7707083893", "1027700132195", "773601001"
IMPORTER_INN, IMPORTER_OGRN, IMPORTER_KPP = "7736050003", "1022200525819", "773601001"
IE_INN, IE_OGRNIP = "781100086042", "304500116000157"
FOREIGN_LEI, VASP_LEI = "213800KUD8LAJWSQ9D15", "5493001KJTIIGC8Y1R12"

OWNER = PersonIn(PersonRole.BENEFICIAL_OWNER, "Ivan Petrov", "RU", date(1970, 5, 1), "123456789047", "60")
DIRECTOR = PersonIn(PersonRole.DIRECTOR, "Anna Sidorova", "RU", date(1980, 2, 2))


def exporter_application(**changes: Any) -> ApplicationIn:
    app = ApplicationIn(
        kind=ParticipantKind.LEGAL_ENTITY,
        residency=Residency.RESIDENT,
        name="Uralsk Machine Works JSC",
        country="RU",
        roles=(ParticipantRole.EXPORTER,),
        industry="machinery",
        persons=(OWNER, DIRECTOR),
        inn=EXPORTER_INN,
        kpp=EXPORTER_KPP,
        ogrn=EXPORTER_OGRN,
    )
    return replace(app, **changes)


def importer_application(**changes: Any) -> ApplicationIn:
    return exporter_application(
        name="Volga Import LLC",
        roles=(ParticipantRole.IMPORTER,),
        inn=IMPORTER_INN,
        ogrn=IMPORTER_OGRN,
        kpp=IMPORTER_KPP,
        **changes,
    )


def entrepreneur_application() -> ApplicationIn:
    return exporter_application(
        kind=ParticipantKind.INDIVIDUAL_ENTREPRENEUR,
        name="IE Kozlov A.V.",
        inn=IE_INN,
        ogrnip=IE_OGRNIP,
        kpp=None,
        ogrn=None,
        persons=(PersonIn(PersonRole.DIRECTOR, "Alexey Kozlov", "RU"),),
    )


def foreign_counterparty(**changes: Any) -> CounterpartyIn:
    base = CounterpartyIn(
        name="Shenzhen Trading Co Ltd",
        country="CN",
        lei=FOREIGN_LEI,
        registration_number="91440300MA5ABCDE1X",
        vasp_name="Example VASP Ltd",
        vasp_lei=VASP_LEI,
    )
    return replace(base, **changes)


def export_contract(participant_id: str, **changes: Any) -> ContractIn:
    base = ContractIn(
        participant_id=participant_id,
        number="EXP-2025/01",
        contract_type=ContractType.EXPORT,
        contract_date=date(2025, 3, 3),
        currency="CNY",
        amount_minor=200_000_000,  # CNY 2,000,000.00
        performance_deadline=date(2025, 12, 31),
        counterparty=foreign_counterparty(),
        goods_codes=("8429",),
        incoterms="FCA",
        rate=SuppliedRate(Decimal("12.0110"), "CBR XML_daily 2025-03-03", date(2025, 3, 3)),
    )
    return replace(base, **changes)


ADMISSION = AdmissionIn(
    reference="CBR-EPR-2025-0042",
    admitted_on=date(2025, 1, 1),
    valid_to=date(2030, 12, 31),
    per_transaction_limit_rub_minor=5_000_000_00,
    per_period_limit_rub_minor=8_000_000_00,
)


@dataclass
class Officers:
    ops: Principal
    maker: Principal
    checker: Principal


@pytest.fixture
def officers() -> Officers:
    return Officers(
        ops=Principal("ops-1", Role.OPERATOR_ADMIN, name="Oleg Ops"),
        maker=Principal("co-maker", Role.COMPLIANCE_OFFICER, name="Maria Maker"),
        checker=Principal("co-checker", Role.COMPLIANCE_OFFICER, name="Chen Checker"),
    )


def clear_all_parties(db: Database, officers: Officers, participant_id: str) -> None:
    view = identity.get_participant(db, officers.maker, participant_id)
    for party in view.screenings:
        identity.clear_screening(
            db, officers.maker, participant_id, party.subject, "documents checked against lists by hand"
        )


def admit_participant(
    db: Database, officers: Officers, application: ApplicationIn, admission: AdmissionIn = ADMISSION
) -> str:
    """Submit, clear screening by hand, review, approve (second officer) and admit; return the id."""
    view = identity.submit_application(
        db, officers.ops, application, [DocumentIn("charter", "charter.pdf", b"%PDF-1.7 charter")]
    )
    participant_id = view.participant.id
    clear_all_parties(db, officers, participant_id)
    identity.review(db, officers.maker, participant_id, "registry extract and UBO chain verified")
    identity.decide(db, officers.checker, participant_id, True, "complete file, low risk")
    identity.admit(db, officers.ops, participant_id, admission)
    return participant_id


@pytest.fixture
def admit(db: Database, officers: Officers) -> Any:
    return lambda application=None, admission=ADMISSION: admit_participant(
        db, officers, application or exporter_application(), admission
    )


@pytest.fixture(scope="session")
def build() -> SimpleNamespace:
    """The builders and constants above, for tests (conftest modules are not importable by name)."""
    return SimpleNamespace(
        exporter=exporter_application,
        importer=importer_application,
        entrepreneur=entrepreneur_application,
        counterparty=foreign_counterparty,
        export_contract=export_contract,
        admission=ADMISSION,
        owner=OWNER,
        director=DIRECTOR,
        clear_all=clear_all_parties,
        exporter_inn=EXPORTER_INN,
        importer_inn=IMPORTER_INN,
    )
