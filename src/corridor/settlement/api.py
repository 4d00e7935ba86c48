"""Settlement routes: invoices (export proceeds), payment orders (imports), deposits, balances and
currency-operation records with their PDF statements. Thin: every rule lives in the service."""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import APIRouter, Query, Response
from pydantic import Field

from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import StrictInt, StrictModel
from corridor.settlement import service
from corridor.settlement.service import InvoiceIn, PaymentOrderIn

router = APIRouter(tags=["settlement"])

AMOUNT = Field(
    min_length=1, max_length=32, pattern=r"^\d+(\.\d+)?$", description='Decimal string, e.g. "1250.00".'
)
SETTLEMENT_ID = Field(default=None, min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class InvoiceBody(StrictModel):
    contract_id: str = Field(min_length=1, max_length=64)
    amount: str = AMOUNT
    currency: str = Field(min_length=3, max_length=3)
    id: str | None = SETTLEMENT_ID
    vo_code: str | None = Field(default=None, min_length=5, max_length=5)
    description: str = Field(default="", max_length=200)
    ttl_minutes: StrictInt | None = Field(default=None, ge=1, le=1440)


class BeneficiaryBody(StrictModel):
    name: str | None = Field(default=None, max_length=300)
    country: str | None = Field(default=None, min_length=2, max_length=2)
    wallet_address: str | None = Field(default=None, max_length=100)
    custodial: bool | None = None
    vasp_name: str | None = Field(default=None, max_length=300)
    vasp_lei: str | None = Field(default=None, max_length=40)


class PaymentOrderBody(StrictModel):
    contract_id: str = Field(min_length=1, max_length=64)
    amount: str = AMOUNT
    currency: str = Field(min_length=3, max_length=3)
    address: str | None = Field(default=None, max_length=100)
    beneficiary: BeneficiaryBody | None = None
    id: str | None = SETTLEMENT_ID
    vo_code: str | None = Field(default=None, min_length=5, max_length=5)
    reference: str = Field(default="", max_length=200)
    ttl_minutes: StrictInt | None = Field(default=None, ge=1, le=1440)


class PaymentOrderBatchBody(StrictModel):
    orders: list[PaymentOrderBody] = Field(min_length=1, max_length=service.MAX_BATCH)


class ApprovalBatchBody(StrictModel):
    ids: list[str] = Field(min_length=1, max_length=service.MAX_BATCH)


class ReasonBody(StrictModel):
    reason: str = Field(min_length=3, max_length=200)


class ResolutionBody(StrictModel):
    resolution: str = Field(min_length=3, max_length=200)


def _page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    return {"items": items, "next_after": items[-1]["id"] if len(items) == limit else None}


# --- invoices -----------------------------------------------------------------------------------------


@router.post("/invoices", status_code=201)
def create_invoice(body: InvoiceBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.create_invoice(db, principal, InvoiceIn(**body.model_dump()))


@router.get("/invoices")
def list_invoices(
    db: DbDep,
    principal: PrincipalDep,
    status: str | None = Query(default=None, max_length=16),
    after: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=500),
) -> dict[str, Any]:
    return _page(service.list_invoices(db, principal, status, after, limit), limit)


@router.get("/invoices/{invoice_id}")
def get_invoice(invoice_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.get_invoice(db, principal, invoice_id)


@router.post("/invoice-requests/{request_id}/resolve")
def resolve_request(
    request_id: str, body: ResolutionBody, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    return service.resolve_request(db, principal, request_id, body.resolution)


# --- payment orders ----------------------------------------------------------------------------------


def _order_in(body: PaymentOrderBody) -> PaymentOrderIn:
    values = body.model_dump()
    values["beneficiary"] = (
        None if body.beneficiary is None else body.beneficiary.model_dump(exclude_none=True)
    )
    return PaymentOrderIn(**values)


@router.post("/payment-orders", status_code=201)
def create_payment_order(body: PaymentOrderBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.create_payment_order(db, principal, _order_in(body))


@router.post("/payment-orders/batch")
def create_payment_orders(body: PaymentOrderBatchBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """Up to 100 orders: each gets its own result (``status`` 201 with ``order``, or 4xx with ``error``)."""
    return {"results": service.create_payment_orders(db, principal, [_order_in(o) for o in body.orders])}


@router.post("/payment-orders/approvals")
def approve_payment_orders(body: ApprovalBatchBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """One approval each for up to 100 orders: ``status`` 200 with ``order``, or 4xx with ``error``."""
    return {"results": service.approve_payment_orders(db, principal, body.ids)}


@router.get("/payment-orders")
def list_payment_orders(
    db: DbDep,
    principal: PrincipalDep,
    state: str | None = Query(default=None, max_length=20),
    after: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=500),
) -> dict[str, Any]:
    return _page(service.list_payment_orders(db, principal, state, after, limit), limit)


@router.get("/payment-orders/{order_id}")
def get_payment_order(order_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.get_payment_order(db, principal, order_id)


@router.post("/payment-orders/{order_id}/approve")
def approve_payment_order(order_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.approve_payment_order(db, principal, order_id)


@router.post("/payment-orders/{order_id}/requote")
def requote_payment_order(order_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """An expired order at today's price: checked and held again, to be approved afresh."""
    return service.requote_payment_order(db, principal, order_id)


@router.post("/payment-orders/{order_id}/cancel")
def cancel_payment_order(
    order_id: str, body: ReasonBody, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    return service.cancel_payment_order(db, principal, order_id, body.reason)


# --- deposits, balances, currency operations ---------------------------------------------------------


@router.post("/participants/{participant_id}/deposit-addresses", status_code=201)
def issue_deposit_address(participant_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.issue_deposit_address(db, principal, participant_id)


@router.get("/participants/{participant_id}/balance")
def balance(participant_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.balance(db, principal, participant_id)


@router.get("/currency-operations")
def list_operations(
    db: DbDep,
    principal: PrincipalDep,
    after: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=100, ge=1, le=500),
) -> dict[str, Any]:
    return _page(service.list_operations(db, principal, after, limit), limit)


@router.get("/currency-operations/{operation_id}")
def get_operation(operation_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return service.get_operation(db, principal, operation_id)


@router.get("/currency-operations/{operation_id}/statement.pdf")
def statement_pdf(operation_id: str, db: DbDep, principal: PrincipalDep) -> Response:
    pdf = service.statement_pdf(db, principal, operation_id)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="statement-{operation_id}.pdf"',
            "Corridor-Statement-SHA256": hashlib.sha256(pdf).hexdigest(),  # as on its registry entry
        },
    )
