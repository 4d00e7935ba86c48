"""Contract routes: registration, amendments, UNK, counterparty clearance, payments, shipments,
documents and the bank-control statement."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from corridor.contracts import service
from corridor.contracts.model import (
    ContractIn,
    ContractType,
    CounterpartyIn,
    CounterpartyKind,
    Direction,
    SuppliedRate,
)
from corridor.contracts.service import AmendmentIn, ContractView, PaymentIn, ShipmentIn
from corridor.contracts.store import Contract
from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import StrictInt, StrictModel
from corridor.identity.api import DocumentBody

router = APIRouter(prefix="/contracts", tags=["contracts"])


class CounterpartyBody(StrictModel):
    name: str = Field(min_length=1, max_length=300)
    country: str = Field(min_length=2, max_length=2)
    kind: CounterpartyKind = CounterpartyKind.LEGAL_ENTITY
    lei: str | None = Field(default=None, max_length=40)
    bic: str | None = Field(default=None, max_length=40)
    registration_number: str | None = Field(default=None, max_length=64)
    inn: str | None = Field(default=None, max_length=40, description="Only residents have one: refused.")
    vasp_name: str | None = Field(default=None, max_length=300)
    vasp_lei: str | None = Field(default=None, max_length=40)
    wallet_address: str | None = Field(default=None, max_length=100)


class RateBody(StrictModel):
    rate: str = Field(pattern=r"^\d{1,12}(\.\d{1,10})?$", description='RUB per 1 unit, e.g. "92.5058".')
    source: str = Field(min_length=1, max_length=100, description="Where the official rate comes from.")
    rate_date: date

    def to_rate(self) -> SuppliedRate:
        return SuppliedRate(Decimal(self.rate), self.source, self.rate_date)


class ContractBody(StrictModel):
    participant_id: str = Field(min_length=1, max_length=64)
    number: str = Field(min_length=1, max_length=100)
    contract_type: ContractType
    direction: Direction | None = None
    contract_date: date
    currency: str = Field(min_length=3, max_length=3)
    amount_minor: StrictInt = Field(gt=0, description="Integer minor units of the contract currency.")
    performance_deadline: date
    counterparty: CounterpartyBody
    goods_codes: list[str] = Field(default_factory=list, max_length=50)
    incoterms: str | None = Field(default=None, max_length=3)
    rate: RateBody | None = None
    unk: str | None = Field(default=None, max_length=40)
    unk_registered_on: date | None = None


class AmendmentBody(StrictModel):
    amendment_date: date
    amount_minor: StrictInt | None = Field(default=None, gt=0)
    performance_deadline: date | None = None
    rate: RateBody | None = None


class RegistrationBody(StrictModel):
    unk: str = Field(min_length=1, max_length=40)
    registered_on: date


class ClearanceBody(StrictModel):
    subject: str = Field(description="counterparty, vasp or wallet")
    reason: str = Field(min_length=1, max_length=2000)


class PaymentBody(StrictModel):
    id: str = Field(
        min_length=1, max_length=64, description="Client-supplied: a retry with the same id is safe."
    )
    direction: Direction
    paid_on: date
    amount_minor: StrictInt = Field(gt=0)
    amount_rub_minor: StrictInt = Field(gt=0, description="Ruble equivalent at the official rate, kopecks.")
    vo_code: str = Field(min_length=1, max_length=10)
    txid: str | None = Field(default=None, max_length=64)
    reference: str = Field(default="", max_length=200)


class ShipmentBody(StrictModel):
    id: str = Field(min_length=1, max_length=64)
    shipped_on: date
    amount_minor: StrictInt = Field(gt=0)
    reference: str = Field(min_length=1, max_length=200, description="Customs declaration or act number.")


class ContractDocumentBody(DocumentBody):
    obligation_id: str | None = Field(default=None, max_length=64)


class ReasonBody(StrictModel):
    reason: str = Field(min_length=1, max_length=2000)


def contract_out(c: Contract) -> dict[str, Any]:
    cp = c.counterparty
    return {
        "id": c.id,
        "participant_id": c.participant_id,
        "number": c.number,
        "contract_type": c.contract_type,
        "direction": c.direction,
        "status": c.status,
        "contract_date": c.contract_date,
        "currency": c.currency,
        "amount_minor": c.amount_minor,
        "performance_deadline": c.performance_deadline,
        "goods_codes": list(c.goods_codes),
        "incoterms": c.incoterms,
        "counterparty": {
            "name": cp.name,
            "country": cp.country,
            "lei": cp.lei,
            "bic": cp.bic,
            "registration_number": cp.registration_number,
            "vasp_name": cp.vasp_name,
            "vasp_lei": cp.vasp_lei,
            "wallet_address": cp.wallet_address,
        },
        "registration": {
            "required": c.registration_required,
            "assessed_on": c.registration_assessed_on,
            "amount_rub": c.amount_rub,
            "threshold_rub": c.threshold_rub,
            "threshold_kind": c.threshold_kind,
            "rate": c.rate,
            "rate_source": c.rate_source,
            "unk": c.unk,
            "registered_on": c.unk_registered_on,
        },
        "documents_required": c.documents_required,
        "created_by": c.created_by,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    }


def view_out(view: ContractView) -> dict[str, Any]:
    return {
        **contract_out(view.contract),
        "screening": [
            {"subject": s, "status": row["status"], "source": row["source"], "reason": row["reason"]}
            for s, row in sorted(view.screening.items())
        ],
        "amendments": view.amendments,
        "documents": view.documents,
    }


@router.post("", status_code=201)
def register_contract(body: ContractBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    contract = ContractIn(
        participant_id=body.participant_id,
        number=body.number,
        contract_type=body.contract_type,
        contract_date=body.contract_date,
        currency=body.currency,
        amount_minor=body.amount_minor,
        performance_deadline=body.performance_deadline,
        counterparty=CounterpartyIn(**body.counterparty.model_dump()),
        direction=body.direction,
        goods_codes=tuple(body.goods_codes),
        incoterms=body.incoterms,
        rate=body.rate.to_rate() if body.rate else None,
        unk=body.unk,
        unk_registered_on=body.unk_registered_on,
    )
    return view_out(service.register_contract(db, principal, contract))


@router.get("")
def list_contracts(
    db: DbDep,
    principal: PrincipalDep,
    participant_id: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    return {"items": [contract_out(c) for c in service.list_contracts(db, principal, participant_id, limit)]}


@router.get("/{contract_id}")
def get_contract(contract_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.get_contract(db, principal, contract_id))


@router.post("/{contract_id}/amendments", status_code=201)
def amend(contract_id: str, body: AmendmentBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    amendment = AmendmentIn(
        body.amendment_date,
        body.amount_minor,
        body.performance_deadline,
        body.rate.to_rate() if body.rate else None,
    )
    return view_out(service.amend_contract(db, principal, contract_id, amendment))


@router.put("/{contract_id}/registration")
def register_unk(
    contract_id: str, body: RegistrationBody, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    return view_out(service.register_unk(db, principal, contract_id, body.unk, body.registered_on))


@router.post("/{contract_id}/screening")
def rescreen(contract_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.rescreen_counterparty(db, principal, contract_id))


@router.post("/{contract_id}/screening/clearances", status_code=201)
def clear(contract_id: str, body: ClearanceBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.clear_counterparty(db, principal, contract_id, body.subject, body.reason))


@router.post("/{contract_id}/payments", status_code=201)
def record_payment(contract_id: str, body: PaymentBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    payment = PaymentIn(
        body.id,
        body.direction,
        body.paid_on,
        body.amount_minor,
        body.amount_rub_minor,
        body.vo_code,
        body.txid,
        body.reference,
    )
    return service.record_payment(db, principal, contract_id, payment)


@router.post("/{contract_id}/shipments", status_code=201)
def record_shipment(
    contract_id: str, body: ShipmentBody, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    shipment = ShipmentIn(body.id, body.shipped_on, body.amount_minor, body.reference)
    return service.record_shipment(db, principal, contract_id, shipment)


@router.post("/{contract_id}/documents", status_code=201)
def add_document(
    contract_id: str, body: ContractDocumentBody, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    return service.add_document(db, principal, contract_id, body.to_document(), body.obligation_id)


@router.post("/{contract_id}/closure")
def close(contract_id: str, body: ReasonBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return view_out(service.close_contract(db, principal, contract_id, body.reason))


@router.get("/{contract_id}/statement")
def statement(
    contract_id: str, db: DbDep, principal: PrincipalDep, as_of: date | None = None
) -> dict[str, Any]:
    result = service.statement(db, principal, contract_id, as_of)
    return {
        "contract_id": result.contract_id,
        "as_of": result.as_of,
        "currency": result.currency,
        "contract_amount_minor": result.contract_amount_minor,
        "paid_minor": result.paid_minor,
        "shipped_minor": result.shipped_minor,
        "outstanding_minor": result.outstanding_minor,
        "unpaid_contract_minor": result.unpaid_contract_minor,
        "repatriation": {
            "status": result.repatriation,
            "attestation_required": result.repatriation != "not_applicable",
            "note": "EPR repatriation rules for BTC proceeds are not published: an officer attests (domain.md 2.3)",
        },
        "documents": result.documents,
    }
