"""The custody routes end to end on the devnode, both databases: addresses, payouts, batches, and a 2-of-3
treasury spend whose approvers submit PSBTs signed by their own wallet (embit, keys Corridor never sees).
Every refused request answers problem+json and changes nothing."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from embit.psbt import PSBT
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from corridor.access.model import Principal, Role
from corridor.access.service import bootstrap_key
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody import store
from corridor.custody.api import router as custody_router
from corridor.custody.payouts import run_batcher_once
from corridor.custody.reconcile import reconcile
from corridor.custody.service import create_treasury_wallet
from corridor.custody.state import BatchState
from corridor.db import Database
from corridor.http import app as http_app
from corridor.registry.service import verify

from .conftest import (
    POLICY,
    balance,
    batch_of,
    follow,
    hd_root,
    kernel_verify,
    mine,
    open_client,
    outsider_coins,
    pay,
    registry_size,
    sign_as_approver,
    spent_outputs_of_batch,
    treasury_keys,
)
from .test_payouts import PAYEES, clearing_gate

pytestmark = [pytest.mark.db, pytest.mark.chain]


@pytest.fixture
def api(db: Database) -> Iterator[TestClient]:
    app = http_app.create_app(db)
    if custody_router not in http_app.API_ROUTERS:  # works before and after the lead registers it
        app.include_router(custody_router, prefix="/v1")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def headers(db: Database, role: Role, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bootstrap_key(db, role, name).key}"}


def problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code, response.text


def created(response: Any) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def approvals_state(db: Database, batch_id: str) -> tuple[int, int, BatchState]:
    """What a refused approval must leave alone: stored approvals, the registry, the batch."""
    with db.transaction() as session:
        approvals = session.execute(
            select(func.count()).select_from(store.approvals).where(store.approvals.c.batch_id == batch_id)
        ).scalar_one()
    return int(approvals), registry_size(db), batch_of(db, batch_id).state


def funded_treasury(db: Database, operator: Principal, rpc: BitcoinRpc, api: TestClient) -> str:
    """The treasury holding two confirmed deposits (3,000,000 and 2,500,000 sats) credited to a client."""
    create_treasury_wallet(db, operator, "treasury", treasury_keys(), "regtest")
    client = open_client(db, operator, "client:acme")
    ops = headers(db, Role.OPERATOR_ADMIN, "ops")
    coins = outsider_coins(rpc, 2)
    for n, (coin, amount) in enumerate(zip(coins, (3_000_000, 2_500_000), strict=True)):
        issued = created(
            api.post(
                "/v1/custody/wallets/treasury/addresses",
                json={"purpose": "deposit", "record": f"dep-{n}", "credit_account_id": client},
                headers=ops,
            )
        )
        pay(rpc, coin, bytes.fromhex(issued["script_pubkey"]), amount)
    mine(rpc, 6)
    follow(db, rpc)
    assert balance(db, client) == 5_500_000
    return client


def test_treasury_payouts_over_http_with_two_of_three_approvals(
    db: Database, operator: Principal, rpc: BitcoinRpc, api: TestClient
) -> None:
    client = funded_treasury(db, operator, rpc, api)
    ops = headers(db, Role.OPERATOR_ADMIN, "ops")
    officer = headers(db, Role.COMPLIANCE_OFFICER, "co")
    approvers = [headers(db, Role.TREASURY, f"approver-{n}") for n in range(3)]

    issued = created(
        api.post("/v1/custody/wallets/treasury/addresses", json={"purpose": "invoice", "record": "inv-9"},
                 headers=ops)
    )  # fmt: skip
    found = api.get(f"/v1/custody/addresses/{issued['address']}", headers=officer).json()
    assert (found["wallet_role"], found["purpose"], found["record"], found["issued"]) == (
        "treasury", "invoice", "inv-9", True,
    )  # fmt: skip
    problem(api.get("/v1/custody/addresses/bcrt1qnotanaddress", headers=officer), 422, "invalid_address")
    problem(api.get(f"/v1/custody/addresses/{PAYEES[0]}", headers=officer), 404, "address_not_ours")
    problem(api.post("/v1/custody/wallets/treasury/addresses", json={"purpose": "change"}, headers=ops),
            422, "invalid_purpose")  # fmt: skip
    wallet = api.get("/v1/custody/wallets/treasury", headers=officer).json()
    assert wallet["role"] == "treasury" and wallet["signs_automatically"] is False

    payout = {"id": "t1", "wallet_id": "treasury", "client_account_id": client, "address": PAYEES[0],
              "amount_sats": 1_000_000}  # fmt: skip
    first = created(api.post("/v1/custody/payouts", json=payout, headers=ops))
    assert first["state"] == "queued"
    assert created(api.post("/v1/custody/payouts", json=payout, headers=ops)) == first, "a retry is safe"
    before = registry_size(db), balance(db, client)
    for change, who, status, code in [
        ({"id": "t1", "amount_sats": 2}, ops, 409, "payout_id_reused"),
        ({"amount_sats": "5"}, ops, 422, "validation_error"),
        ({"amount_sats": 0}, ops, 422, "amount_must_be_positive"),
        ({"address": "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx"}, ops, 422, "invalid_address"),
        ({"wallet_id": "nowhere"}, ops, 404, "wallet_not_found"),
        ({"reference": "x" * 201}, ops, 422, "validation_error"),
        ({}, officer, 403, "forbidden"),
    ]:
        body = {**payout, "id": "t9", **change}
        problem(api.post("/v1/custody/payouts", json=body, headers=who), status, code)
    assert (registry_size(db), balance(db, client)) == before
    problem(api.get("/v1/custody/payouts/t9", headers=ops), 404, "payout_not_found")

    batch_id = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate).built[0]
    created(api.post("/v1/custody/payouts", json={**payout, "id": "t2", "address": PAYEES[1]}, headers=ops))
    other_id = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate).built[0]
    batch = api.get(f"/v1/custody/batches/{batch_id}", headers=approvers[0]).json()
    other = api.get(f"/v1/custody/batches/{other_id}", headers=approvers[0]).json()
    assert batch["state"] == other["state"] == "built" and batch_id != other_id

    url = f"/v1/custody/batches/{batch_id}/approvals"
    one = created(api.post(url, json={"psbt": sign_as_approver(batch["psbt"], 0)}, headers=approvers[0]))
    assert one["state"] == "built" and len(one["signer_keys"]) == 1 and one["required"] == 2
    after_first = approvals_state(db, batch_id)
    mallory = PSBT.from_string(batch["psbt"])
    assert mallory.sign_with(hd_root("mallory")) == 0  # a key that is no cosigner signs nothing ...
    refused = [
        ({"psbt": _truncated(sign_as_approver(batch["psbt"], 1))}, approvers[1], 422, "invalid_psbt"),
        ({"psbt": "not a psbt at all"}, approvers[1], 422, "invalid_psbt"),
        ({"psbt": sign_as_approver(other["psbt"], 1)}, approvers[1], 422, "psbt_mismatch"),
        ({"psbt": sign_as_approver(batch["psbt"], 1)}, approvers[0], 409, "already_approved"),
        ({"psbt": _signed_by_stranger(batch["psbt"])}, approvers[1], 422, "no_valid_signature"),
        ({"psbt": batch["psbt"]}, approvers[1], 422, "no_valid_signature"),
        ({"psbt": sign_as_approver(batch["psbt"], 0)}, approvers[1], 409, "signer_already_counted"),
        ({"psbt": sign_as_approver(batch["psbt"], 1)}, ops, 403, "forbidden"),
        ({"psbt": sign_as_approver(batch["psbt"], 1), "extra": 1}, approvers[1], 422, "validation_error"),
    ]
    for body, who, status, code in refused:
        problem(api.post(url, json=body, headers=who), status, code)
        assert approvals_state(db, batch_id) == after_first, code
    problem(api.post("/v1/custody/batches/b-none/approvals", json={"psbt": batch["psbt"]}, headers=approvers[1]),
            404, "batch_not_found")  # fmt: skip

    # The third approver signs the PSBT the first one returned (BIP174 sequential signing).
    passed_on = sign_as_approver(sign_as_approver(batch["psbt"], 0), 2)
    two = created(api.post(url, json={"psbt": passed_on}, headers=approvers[2]))
    assert two["state"] == "signed" and len(two["signer_keys"]) == 2
    problem(api.post(url, json={"psbt": sign_as_approver(batch["psbt"], 1)}, headers=approvers[1]),
            409, "batch_signed")  # fmt: skip
    sent = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert sent.broadcast == [batch_id]
    signed = batch_of(db, batch_id)
    spent = spent_outputs_of_batch(db, batch_id)
    assert kernel_verify(bytes.fromhex(signed.raw_tx or ""), spent) == [True] * len(spent)
    assert rpc.getrawmempool() == [signed.txid]

    # Stuck: bump it over HTTP. The replacement is a new transaction and needs its own quorum.
    bump_url = f"/v1/custody/batches/{batch_id}/bump"
    rate = signed.feerate_sat_per_kvb * 3
    problem(api.post(bump_url, json={"feerate_sat_per_kvb": "3000"}, headers=ops), 422, "validation_error")
    problem(api.post(bump_url, json={"feerate_sat_per_kvb": rate}, headers=officer), 403, "forbidden")
    problem(api.post(f"/v1/custody/batches/{other_id}/bump", json={"feerate_sat_per_kvb": rate}, headers=ops),
            409, "batch_not_bumpable")  # fmt: skip
    bumped = created(api.post(bump_url, json={"feerate_sat_per_kvb": rate}, headers=approvers[1]))
    assert (bumped["state"], bumped["replaces"], bumped["family_id"]) == ("built", batch_id, batch_id)
    again = f"/v1/custody/batches/{bumped['id']}/approvals"
    problem(api.post(again, json={"psbt": passed_on}, headers=approvers[0]), 422, "psbt_mismatch")
    for n in (1, 0):
        approved = created(
            api.post(again, json={"psbt": sign_as_approver(bumped["psbt"], n)}, headers=approvers[n])
        )
    assert approved["state"] == "signed"
    assert run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate).broadcast == [
        bumped["id"]
    ]
    replacement = batch_of(db, bumped["id"])
    spent = spent_outputs_of_batch(db, replacement.id)
    assert kernel_verify(bytes.fromhex(replacement.raw_tx or ""), spent) == [True] * len(spent)
    assert rpc.getrawmempool() == [replacement.txid]

    mine(rpc, 6)
    follow(db, rpc)
    states = {
        b: api.get(f"/v1/custody/batches/{b}", headers=officer).json()["state"]
        for b in (batch_id, bumped["id"])
    }
    assert states == {batch_id: "replaced", bumped["id"]: "confirmed"}
    paid = api.get("/v1/custody/payouts/t1", headers=officer).json()
    assert (paid["state"], paid["batch_family_id"]) == ("paid", batch_id)
    assert api.get("/v1/custody/payouts/t2", headers=officer).json()["state"] == "batched"
    assert balance(db, client) == 4_500_000 and balance(db, "fees:network") == -replacement.fee_sats
    lot = api.get(f"/v1/custody/lots/{replacement.txid}/1", headers=officer).json()
    assert lot["origin"] == "change" and lot["origins"] == ["deposit:dep-0"]
    assert [p["origin"] for p in lot["parents"]] == ["deposit:dep-0"]
    problem(api.get(f"/v1/custody/lots/{replacement.txid}/7", headers=officer), 404, "lot_not_found")
    assert reconcile(db, rpc, operator, policy=POLICY).balanced
    assert verify(db).ok


def _truncated(psbt_text: str) -> str:
    raw = base64.b64decode(psbt_text)
    return base64.b64encode(raw[:-7]).decode()


def _signed_by_stranger(psbt_text: str) -> str:
    """Well-formed signatures from a key that is not a cosigner, claiming a cosigner's derivation."""
    from embit import ec
    from embit.transaction import SIGHASH

    psbt = PSBT.from_string(psbt_text)
    mallory = ec.PrivateKey(bytes(range(40, 72)))
    for index, scope in enumerate(psbt.inputs):
        digest = psbt.sighash_segwit(index, scope.witness_script, scope.witness_utxo.value, SIGHASH.ALL)
        scope.partial_sigs[mallory.get_public_key()] = mallory.sign(digest).serialize() + bytes([SIGHASH.ALL])
        scope.bip32_derivations[mallory.get_public_key()] = next(iter(scope.bip32_derivations.values()))
    return str(psbt.to_string())
