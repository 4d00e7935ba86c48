"""Ledger routes: accounts, transfers (single, two-phase, batches), corrections."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import Page, StrictBool, StrictInt, StrictModel
from corridor.ledger import service
from corridor.ledger.model import Account, AccountFlags, AccountSpec, Transfer, TransferKind, TransferRequest

router = APIRouter(prefix="/ledger", tags=["ledger"])


class AccountIn(StrictModel):
    id: str = Field(min_length=1, max_length=64)
    asset: str = Field(min_length=2, max_length=10)
    code: str = Field(min_length=1, max_length=64)
    owner: str | None = Field(default=None, max_length=64)
    must_not_go_negative: StrictBool = Field(
        default=False,
        description="Debits may never exceed credits (a client balance can never go below zero).",
    )


class TransferIn(StrictModel):
    id: str = Field(
        min_length=1, max_length=64, description="Client-supplied: a retry with the same id is safe."
    )
    kind: TransferKind = TransferKind.SINGLE
    debit_account_id: str | None = None
    credit_account_id: str | None = None
    amount: StrictInt | None = Field(default=None, description="Integer minor units (satoshis for BTC).")
    asset: str | None = None
    pending_id: str | None = None
    timeout_seconds: StrictInt | None = None
    reference: str = Field(default="", max_length=200)

    def to_request(self) -> TransferRequest:
        return TransferRequest(
            id=self.id,
            kind=self.kind,
            debit_account_id=self.debit_account_id,
            credit_account_id=self.credit_account_id,
            amount=self.amount,
            asset=self.asset,
            pending_id=self.pending_id,
            timeout_seconds=self.timeout_seconds,
            reference=self.reference,
        )


class TransferBatchIn(StrictModel):
    transfers: list[TransferIn] = Field(min_length=1, max_length=1000)


class CorrectionIn(StrictModel):
    id: str = Field(min_length=1, max_length=64)
    amount: StrictInt | None = None
    reason: str = Field(min_length=1, max_length=200)


def account_out(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "asset": account.asset,
        "code": account.code,
        "owner": account.owner,
        "must_not_go_negative": bool(account.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
        "debits_pending": account.debits_pending,
        "debits_posted": account.debits_posted,
        "credits_pending": account.credits_pending,
        "credits_posted": account.credits_posted,
        "available": account.available,
    }


def transfer_out(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "kind": transfer.kind,
        "debit_account_id": transfer.debit_account_id,
        "credit_account_id": transfer.credit_account_id,
        "asset": transfer.asset,
        "amount": transfer.amount,
        "pending_id": transfer.pending_id,
        "timeout_at": transfer.timeout_at,
        "state": transfer.state,
        "reference": transfer.reference,
        "corrects": transfer.corrects,
        "created_at": transfer.created_at,
    }


@router.post("/accounts", status_code=201)
def open_account(body: AccountIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    flags = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS if body.must_not_go_negative else AccountFlags.NONE
    spec = AccountSpec(body.id, body.asset, body.code, body.owner, flags)
    return account_out(service.open_account(db, principal, spec))


@router.get("/accounts/{account_id}")
def get_account(account_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return account_out(service.get_account(db, principal, account_id))


@router.get("/accounts/{account_id}/transfers")
def account_transfers(
    account_id: str,
    db: DbDep,
    principal: PrincipalDep,
    after: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> Page[dict[str, Any]]:
    items = service.list_account_transfers(db, principal, account_id, after, limit)
    return Page(
        items=[transfer_out(t) for t in items], next_cursor=items[-1].id if len(items) == limit else None
    )


@router.post("/transfers", status_code=201)
def create_transfer(body: TransferIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return transfer_out(service.create_transfer(db, principal, body.to_request()))


@router.post("/transfers/batch", status_code=201)
def create_transfers(body: TransferBatchIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    transfers = service.create_transfers(db, principal, [t.to_request() for t in body.transfers])
    return {"transfers": [transfer_out(t) for t in transfers]}


@router.get("/transfers/{transfer_id}")
def get_transfer(transfer_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return transfer_out(service.get_transfer(db, principal, transfer_id))


@router.post("/transfers/{transfer_id}/corrections", status_code=201)
def correct_transfer(
    transfer_id: str, body: CorrectionIn, db: DbDep, principal: PrincipalDep
) -> dict[str, Any]:
    return transfer_out(
        service.correct_transfer(db, principal, transfer_id, body.id, body.amount, body.reason)
    )
