"""Participant routes: applications, screening, review, decision, admission, status changes, documents."""

from __future__ import annotations

import base64
import binascii
from datetime import date
from typing import Any, Literal

from fastapi import APIRouter, Query
from pydantic import Field

from corridor.errors import ValidationFailed
from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import StrictInt, StrictModel
from corridor.identity import service
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
from corridor.identity.service import ParticipantView
from corridor.identity.store import Participant

router = APIRouter(prefix="/participants", tags=["participants"])

Identifier = str | None


class PersonBody(StrictModel):
    role: PersonRole
    full_name: str = Field(min_length=1, max_length=300)
    country: str = Field(min_length=2, max_length=2)
    birth_date: date | None = None
    inn: Identifier = Field(default=None, max_length=40)
    ownership_percent: str | None = Field(
        default=None, max_length=8, description='Decimal string, e.g. "30.5".'
    )


class DocumentBody(StrictModel):
    kind: str = Field(min_length=1, max_length=64)
    filename: str = Field(min_length=1, max_length=200)
    content_base64: str = Field(min_length=1, description="The file; its SHA-256 is computed on arrival.")

    def to_document(self) -> DocumentIn:
        try:
            content = base64.b64decode(self.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationFailed("document.base64", "content_base64 is not valid base64") from None
        return DocumentIn(self.kind, self.filename, content)


class ApplicationBody(StrictModel):
    kind: ParticipantKind
    residency: Residency
    name: str = Field(min_length=1, max_length=300)
    country: str = Field(min_length=2, max_length=2)
    roles: list[ParticipantRole] = Field(min_length=1, max_length=2)
    industry: str = Field(min_length=1, max_length=100)
    persons: list[PersonBody] = Field(default_factory=list, max_length=50)
    documents: list[DocumentBody] = Field(default_factory=list, max_length=20)
    inn: Identifier = Field(default=None, max_length=40)
    kpp: Identifier = Field(default=None, max_length=40)
    ogrn: Identifier = Field(default=None, max_length=40)
    ogrnip: Identifier = Field(default=None, max_length=40)
    lei: Identifier = Field(default=None, max_length=40)
    bic: Identifier = Field(default=None, max_length=40)
    registration_number: Identifier = Field(default=None, max_length=64)

    def to_application(self) -> ApplicationIn:
        return ApplicationIn(
            kind=self.kind,
            residency=self.residency,
            name=self.name,
            country=self.country,
            roles=tuple(self.roles),
            industry=self.industry,
            persons=tuple(PersonIn(**p.model_dump()) for p in self.persons),
            inn=self.inn,
            kpp=self.kpp,
            ogrn=self.ogrn,
            ogrnip=self.ogrnip,
            lei=self.lei,
            bic=self.bic,
            registration_number=self.registration_number,
        )


class ReasonBody(StrictModel):
    reason: str = Field(min_length=1, max_length=2000)


class ClearanceBody(StrictModel):
    subject: str = Field(min_length=1, max_length=100, description="participant:ID or person:ID")
    reason: str = Field(min_length=1, max_length=2000)


class ReviewBody(StrictModel):
    notes: str = Field(min_length=1, max_length=2000)


class DecisionBody(StrictModel):
    decision: Literal["approve", "reject"]
    reason: str = Field(min_length=1, max_length=2000)


class AdmissionBody(StrictModel):
    reference: str = Field(min_length=1, max_length=100, description="The regulator's admission reference.")
    admitted_on: date
    valid_to: date
    per_transaction_limit_rub_minor: StrictInt = Field(gt=0, description="Kopecks.")
    per_period_limit_rub_minor: StrictInt = Field(gt=0, description="Kopecks per calendar month.")


def participant_out(p: Participant) -> dict[str, Any]:
    return {
        "id": p.id,
        "kind": p.kind,
        "residency": p.residency,
        "name": p.name,
        "country": p.country,
        "roles": list(p.roles),
        "industry": p.industry,
        "identifiers": p.identifiers,
        "status": p.status,
        "status_reason": p.status_reason,
        "risk": {"score": p.risk_score, "tier": p.risk_tier, "factors": list(p.risk_factors)},
        "submitted_by": p.submitted_by,
        "reviewed_by": p.reviewed_by,
        "review_notes": p.review_notes,
        "decided_by": p.decided_by,
        "decision_reason": p.decision_reason,
        "admission": None
        if p.admission_reference is None
        else {
            "reference": p.admission_reference,
            "admitted_on": p.admitted_on,
            "valid_to": p.admission_valid_to,
            "per_transaction_limit_rub_minor": p.per_transaction_limit_rub_minor,
            "per_period_limit_rub_minor": p.per_period_limit_rub_minor,
        },
        "next_review_on": p.next_review_on,
        "created_at": p.created_at,
        "updated_at": p.updated_at,
    }


def view_out(view: ParticipantView) -> dict[str, Any]:
    return {
        **participant_out(view.participant),
        "persons": [
            {
                "id": s.id,
                "role": s.person.role,
                "full_name": s.person.full_name,
                "country": s.person.country,
                "birth_date": s.person.birth_date,
                "inn": s.person.inn,
                "ownership_percent": None
                if s.person.ownership_percent is None
                else str(s.person.ownership_percent),
            }
            for s in view.persons
        ],
        "documents": view.documents,
        "screening": [
            {"subject": s.subject, "name": s.name, "status": s.status, "source": s.source, "reason": s.reason}
            for s in view.screenings
        ],
    }


@router.post("", status_code=201)
def submit_application(body: ApplicationBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    documents = [d.to_document() for d in body.documents]
    return view_out(service.submit_application(db, principal, body.to_application(), documents))


@router.get("")
def list_participants(
    db: DbDep, principal: PrincipalDep, status: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> dict[str, Any]:
    return {"items": [participant_out(p) for p in service.list_participants(db, principal, status, limit)]}


@router.get("/{participant_id}")
def get_participant(participant_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.get_participant(db, principal, participant_id))


@router.post("/{participant_id}/screening")
def rescreen(participant_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.rescreen(db, principal, participant_id))


@router.post("/{participant_id}/screening/clearances", status_code=201)
def clear_screening(
    participant_id: str, body: ClearanceBody, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    return view_out(service.clear_screening(db, principal, participant_id, body.subject, body.reason))


@router.post("/{participant_id}/review")
def review(participant_id: str, body: ReviewBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.review(db, principal, participant_id, body.notes))


@router.post("/{participant_id}/decision")
def decide(participant_id: str, body: DecisionBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.decide(db, principal, participant_id, body.decision == "approve", body.reason))


@router.post("/{participant_id}/admission")
def admit(participant_id: str, body: AdmissionBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    admission = AdmissionIn(
        body.reference,
        body.admitted_on,
        body.valid_to,
        body.per_transaction_limit_rub_minor,
        body.per_period_limit_rub_minor,
    )
    return view_out(service.admit(db, principal, participant_id, admission))


@router.post("/{participant_id}/suspension")
def suspend(participant_id: str, body: ReasonBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.change_status(db, principal, participant_id, "suspend", body.reason))


@router.post("/{participant_id}/reinstatement")
def reinstate(participant_id: str, body: ReasonBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.change_status(db, principal, participant_id, "reinstate", body.reason))


@router.post("/{participant_id}/exclusion")
def exclude(participant_id: str, body: ReasonBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.change_status(db, principal, participant_id, "exclude", body.reason))


@router.post("/{participant_id}/documents", status_code=201)
def add_document(
    participant_id: str, body: DocumentBody, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    return service.add_document(db, principal, participant_id, body.to_document())


@router.get("/{participant_id}/limits")
def limits(participant_id: str, db: DbDep, principal: PrincipalDep, on: date) -> dict[str, Any]:
    return service.limit_status(db, principal, participant_id, on)
