"""Participant use cases: application, screening, review, decision, admission, suspension, limits.

Every function a user reaches calls ``authorize`` first and changes state in one transaction together
with its registry entry. ``ensure_may_transact`` and ``consume_limit_in`` run inside a caller's transaction
(payment flows check scope and use up the limit in the same commit that moves the money).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.compliance.gate import PartyToScreen, Recorded, reconcile, screen_party
from corridor.db import Database
from corridor.db.batch_reads import remembered, update_remembered
from corridor.errors import Conflict, NotFound, PolicyRefused, ValidationFailed
from corridor.identity import store
from corridor.identity.model import (
    REVIEWABLE,
    SCREENABLE,
    AdmissionIn,
    AdmissionState,
    ApplicationIn,
    CheckedApplication,
    DocumentIn,
    ParticipantKind,
    ParticipantStatus,
    PartyScreening,
    PersonRole,
    ScreeningStatus,
    check_admission,
    check_application,
    check_document,
    ensure_admitted_on,
    ensure_screening_clear,
    ensure_within_admission,
    next_review_on,
    period_bounds,
    rate_risk,
    require_reason,
    require_status,
    status_after_screening,
)
from corridor.identity.store import Participant, StoredPerson
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now


@dataclass(frozen=True)
class ParticipantView:
    participant: Participant
    persons: list[StoredPerson]
    documents: list[dict[str, Any]]
    screenings: list[PartyScreening]


def _now() -> str:
    return format_time(utc_now())


def _subject(participant_id: str) -> str:
    return f"participant:{participant_id}"


def _load(session: Session, participant_id: str, *, lock: bool = False) -> Participant:
    participant = store.get_participant(session, participant_id, lock=lock)
    if participant is None:
        raise NotFound("participant_not_found", f"no participant {participant_id}")
    return participant


def _view(session: Session, participant_id: str) -> ParticipantView:
    return ParticipantView(
        _load(session, participant_id),
        store.persons_of(session, participant_id),
        store.documents_of(session, participant_id),
        _screenings_now(session, participant_id),
    )


def _screenings_now(session: Session, participant_id: str) -> list[PartyScreening]:
    """The latest result per party, with what screening has learned since it was recorded: an alert raised
    by re-screening against a new list version, a confirmed match, or a false-positive decision."""
    results = store.latest_screenings(session, participant_id)
    recorded = {r.subject: Recorded(r.status.value, r.source == "manual_clearance") for r in results}
    changed = reconcile(session, recorded)
    return [
        replace(
            r,
            status=ScreeningStatus(changed[r.subject].status.value),
            source="gate",
            reason=changed[r.subject].reason,
        )
        if r.subject in changed
        else r
        for r in results
    ]


def _ensure_no_screening_hit(session: Session, participant_id: str) -> None:
    """An admitted participant whose entity, owner or director is now a hit may not move money."""
    hits = [r.subject for r in _screenings_now(session, participant_id) if r.status is ScreeningStatus.HIT]
    if hits:
        raise PolicyRefused("screening_hit", "unresolved screening hits block this participant", parties=hits)


def _checked_from_stored(participant: Participant, persons: Sequence[StoredPerson]) -> CheckedApplication:
    return CheckedApplication(
        kind=participant.kind,
        residency=participant.residency,
        name=participant.name,
        country=participant.country,
        roles=participant.roles,
        industry=participant.industry,
        persons=tuple(p.person for p in persons),
        identifiers=participant.identifiers,
    )


# --- application -------------------------------------------------------------------------------------


def submit_application(
    db: Database, principal: Principal, application: ApplicationIn, documents: Sequence[DocumentIn] = ()
) -> ParticipantView:
    """File an application; its parties are screened at once and the result recorded, whatever it is."""
    authorize(principal, "identity.participant.apply")
    checked = check_application(application)
    checked_documents = [check_document(d) for d in documents]
    participant_id = uuid.uuid4().hex
    with db.transaction() as session:
        _refuse_duplicate(session, checked)
        now = _now()
        store.insert_participant(session, _participant_row(participant_id, checked, principal.actor, now))
        person_ids = []
        for person in checked.persons:
            person_id = uuid.uuid4().hex
            store.insert_person(session, person_id, participant_id, person)
            person_ids.append(person_id)
        for document in checked_documents:
            _insert_document(session, principal, participant_id, document, now)
        registry.append(
            session,
            principal.actor,
            "identity.application_submitted",
            _subject(participant_id),
            {
                "id": participant_id,
                "kind": checked.kind.value,
                "residency": checked.residency.value,
                "name": checked.name,
                "country": checked.country,
                "roles": [r.value for r in checked.roles],
                "industry": checked.industry,
                "identifiers": checked.identifiers,
                "persons": [
                    {"id": pid, "role": p.role.value, "name": p.full_name, "ownership": p.ownership_percent}
                    for pid, p in zip(person_ids, checked.persons, strict=True)
                ],
                "documents": [{"kind": d.kind, "sha256": d.sha256} for d in checked_documents],
            },
        )
        _screen_all_in(session, principal.actor, participant_id)
        return _view(session, participant_id)


def _refuse_duplicate(session: Session, checked: CheckedApplication) -> None:
    for column in ("inn", "lei"):
        value = checked.identifiers.get(column)
        if value is None:
            continue
        existing = store.find_live_by_identifier(session, column, value)
        if existing is not None:
            raise Conflict(
                "participant_exists", f"participant {existing} already has {column} {value}", id=existing
            )


def _participant_row(
    participant_id: str, checked: CheckedApplication, actor: str, now: str
) -> dict[str, Any]:
    return {
        "id": participant_id,
        "kind": checked.kind.value,
        "residency": checked.residency.value,
        "name": checked.name,
        "country": checked.country,
        "roles": store.roles_json(checked.roles),
        "industry": checked.industry,
        **checked.identifiers,
        "status": ParticipantStatus.AWAITING_SCREENING.value,
        "risk_score": 0,
        "risk_tier": "low",
        "risk_factors": "[]",
        "submitted_by": actor,
        "created_at": now,
        "updated_at": now,
    }


# --- screening ---------------------------------------------------------------------------------------


def _parties(participant: Participant, persons: Sequence[StoredPerson]) -> list[PartyToScreen]:
    entity_schema = "Person" if participant.kind is ParticipantKind.INDIVIDUAL_ENTREPRENEUR else "Company"
    parties = [
        PartyToScreen(
            subject=_subject(participant.id),
            name=participant.name,
            schema=entity_schema,
            country=participant.country,
            identifiers=dict(participant.identifiers),
        )
    ]
    for stored in persons:
        person = stored.person
        parties.append(
            PartyToScreen(
                subject=f"person:{stored.id}",
                name=person.full_name,
                schema="Person",
                country=person.country,
                identifiers={"inn": person.inn} if person.inn else {},
                birth_date=person.birth_date.isoformat() if person.birth_date else None,
            )
        )
    return parties


def _screen_all_in(session: Session, actor: str, participant_id: str) -> list[PartyScreening]:
    """Ask the gate about the entity, its owners and directors; record each answer and the new status.

    A party already cleared (by the gate or an officer) is not asked again: a manual clearance must not be
    undone by a gate that cannot screen yet. Pending and hit parties are asked again.
    """
    participant = _load(session, participant_id, lock=True)
    persons = store.persons_of(session, participant_id)
    previous = {s.subject: s for s in store.latest_screenings(session, participant_id)}
    now = _now()
    for party in _parties(participant, persons):
        earlier = previous.get(party.subject)
        if earlier is not None and earlier.status is ScreeningStatus.CLEAR:
            continue
        outcome = screen_party(session, actor, party)
        result = PartyScreening(
            party.subject, party.name, ScreeningStatus(outcome.status.value), "gate", outcome.reason
        )
        store.insert_screening(session, participant_id, result, outcome.screening_id, actor, now)
    return _settle_screening_status_in(session, actor, participant, persons)


def _settle_screening_status_in(
    session: Session, actor: str, participant: Participant, persons: Sequence[StoredPerson]
) -> list[PartyScreening]:
    results = store.latest_screenings(session, participant.id)
    risk = rate_risk(_checked_from_stored(participant, persons), results)
    values: dict[str, Any] = {
        "risk_score": risk.score,
        "risk_tier": risk.tier.value,
        "risk_factors": json.dumps(list(risk.factors)),
        "updated_at": _now(),
    }
    # Once reviewed, the review stands; the screening state is re-checked at approval.
    if participant.status in REVIEWABLE:
        values["status"] = status_after_screening(results).value
    store.update_participant(session, participant.id, values)
    registry.append(
        session,
        actor,
        "identity.screening_recorded",
        _subject(participant.id),
        {
            "parties": [
                {"subject": r.subject, "status": r.status.value, "source": r.source} for r in results
            ],
            "status": values.get("status", participant.status.value),
            "risk": {"score": risk.score, "tier": risk.tier.value, "factors": list(risk.factors)},
        },
    )
    return results


def rescreen(db: Database, principal: Principal, participant_id: str) -> ParticipantView:
    authorize(principal, "identity.participant.screen")
    with db.transaction() as session:
        require_status(_load(session, participant_id).status, SCREENABLE, "screen")
        _screen_all_in(session, principal.actor, participant_id)
        return _view(session, participant_id)


def clear_screening(
    db: Database, principal: Principal, participant_id: str, subject: str, reason: str
) -> ParticipantView:
    """A named compliance officer's manual clearance of one party, with a reason; it is an override and
    is recorded as one (DESIGN.md 1). It exists because the screening service may not answer yet; it is
    never a switch: each party is cleared on its own, by a person, in the registry."""
    authorize(principal, "identity.screening.clear")
    why = require_reason(reason)
    with db.transaction() as session:
        participant = _load(session, participant_id, lock=True)
        require_status(participant.status, SCREENABLE, "clear screening of")
        current = {s.subject: s for s in store.latest_screenings(session, participant_id)}
        party = current.get(subject)
        if party is None:
            raise NotFound("party_not_found", f"{subject} is not a party of this application")
        if party.status is ScreeningStatus.CLEAR:
            raise Conflict("already_clear", f"{subject} is already clear")
        cleared = PartyScreening(subject, party.name, ScreeningStatus.CLEAR, "manual_clearance", why)
        store.insert_screening(session, participant_id, cleared, None, principal.actor, _now())
        registry.append(
            session,
            principal.actor,
            "identity.screening_cleared_manually",
            _subject(participant_id),
            {
                "party": subject,
                "previous_status": party.status.value,
                "officer": principal.actor,
                "officer_name": principal.name,
                "reason": why,
            },
        )
        _settle_screening_status_in(
            session, principal.actor, participant, store.persons_of(session, participant_id)
        )
        return _view(session, participant_id)


# --- review and decision -----------------------------------------------------------------------------


def review(db: Database, principal: Principal, participant_id: str, notes: str) -> ParticipantView:
    """The preparing officer's review; it makes the application ready for another officer's decision."""
    authorize(principal, "identity.participant.review")
    text = require_reason(notes)
    with db.transaction() as session:
        participant = _load(session, participant_id, lock=True)
        require_status(participant.status, REVIEWABLE, "review")
        store.update_participant(
            session,
            participant_id,
            {
                "status": ParticipantStatus.REVIEWED.value,
                "reviewed_by": principal.actor,
                "review_notes": text,
                "updated_at": _now(),
            },
        )
        registry.append(
            session,
            principal.actor,
            "identity.application_reviewed",
            _subject(participant_id),
            {"reviewer": principal.actor, "notes": text},
        )
        return _view(session, participant_id)


def _ensure_second_officer(principal: Principal, participant: Participant) -> None:
    if principal.actor in (participant.reviewed_by, participant.submitted_by):
        raise Conflict(
            "maker_checker",
            "the officer who submitted or reviewed the application cannot also decide it",
        )


def decide(
    db: Database, principal: Principal, participant_id: str, approve: bool, reason: str
) -> ParticipantView:
    """Approve or reject a reviewed application, by an officer other than its preparers, with reasons."""
    authorize(principal, "identity.participant.decide")
    why = require_reason(reason)
    with db.transaction() as session:
        participant = _load(session, participant_id, lock=True)
        require_status(participant.status, (ParticipantStatus.REVIEWED,), "decide")
        _ensure_second_officer(principal, participant)
        if approve:
            ensure_screening_clear(_screenings_now(session, participant_id))
        status = ParticipantStatus.APPROVED if approve else ParticipantStatus.REJECTED
        store.update_participant(
            session,
            participant_id,
            {
                "status": status.value,
                "decided_by": principal.actor,
                "decision_reason": why,
                "updated_at": _now(),
            },
        )
        registry.append(
            session,
            principal.actor,
            "identity.application_approved" if approve else "identity.application_rejected",
            _subject(participant_id),
            {"officer": principal.actor, "officer_name": principal.name, "reason": why},
        )
        return _view(session, participant_id)


# --- admission, suspension, exclusion ----------------------------------------------------------------


def admit(db: Database, principal: Principal, participant_id: str, admission: AdmissionIn) -> ParticipantView:
    """Record the regulator's admission to the regime: reference, validity, limits; set the review date."""
    authorize(principal, "identity.participant.admit")
    checked = check_admission(admission)
    with db.transaction() as session:
        participant = _load(session, participant_id, lock=True)
        require_status(participant.status, (ParticipantStatus.APPROVED,), "admit")
        review_on = next_review_on(checked.admitted_on, participant.risk_tier)
        store.update_participant(
            session,
            participant_id,
            {
                "status": ParticipantStatus.ADMITTED.value,
                "admission_reference": checked.reference,
                "admitted_on": checked.admitted_on,
                "admission_valid_to": checked.valid_to,
                "per_transaction_limit_rub_minor": checked.per_transaction_limit_rub_minor,
                "per_period_limit_rub_minor": checked.per_period_limit_rub_minor,
                "next_review_on": review_on,
                "updated_at": _now(),
            },
        )
        registry.append(
            session,
            principal.actor,
            "identity.participant_admitted",
            _subject(participant_id),
            {
                "admission_reference": checked.reference,
                "admitted_on": checked.admitted_on,
                "valid_to": checked.valid_to,
                "per_transaction_limit_rub_minor": checked.per_transaction_limit_rub_minor,
                "per_period_limit_rub_minor": checked.per_period_limit_rub_minor,
                "risk_tier": participant.risk_tier.value,
                "next_review_on": review_on,
            },
        )
        return _view(session, participant_id)


_STATUS_CHANGES: dict[str, tuple[tuple[ParticipantStatus, ...], ParticipantStatus, str]] = {
    "suspend": ((ParticipantStatus.ADMITTED,), ParticipantStatus.SUSPENDED, "identity.participant_suspended"),
    "reinstate": (
        (ParticipantStatus.SUSPENDED,),
        ParticipantStatus.ADMITTED,
        "identity.participant_reinstated",
    ),
    "exclude": (
        (ParticipantStatus.ADMITTED, ParticipantStatus.SUSPENDED),
        ParticipantStatus.EXCLUDED,
        "identity.participant_excluded",
    ),
}


def change_status(
    db: Database, principal: Principal, participant_id: str, change: str, reason: str
) -> ParticipantView:
    """Suspend, reinstate or exclude (final) an admitted participant, with a reason."""
    if change not in _STATUS_CHANGES:
        raise ValidationFailed("status_change.unknown", f"unknown change {change!r}")
    authorize(principal, "identity.participant.suspend")
    why = require_reason(reason)
    allowed, target, kind = _STATUS_CHANGES[change]
    with db.transaction() as session:
        participant = _load(session, participant_id, lock=True)
        require_status(participant.status, allowed, change)
        store.update_participant(
            session, participant_id, {"status": target.value, "status_reason": why, "updated_at": _now()}
        )
        registry.append(
            session,
            principal.actor,
            kind,
            _subject(participant_id),
            {"from": participant.status.value, "to": target.value, "reason": why},
        )
        return _view(session, participant_id)


# --- documents ---------------------------------------------------------------------------------------


def _insert_document(
    session: Session, principal: Principal, participant_id: str, document: Any, now: str
) -> str:
    document_id = uuid.uuid4().hex
    store.insert_document(
        session,
        {
            "id": document_id,
            "participant_id": participant_id,
            "kind": document.kind,
            "filename": document.filename,
            "sha256": document.sha256,
            "size_bytes": document.size,
            "content": document.content,
            "uploaded_by": principal.actor,
            "uploaded_at": now,
        },
    )
    return document_id


def add_document(
    db: Database, principal: Principal, participant_id: str, document: DocumentIn
) -> dict[str, Any]:
    authorize(principal, "identity.document.add", participant_id)
    checked = check_document(document)
    with db.transaction() as session:
        participant = _load(session, participant_id)
        if participant.status in (ParticipantStatus.REJECTED, ParticipantStatus.EXCLUDED):
            raise Conflict("invalid_state", f"the participant is {participant.status}")
        document_id = _insert_document(session, principal, participant_id, checked, _now())
        registry.append(
            session,
            principal.actor,
            "identity.document_added",
            _subject(participant_id),
            {"id": document_id, "kind": checked.kind, "filename": checked.filename, "sha256": checked.sha256},
        )
    return {
        "id": document_id,
        "kind": checked.kind,
        "filename": checked.filename,
        "sha256": checked.sha256,
        "size_bytes": checked.size,
    }


# --- reads -------------------------------------------------------------------------------------------


def get_participant(db: Database, principal: Principal, participant_id: str) -> ParticipantView:
    authorize(principal, "identity.participant.read", participant_id)
    with db.transaction() as session:
        return _view(session, participant_id)


def list_participants(
    db: Database, principal: Principal, status: str | None = None, limit: int = 100
) -> list[Participant]:
    """All participants for the operator and the regulator; a client sees only its own."""
    scoped = principal.participant_id if principal.participant_id is not None else None
    authorize(principal, "identity.participant.read", scoped)
    with db.transaction() as session:
        return store.list_participants(session, scoped, status, max(1, min(limit, 1000)))


# --- scope rules for other areas ---------------------------------------------------------------------


def participant_in(session: Session, participant_id: str) -> Participant:
    """The participant, for other areas' services (contracts check residency and admission with it)."""
    return _load(session, participant_id)


def _admission_state(participant: Participant) -> AdmissionState:
    return AdmissionState(
        participant.status,
        participant.admitted_on,
        participant.admission_valid_to,
        participant.per_transaction_limit_rub_minor,
        participant.per_period_limit_rub_minor,
    )


def ensure_admitted(session: Session, participant_id: str, on: date) -> Participant:
    """Admitted, not suspended or excluded, and within the admission's validity on ``on``."""
    participant = _load(session, participant_id)
    ensure_admitted_on(_admission_state(participant), on)
    _ensure_no_screening_hit(session, participant_id)
    return participant


def ensure_may_transact(
    session: Session, participant_id: str, amount_rub_minor: int, on: date, *, screening_checked: bool = False
) -> int:
    """The participant may move ``amount_rub_minor`` kopecks on ``on``: admitted, in validity, within the
    per-transaction and monthly limits. Locks the participant row so concurrent checks queue.
    ``screening_checked``: the caller ran :func:`ensure_admitted` in this same transaction, so the
    participant's screening standing was just checked. Returns the period's usage before this amount."""
    participant = remembered(session, ("identity.participant_locked", participant_id),
                             lambda: _load(session, participant_id, lock=True))  # fmt: skip
    first, last = period_bounds(on)
    used = remembered(session, _usage_key(participant_id, first),
                      lambda: store.usage_between(session, participant_id, first, last))  # fmt: skip
    ensure_within_admission(_admission_state(participant), amount_rub_minor, on, used)
    if not screening_checked:
        _ensure_no_screening_hit(session, participant_id)
    return used


def _usage_key(participant_id: str, period_start: date) -> tuple[str, str, date]:
    return ("identity.period_usage", participant_id, period_start)


def consume_limit_in(
    session: Session,
    actor: str,
    participant_id: str,
    amount_rub_minor: int,
    on: date,
    usage_id: str,
    reference: str,
    *,
    screening_checked: bool = False,
) -> None:
    """Check :func:`ensure_may_transact` and count the amount against the period, in one transaction.
    Idempotent by ``usage_id``: a retry of the same movement is not counted twice."""
    if store.usage_exists(session, usage_id):
        return
    used = ensure_may_transact(
        session, participant_id, amount_rub_minor, on, screening_checked=screening_checked
    )
    update_remembered(session, _usage_key(participant_id, period_bounds(on)[0]), used + amount_rub_minor)
    store.insert_usage(
        session,
        {
            "id": usage_id,
            "participant_id": participant_id,
            "on_date": on,
            "amount_rub_minor": amount_rub_minor,
            "reference": reference[:200],
            "created_at": _now(),
        },
    )
    registry.append(
        session,
        actor,
        "identity.limit_used",
        _subject(participant_id),
        {"usage_id": usage_id, "on": on, "amount_rub_minor": amount_rub_minor, "reference": reference[:200]},
    )


def limit_status(db: Database, principal: Principal, participant_id: str, on: date) -> dict[str, Any]:
    authorize(principal, "identity.participant.read", participant_id)
    with db.transaction() as session:
        participant = _load(session, participant_id)
        first, last = period_bounds(on)
        used = store.usage_between(session, participant_id, first, last)
    per_period = participant.per_period_limit_rub_minor
    return {
        "participant_id": participant_id,
        "status": participant.status.value,
        "period": {"from": first.isoformat(), "to": last.isoformat()},
        "per_transaction_limit_rub_minor": participant.per_transaction_limit_rub_minor,
        "per_period_limit_rub_minor": per_period,
        "used_rub_minor": used,
        "remaining_rub_minor": None if per_period is None else max(per_period - used, 0),
    }


def persons_by_role(view: ParticipantView, role: PersonRole) -> list[StoredPerson]:
    return [p for p in view.persons if p.person.role is role]


def release_limit_in(session: Session, actor: str, usage_id: str, reason: str) -> bool:
    """Give back a limit usage whose movement did not happen (an order cancelled, an invoice expired unpaid).

    The usage row goes (usage must be positive, and the period sum is what limits are checked against);
    the registry keeps both the use and its release. Idempotent: False when there is nothing to release.
    """
    used = store.get_usage(session, usage_id)
    if used is None:
        return False
    store.delete_usage(session, usage_id)
    registry.append(
        session,
        actor,
        "identity.limit_released",
        _subject(used["participant_id"]),
        {"usage_id": usage_id, "on": used["on_date"], "amount_rub_minor": used["amount_rub_minor"],
         "reason": reason[:200]},
    )  # fmt: skip
    return True


def participant_summary_in(session: Session, participant_id: str) -> dict[str, Any]:
    """Name and identifiers of a participant, as statements and records cite them (no status checks)."""
    participant = _load(session, participant_id)
    return {
        "id": participant.id,
        "name": participant.name,
        "country": participant.country,
        "identifiers": dict(participant.identifiers),
    }
