"""Refund routes: pay an invoice's refund request back on chain, and read a request with its refunds.

Mounted under /v1 next to the settlement router; thin, every rule lives in :mod:`corridor.settlement.refunds`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import StrictModel
from corridor.settlement import refunds
from corridor.settlement.api import BeneficiaryBody

router = APIRouter(tags=["settlement"])


class RefundBody(StrictModel):
    address: str = Field(min_length=1, max_length=100, description="Where the refund is paid.")
    beneficiary: BeneficiaryBody | None = Field(
        default=None, description="Travel Rule data of the refund's beneficiary; default: the payer."
    )


@router.post("/invoice-requests/{request_id}/refund", status_code=202)
def refund_request(request_id: str, body: RefundBody, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    """Queue the refund payout (202: it is batched and confirmed later; the request shows its progress)."""
    beneficiary = None if body.beneficiary is None else body.beneficiary.model_dump(exclude_none=True)
    return refunds.refund_request(db, principal, request_id, body.address, beneficiary)


@router.get("/invoice-requests/{request_id}")
def get_request(request_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return refunds.get_request(db, principal, request_id)
