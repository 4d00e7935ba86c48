"""Contracts on both databases: registration and refusals, threshold, UNK, amendments, settlement
preconditions, payments within limits, shipments, document deadlines and the statement."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from corridor.access.model import Principal, Role
from corridor.contracts import service as contracts
from corridor.contracts.model import ContractType, Direction, SuppliedRate
from corridor.contracts.service import AmendmentIn, PaymentIn, ShipmentIn
from corridor.db import Database
from corridor.errors import CorridorError, Forbidden, PolicyRefused
from corridor.identity import service as identity
from corridor.identity.identifiers import IdentifierError
from corridor.identity.model import DocumentIn


def contract_rows(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM contracts_contracts")).scalar_one())


def client_of(participant_id: str) -> Principal:
    return Principal(
        f"client-{participant_id[:6]}", Role.CLIENT, participant_id=participant_id, name="client"
    )


def clear_counterparty(db: Database, officers: Any, contract_id: str) -> None:
    for row in contracts.get_contract(db, officers.maker, contract_id).screening.values():
        if row["status"] != "clear":
            contracts.clear_counterparty(
                db, officers.maker, contract_id, row["subject"], "counterparty file verified"
            )


def test_export_and_import_contracts_are_registered_and_screened(
    db: Database, officers: Any, admit: Any, build: SimpleNamespace
) -> None:
    exporter, importer = admit(), admit(build.importer())
    view = contracts.register_contract(db, client_of(exporter), build.export_contract(exporter))
    contract = view.contract
    assert contract.direction is Direction.INCOMING and contract.registration_required is True
    assert contract.amount_rub == "24022000.00" and contract.threshold_rub == "10000000"
    assert contract.rate_source == "CBR XML_daily 2025-03-03"
    assert {s: row["status"] for s, row in view.screening.items()} == {
        "counterparty": "pending",
        "vasp": "pending",
    }
    imported = contracts.register_contract(
        db,
        client_of(importer),
        build.export_contract(
            importer,
            number="IMP-7",
            contract_type=ContractType.IMPORT,
            currency="USD",
            amount_minor=2_000_000,  # USD 20,000.00 x 90 = RUB 1.8 mln: below the import threshold
            rate=SuppliedRate(Decimal("90.0000"), "CBR", date(2025, 3, 3)),
            incoterms="CIP",
            counterparty=build.counterparty(
                vasp_name=None, wallet_address="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
            ),
        ),
    ).contract
    assert imported.direction is Direction.OUTGOING and imported.registration_required is False
    assert [c.id for c in contracts.list_contracts(db, client_of(importer))] == [imported.id]
    with pytest.raises(Forbidden):
        contracts.get_contract(db, client_of(importer), contract.id)


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"counterparty": {"country": "RU"}}, "resident_counterparty"),
        ({"counterparty": {"inn": "7736050003"}}, "resident_counterparty"),
        ({"counterparty": {"lei": "213800KUD8LXJWSQ9D15"}}, "lei.checksum"),
        ({"incoterms": "XYZ"}, "incoterms.unknown"),
        ({"goods_codes": ("84291",)}, "goods_code.format"),
        ({"contract_type": ContractType.IMPORT}, "participant_role_mismatch"),
        (
            {"unk": "24110001/1481/0000/2/1", "unk_registered_on": date(2025, 3, 5)},
            "unk.contract_type_mismatch",
        ),
    ],
)
def test_refused_contracts_store_nothing(
    db: Database, admit: Any, build: SimpleNamespace, changes: dict[str, Any], code: str
) -> None:
    exporter = admit()
    if "counterparty" in changes:
        changes = {"counterparty": build.counterparty(**changes["counterparty"])}
    before = contract_rows(db)
    with pytest.raises(CorridorError) as raised:
        contracts.register_contract(db, client_of(exporter), build.export_contract(exporter, **changes))
    assert raised.value.code == code and 400 <= raised.value.status < 500
    assert contract_rows(db) == before


def test_unadmitted_or_suspended_client_cannot_register(
    db: Database, officers: Any, admit: Any, build: SimpleNamespace
) -> None:
    applicant = identity.submit_application(db, officers.ops, build.importer()).participant.id
    with pytest.raises(PolicyRefused) as raised:
        contracts.register_contract(db, officers.ops, build.export_contract(applicant))
    assert raised.value.code == "participant_not_admitted"
    exporter = admit()
    identity.change_status(db, officers.maker, exporter, "suspend", "sanctions review")
    with pytest.raises(PolicyRefused) as raised:
        contracts.register_contract(db, client_of(exporter), build.export_contract(exporter))
    assert raised.value.code == "participant_suspended"
    assert contract_rows(db) == 0


def test_settlement_preconditions_payments_limits_and_statement(
    db: Database, officers: Any, admit: Any, build: SimpleNamespace
) -> None:
    exporter = admit()
    client = client_of(exporter)
    contract_id = contracts.register_contract(db, client, build.export_contract(exporter)).contract.id
    payment = PaymentIn(
        "pay-1", Direction.INCOMING, date(2025, 4, 1), 10_000_000, 1_201_100_00, "10100", "ab" * 32
    )

    def refused(p: PaymentIn) -> str:
        with pytest.raises(PolicyRefused) as raised:
            contracts.record_payment(db, officers.ops, contract_id, p)
        return raised.value.code

    assert refused(payment) == "contract_not_registered"
    with pytest.raises(IdentifierError) as bad_unk:
        contracts.register_unk(db, client, contract_id, "25130001/1481/0000/1/1", date(2025, 3, 5))
    assert bad_unk.value.rule == "unk.month"
    contracts.register_unk(db, client, contract_id, "25030001/1481/0000/1/1", date(2025, 3, 5))
    assert refused(payment) == "counterparty_screening_pending"
    clear_counterparty(db, officers, contract_id)
    assert refused(replace(payment, direction=Direction.OUTGOING)) == "contract_direction_mismatch"
    assert refused(replace(payment, amount_rub_minor=5_000_000_01)) == "limit_exceeded"
    recorded = contracts.record_payment(db, officers.ops, contract_id, payment)
    assert recorded["vo_code"] == "10100"
    assert contracts.record_payment(db, officers.ops, contract_id, payment)["id"] == "pay-1"  # idempotent
    contracts.record_shipment(
        db,
        client,
        contract_id,
        ShipmentIn("ship-1", date(2025, 3, 20), 30_000_000, "GTD 10129060/200325/0001234"),
    )

    statement = contracts.statement(db, client, contract_id, as_of=date(2025, 4, 30))
    assert (statement.paid_minor, statement.shipped_minor, statement.outstanding_minor) == (
        10_000_000,
        30_000_000,
        20_000_000,
    )
    assert statement.repatriation == "outstanding"
    # 15 business days after 1 April 2025 (RU calendar): 22 April.
    assert [(d["due_on"], d["status"]) for d in statement.documents] == [("2025-04-22", "overdue")]
    obligation = statement.documents[0]["obligation_id"]
    contracts.add_document(
        db, client, contract_id, DocumentIn("operator_extract", "extract.xml", b"<extract/>"), obligation
    )
    after = contracts.statement(db, client, contract_id, as_of=date(2025, 4, 30))
    assert after.documents[0]["status"] == "submitted"

    # The amount is raised by amendment: reassessed at the amendment date's rate.
    amended = contracts.amend_contract(
        db,
        client,
        contract_id,
        AmendmentIn(
            date(2025, 5, 5),
            amount_minor=300_000_000,
            rate=SuppliedRate(Decimal("11.5"), "CBR", date(2025, 5, 5)),
        ),
    )
    assert amended.contract.amount_rub == "34500000.00" and amended.contract.registration_assessed_on == date(
        2025, 5, 5
    )
    assert amended.amendments[0]["changes"]["amount_minor"] == 300_000_000
    contracts.close_contract(db, officers.ops, contract_id, "performed in full")
    assert refused(replace(payment, id="pay-2")) == "contract_closed"


def test_get_contract_for_settlement_refuses_a_suspended_client(
    db: Database, officers: Any, admit: Any, build: SimpleNamespace
) -> None:
    exporter = admit()
    contract_id = contracts.register_contract(
        db, client_of(exporter), build.export_contract(exporter, amount_minor=1_000_000)
    ).contract.id
    clear_counterparty(db, officers, contract_id)
    with db.transaction() as session:
        found = contracts.get_contract_for_settlement(
            session, contract_id, Direction.INCOMING, date(2025, 4, 1)
        )
        assert found.registration_required is False
    identity.change_status(db, officers.ops, exporter, "suspend", "investigation")
    with db.transaction() as session, pytest.raises(PolicyRefused) as raised:
        contracts.get_contract_for_settlement(session, contract_id, Direction.INCOMING, date(2025, 4, 1))
    assert raised.value.code == "participant_suspended"
