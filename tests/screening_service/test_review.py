"""Decisions on hits, alerts from re-screening, and how they reach onboarding and contracts, on both
databases with real OpenSanctions fixtures (t1, its t2 delta files, zala)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from corridor.access.model import Principal, Role
from corridor.compliance import gate
from corridor.compliance.screening import review, service
from corridor.contracts import service as contracts
from corridor.contracts.model import Direction
from corridor.db import Database
from corridor.errors import Conflict, Forbidden, NotFound, PolicyRefused, Unavailable, ValidationFailed
from corridor.identity import service as identity
from corridor.identity.model import ScreeningStatus

from .conftest import ADDS_JANAN_AGHA, T1, ZALA, Officers, admit_through_gate, data, export_contract

OSETROVA = gate.PartyToScreen("person:osetrova", "Maria Aleksandrovna Osetrova", "Person", "RU")


def kinds(db: Database) -> list[str]:
    with db.engine.connect() as connection:
        return [
            row.kind for row in connection.execute(text("SELECT kind FROM registry_entries ORDER BY seq"))
        ]


def may_transact(db: Database, participant_id: str) -> str | None:
    """None when the participant may move money now, else the refusal's code."""
    try:
        with db.transaction() as session:
            identity.ensure_may_transact(session, participant_id, 1_000_00, date(2025, 4, 1))
    except PolicyRefused as refused:
        return refused.code
    return None


def owner_subject(db: Database, officers: Officers, participant_id: str) -> str:
    view = identity.get_participant(db, officers.ops, participant_id)
    return next(s.subject for s in view.screenings if s.name == "Janan Agha")


def test_new_list_version_alerts_blocks_and_a_false_positive_clears(
    db: Database, officers: Officers, operator: Principal, regulator: Principal, shared_data: Path
) -> None:
    service.load_list_file(db, operator, data(shared_data, T1), "ftm")
    pid = admit_through_gate(db, officers, "Janan Agha")
    owner = owner_subject(db, officers, pid)
    assert may_transact(db, pid) is None

    # A new list version adds the owner: re-screening raises one alert, and the participant is blocked.
    service.load_list_file(db, operator, data(shared_data, ADDS_JANAN_AGHA), "ftm")
    report = review.rescreen_all(db, operator)
    assert (report.subjects, report.screened, report.hits, len(report.alerts)) == (3, 3, 1, 1)
    (alert,) = review.list_alerts(db, regulator)
    assert alert["subject"] == owner and alert["status"] == "open" and alert["raised_by"] == "system:tests"
    assert alert["entity_ref"] == "opensanctions:NK-2sJaJRaPJcWUfMbHjTtWcL"
    assert may_transact(db, pid) == "screening_hit"
    shown = {s.subject: s for s in identity.get_participant(db, officers.ops, pid).screenings}
    assert shown[owner].status is ScreeningStatus.HIT and alert["id"] in shown[owner].reason
    assert kinds(db).count("screening.alert_raised") == 1 and kinds(db)[-1] == "screening.rescreened"
    with db.transaction() as session:
        assert gate.screen_party(session, "system:tests", _owner_party(owner)).status is gate.GateStatus.HIT

    # Nobody but a compliance officer decides; the regulator reads.
    for someone in (regulator, officers.ops):
        with pytest.raises(Forbidden):
            review.decide_alert(db, someone, alert["id"], "false_positive", "different person")
    with pytest.raises(ValidationFailed):
        review.decide_alert(db, officers.maker, alert["id"], "maybe", "not sure")
    with pytest.raises(ValidationFailed):
        review.decide_alert(db, officers.maker, alert["id"], "false_positive", "")

    proposed = review.decide_alert(
        db, officers.maker, alert["id"], "false_positive", "owner born 1958 in Herat; passport differs"
    )
    assert (proposed["status"], proposed["standing"]["status"], proposed["resolved_alert_ids"]) == (
        "pending",
        "hit",
        [],
    )
    assert may_transact(db, pid) == "screening_hit"  # one officer's word is not enough
    decided = review.check_decision(db, officers.checker, proposed["id"], True, "file checked: agreed")
    assert decided["verdict"] == "false_positive" and decided["resolved_alert_ids"] == [alert["id"]]
    assert (decided["decided_by"], decided["officer_name"]) == ("user:co-maker", "Maria Maker")
    assert (decided["status"], decided["checked_by"], decided["checker_name"]) == (
        "confirmed",
        "user:co-checker",
        "Chen Checker",
    )
    assert decided["standing"]["status"] == "clear"
    assert may_transact(db, pid) is None
    assert review.get_alert(db, regulator, alert["id"])["decision_id"] == decided["id"]
    with pytest.raises(Conflict) as again:
        review.decide_alert(db, officers.checker, alert["id"], "false_positive", "same")
    assert again.value.code == "screening.alert_resolved"
    with pytest.raises(Conflict) as twice:
        review.decide_hit(
            db, officers.checker, alert["screening_id"], alert["entity_ref"], "false_positive", "same"
        )
    assert twice.value.code == "screening.already_decided"

    # The suppression holds for unchanged data: the gate clears, a re-screen raises nothing new.
    with db.transaction() as session:
        cleared = gate.screen_party(session, "system:tests", _owner_party(owner))
    assert cleared.status is gate.GateStatus.CLEAR and "false positive" in cleared.reason
    assert review.rescreen_all(db, operator).alerts == ()
    entry = _last_payload(db, "screening.hit_decided")
    assert entry["officer"] == "user:co-maker" and entry["reason"].startswith("owner born 1958")
    assert entry["checked_by"] == "user:co-checker" and entry["resolved_alert_ids"] == [alert["id"]]
    assert _last_payload(db, "screening.decision_proposed")["decision_id"] == decided["id"]

    # Changed subject data (another birth date) is a new pair: the hit is back and blocks again.
    with db.transaction() as session:
        revived = gate.screen_party(session, "system:tests", _owner_party(owner, birth_date="1953-01-01"))
    assert revived.status is gate.GateStatus.HIT
    assert may_transact(db, pid) == "screening_hit"


def confirmed_decision(db: Database, officers: Officers, proposed: dict[str, Any]) -> dict[str, Any]:
    """The checker's confirmation of the maker's pending decision."""
    assert proposed["status"] == "pending" and proposed["decided_by"] == "user:co-maker"
    return review.check_decision(db, officers.checker, proposed["id"], True, "second review: agreed")


def _owner_party(subject: str, birth_date: str = "1958-01-01") -> gate.PartyToScreen:
    return gate.PartyToScreen(subject, "Janan Agha", "Person", "AF", birth_date=birth_date)


def _last_payload(db: Database, kind: str) -> dict[str, Any]:
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT payload FROM registry_entries WHERE kind = :k ORDER BY seq DESC"), {"k": kind}
        ).first()
    assert row is not None
    return dict(json.loads(row.payload))


def test_changed_list_record_revives_a_false_positive_and_a_true_match_stays_blocked(
    db: Database, officers: Officers, operator: Principal, shared_data: Path, tmp_path: Path
) -> None:
    service.load_list_file(db, operator, data(shared_data, ZALA), "ftm")
    with db.transaction() as session:
        hit = gate.screen_party(session, "system:tests", OSETROVA)
    assert hit.status is gate.GateStatus.HIT and hit.screening_id is not None
    screening = service.get_screening(db, operator, hit.screening_id)
    top = screening["candidates"][0]
    assert top["match"] and top["entity_sha256"] and top["decision"] is None
    below = next((c for c in screening["candidates"] if not c["match"]), None)
    if below is not None:
        with pytest.raises(Conflict):
            review.decide_hit(
                db, officers.maker, hit.screening_id, below["entity_ref"], "true_match", "x" * 5
            )
    with pytest.raises(NotFound):
        review.decide_hit(db, officers.maker, hit.screening_id, "opensanctions:nobody", "true_match", "xyz")

    decided = confirmed_decision(
        db,
        officers,
        review.decide_hit(
            db, officers.maker, hit.screening_id, top["entity_ref"], "false_positive", "a namesake, born 1990"
        ),
    )
    assert decided["standing"]["status"] == "clear"
    with db.transaction() as session:
        again = gate.screen_party(session, "system:tests", OSETROVA)
    assert again.status is gate.GateStatus.CLEAR
    assert service.get_screening(db, operator, again.screening_id or "")["candidates"][0]["decision"] == {
        "id": decided["id"],
        "verdict": "false_positive",
    }

    # The list publishes the record with one more alias: the pair is new, re-screening alerts on it.
    changed = tmp_path / "zala-next.ftm.json"
    changed.write_text(_with_extra_alias(data(shared_data, ZALA), "NK-2Tbri3s6GgNtAwsSXh4qpL"), "utf-8")
    assert service.load_list_file(db, operator, changed, "ftm").version.diff["changed"] == 1
    report = review.rescreen_all(db, operator)
    assert len(report.alerts) == 1
    alert = review.get_alert(db, officers.maker, report.alerts[0])
    assert alert["entity_sha256"] != top["entity_sha256"]
    with db.transaction() as session:
        assert gate.screen_party(session, "system:tests", OSETROVA).status is gate.GateStatus.HIT

    confirmed = review.check_decision(
        db,
        officers.maker,
        review.decide_alert(db, officers.checker, alert["id"], "true_match", "same person, INN matches")[
            "id"
        ],
        True,
        "agreed",
    )
    assert confirmed["standing"]["status"] == "hit" and confirmed["standing"]["escalated"]
    with db.transaction() as session:
        blocked = gate.screen_party(session, "system:tests", OSETROVA)
    assert blocked.status is gate.GateStatus.HIT and blocked.reason.startswith("confirmed match")
    assert review.list_alerts(db, officers.maker) == []
    assert [d["verdict"] for d in review.list_decisions(db, officers.maker, subject=OSETROVA.subject)] == [
        "true_match",
        "false_positive",
    ]


def _with_extra_alias(path: Path, entity_id: str) -> str:
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("id") == entity_id:
            record["properties"].setdefault("alias", []).append("Masha Osetrova")
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def test_subjects_seen_before_any_list_are_screened_by_the_first_load(
    db: Database, operator: Principal, regulator: Principal, shared_data: Path
) -> None:
    with pytest.raises(Unavailable):
        review.rescreen_all(db, operator)
    unlisted = gate.PartyToScreen("participant:2", "Gutenberg Druckerei Mainz GmbH", "Company", "DE")
    with db.transaction() as session:
        assert gate.screen_party(session, "system:tests", OSETROVA).status is gate.GateStatus.PENDING
        gate.screen_party(session, "system:tests", unlisted)
    assert review.get_standing(db, regulator, OSETROVA.subject)["status"] == "pending"

    service.load_list_file(db, operator, data(shared_data, ZALA), "ftm")
    done: list[tuple[int, int]] = []
    report = review.rescreen_all(db, operator, progress=lambda d, t: done.append((d, t)), batch_size=1)
    assert (report.subjects, report.hits, len(report.alerts)) == (2, 1, 1)
    assert done[0] == (0, 2) and done[-1] == (2, 2)
    standing = review.get_standing(db, regulator, OSETROVA.subject)
    assert (
        standing["status"] == "hit"
        and standing["escalated"]
        and standing["open_alert_ids"] == list(report.alerts)
    )
    assert review.get_standing(db, regulator, unlisted.subject)["status"] == "clear"
    with pytest.raises(NotFound):
        review.get_standing(db, regulator, "participant:unknown")
    with pytest.raises(Forbidden):
        review.rescreen_all(db, regulator)


def test_counterparty_alert_blocks_settlement_until_decided(
    db: Database, officers: Officers, operator: Principal, shared_data: Path
) -> None:
    service.load_list_file(db, operator, data(shared_data, T1), "ftm")
    exporter = admit_through_gate(db, officers, "Ivan Petrov")
    client = Principal("client-1", Role.CLIENT, participant_id=exporter, name="client")
    view = contracts.register_contract(
        db, client, export_contract(exporter, "Limited Liability Company Aeroscan")
    )
    contract_id = view.contract.id
    assert view.screening["counterparty"]["status"] == "clear"

    def settlement_refusal() -> str | None:
        try:
            with db.transaction() as session:
                contracts.get_contract_for_settlement(
                    session, contract_id, Direction.INCOMING, date(2025, 4, 1)
                )
        except PolicyRefused as refused:
            return refused.code
        return None

    assert settlement_refusal() is None
    service.load_list_file(db, operator, data(shared_data, ZALA), "ftm")  # replaces t1: Aeroscan is listed
    (alert_id,) = review.rescreen_all(db, operator).alerts
    assert review.get_alert(db, operator, alert_id)["subject"] == f"contract:{contract_id}:counterparty"
    assert settlement_refusal() == "counterparty_screening_hit"
    assert (
        contracts.get_contract(db, officers.maker, contract_id).screening["counterparty"]["status"] == "hit"
    )
    proposed = review.decide_alert(
        db, officers.maker, alert_id, "false_positive", "different registration, China"
    )
    assert settlement_refusal() == "counterparty_screening_hit"  # pending: the hit still blocks
    confirmed_decision(db, officers, proposed)
    assert settlement_refusal() is None


def test_a_decision_takes_effect_only_when_a_second_officer_confirms_it(
    db: Database, officers: Officers, operator: Principal, regulator: Principal, shared_data: Path
) -> None:
    with db.transaction() as session:
        gate.screen_party(session, "system:tests", OSETROVA)  # remembered while no list is loaded
    service.load_list_file(db, operator, data(shared_data, ZALA), "ftm")
    (alert_id,) = review.rescreen_all(db, operator).alerts

    def gate_status() -> gate.GateStatus:
        with db.transaction() as session:
            return gate.screen_party(session, "system:tests", OSETROVA).status

    # The maker's false positive is pending: the hit, the alert and the block all stay.
    proposed = review.decide_alert(db, officers.maker, alert_id, "false_positive", "namesake, born 1990")
    assert proposed["status"] == "pending" and proposed["checked_by"] is None
    assert review.get_alert(db, regulator, alert_id)["status"] == "open"
    assert gate_status() is gate.GateStatus.HIT
    assert [d["id"] for d in review.list_decisions(db, regulator, status="pending")] == [proposed["id"]]
    with pytest.raises(Conflict) as pending:
        review.decide_alert(db, officers.checker, alert_id, "true_match", "same person")
    assert pending.value.code == "screening.decision_pending"

    # Nobody but a second compliance officer checks it, with a reason.
    with pytest.raises(Conflict) as own:
        review.check_decision(db, officers.maker, proposed["id"], True, "I agree with myself")
    assert own.value.code == "maker_checker"
    for someone in (regulator, officers.ops):
        with pytest.raises(Forbidden):
            review.check_decision(db, someone, proposed["id"], True, "looks right")
    with pytest.raises(ValidationFailed) as no_reason:
        review.check_decision(db, officers.checker, proposed["id"], True, " ")
    assert no_reason.value.code == "reason.required"
    with pytest.raises(NotFound) as missing:
        review.check_decision(db, officers.checker, "dec_missing", True, "looks right")
    assert missing.value.code == "screening.decision_not_found"
    assert review.get_decision(db, regulator, proposed["id"])["status"] == "pending"
    assert "screening.hit_decided" not in kinds(db)

    # Rejected: the hit stays open, and the rejection is final for that decision.
    rejected = review.check_decision(db, officers.checker, proposed["id"], False, "INN not checked yet")
    assert (rejected["status"], rejected["checked_by"], rejected["standing"]["status"]) == (
        "rejected",
        "user:co-checker",
        "hit",
    )
    assert review.get_alert(db, regulator, alert_id)["status"] == "open"
    assert gate_status() is gate.GateStatus.HIT
    assert _last_payload(db, "screening.decision_rejected")["check_reason"] == "INN not checked yet"
    with pytest.raises(Conflict) as checked:
        review.check_decision(db, officers.checker, proposed["id"], True, "changed my mind")
    assert checked.value.code == "screening.decision_checked"

    # A new decision, by the other officer this time, confirmed by the first: the match stands.
    second = review.decide_alert(db, officers.checker, alert_id, "true_match", "same person, INN matches")
    confirmed = review.check_decision(db, officers.maker, second["id"], True, "INN verified")
    assert confirmed["resolved_alert_ids"] == [alert_id] and confirmed["standing"]["escalated"]
    assert review.get_alert(db, regulator, alert_id)["decision_id"] == second["id"]
    assert review.list_decisions(db, regulator, status="pending") == []
    assert [d["status"] for d in review.list_decisions(db, regulator, subject=OSETROVA.subject)] == [
        "confirmed",
        "rejected",
    ]
    with pytest.raises(ValidationFailed):
        review.list_decisions(db, regulator, status="maybe")
    assert gate_status() is gate.GateStatus.HIT
