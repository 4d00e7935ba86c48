"""Spendable receive wallets (the account key sealed under the KEK): automatic signing of payouts, and
sweeps into the hot wallet or the treasury, booked once between the wallets' custody accounts, safe
across a crash between signing and broadcasting and across reorgs, with every new lot keeping the
origins of the lots it came from. Watch-only receive wallets keep working as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from corridor.access.model import Principal
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody import store
from corridor.custody.descriptors import open_seed
from corridor.custody.payouts import bump_batch, run_batcher_once
from corridor.custody.reconcile import reconcile
from corridor.custody.service import (
    PayoutRequest,
    create_hot_wallet,
    create_receive_wallet,
    create_treasury_wallet,
    issue_address,
    lot_lineage,
    request_payout,
)
from corridor.custody.state import AddressPurpose, BatchState, LotState, PayoutState
from corridor.custody.sweeps import sweep
from corridor.db import Database
from corridor.errors import Conflict, CorridorError, ValidationFailed
from corridor.registry.service import verify

from .conftest import (
    MINER,
    POLICY,
    account_key,
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
    spent_outputs_of_batch,
    treasury_keys,
)
from .test_payouts import PAYEES, clearing_gate

pytestmark = [pytest.mark.db, pytest.mark.chain]

HOT_SECRET = bytes(range(9, 41))


def spendable_wallet(db: Database, operator: Principal, kek: Path, *, taproot: bool = False) -> str:
    root = hd_root("spendable-tr" if taproot else "spendable-wpkh")
    path = "m/86'/1'/0'" if taproot else "m/84'/1'/0'"
    create_receive_wallet(
        db, operator, "recv", account_key(root, path, private=True), "regtest", taproot=taproot, kek_file=kek
    )
    return "recv"


def receive(db: Database, operator: Principal, rpc: BitcoinRpc, client: str, records: list[str]) -> list[str]:
    """The outsider pays 400,000 + n sats to a fresh address for each ``purpose:record``; returns txids."""
    txids = []
    for n, (coin, label) in enumerate(zip(outsider_coins(rpc, len(records)), records, strict=True)):
        purpose, record = label.split(":")
        address = issue_address(db, operator, "recv", AddressPurpose(purpose), record, client)
        txids.append(pay(rpc, coin, address.script_pubkey, 400_000 + n))
    return txids


def verified(db: Database, batch_id: str) -> None:
    batch = batch_of(db, batch_id)
    spent = spent_outputs_of_batch(db, batch_id)
    assert kernel_verify(bytes.fromhex(batch.raw_tx or ""), spent) == [True] * len(spent)


@pytest.mark.parametrize("taproot", [False, True])
def test_a_spendable_receive_wallet_signs_its_payouts_automatically(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path, taproot: bool
) -> None:
    wallet_id = spendable_wallet(db, operator, kek, taproot=taproot)
    with db.transaction() as session:
        record = store.get_wallet(session, wallet_id)
    assert record is not None and record.sealed_secret is not None and b"tprv" not in record.sealed_secret
    assert "tprv" not in record.descriptor and open_seed(record.sealed_secret, kek, label="recv").startswith(
        b"["
    )
    with pytest.raises(Conflict) as watch_twin:  # the same descriptor without its key is another wallet
        root = hd_root("spendable-tr" if taproot else "spendable-wpkh")
        path = "m/86'/1'/0'" if taproot else "m/84'/1'/0'"
        create_receive_wallet(db, operator, "recv", account_key(root, path), "regtest", taproot=taproot)
    assert watch_twin.value.code == "wallet_id_reused"

    client = open_client(db, operator, "client:acme")
    receive(db, operator, rpc, client, ["invoice:inv-1", "deposit:dep-2"])
    mine(rpc, 6)
    follow(db, rpc)
    request_payout(db, operator, PayoutRequest("r1", wallet_id, client, PAYEES[0], 500_000))
    with pytest.raises(Conflict) as no_kek:
        run_batcher_once(db, rpc, POLICY, wallet_id=wallet_id, gate=clearing_gate)
    assert no_kek.value.code == "kek_required"
    report = run_batcher_once(db, rpc, POLICY, wallet_id=wallet_id, kek_file=kek, gate=clearing_gate)
    assert report.built == report.signed == report.broadcast and len(report.built) == 1
    batch_id = report.built[0]
    verified(db, batch_id)
    mine(rpc, 6)
    follow(db, rpc)
    assert batch_of(db, batch_id).state is BatchState.CONFIRMED
    assert balance(db, client) == 800_001 - 500_000
    change = lot_lineage(db, operator, batch_of(db, batch_id).txid or "", 1)
    assert change.lot.origin == "change" and change.origins == ("deposit:dep-2", "invoice:inv-1")
    assert sorted(p.origin for p in change.parents) == ["deposit:dep-2", "invoice:inv-1"]
    assert reconcile(db, rpc, operator, policy=POLICY).balanced
    assert verify(db).ok


def test_a_sweep_into_the_hot_wallet_is_sent_once_booked_once_and_keeps_its_lineage(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    spendable_wallet(db, operator, kek)
    create_hot_wallet(db, operator, "hot", "regtest", kek, secret=HOT_SECRET)
    client = open_client(db, operator, "client:acme")
    receive(db, operator, rpc, client, ["invoice:inv-0", "invoice:inv-1", "deposit:dep-2"])
    mine(rpc, 6)
    late = receive(db, operator, rpc, client, ["invoice:inv-late"])  # five confirmations short of the depth
    mine(rpc, 1)
    follow(db, rpc)
    assert balance(db, client) == 3 * 400_000 + 3

    first = sweep(db, operator, "recv", "hot", rpc=rpc, kek_file=kek, policy=POLICY,
                  steps=frozenset({"build", "sign"}))  # fmt: skip
    assert first.built is not None and first.inputs == 3 and first.signed == [first.built]
    assert first.amount_sats + first.fee_sats == 3 * 400_000 + 3 and rpc.getrawmempool() == []
    sweep_id = first.built
    # The process dies before broadcasting; the next call sends the stored transaction, builds nothing.
    again = sweep(db, operator, "recv", "hot", rpc=rpc, kek_file=kek, policy=POLICY)
    assert again.built is None and again.broadcast == [sweep_id]
    assert sweep(db, operator, "recv", "hot", rpc=rpc, kek_file=kek, policy=POLICY).broadcast == []
    swept = batch_of(db, sweep_id)
    assert rpc.getrawmempool() == [swept.txid]
    verified(db, sweep_id)
    follow(db, rpc)
    assert balance(db, "custody:hot") == 0, "nothing is booked before the payout depth"

    mine(rpc, 6)
    follow(db, rpc)
    follow(db, rpc)
    assert batch_of(db, sweep_id).state is BatchState.CONFIRMED
    assert -balance(db, "custody:hot") == first.amount_sats
    assert -balance(db, "custody:recv") == 400_000, "only the late lot is left in the receive wallet"
    assert balance(db, "fees:network") == -first.fee_sats
    assert balance(db, client) == 4 * 400_000 + 3, "a sweep moves custody, not client money"
    with db.transaction() as session:
        late_lot = store.get_lot(session, late[0], 0)
    assert late_lot is not None and late_lot.state is LotState.AVAILABLE and late_lot.reserved_by is None

    merged = lot_lineage(db, operator, swept.txid or "", 0)
    assert merged.lot.wallet_id == "hot" and merged.lot.origin == f"sweep:{sweep_id}"
    assert merged.origins == ("deposit:dep-2", "invoice:inv-0", "invoice:inv-1")
    assert len(merged.parents) == 3 and sum(p.value_sats for p in merged.parents) == 3 * 400_000 + 3
    parent = merged.parents[0]
    assert lot_lineage(db, operator, parent.txid, parent.vout).children == ((swept.txid, 0),)
    assert reconcile(db, rpc, operator, policy=POLICY).balanced

    # The consolidated lot pays on: an "invoice only" constraint sees its deposit origin and refuses it.
    request_payout(db, operator, PayoutRequest("h1", "hot", client, PAYEES[1], 300_000))
    waiting = run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate,
                               origin_prefix="invoice:")  # fmt: skip
    assert waiting.built == [] and waiting.waiting == ["h1"]
    paid = run_batcher_once(db, rpc, POLICY, wallet_id="hot", kek_file=kek, gate=clearing_gate)
    verified(db, paid.built[0])
    mine(rpc, 6)
    follow(db, rpc)
    change = lot_lineage(db, operator, batch_of(db, paid.built[0]).txid or "", 1)
    assert change.origins == merged.origins and [(p.txid, p.vout) for p in change.parents] == [
        (swept.txid, 0)
    ]
    assert reconcile(db, rpc, operator, policy=POLICY).balanced
    assert verify(db).ok


@pytest.mark.parametrize("depth", [2, 6])
def test_a_taproot_sweep_into_the_treasury_survives_a_reorg_and_is_booked_once(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path, depth: int
) -> None:
    spendable_wallet(db, operator, kek, taproot=True)
    create_treasury_wallet(db, operator, "treasury", treasury_keys(), "regtest")
    client = open_client(db, operator, "client:acme")
    receive(db, operator, rpc, client, ["invoice:inv-0", "deposit:dep-1"])
    mine(rpc, 6)
    follow(db, rpc)
    report = sweep(db, operator, "recv", "treasury", rpc=rpc, kek_file=kek, policy=POLICY)
    assert report.built is not None and report.broadcast == [report.built]
    verified(db, report.built)
    fork_point = rpc.getblockcount()
    mine(rpc, depth)
    follow(db, rpc)
    booked = depth >= 6
    assert -balance(db, "custody:treasury") == (report.amount_sats if booked else 0)

    rpc.call("generatefork", fork_point, depth + 1, MINER.address())
    follow(db, rpc)
    swept = batch_of(db, report.built)
    assert swept.confirmed_height is None and rpc.getrawmempool() == [swept.txid]
    with db.transaction() as session:
        merged = store.get_lot(session, swept.txid or "", 0)
    assert merged is not None and merged.block_height is None
    assert -balance(db, "custody:treasury") == (report.amount_sats if booked else 0), "kept, never doubled"
    assert sweep(db, operator, "recv", "treasury", rpc=rpc, kek_file=kek, policy=POLICY).built is None
    mine(rpc, 6)
    follow(db, rpc)
    assert batch_of(db, report.built).state is BatchState.CONFIRMED
    assert -balance(db, "custody:treasury") == report.amount_sats
    assert balance(db, "custody:recv") == 0 and balance(db, "fees:network") == -report.fee_sats
    lineage = lot_lineage(db, operator, swept.txid or "", 0)
    assert lineage.lot.wallet_id == "treasury" and lineage.origins == ("deposit:dep-1", "invoice:inv-0")
    assert reconcile(db, rpc, operator, policy=POLICY).balanced
    assert verify(db).ok


def test_a_stuck_sweep_is_bumped_and_booked_for_the_member_that_confirms(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    spendable_wallet(db, operator, kek)
    create_hot_wallet(db, operator, "hot", "regtest", kek, secret=HOT_SECRET)
    client = open_client(db, operator, "client:acme")
    receive(db, operator, rpc, client, ["deposit:dep-0"])
    mine(rpc, 6)
    follow(db, rpc)
    first = sweep(db, operator, "recv", "hot", rpc=rpc, kek_file=kek, policy=POLICY)
    assert first.built is not None
    verified(db, first.built)
    follow(db, rpc)  # the follower records the original's output from the mempool
    replacement = bump_batch(db, operator, first.built, batch_of(db, first.built).feerate_sat_per_kvb * 5)
    again = sweep(db, operator, "recv", "hot", rpc=rpc, kek_file=kek, policy=POLICY)
    assert again.built is None and again.signed == again.broadcast == [replacement.id]
    bumped = batch_of(db, replacement.id)
    assert rpc.getrawmempool() == [bumped.txid] and batch_of(db, first.built).state is BatchState.REPLACED
    verified(db, replacement.id)
    mine(rpc, 6)
    follow(db, rpc)
    assert bumped.change_sats is not None and bumped.change_sats < first.amount_sats
    assert -balance(db, "custody:hot") == bumped.change_sats
    assert balance(db, "custody:recv") == 0 and balance(db, "fees:network") == -bumped.fee_sats
    merged = lot_lineage(db, operator, bumped.txid or "", 0)
    (deposit,) = merged.parents
    assert lot_lineage(db, operator, deposit.txid, deposit.vout).children == ((bumped.txid, 0),)
    assert reconcile(db, rpc, operator, policy=POLICY).balanced


def test_watch_only_receive_wallets_keep_working_and_cannot_be_swept(
    db: Database, operator: Principal, rpc: BitcoinRpc, kek: Path
) -> None:
    root = hd_root("watch-only")
    with pytest.raises(ValidationFailed) as public:
        create_receive_wallet(db, operator, "w", account_key(root, "m/84'/1'/0'"), "regtest", kek_file=kek)
    assert public.value.code == "private_key_required"
    # Without a KEK a private key is not kept: the wallet is watch-only, as before.
    create_receive_wallet(db, operator, "recv", account_key(root, "m/84'/1'/0'", private=True), "regtest")
    create_hot_wallet(db, operator, "hot", "regtest", kek, secret=HOT_SECRET)
    with db.transaction() as session:
        record = store.get_wallet(session, "recv")
    assert record is not None and record.sealed_secret is None
    client = open_client(db, operator, "client:acme")
    receive(db, operator, rpc, client, ["invoice:inv-0"])
    mine(rpc, 6)
    follow(db, rpc)
    assert balance(db, client) == 400_000
    request_payout(db, operator, PayoutRequest("w1", "recv", client, PAYEES[0], 100_000))
    report = run_batcher_once(db, rpc, POLICY, wallet_id="recv", kek_file=kek, gate=clearing_gate)
    assert report.built == [] and report.waiting == ["w1"] and "watch-only" in report.notes[0]
    with db.transaction() as session:
        assert [p.state for p in store.payouts_where(session)] == [PayoutState.QUEUED]

    unchanged = registry_size(db)
    for source, target, feerate, code in [
        ("recv", "hot", None, "wallet_cannot_sign"),
        ("hot", "recv", None, "invalid_sweep_destination"),
        ("hot", "hot", None, "invalid_sweep_destination"),
        ("hot", "nowhere", None, "wallet_not_found"),
        ("hot", "recv", 0, "invalid_feerate"),
        ("hot", "treasury", 600_000, "feerate_out_of_bounds"),
    ]:
        with pytest.raises(CorridorError) as refused:
            sweep(
                db,
                operator,
                source,
                target,
                rpc=rpc,
                kek_file=kek,
                policy=POLICY,
                feerate_sat_per_kvb=feerate,
            )
        assert refused.value.code == code
    assert registry_size(db) == unchanged and rpc.getrawmempool() == []
