"""Batched payouts from the hot wallet: drops with reasons, kernel-verified transactions, never paid twice
(retries, a crash between signing and broadcasting, a broadcast the database never recorded, a fee bump,
reorgs of the paying block), and reconciliation."""

from __future__ import annotations

from pathlib import Path

import pytest
from embit.transaction import Transaction
from sqlalchemy.orm import Session

from corridor.access.model import Principal
from corridor.bitcoin.devnode.testkit import DevKey
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.compliance.gate import GateOutcome, GateStatus
from corridor.custody import store
from corridor.custody.payouts import bump_batch, run_batcher_once
from corridor.custody.reconcile import reconcile
from corridor.custody.service import PayoutRequest, create_hot_wallet, queue_payout_in, request_payout
from corridor.custody.state import SUSPENSE_ACCOUNT, BatchState, PayoutState
from corridor.db import Database
from corridor.errors import ValidationFailed
from corridor.ledger import service as ledger
from corridor.ledger.model import TransferRequest
from corridor.registry.service import verify

from .conftest import (
    MINER,
    POLICY,
    available,
    balance,
    follow,
    kernel_verify,
    mine,
    open_client,
    spent_outputs_of_batch,
)

pytestmark = [pytest.mark.db, pytest.mark.chain]

PAYEES = [
    "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080",
    "bcrt1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqc8gma6",
    DevKey.from_seed("custody-tests-listed-payee").address(),
]


def clearing_gate(session: Session, actor: str, address: str) -> GateOutcome:
    """Stands in for a screening service that has cleared every payee except one listed address."""
    if address == PAYEES[2]:
        return GateOutcome(GateStatus.HIT, "scr-1", "matches a listed address")
    return GateOutcome(GateStatus.CLEAR, "scr-0", "no match")


def funded_hot_wallet(db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path, client_sats: int) -> str:
    """A hot wallet holding one mature coinbase (a miner payout), allocated from suspense to a client."""
    record = create_hot_wallet(db, operator, "hot", "regtest", kek, secret=bytes(range(7, 39)))
    with db.transaction() as session:
        hot_address = next(
            a.address for a in (store.address_by_script(session, s) for s in store.all_address_scripts(session))
            if a is not None and a.wallet_id == record.id
        )  # fmt: skip
    rpc.generatetoaddress(1, hot_address)
    mine(rpc, 100)
    follow(db, rpc)
    assert balance(db, SUSPENSE_ACCOUNT) == 50 * 10**8
    client = open_client(db, operator, "client:acme")
    ledger.create_transfer(
        db, operator,
        TransferRequest(id="alloc-1", debit_account_id=SUSPENSE_ACCOUNT, credit_account_id=client,
                        amount=client_sats, asset="BTC", reference="allocate miner payout"),
    )  # fmt: skip
    return client


def queue(db: Database, operator: Principal, client: str, payout_id: str, address: str, amount: int) -> None:
    request_payout(db, operator, PayoutRequest(payout_id, "hot", client, address, amount))


def only_batch(db: Database) -> str:
    with db.transaction() as session:
        batches = store.batches_where(session)
    assert len(batches) == 1
    return batches[0].id


def payee_output_count(rpc: BitcoinRpc, script: bytes) -> int:
    """How many outputs paying ``script`` exist in the whole best chain (independent of our records)."""
    count = 0
    for height in range(rpc.getblockcount() + 1):
        block = rpc.getblock(rpc.getblockhash(height), 2)
        count += sum(
            1 for tx in block.transactions for out in tx.vout if out.script_pubkey.hex == script.hex()
        )
    return count


def test_batch_pays_good_payees_drops_bad_ones_and_settles_at_depth(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    client = funded_hot_wallet(db, operator, rpc, kek, 10_000_000)
    queue(db, operator, client, "p1", PAYEES[0], 1_000_000)
    queue(db, operator, client, "p2", PAYEES[1], 2_000_000)
    queue(db, operator, client, "p3", PAYEES[2], 300_000)  # the gate reports a hit
    queue(db, operator, client, "p4", PAYEES[0], 200)  # dust
    with db.transaction() as session:  # settlement queues inside its own transaction; no address check there
        queue_payout_in(session, operator.actor, PayoutRequest("p5", "hot", client, "bcrt1qbroken", 50_000))
    with pytest.raises(ValidationFailed) as refused:
        queue(db, operator, client, "p6", "tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx", 50_000)
    assert refused.value.code == "invalid_address"
    assert available(db, client) == 10_000_000 - 3_300_200 - 50_000

    report = run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
    assert report.dropped == {"p3": "screening_hit", "p4": "dust", "p5": "invalid_address"}
    batch_id = only_batch(db)
    assert report.built == report.signed == report.broadcast == [batch_id]
    assert available(db, client) == 10_000_000 - 3_000_000, "dropped payouts release their reservations"
    batch = ledger_batch = store_batch(db, batch_id)
    raw = bytes.fromhex(batch.raw_tx or "")
    spent = spent_outputs_of_batch(db, batch_id)
    assert kernel_verify(raw, spent) == [True] * len(spent)
    tx = Transaction.parse(raw)
    assert [o.value for o in tx.vout[:2]] == [1_000_000, 2_000_000]
    assert rpc.getrawmempool() == [ledger_batch.txid]

    mine(rpc, 5)
    follow(db, rpc)
    assert store_batch(db, batch_id).state is BatchState.BROADCAST and balance(db, client) == 10_000_000
    mine(rpc, 1)
    follow(db, rpc)
    assert store_batch(db, batch_id).state is BatchState.CONFIRMED
    assert balance(db, client) == 7_000_000
    assert balance(db, "fees:network") == -batch.fee_sats
    with db.transaction() as session:
        states = {p.id: (p.state, p.drop_reason) for p in store.payouts_where(session)}
    assert states["p1"] == states["p2"] == (PayoutState.PAID, None)
    assert states["p3"] == (PayoutState.DROPPED, "screening_hit")
    result = reconcile(db, rpc, operator, policy=POLICY)
    assert result.balanced, result.differences
    assert verify(db).ok


def store_batch(db: Database, batch_id: str):  # type: ignore[no-untyped-def]
    with db.transaction() as session:
        batch = store.get_batch(session, batch_id)
    assert batch is not None
    return batch


def test_the_real_gate_drops_every_unscreened_payee(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    client = funded_hot_wallet(db, operator, rpc, kek, 1_000_000)
    queue(db, operator, client, "p1", PAYEES[0], 100_000)
    report = run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek)
    assert report.dropped == {"p1": "screening_pending"} and report.built == []
    assert available(db, client) == 1_000_000 and rpc.getrawmempool() == []


def test_retries_and_a_crash_between_signing_and_broadcasting_pay_once(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    client = funded_hot_wallet(db, operator, rpc, kek, 5_000_000)
    queue(db, operator, client, "p1", PAYEES[0], 1_000_000)
    queue(db, operator, client, "p1", PAYEES[0], 1_000_000)  # the API retried: same id, same content
    first = run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate,
                             steps=frozenset({"build", "sign"}))  # fmt: skip
    batch_id = only_batch(db)
    assert first.signed == [batch_id] and rpc.getrawmempool() == []
    # The process dies here. A new process (new engine, new RPC client) picks up where it stopped.
    restarted = Database(db.url)
    try:
        again = BitcoinRpc(rpc.url, auth=rpc._auth)
        second = run_batcher_once(restarted, again, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
        third = run_batcher_once(restarted, again, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
    finally:
        restarted.dispose()
    assert second.built == [] and second.broadcast == [batch_id]
    assert third.built == third.broadcast == [] and len(rpc.getrawmempool()) == 1
    mine(rpc, 6)
    follow(db, rpc)
    assert payee_output_count(rpc, _script(PAYEES[0])) == 1
    assert balance(db, client) == 4_000_000 and only_batch(db) == batch_id


def test_broadcast_the_database_never_recorded_is_recognised(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    client = funded_hot_wallet(db, operator, rpc, kek, 5_000_000)
    queue(db, operator, client, "p1", PAYEES[1], 700_000)
    run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate,
                     steps=frozenset({"build", "sign"}))  # fmt: skip
    batch = store_batch(db, only_batch(db))
    rpc.sendrawtransaction(batch.raw_tx or "")  # sent, then the process died before recording it
    report = run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
    assert report.broadcast == [batch.id] and report.notes == []
    assert rpc.getrawmempool() == [batch.txid]


def test_fee_bump_replaces_the_batch_keeps_every_payee_and_pays_once(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    client = funded_hot_wallet(db, operator, rpc, kek, 9_000_000)
    for n, address in enumerate(PAYEES[:2]):
        queue(db, operator, client, f"p{n}", address, 400_000 + n)
    run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
    original = store_batch(db, only_batch(db))
    replacement = bump_batch(db, operator, original.id, original.feerate_sat_per_kvb * 3)
    report = run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
    assert report.broadcast == [replacement.id]
    assert rpc.getrawmempool() == [replacement.unsigned_txid]
    bumped = store_batch(db, replacement.id)
    assert store_batch(db, original.id).state is BatchState.REPLACED
    assert bumped.fee_sats > original.fee_sats
    before = Transaction.parse(bytes.fromhex(original.raw_tx or ""))
    after = Transaction.parse(bytes.fromhex(bumped.raw_tx or ""))
    assert [(o.script_pubkey.data, o.value) for o in after.vout[:2]] == [
        (o.script_pubkey.data, o.value) for o in before.vout[:2]
    ]
    spent = spent_outputs_of_batch(db, replacement.id)
    assert kernel_verify(bytes.fromhex(bumped.raw_tx or ""), spent) == [True] * len(spent)
    mine(rpc, 6)
    follow(db, rpc)
    assert store_batch(db, replacement.id).state is BatchState.CONFIRMED
    assert balance(db, client) == 9_000_000 - 800_001
    assert balance(db, "fees:network") == -bumped.fee_sats
    assert payee_output_count(rpc, _script(PAYEES[1])) == 1
    assert reconcile(db, rpc, operator, policy=POLICY).balanced


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_reorg_of_the_paying_block_settles_the_batch_once(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path, depth: int
) -> None:
    client = funded_hot_wallet(db, operator, rpc, kek, 3_000_000)
    queue(db, operator, client, "p1", PAYEES[0], 1_000_000)
    run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
    batch_id = only_batch(db)
    fork_point = rpc.getblockcount()
    mine(rpc, depth)
    follow(db, rpc)
    assert (store_batch(db, batch_id).state is BatchState.CONFIRMED) == (depth >= 6)
    rpc.call("generatefork", fork_point, depth + 1, MINER.address())
    follow(db, rpc)
    assert store_batch(db, batch_id).confirmed_height is None
    run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)  # re-sends: a no-op
    mine(rpc, 6)
    follow(db, rpc)
    assert store_batch(db, batch_id).state is BatchState.CONFIRMED
    assert balance(db, client) == 2_000_000
    assert payee_output_count(rpc, _script(PAYEES[0])) == 1
    assert reconcile(db, rpc, operator, policy=POLICY).balanced
    assert verify(db).ok


def _script(address: str) -> bytes:
    from corridor.bitcoin.address import parse_address

    return parse_address(address, "regtest").script_pubkey
