"""KYB on both databases: application, screening that blocks, manual clearance, maker-checker, admission,
suspension and exclusion, limits, client scope, registry entries, and nothing stored on bad input."""

from __future__ import annotations

import hashlib
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import text

from corridor.access.model import Principal, Role
from corridor.db import Database
from corridor.errors import Conflict, CorridorError, Forbidden, PolicyRefused
from corridor.identity import service as identity
from corridor.identity.identifiers import IdentifierError
from corridor.identity.model import DocumentIn, ParticipantKind, ParticipantStatus, RiskTier
from corridor.registry.service import verify


def counts(db: Database) -> dict[str, int]:
    with db.engine.connect() as connection:
        return {
            table: int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
            for table in (
                "identity_participants",
                "identity_persons",
                "identity_documents",
                "registry_entries",
            )
        }


def kinds(db: Database, subject: str) -> list[str]:
    with db.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT kind FROM registry_entries WHERE subject = :s ORDER BY seq"), {"s": subject}
        )
        return [r[0] for r in rows]


def test_application_is_recorded_awaiting_screening_and_approval_is_blocked(
    db: Database, officers: Any, build: SimpleNamespace
) -> None:
    view = identity.submit_application(
        db, officers.ops, build.exporter(), [DocumentIn("charter", "charter.pdf", b"%PDF charter")]
    )
    pid = view.participant.id
    assert view.participant.status is ParticipantStatus.AWAITING_SCREENING
    assert {s.status.value for s in view.screenings} == {"pending"} and len(view.screenings) == 3
    assert view.documents[0]["sha256"] == hashlib.sha256(b"%PDF charter").hexdigest()
    identity.review(db, officers.maker, pid, "file complete, waiting for screening")
    with pytest.raises(PolicyRefused) as raised:
        identity.decide(db, officers.checker, pid, True, "looks fine")
    assert raised.value.code == "screening_pending" and len(raised.value.extra["parties"]) == 3
    assert identity.get_participant(db, officers.ops, pid).participant.status is ParticipantStatus.REVIEWED
    assert kinds(db, f"participant:{pid}") == [
        "identity.application_submitted",
        "identity.screening_recorded",
        "identity.application_reviewed",
    ]


def test_full_path_to_admission_with_manual_clearance_and_four_eyes(
    db: Database, officers: Any, build: SimpleNamespace
) -> None:
    pid = identity.submit_application(db, officers.ops, build.exporter()).participant.id
    subjects = [s.subject for s in identity.get_participant(db, officers.ops, pid).screenings]
    with pytest.raises(Forbidden):
        identity.clear_screening(db, officers.ops, pid, subjects[0], "operators cannot clear screening")
    for subject in subjects:
        identity.clear_screening(db, officers.maker, pid, subject, "checked by hand against UN/EU/OFAC")
    view = identity.get_participant(db, officers.ops, pid)
    assert view.participant.status is ParticipantStatus.SCREENED
    assert {(s.status.value, s.source) for s in view.screenings} == {("clear", "manual_clearance")}
    identity.review(db, officers.maker, pid, "UBO chain verified")
    with pytest.raises(Conflict) as raised:
        identity.decide(db, officers.maker, pid, True, "I prepared it and approve it")
    assert raised.value.code == "maker_checker"
    identity.decide(db, officers.checker, pid, True, "complete file")
    admitted = identity.admit(db, officers.ops, pid, build.admission).participant
    assert admitted.status is ParticipantStatus.ADMITTED
    assert admitted.admission_reference == "CBR-EPR-2025-0042"
    assert admitted.risk_factors == ("screening.manual_clearance",) and admitted.risk_tier is RiskTier.LOW
    assert admitted.next_review_on == date(2028, 1, 1)  # low tier: every 36 months
    entries = kinds(db, f"participant:{pid}")
    assert entries.count("identity.screening_cleared_manually") == 3
    assert entries[-2:] == ["identity.application_approved", "identity.participant_admitted"]
    assert verify(db).ok


def test_rejection_also_needs_a_second_officer_and_a_reason(
    db: Database, officers: Any, build: SimpleNamespace
) -> None:
    pid = identity.submit_application(db, officers.ops, build.exporter()).participant.id
    identity.review(db, officers.maker, pid, "adverse media found")
    with pytest.raises(CorridorError) as raised:
        identity.decide(db, officers.checker, pid, False, "")
    assert raised.value.code == "reason.required"
    rejected = identity.decide(db, officers.checker, pid, False, "adverse media confirmed").participant
    assert rejected.status is ParticipantStatus.REJECTED and rejected.decided_by == "user:co-checker"
    # A rejected applicant may apply again; a live one may not apply twice.
    identity.submit_application(db, officers.ops, build.exporter())
    with pytest.raises(Conflict) as raised_dup:
        identity.submit_application(db, officers.ops, build.exporter())
    assert raised_dup.value.code == "participant_exists"


def test_bad_identifier_and_retail_applicant_store_nothing(
    db: Database, officers: Any, build: SimpleNamespace
) -> None:
    before = counts(db)
    with pytest.raises(IdentifierError) as raised:
        identity.submit_application(db, officers.ops, build.exporter(inn="7707083894"))
    assert raised.value.rule == "inn.check_digit"
    with pytest.raises(PolicyRefused) as refused:
        identity.submit_application(db, officers.ops, build.exporter(kind=ParticipantKind.NATURAL_PERSON))
    assert refused.value.code == "retail_not_allowed"
    assert counts(db) == before


def test_suspension_exclusion_and_limits(db: Database, officers: Any, admit: Any) -> None:
    pid = admit()
    on = date(2025, 5, 10)
    with db.transaction() as session:
        identity.ensure_may_transact(session, pid, 5_000_000_00, on)
        identity.consume_limit_in(session, "system:tests", pid, 5_000_000_00, on, "u1", "first")
        identity.consume_limit_in(session, "system:tests", pid, 5_000_000_00, on, "u1", "retry of the same")
    with db.transaction() as session, pytest.raises(PolicyRefused) as raised:
        identity.ensure_may_transact(session, pid, 5_000_000_01, on)
    assert raised.value.code == "limit_exceeded" and raised.value.extra["limit"] == "per_transaction"
    with db.transaction() as session, pytest.raises(PolicyRefused) as raised:
        identity.ensure_may_transact(session, pid, 3_000_000_01, on)
    assert raised.value.code == "limit_exceeded" and raised.value.extra["limit"] == "per_period"
    with db.transaction() as session:
        identity.ensure_may_transact(session, pid, 3_000_000_00, on)
        identity.ensure_may_transact(session, pid, 5_000_000_00, date(2025, 6, 1))  # a new month
    assert identity.limit_status(db, officers.ops, pid, on)["used_rub_minor"] == 5_000_000_00
    identity.change_status(db, officers.maker, pid, "suspend", "pending investigation")
    with db.transaction() as session, pytest.raises(PolicyRefused) as raised:
        identity.ensure_may_transact(session, pid, 1, on)
    assert raised.value.code == "participant_suspended"
    identity.change_status(db, officers.maker, pid, "reinstate", "investigation closed")
    identity.change_status(db, officers.ops, pid, "exclude", "programme ended for this participant")
    with db.transaction() as session, pytest.raises(PolicyRefused) as raised:
        identity.ensure_may_transact(session, pid, 1, on)
    assert raised.value.code == "participant_excluded"
    with pytest.raises(Conflict):
        identity.change_status(db, officers.ops, pid, "reinstate", "excluded is final")


def test_clients_see_only_their_participant_and_the_regulator_reads_all(
    db: Database, officers: Any, admit: Any, build: SimpleNamespace, regulator: Principal
) -> None:
    exporter = admit()
    importer = admit(build.importer())
    client = Principal("client-1", Role.CLIENT, participant_id=exporter)
    assert [p.id for p in identity.list_participants(db, client)] == [exporter]
    assert identity.get_participant(db, client, exporter).participant.id == exporter
    with pytest.raises(Forbidden) as raised:
        identity.get_participant(db, client, importer)
    assert raised.value.code == "forbidden_scope"
    assert {p.id for p in identity.list_participants(db, regulator)} == {exporter, importer}
    with pytest.raises(Forbidden):
        identity.change_status(db, regulator, exporter, "suspend", "regulator is read-only here")
    document = identity.add_document(
        db, client, exporter, DocumentIn("financials", "fs2024.pdf", b"2024 accounts")
    )
    assert len(document["sha256"]) == 64


def test_entrepreneur_is_admitted_as_a_person_screened_party(
    db: Database, officers: Any, build: SimpleNamespace
) -> None:
    view = identity.submit_application(db, officers.ops, build.entrepreneur())
    assert view.participant.kind is ParticipantKind.INDIVIDUAL_ENTREPRENEUR
    assert view.participant.identifiers == {"inn": "781100086042", "ogrnip": "304500116000157"}
