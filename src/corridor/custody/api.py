"""Custody routes (under /v1): address issuance and lookup, payouts, batches, treasury approvals, bumps."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from corridor.custody import payouts, service
from corridor.custody.state import AddressPurpose, BatchRecord, PayoutRecord
from corridor.http.deps import DbDep, PrincipalDep
from corridor.http.schemas import StrictInt, StrictModel

router = APIRouter(prefix="/custody", tags=["custody"])


class AddressIn(StrictModel):
    purpose: AddressPurpose
    record: str | None = Field(default=None, min_length=1, max_length=100)
    credit_account_id: str | None = Field(default=None, max_length=64)


class PayoutIn(StrictModel):
    id: str = Field(
        min_length=1, max_length=48, description="Client-supplied: a retry with the same id is safe."
    )
    wallet_id: str = Field(min_length=1, max_length=40)
    client_account_id: str = Field(min_length=1, max_length=64)
    address: str = Field(min_length=1, max_length=100)
    amount_sats: StrictInt
    reference: str = Field(default="", max_length=200)


class ApprovalIn(StrictModel):
    psbt: str = Field(min_length=1, max_length=400_000, description="The signed PSBT (base64 or hex).")


class BumpIn(StrictModel):
    feerate_sat_per_kvb: StrictInt


def payout_out(payout: PayoutRecord) -> dict[str, Any]:
    return {
        "id": payout.id,
        "wallet_id": payout.wallet_id,
        "client_account_id": payout.client_account_id,
        "address": payout.address,
        "amount_sats": payout.amount_sats,
        "reference": payout.reference,
        "state": payout.state.value,
        "drop_reason": payout.drop_reason,
        "batch_family_id": payout.family_id,
        "reservation_id": payout.reservation_id,
    }


def batch_out(batch: BatchRecord) -> dict[str, Any]:
    return {
        "id": batch.id,
        "family_id": batch.family_id,
        "wallet_id": batch.wallet_id,
        "state": batch.state.value,
        "psbt": batch.psbt,
        "txid": batch.txid,
        "fee_sats": batch.fee_sats,
        "feerate_sat_per_kvb": batch.feerate_sat_per_kvb,
        "vsize": batch.vsize,
        "replaces": batch.replaces,
        "confirmed_height": batch.confirmed_height,
    }


@router.post("/wallets/{wallet_id}/addresses", status_code=201)
def issue_address(wallet_id: str, body: AddressIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    issued = service.issue_address(
        db, principal, wallet_id, body.purpose, body.record, body.credit_account_id
    )
    return {
        "address": issued.address,
        "script_pubkey": issued.script_pubkey.hex(),
        "wallet_id": issued.wallet_id,
        "index": issued.index,
        "purpose": issued.purpose.value,
        "record": issued.record,
    }


@router.get("/wallets/{wallet_id}")
def get_wallet(wallet_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    wallet = service.get_wallet(db, principal, wallet_id)
    return {
        "id": wallet.id,
        "role": wallet.role,
        "input_kind": wallet.input_kind,
        "network": wallet.network,
        "descriptor": wallet.descriptor,
        "signs_automatically": service.signs_automatically(wallet),
        "ledger_account_id": wallet.ledger_account_id,
        "next_receive_index": wallet.next_receive_index,
        "next_change_index": wallet.next_change_index,
        "gap_limit": wallet.gap_limit,
    }


@router.get("/lots/{txid}/{vout}")
def get_lot(txid: str, vout: int, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    found = service.lot_lineage(db, principal, txid, vout)
    lot = found.lot
    return {
        "txid": lot.txid,
        "vout": lot.vout,
        "wallet_id": lot.wallet_id,
        "value_sats": lot.value_sats,
        "state": lot.state.value,
        "origin": lot.origin,
        "origins": list(found.origins),
        "block_height": lot.block_height,
        "spent_by": lot.spent_by,
        "parents": [
            {"txid": p.txid, "vout": p.vout, "value_sats": p.value_sats, "origin": p.origin}
            for p in found.parents
        ],
        "children": [{"txid": t, "vout": v} for t, v in found.children],
    }


@router.get("/addresses/{address_or_script}")
def find_address(address_or_script: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    found = service.find_address(db, principal, address_or_script)
    return {
        "address": found.address,
        "wallet_id": found.wallet_id,
        "wallet_role": found.wallet_role,
        "branch": found.branch,
        "index": found.index,
        "purpose": found.purpose,
        "record": found.record,
        "credit_account_id": found.credit_account_id,
        "issued": found.issued,
    }


@router.post("/payouts", status_code=201)
def request_payout(body: PayoutIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    request = service.PayoutRequest(
        body.id, body.wallet_id, body.client_account_id, body.address, body.amount_sats, body.reference
    )
    return payout_out(service.request_payout(db, principal, request))


@router.get("/payouts/{payout_id}")
def get_payout(payout_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return payout_out(service.get_payout(db, principal, payout_id))


@router.get("/batches/{batch_id}")
def get_batch(batch_id: str, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return batch_out(service.get_batch(db, principal, batch_id))


@router.post("/batches/{batch_id}/approvals", status_code=201)
def approve_batch(batch_id: str, body: ApprovalIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    result = service.submit_approval(db, principal, batch_id, body.psbt)
    return {
        "batch_id": result.batch_id,
        "approvers": list(result.approvers),
        "signer_keys": list(result.signer_keys),
        "required": result.required,
        "state": result.state.value,
    }


@router.post("/batches/{batch_id}/bump", status_code=201)
def bump_batch(batch_id: str, body: BumpIn, db: DbDep, principal: PrincipalDep) -> dict[str, Any]:
    return batch_out(payouts.bump_batch(db, principal, batch_id, body.feerate_sat_per_kvb))
