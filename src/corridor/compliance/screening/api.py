"""Screening routes: screen one party or address, or a batch of up to 100; read a recorded screening;
officers' decisions on hits and a second officer's confirmation or rejection of each; alerts raised by
re-screening; subjects' standings; re-screening.

Static paths (``/alerts``, ``/decisions``, ``/subjects``, ``/rescreen``) are declared before
``/{screening_id}`` so that they are not taken for screening ids."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field, model_validator

from corridor.compliance.screening import review, service
from corridor.compliance.screening.model import (
    AlertStatus,
    DecisionStatus,
    EntitySchema,
    IdScheme,
    PartyQuery,
    Verdict,
)
from corridor.compliance.screening.normalize import make_identifier
from corridor.errors import ValidationFailed
from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import StrictModel

router = APIRouter(prefix="/screenings", tags=["screening"])

MAX_BATCH = 100


class QueryBody(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=300)
    address: str | None = Field(default=None, min_length=10, max_length=200)
    asset: str | None = Field(default=None, min_length=2, max_length=10)
    schema_: EntitySchema = Field(default=EntitySchema.LEGAL_ENTITY, alias="schema")
    country: str | None = Field(default=None, min_length=2, max_length=2)
    aliases: list[str] = Field(default_factory=list, max_length=20)
    identifiers: dict[str, str] = Field(default_factory=dict, max_length=20)
    birth_date: str | None = Field(default=None, max_length=10)
    subject: str = Field(default="adhoc", min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_target(self) -> QueryBody:
        if (self.name is None) == (self.address is None):
            raise ValueError("give exactly one of name or address")
        return self

    def to_query(self) -> PartyQuery:
        assert self.name is not None
        identifiers = []
        for key, value in self.identifiers.items():
            try:
                scheme = IdScheme(key.lower())
            except ValueError:
                raise ValidationFailed(
                    "screening.identifier_scheme", f"unknown identifier scheme {key!r}"
                ) from None
            made = make_identifier(scheme, value, country=self.country.lower() if self.country else None)
            if made is None:
                raise ValidationFailed(
                    "screening.identifier_value", f"not a usable {key} identifier: {value!r}"
                )
            identifiers.append(made)
        return PartyQuery(
            name=self.name,
            schema=self.schema_,
            aliases=tuple(self.aliases),
            identifiers=tuple(identifiers),
            countries=(self.country.lower(),) if self.country else (),
            birth_date=self.birth_date,
        )


class ScreeningBody(QueryBody):
    """A single query (the fields of QueryBody) or a batch in ``queries``."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    queries: list[QueryBody] | None = Field(default=None, min_length=1, max_length=MAX_BATCH)
    threshold: float | None = Field(default=None, ge=0.5, le=1.0)
    """An ad-hoc threshold for this request; by default the profile's ``screening_alert_threshold``."""

    @model_validator(mode="after")
    def _one_target(self) -> ScreeningBody:
        targets = [t for t in (self.name, self.address, self.queries) if t is not None]
        if len(targets) != 1:
            raise ValueError("give exactly one of name, address or queries")
        return self


def _run(body: QueryBody, threshold: float | None, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    if body.address is not None:
        return service.screen_address(db, principal, body.address, body.asset, body.subject)
    return service.screen(db, principal, [body.to_query()], body.subject, threshold=threshold)[0]


@router.post("", status_code=201)
def create_screening(body: ScreeningBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    if body.queries is not None:
        return {"results": [_run(query, body.threshold, db, principal) for query in body.queries]}
    return _run(body, body.threshold, db, principal)


class VerdictBody(StrictModel):
    verdict: Verdict
    reason: str = Field(min_length=3, max_length=2000)


class DecisionBody(VerdictBody):
    entity_ref: str = Field(min_length=1, max_length=300)


class CheckBody(StrictModel):
    reason: str = Field(min_length=3, max_length=2000)


@router.get("/alerts")
def list_alerts(
    db: DbDep,
    principal: PrincipalDep,
    status: AlertStatus | None = AlertStatus.OPEN,
    subject: str | None = Query(default=None, max_length=200),
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    return {"alerts": review.list_alerts(db, principal, status, subject, limit)}


@router.get("/alerts/{alert_id}")
def get_alert(alert_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return review.get_alert(db, principal, alert_id)


@router.post("/alerts/{alert_id}/decision", status_code=201)
def decide_alert(alert_id: str, body: VerdictBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return review.decide_alert(db, principal, alert_id, body.verdict, body.reason)


@router.get("/decisions")
def list_decisions(
    db: DbDep,
    principal: PrincipalDep,
    subject: str | None = Query(default=None, max_length=200),
    screening_id: str | None = Query(default=None, max_length=64),
    status: DecisionStatus | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    return {"decisions": review.list_decisions(db, principal, subject, screening_id, limit, status)}


@router.get("/decisions/{decision_id}")
def get_decision(decision_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return review.get_decision(db, principal, decision_id)


@router.post("/decisions/{decision_id}/confirm")
def confirm_decision(decision_id: str, body: CheckBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """A second compliance officer confirms a pending decision: it takes effect now."""
    return review.check_decision(db, principal, decision_id, True, body.reason)


@router.post("/decisions/{decision_id}/reject")
def reject_decision(decision_id: str, body: CheckBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """A second compliance officer rejects a pending decision: the hit stays open."""
    return review.check_decision(db, principal, decision_id, False, body.reason)


@router.get("/subjects/{subject}")
def get_standing(subject: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return review.get_standing(db, principal, subject)


@router.post("/rescreen")
def rescreen(db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return review.rescreen_all(db, principal).as_dict()


@router.get("/{screening_id}")
def get_screening(screening_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.get_screening(db, principal, screening_id)


@router.post("/{screening_id}/decisions", status_code=201)
def decide_hit(screening_id: str, body: DecisionBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return review.decide_hit(db, principal, screening_id, body.entity_ref, body.verdict, body.reason)
