"""Fee-bumping a treasury batch: the BIP125 replacement keeps every payee output and needs a new 2-of-3
quorum of its own; whichever member of the family the chain keeps (the replacement, or the original
mined by a miner who never saw the replacement, even after the replacement was settled and then
reorganised away), the payouts are paid once and the ledger matches the chain."""

from __future__ import annotations

import pytest
from embit.transaction import Transaction

from corridor.access.model import Principal, Role
from corridor.bitcoin.address import parse_address
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody import store
from corridor.custody.payouts import bump_batch, run_batcher_once
from corridor.custody.reconcile import reconcile
from corridor.custody.service import (
    PayoutRequest,
    create_treasury_wallet,
    issue_address,
    request_payout,
    submit_approval,
)
from corridor.custody.state import AddressPurpose, BatchRecord, BatchState, PayoutState
from corridor.db import Database
from corridor.errors import Conflict, ValidationFailed
from corridor.registry.service import verify

from .conftest import (
    MINER,
    POLICY,
    balance,
    batch_of,
    follow,
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
from .test_payouts import PAYEES, clearing_gate, payee_output_count

pytestmark = [pytest.mark.db, pytest.mark.chain]


def approver(n: int) -> Principal:
    return Principal(user_id=f"approver-{n}", role=Role.TREASURY)


def approve(db: Database, batch: BatchRecord, *who: int) -> BatchState:
    state = BatchState.BUILT
    for n in who:
        state = submit_approval(db, approver(n), batch.id, sign_as_approver(batch.psbt, n)).state
    return state


def broadcast_treasury_batch(db: Database, operator: Principal, rpc: BitcoinRpc) -> tuple[str, BatchRecord]:
    """A treasury holding 3,000,000 sats for a client pays two payees in one approved, broadcast batch."""
    create_treasury_wallet(db, operator, "treasury", treasury_keys(), "regtest")
    client = open_client(db, operator, "client:acme")
    deposit = issue_address(db, operator, "treasury", AddressPurpose.DEPOSIT, "dep-1", client)
    pay(rpc, outsider_coins(rpc, 1)[0], deposit.script_pubkey, 3_000_000)
    mine(rpc, 6)
    follow(db, rpc)
    request_payout(db, operator, PayoutRequest("t1", "treasury", client, PAYEES[0], 1_000_000))
    request_payout(db, operator, PayoutRequest("t2", "treasury", client, PAYEES[1], 500_000))
    built = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate).built
    original = batch_of(db, built[0])
    assert approve(db, original, 0, 1) is BatchState.SIGNED
    sent = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert sent.broadcast == [original.id]
    original = batch_of(db, original.id)
    assert_verified(db, original)
    return client, original


def assert_verified(db: Database, batch: BatchRecord) -> None:
    spent = spent_outputs_of_batch(db, batch.id)
    assert kernel_verify(bytes.fromhex(batch.raw_tx or ""), spent) == [True] * len(spent)


def approved_bump(db: Database, rpc: BitcoinRpc, original: BatchRecord) -> BatchRecord:
    """Bump to three times the rate; the replacement is broadcast once two approvers signed it."""
    replacement = bump_batch(db, approver(2), original.id, original.feerate_sat_per_kvb * 3)
    assert replacement.state is BatchState.BUILT and replacement.replaces == original.id
    idle = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert idle.signed == idle.broadcast == [] and rpc.getrawmempool() == [original.txid]
    assert approve(db, replacement, 2, 0) is BatchState.SIGNED
    sent = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert sent.broadcast == [replacement.id]
    replacement = batch_of(db, replacement.id)
    assert rpc.getrawmempool() == [replacement.txid]
    assert batch_of(db, original.id).state is BatchState.REPLACED
    assert_verified(db, replacement)
    return replacement


def assert_paid_once(
    db: Database, operator: Principal, rpc: BitcoinRpc, client: str, winner: BatchRecord
) -> None:
    assert batch_of(db, winner.id).state is BatchState.CONFIRMED
    assert balance(db, client) == 3_000_000 - 1_500_000
    assert balance(db, "fees:network") == -winner.fee_sats
    for address in PAYEES[:2]:
        assert payee_output_count(rpc, parse_address(address, "regtest").script_pubkey) == 1
    result = reconcile(db, rpc, operator, policy=POLICY)
    assert result.balanced, result.differences
    assert verify(db).ok


def test_a_treasury_bump_needs_a_new_quorum_keeps_every_payee_and_pays_once(
    db: Database, operator: Principal, rpc: BitcoinRpc
) -> None:
    client, original = broadcast_treasury_batch(db, operator, rpc)
    replacement = bump_batch(db, approver(2), original.id, original.feerate_sat_per_kvb * 3)
    assert replacement.state is BatchState.BUILT and replacement.family_id == original.family_id
    unchanged = registry_size(db)
    with pytest.raises(ValidationFailed) as old_psbt:  # a signature over the original proves nothing here
        submit_approval(db, approver(0), replacement.id, sign_as_approver(original.psbt, 0))
    assert old_psbt.value.code == "psbt_mismatch" and registry_size(db) == unchanged
    idle = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert idle.signed == idle.broadcast == [] and rpc.getrawmempool() == [original.txid]
    assert approve(db, replacement, 0) is BatchState.BUILT, "one approver is not a quorum, even a second time"
    assert approve(db, replacement, 2) is BatchState.SIGNED
    sent = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert sent.broadcast == [replacement.id]
    replacement = batch_of(db, replacement.id)
    assert (
        rpc.getrawmempool() == [replacement.txid] and batch_of(db, original.id).state is BatchState.REPLACED
    )
    assert replacement.fee_sats > original.fee_sats
    assert_verified(db, replacement)
    before = Transaction.parse(bytes.fromhex(original.raw_tx or "")).vout
    after = Transaction.parse(bytes.fromhex(replacement.raw_tx or "")).vout
    assert [(o.script_pubkey.data, o.value) for o in after[:2]] == [
        (o.script_pubkey.data, o.value) for o in before[:2]
    ]
    assert after[2].value == before[2].value - (replacement.fee_sats - original.fee_sats)
    mine(rpc, 6)
    follow(db, rpc)
    assert batch_of(db, original.id).state is BatchState.REPLACED
    assert_paid_once(db, operator, rpc, client, replacement)


def test_bumping_again_supersedes_an_unapproved_replacement(
    db: Database, operator: Principal, rpc: BitcoinRpc
) -> None:
    client, original = broadcast_treasury_batch(db, operator, rpc)
    first = bump_batch(db, approver(2), original.id, original.feerate_sat_per_kvb * 2)
    assert approve(db, first, 0) is BatchState.BUILT
    second = bump_batch(db, operator, original.id, original.feerate_sat_per_kvb * 4)
    assert batch_of(db, first.id).state is BatchState.REPLACED and second.fee_sats > first.fee_sats
    with pytest.raises(Conflict) as superseded:
        submit_approval(db, approver(1), first.id, sign_as_approver(first.psbt, 1))
    assert superseded.value.code == "batch_replaced"
    assert approve(db, second, 1, 2) is BatchState.SIGNED
    sent = run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)
    assert sent.broadcast == [second.id]
    assert_verified(db, batch_of(db, second.id))
    with pytest.raises(Conflict) as twice:
        bump_batch(db, operator, original.id, original.feerate_sat_per_kvb * 5)
    assert twice.value.code == "batch_not_bumpable"
    mine(rpc, 6)
    follow(db, rpc)
    assert_paid_once(db, operator, rpc, client, batch_of(db, second.id))


@pytest.mark.parametrize("depth", [0, 2, 6])
def test_the_original_confirming_instead_of_its_replacement_settles_the_family_once(
    db: Database, operator: Principal, rpc: BitcoinRpc, depth: int
) -> None:
    """``depth``: how deep the replacement was buried before a reorg swapped it for the original (0: it
    never confirmed; 6: it had settled, and its booking must be corrected, not repeated)."""
    client, original = broadcast_treasury_batch(db, operator, rpc)
    replacement = approved_bump(db, rpc, original)
    fork_point = rpc.getblockcount()
    if depth:
        mine(rpc, depth)
        follow(db, rpc)
        assert (batch_of(db, replacement.id).state is BatchState.CONFIRMED) == (depth >= 6)
        rpc.call("generatefork", fork_point, depth + 1, MINER.address())
        assert rpc.getrawmempool() == [replacement.txid], "the reorg returned the replacement to the mempool"
    # A miner who only ever saw the original mines it; the replacement leaves the mempool.
    rpc.call("generateblock", MINER.address(), [original.raw_tx])
    assert rpc.getrawmempool() == []
    mine(rpc, 5)
    follow(db, rpc)
    assert batch_of(db, replacement.id).state is BatchState.REPLACED
    with db.transaction() as session:
        states = {p.id: p.state for p in store.payouts_where(session)}
    assert states == {"t1": PayoutState.PAID, "t2": PayoutState.PAID}
    assert_paid_once(db, operator, rpc, client, batch_of(db, original.id))
    run_batcher_once(db, rpc, POLICY, wallet_id="treasury", gate=clearing_gate)  # nothing left to send
    assert rpc.getrawmempool() == []
