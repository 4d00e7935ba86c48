"""Review of hits: officers' decisions, alerts raised by re-screening, and re-screening itself.

A decision binds one pair: the subject's data as it was queried (hash of the stored query) and the listed
record's content (hash of the entity). A false positive clears that pair only; when either side changes the
pair is new and the hit comes back. A true match keeps the subject blocked. Re-screening asks every
subject's last query again against the current lists and raises an alert for each match its previous
screening did not have; an open alert blocks the subject until an officer decides it.

Decisions are maker-checker: an officer's decision is recorded *pending* and changes nothing (the hit stays
unresolved, its alert open) until a second, different compliance officer confirms it; only then does it
clear or confirm the hit and resolve the alert. A rejected decision leaves the hit open for a new one. One
pending decision per pair at a time, so a checker always confirms exactly what they read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.compliance.screening import service, store
from corridor.compliance.screening.model import (
    AlertStatus,
    DecisionStatus,
    PairKey,
    Standing,
    Verdict,
    canonical_sha256,
    entity_sha256,
)
from corridor.db import Database
from corridor.errors import Conflict, NotFound, ValidationFailed
from corridor.registry import service as registry
from corridor.registry.service import utc_now

RescreenProgress = Callable[[int, int], None]
RESCREEN_BATCH = 50
_MAX_LIST = 1000


@dataclass(frozen=True, slots=True)
class RescreenReport:
    id: str
    list_version_ids: tuple[str, ...]
    subjects: int
    screened: int
    hits: int
    escalated: int
    alerts: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "list_version_ids": list(self.list_version_ids),
            "subjects": self.subjects,
            "screened": self.screened,
            "hits": self.hits,
            "escalated": self.escalated,
            "alerts_raised": len(self.alerts),
            "alert_ids": list(self.alerts),
        }


def _verdict(raw: Verdict | str) -> Verdict:
    try:
        return Verdict(raw)
    except ValueError:
        choices = ", ".join(v.value for v in Verdict)
        raise ValidationFailed("screening.verdict", f"verdict must be one of: {choices}") from None


def _reason(raw: str) -> str:
    text = raw.strip()
    if not 3 <= len(text) <= 2000:
        raise ValidationFailed("reason.required", "give a reason (3-2000 characters)")
    return text


# --- decisions -----------------------------------------------------------------------------------------


def decide_hit(
    db: Database,
    principal: Principal,
    screening_id: str,
    entity_ref: str,
    verdict: Verdict | str,
    reason: str,
) -> dict[str, Any]:
    """An officer's verdict on one hit of a recorded screening, with a reason; pending until a second
    officer confirms it (:func:`check_decision`), which also resolves open alerts on the same pair."""
    authorize(principal, "screening.decide")
    decided, why = _verdict(verdict), _reason(reason)
    with db.transaction() as session:
        screening = store.get_screening(session, screening_id)
        if screening is None:
            raise NotFound("screening.not_found", f"no screening {screening_id}")
        return _decide_in(session, principal, screening, entity_ref, decided, why)


def decide_alert(
    db: Database, principal: Principal, alert_id: str, verdict: Verdict | str, reason: str
) -> dict[str, Any]:
    """An officer's verdict on the hit an open alert raised; the alert is resolved when a second officer
    confirms it."""
    authorize(principal, "screening.decide")
    decided, why = _verdict(verdict), _reason(reason)
    with db.transaction() as session:
        alert = store.get_alert(session, alert_id, for_update=True)
        if alert is None:
            raise NotFound("screening.alert_not_found", f"no alert {alert_id}")
        if alert.status is not AlertStatus.OPEN:
            raise Conflict(
                "screening.alert_resolved", f"alert {alert_id} was resolved by decision {alert.decision_id}"
            )
        screening = store.get_screening(session, alert.screening_id)
        assert screening is not None  # the alert's foreign key
        return _decide_in(session, principal, screening, alert.key.entity_ref, decided, why)


def _decide_in(
    session: Session,
    principal: Principal,
    screening: store.StoredScreening,
    entity_ref: str,
    verdict: Verdict,
    reason: str,
) -> dict[str, Any]:
    """Record the maker's decision, pending: nothing about the subject's standing changes yet."""
    subject = screening.subject
    # Locked first: a re-screen or a check on the same subject running now waits for this decision.
    store.lock_existing_subject(session, subject)
    key = _pair_of(session, screening, entity_ref)
    pending = next(
        (d for d in store.decisions_of(session, subject, DecisionStatus.PENDING) if d.key == key), None
    )
    if pending is not None:
        raise Conflict(
            "screening.decision_pending",
            f"{entity_ref} already has decision {pending.id} awaiting a second officer: confirm or reject it",
        )
    in_force = service.latest_decisions(session, subject).get(key)
    if in_force is not None and in_force.verdict is verdict:
        raise Conflict(
            "screening.already_decided", f"{entity_ref} is already decided {verdict} ({in_force.id})"
        )
    decision = store.StoredDecision(
        id=f"dec_{uuid.uuid4().hex}",
        subject=subject,
        screening_id=screening.id,
        key=key,
        verdict=verdict,
        reason=reason,
        actor=principal.actor,
        officer_name=principal.name,
        created_at=utc_now().isoformat(),
        status=DecisionStatus.PENDING,
    )
    store.insert_decision(session, decision)
    registry.append(
        session,
        principal.actor,
        "screening.decision_proposed",
        f"screening:{screening.id}",
        {
            **_decision_payload(decision),
            "previous_decision_id": None if in_force is None else in_force.id,
        },
    )
    row = store.get_subject(session, subject)
    return {
        **decision.as_dict(),
        "resolved_alert_ids": [],
        "standing": None if row is None else _standing_dict(subject, row),
    }


def _decision_payload(decision: store.StoredDecision) -> dict[str, Any]:
    return {
        "decision_id": decision.id,
        "subject": decision.subject,
        "entity_ref": decision.key.entity_ref,
        "query_sha256": decision.key.query_sha256,
        "entity_sha256": decision.key.entity_sha256,
        "verdict": decision.verdict.value,
        "reason": decision.reason,
        "officer": decision.actor,
        "officer_name": decision.officer_name,
    }


def check_decision(
    db: Database, principal: Principal, decision_id: str, confirm: bool, reason: str
) -> dict[str, Any]:
    """A second compliance officer confirms (the decision takes effect) or rejects (the hit stays open)
    a pending decision, with a reason. The officer who made the decision cannot check it."""
    authorize(principal, "screening.decide")
    why = _reason(reason)
    with db.transaction() as session:
        found = store.get_decision(session, decision_id)
        if found is None:
            raise NotFound("screening.decision_not_found", f"no decision {decision_id}")
        # The subject first, then the decision: the order a maker's decision takes its locks in.
        tracked = store.lock_existing_subject(session, found.subject) is not None
        decision = store.get_decision(session, decision_id, for_update=True)
        assert decision is not None  # decisions are never deleted
        if decision.status is not DecisionStatus.PENDING:
            raise Conflict(
                "screening.decision_checked",
                f"decision {decision_id} was already {decision.status} by {decision.checked_by}",
            )
        if decision.actor == principal.actor:
            raise Conflict(
                "maker_checker", "the officer who made a decision cannot also confirm or reject it"
            )
        status = DecisionStatus.CONFIRMED if confirm else DecisionStatus.REJECTED
        now = utc_now().isoformat()
        store.check_decision(session, decision.id, status, principal.actor, principal.name, why, now)
        resolved: list[str] = []
        if confirm:
            resolved = [
                a.id for a in store.open_alerts_of(session, decision.subject) if a.key == decision.key
            ]
            store.resolve_alerts(session, resolved, decision.id, principal.actor, now)
        standing = service.settle_subject_in(session, decision.subject) if tracked else None
        registry.append(
            session,
            principal.actor,
            "screening.hit_decided" if confirm else "screening.decision_rejected",
            f"screening:{decision.screening_id}",
            {
                **_decision_payload(decision),
                "checked_by": principal.actor,
                "checker_name": principal.name,
                "check_reason": why,
                "resolved_alert_ids": resolved,
                "standing": None if standing is None else standing.status.value,
            },
        )
        checked = store.get_decision(session, decision.id)
        assert checked is not None
        return {
            **checked.as_dict(),
            "resolved_alert_ids": resolved,
            "standing": None
            if standing is None
            else _standing_dict(decision.subject, store.get_subject(session, decision.subject)),
        }


def _pair_of(session: Session, screening: store.StoredScreening, entity_ref: str) -> PairKey:
    candidate = next((c for c in screening.candidates if c["entity_ref"] == entity_ref), None)
    if candidate is None:
        raise NotFound("screening.candidate_not_found", f"{entity_ref} is not a candidate of {screening.id}")
    if not _is_match(candidate, screening.threshold):
        raise Conflict("screening.not_a_hit", f"{entity_ref} scored below the threshold: nothing to decide")
    return PairKey(
        screening.subject,
        canonical_sha256(screening.query),
        entity_ref,
        candidate.get("entity_sha256") or _recorded_entity_sha(session, candidate),
    )


def _is_match(candidate: dict[str, Any], threshold: str) -> bool:
    if "match" in candidate:
        return bool(candidate["match"])
    return candidate.get("matched_identifier") is not None or float(candidate["score"]) >= float(threshold)


def _recorded_entity_sha(session: Session, candidate: dict[str, Any]) -> str:
    """Screenings recorded before hashes were stored: hash the record from the list version they used."""
    version_id = candidate.get("list_version_id")
    entity = store.entity_data(session, version_id, candidate["list_id"]) if version_id else None
    if entity is None:
        raise Conflict("screening.record_missing", "the listed record of this hit is no longer stored")
    return entity_sha256(candidate["source"], entity)


# --- alerts and standings ------------------------------------------------------------------------------


def list_alerts(
    db: Database,
    principal: Principal,
    status: AlertStatus | str | None = AlertStatus.OPEN,
    subject: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    authorize(principal, "screening.read")
    try:
        wanted = AlertStatus(status) if status is not None else None
    except ValueError:
        raise ValidationFailed("screening.alert_status", f"unknown alert status {status!r}") from None
    with db.transaction() as session:
        found = store.list_alerts(session, wanted, subject, max(1, min(limit, _MAX_LIST)))
        return [alert.as_dict() for alert in found]


def get_alert(db: Database, principal: Principal, alert_id: str) -> dict[str, Any]:
    authorize(principal, "screening.read")
    with db.transaction() as session:
        alert = store.get_alert(session, alert_id)
        if alert is None:
            raise NotFound("screening.alert_not_found", f"no alert {alert_id}")
        return alert.as_dict()


def list_decisions(
    db: Database,
    principal: Principal,
    subject: str | None = None,
    screening_id: str | None = None,
    limit: int = 100,
    status: DecisionStatus | str | None = None,
) -> list[dict[str, Any]]:
    """Decisions, newest first; ``status="pending"`` is a checker's work list."""
    authorize(principal, "screening.read")
    try:
        wanted = DecisionStatus(status) if status is not None else None
    except ValueError:
        raise ValidationFailed("screening.decision_status", f"unknown decision status {status!r}") from None
    with db.transaction() as session:
        found = store.list_decisions(session, subject, screening_id, max(1, min(limit, _MAX_LIST)), wanted)
        return [decision.as_dict() for decision in found]


def get_decision(db: Database, principal: Principal, decision_id: str) -> dict[str, Any]:
    authorize(principal, "screening.read")
    with db.transaction() as session:
        decision = store.get_decision(session, decision_id)
        if decision is None:
            raise NotFound("screening.decision_not_found", f"no decision {decision_id}")
        return decision.as_dict()


def get_standing(db: Database, principal: Principal, subject: str) -> dict[str, Any]:
    """Where a subject the gate has screened stands: clear, hit or pending, why, and its open alerts."""
    authorize(principal, "screening.read")
    with db.transaction() as session:
        row = store.get_subject(session, subject)
        if row is None:
            raise NotFound("screening.subject_not_found", f"{subject} has never been screened by the gate")
        return _standing_dict(subject, row, store.open_alerts_of(session, subject))


def _standing_dict(
    subject: str, row: store.StoredSubject | None, open_alerts: list[store.StoredAlert] | None = None
) -> dict[str, Any]:
    assert row is not None
    out = row.as_dict()
    if open_alerts is not None:
        out["open_alert_ids"] = [a.id for a in open_alerts]
    return out


# --- re-screening --------------------------------------------------------------------------------------


def rescreen_all(
    db: Database,
    principal: Principal,
    progress: RescreenProgress | None = None,
    batch_size: int = RESCREEN_BATCH,
) -> RescreenReport:
    """Screen every tracked subject again against the current list versions; raise an alert per new hit.

    Subjects are re-screened in batches, each in its own transaction, so a long run neither holds one
    huge transaction nor loses finished batches if it stops; running it again is harmless (a hit already
    alerted is not alerted twice).
    """
    authorize(principal, "screening.rescreen")
    with db.transaction() as session:
        names = store.subject_names(session)
        built = service.index_in(session)
        if built is None:
            raise service.no_list()
        version_ids = tuple(v.id for v in built[1])
    # One reading of the profile for the whole run: every subject is judged at the same threshold.
    policy = service.policy_on()
    screened = hits = escalated = 0
    alerts: list[str] = []
    if progress is not None:
        progress(0, len(names))
    for start in range(0, len(names), max(1, batch_size)):
        with db.transaction() as session:
            for name in names[start : start + batch_size]:
                row = store.get_subject(session, name)
                if row is None:
                    continue
                outcome = service.rescreen_subject_in(session, principal.actor, row, policy)
                screened += 1
                hits += outcome.standing.status is Standing.HIT
                escalated += outcome.standing.escalated
                alerts.extend(alert.id for alert in outcome.new_alerts)
        if progress is not None:
            progress(min(start + batch_size, len(names)), len(names))
    report = RescreenReport(
        f"rsc_{uuid.uuid4().hex}", version_ids, len(names), screened, hits, escalated, tuple(alerts)
    )
    with db.transaction() as session:
        payload = report.as_dict()
        payload.pop("id")
        registry.append(
            session, principal.actor, "screening.rescreened", f"screening_rescreen:{report.id}", payload
        )
    return report
