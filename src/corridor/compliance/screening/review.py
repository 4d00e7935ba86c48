"""Review of hits: officers' decisions, alerts raised by re-screening, and re-screening itself.

A decision binds one pair: the subject's data as it was queried (hash of the stored query) and the listed
record's content (hash of the entity). A false positive clears that pair only; when either side changes the
pair is new and the hit comes back. A true match keeps the subject blocked. Re-screening asks every
subject's last query again against the current lists and raises an alert for each match its previous
screening did not have; an open alert blocks the subject until an officer decides it.
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
    """An officer's verdict on one hit of a recorded screening, with a reason (open alerts on the same
    pair are resolved by it)."""
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
    """Resolve an open alert with an officer's verdict on the hit it raised."""
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
    subject = screening.subject
    # Locked first: a re-screen of the same subject running now settles after this decision, not before.
    tracked = store.lock_existing_subject(session, subject) is not None
    key = _pair_of(session, screening, entity_ref)
    in_force = service.latest_decisions(session, subject).get(key)
    if in_force is not None and in_force.verdict is verdict:
        raise Conflict(
            "screening.already_decided", f"{entity_ref} is already decided {verdict} ({in_force.id})"
        )
    now = utc_now().isoformat()
    decision = store.StoredDecision(
        id=f"dec_{uuid.uuid4().hex}",
        subject=subject,
        screening_id=screening.id,
        key=key,
        verdict=verdict,
        reason=reason,
        actor=principal.actor,
        officer_name=principal.name,
        created_at=now,
    )
    store.insert_decision(session, decision)
    resolved = [a.id for a in store.open_alerts_of(session, subject) if a.key == key]
    store.resolve_alerts(session, resolved, decision.id, principal.actor, now)
    standing = service.settle_subject_in(session, subject) if tracked else None
    registry.append(
        session,
        principal.actor,
        "screening.hit_decided",
        f"screening:{screening.id}",
        {
            "decision_id": decision.id,
            "subject": subject,
            "entity_ref": entity_ref,
            "query_sha256": key.query_sha256,
            "entity_sha256": key.entity_sha256,
            "verdict": verdict.value,
            "reason": reason,
            "officer": principal.actor,
            "officer_name": principal.name,
            "previous_decision_id": None if in_force is None else in_force.id,
            "resolved_alert_ids": resolved,
            "standing": None if standing is None else standing.status.value,
        },
    )
    return {
        **decision.as_dict(),
        "resolved_alert_ids": resolved,
        "standing": None
        if standing is None
        else _standing_dict(subject, store.get_subject(session, subject)),
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
) -> list[dict[str, Any]]:
    authorize(principal, "screening.read")
    with db.transaction() as session:
        found = store.list_decisions(session, subject, screening_id, max(1, min(limit, _MAX_LIST)))
        return [decision.as_dict() for decision in found]


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
                outcome = service.rescreen_subject_in(session, principal.actor, row)
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
