"""Treasury spends need two of three approvers, each signing the batch's PSBT with their own BIP174
wallet (here embit, holding keys Corridor never sees); the result is checked by libbitcoinkernel."""

from __future__ import annotations

import pytest
from embit.psbt import PSBT

from corridor.access.model import Principal, Role
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody import store
from corridor.custody.payouts import run_batcher_once
from corridor.custody.reconcile import reconcile
from corridor.custody.service import (
    PayoutRequest,
    create_treasury_wallet,
    issue_address,
    request_payout,
    submit_approval,
)
from corridor.custody.state import AddressPurpose, BatchState
from corridor.db import Database
from corridor.errors import Conflict, Forbidden, ValidationFailed
from corridor.registry.service import verify

from .conftest import (
    POLICY,
    account_key,
    balance,
    follow,
    hd_root,
    kernel_verify,
    mine,
    open_client,
    outsider_coins,
    pay,
)
from .test_payouts import PAYEES, clearing_gate, spent_outputs_of_batch

pytestmark = [pytest.mark.db, pytest.mark.chain]

APPROVERS = [hd_root(f"approver-{n}") for n in range(3)]
PATH = "m/48'/1'/0'/2'"


def approver(n: int) -> Principal:
    return Principal(user_id=f"approver-{n}", role=Role.TREASURY)


def sign_elsewhere(psbt_text: str, n: int) -> str:
    """What an approver's own wallet does: parse the PSBT, sign what its key can, hand it back."""
    psbt = PSBT.from_string(psbt_text)
    assert psbt.sign_with(APPROVERS[n]) > 0
    return str(psbt.to_string())


def test_two_of_three_approvals_release_a_treasury_batch(
    db: Database, operator: Principal, rpc: BitcoinRpc
) -> None:
    keys = [account_key(root, PATH) for root in APPROVERS]
    create_treasury_wallet(db, operator, "treasury", keys, "regtest")
    client = open_client(db, operator, "client:acme")
    deposit = issue_address(db, operator, "treasury", AddressPurpose.DEPOSIT, "dep-t", client)
    coins = outsider_coins(rpc, 2)
    pay(rpc, coins[0], deposit.script_pubkey, 3_000_000)
    second = issue_address(db, operator, "treasury", AddressPurpose.DEPOSIT, "dep-u", client)
    pay(rpc, coins[1], second.script_pubkey, 2_500_000)
    mine(rpc, 6)
    follow(db, rpc)
    assert balance(db, client) == 5_500_000
    request_payout(db, operator, PayoutRequest("t1", "treasury", client, PAYEES[0], 4_000_000))
    request_payout(db, operator, PayoutRequest("t2", "treasury", client, PAYEES[1], 1_000_000))
    report = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    batch_id = report.built[0]
    assert report.signed == [] and report.broadcast == []
    with db.transaction() as session:
        batch = store.get_batch(session, batch_id)
    assert batch is not None and batch.state is BatchState.BUILT

    with pytest.raises(Forbidden):
        submit_approval(db, operator, batch_id, sign_elsewhere(batch.psbt, 0))
    first = submit_approval(db, approver(0), batch_id, sign_elsewhere(batch.psbt, 0))
    assert first.state is BatchState.BUILT and len(first.signer_keys) == 1
    with pytest.raises(Conflict) as twice:
        submit_approval(db, approver(0), batch_id, sign_elsewhere(batch.psbt, 0))
    assert twice.value.code == "already_approved"
    with pytest.raises(ValidationFailed) as unsigned:
        submit_approval(db, approver(1), batch_id, batch.psbt)
    assert unsigned.value.code == "no_valid_signature"
    with pytest.raises(ValidationFailed) as outsider:
        submit_approval(db, approver(1), batch_id, _signed_by_outsider(batch.psbt))
    assert outsider.value.code == "no_valid_signature"

    second_approval = submit_approval(db, approver(2), batch_id, sign_elsewhere(batch.psbt, 2))
    assert second_approval.state is BatchState.SIGNED and len(second_approval.signer_keys) == 2
    sent = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert sent.broadcast == [batch_id]
    with db.transaction() as session:
        signed = store.get_batch(session, batch_id)
    assert signed is not None and signed.raw_tx is not None
    spent = spent_outputs_of_batch(db, batch_id)
    assert len(spent) == 2 and kernel_verify(bytes.fromhex(signed.raw_tx), spent) == [True, True]
    mine(rpc, 6)
    follow(db, rpc)
    assert balance(db, client) == 500_000
    assert reconcile(db, rpc, operator, policy=POLICY).balanced
    assert verify(db).ok


def _signed_by_outsider(psbt_text: str) -> str:
    """A PSBT carrying a well-formed signature from a key that is not a cosigner."""
    from embit import ec
    from embit.transaction import SIGHASH

    psbt = PSBT.from_string(psbt_text)
    mallory = ec.PrivateKey(bytes(range(40, 72)))
    for index, scope in enumerate(psbt.inputs):
        digest = psbt.sighash_segwit(index, scope.witness_script, scope.witness_utxo.value, SIGHASH.ALL)
        scope.partial_sigs[mallory.get_public_key()] = mallory.sign(digest).serialize() + bytes([SIGHASH.ALL])
    return str(psbt.to_string())
