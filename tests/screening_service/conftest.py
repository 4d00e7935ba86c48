"""Builders for the review tests: real list fixtures (yente's FtM files) and an onboarding path that
screens through the real gate (no manual clearance), so alerts and decisions meet real flows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from corridor.access.model import Principal, Role
from corridor.contracts.model import ContractIn, ContractType, CounterpartyIn, SuppliedRate
from corridor.db import Database
from corridor.identity import service as identity
from corridor.identity.model import (
    AdmissionIn,
    ApplicationIn,
    ParticipantKind,
    ParticipantRole,
    ParticipantStatus,
    PersonIn,
    PersonRole,
    Residency,
)

YENTE = "opensanctions-yente-fixtures/tests/fixtures/dataset"
# t1 is a small OpenSanctions export; the first t2 delta adds "Janan Agha" (UN/OFAC, Afghanistan) to it.
T1 = f"{YENTE}/t1/entities.ftm.json"
ADDS_JANAN_AGHA = f"{YENTE}/t2/20240527194702-wnk/entities.delta.json"
ZALA = f"{YENTE}/zala/entities.ftm.json"


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


def application(owner: str) -> ApplicationIn:
    return ApplicationIn(
        kind=ParticipantKind.LEGAL_ENTITY,
        residency=Residency.RESIDENT,
        name="Uralsk Machine Works JSC",
        country="RU",
        roles=(ParticipantRole.EXPORTER,),
        industry="machinery",
        persons=(
            PersonIn(PersonRole.BENEFICIAL_OWNER, owner, "AF", date(1958, 1, 1), None, "60"),
            PersonIn(PersonRole.DIRECTOR, "Anna Sidorova", "RU", date(1980, 2, 2)),
        ),
        inn="7707083893",
        kpp="773601001",
        ogrn="1027700132195",
    )


ADMISSION = AdmissionIn(
    reference="CBR-EPR-2025-0042",
    admitted_on=date(2025, 1, 1),
    valid_to=date(2030, 12, 31),
    per_transaction_limit_rub_minor=5_000_000_00,
    per_period_limit_rub_minor=8_000_000_00,
)


def admit_through_gate(db: Database, officers: Officers, owner: str) -> str:
    """Submit (the gate screens every party), review, approve by a second officer and admit."""
    view = identity.submit_application(db, officers.ops, application(owner))
    assert view.participant.status is ParticipantStatus.SCREENED, view.screenings
    pid = view.participant.id
    identity.review(db, officers.maker, pid, "registry extract and UBO chain verified")
    identity.decide(db, officers.checker, pid, True, "complete file")
    identity.admit(db, officers.ops, pid, ADMISSION)
    return pid


def export_contract(participant_id: str, counterparty: str) -> ContractIn:
    return ContractIn(
        participant_id=participant_id,
        number="EXP-2025/07",
        contract_type=ContractType.EXPORT,
        contract_date=date(2025, 3, 3),
        currency="CNY",
        amount_minor=1_000_000,  # under the registration threshold: no UNK needed
        performance_deadline=date(2025, 12, 31),
        counterparty=CounterpartyIn(
            name=counterparty,
            country="CN",
            lei="213800KUD8LAJWSQ9D15",
            vasp_name="Example VASP Ltd",
            vasp_lei="5493001KJTIIGC8Y1R12",
        ),
        goods_codes=("8429",),
        incoterms="FCA",
        rate=SuppliedRate(Decimal("12.0110"), "CBR XML_daily 2025-03-03", date(2025, 3, 3)),
    )


def data(shared_data: Path, relative: str) -> Path:
    return shared_data / relative
