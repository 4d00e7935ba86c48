"""Wallets, address issuance and lookup, and the chain follower receiving: depth, reorgs, crash, resume."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from corridor.access.model import Principal
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody import store
from corridor.custody.descriptors import SealedSeedError, open_seed, write_new_kek
from corridor.custody.service import (
    create_hot_wallet,
    create_receive_wallet,
    find_address,
    issue_address,
)
from corridor.custody.state import AddressPurpose, LotState, credit_transfer_id, reversal_transfer_id
from corridor.db import Database
from corridor.errors import NotFound, ValidationFailed
from corridor.ledger import service as ledger
from corridor.registry.service import utc_now, verify

from .conftest import account_key, balance, follow, hd_root, mine, open_client, outsider_coins, pay

pytestmark = [pytest.mark.db, pytest.mark.chain]


def _receive_wallet(db: Database, operator: Principal, *, taproot: bool = False) -> str:
    root = hd_root("receive-tr" if taproot else "receive-wpkh")
    path = "m/86'/1'/0'" if taproot else "m/84'/1'/0'"
    wallet_id = "recv-tr" if taproot else "recv"
    create_receive_wallet(db, operator, wallet_id, account_key(root, path), "regtest", taproot=taproot)
    return wallet_id


def test_addresses_are_fresh_and_lead_back_to_wallet_purpose_and_record(
    db: Database, operator: Principal, kek: Path
) -> None:
    client = open_client(db, operator, "client:acme")
    for taproot in (False, True):
        wallet_id = _receive_wallet(db, operator, taproot=taproot)
        first = issue_address(db, operator, wallet_id, AddressPurpose.INVOICE, "inv-1", client)
        second = issue_address(db, operator, wallet_id, AddressPurpose.DEPOSIT, "dep-7", client)
        assert first.address != second.address and (first.index, second.index) == (0, 1)
        assert first.address.startswith("bcrt1p" if taproot else "bcrt1q")
        by_address = find_address(db, operator, first.address)
        assert (by_address.wallet_id, by_address.purpose, by_address.record, by_address.issued) == (
            wallet_id, "invoice", "inv-1", True,
        )  # fmt: skip
        by_script = find_address(db, operator, second.script_pubkey.hex())
        assert (by_script.purpose, by_script.record, by_script.credit_account_id) == (
            "deposit",
            "dep-7",
            client,
        )
    hot = create_hot_wallet(db, operator, "hot", "regtest", kek, secret=bytes(range(1, 33)))
    assert find_address(db, operator, hot.descriptor and _hot_address(db)).wallet_role == "hot"
    with pytest.raises(ValidationFailed) as invalid:
        find_address(db, operator, "bcrt1qnotanaddress")
    assert invalid.value.code == "invalid_address"
    with pytest.raises(NotFound):
        find_address(db, operator, "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")


def _hot_address(db: Database) -> str:
    with db.transaction() as session:
        wallet = store.get_wallet(session, "hot")
        assert wallet is not None
        scripts = [a for a in store.all_address_scripts(session)]
        found = [store.address_by_script(session, s) for s in scripts]
    return next(a.address for a in found if a is not None and a.wallet_id == "hot")


def test_gap_limit_window_finds_unissued_addresses_but_not_beyond(db: Database, operator: Principal) -> None:
    from corridor.custody.descriptors import DescriptorWallet
    from corridor.custody.fees import InputKind
    from corridor.custody.model import WalletRole

    wallet_id = _receive_wallet(db, operator)
    with db.transaction() as session:
        record = store.get_wallet(session, wallet_id)
    assert record is not None
    wallet = DescriptorWallet(record.descriptor, "regtest", WalletRole.RECEIVE, InputKind.P2WPKH)
    inside = find_address(db, operator, wallet.derive(19).address)
    assert (inside.issued, inside.index, inside.purpose) == (False, 19, "lookahead")
    with pytest.raises(NotFound):
        find_address(db, operator, wallet.derive(20).address)


def test_hot_seed_is_sealed_at_rest_under_the_kek(db: Database, operator: Principal, tmp_path: Path) -> None:
    kek = tmp_path / "kek"
    write_new_kek(kek)
    secret = bytes(range(3, 35))
    record = create_hot_wallet(db, operator, "hot", "regtest", kek, secret=secret)
    with db.transaction() as session:
        stored = store.get_wallet(session, "hot")
    assert stored is not None and stored.sealed_secret is not None and secret not in stored.sealed_secret
    assert open_seed(stored.sealed_secret, kek, label=record.id) == secret
    other = tmp_path / "other"
    write_new_kek(other)
    with pytest.raises(SealedSeedError):
        open_seed(stored.sealed_secret, other, label=record.id)


def test_credit_posts_only_at_depth_after_a_mempool_sighting(
    db: Database, operator: Principal, rpc: BitcoinRpc
) -> None:
    client = open_client(db, operator, "client:acme")
    wallet_id = _receive_wallet(db, operator)
    address = issue_address(db, operator, wallet_id, AddressPurpose.INVOICE, "inv-42", client)
    coin = outsider_coins(rpc, 1)[0]
    txid = pay(rpc, coin, address.script_pubkey, 1_234_567)

    follow(db, rpc)
    with db.transaction() as session:
        lot = store.get_lot(session, txid, 0)
    assert lot is not None and lot.state is LotState.UNCONFIRMED and lot.origin == "invoice:inv-42"
    assert balance(db, client) == 0

    mine(rpc, 5)
    follow(db, rpc)
    assert balance(db, client) == 0, "five confirmations are not the profile's six"
    mine(rpc, 1)
    report = follow(db, rpc)
    assert report.credits_posted == 1 and balance(db, client) == 1_234_567
    follow(db, rpc)
    assert balance(db, client) == 1_234_567, "a second pass must not count anything again"
    assert verify(db).ok


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5, 6])
def test_reorg_while_receiving_reverses_unsupported_credit_then_recredits_once(
    db: Database, operator: Principal, rpc: BitcoinRpc, depth: int
) -> None:
    client = open_client(db, operator, "client:acme")
    wallet_id = _receive_wallet(db, operator)
    address = issue_address(db, operator, wallet_id, AddressPurpose.INVOICE, "inv-r", client)
    coin = outsider_coins(rpc, 1)[0]
    txid = pay(rpc, coin, address.script_pubkey, 500_000)
    fork_point = rpc.getblockcount()
    mine(rpc, depth)  # the payment confirms at fork_point + 1 and gets `depth` confirmations
    follow(db, rpc)
    credited = depth >= 6
    assert balance(db, client) == (500_000 if credited else 0)

    rpc.call("generatefork", fork_point, depth + 1, MINER_ADDRESS)
    report = follow(db, rpc)
    assert report.blocks_disconnected == depth
    assert balance(db, client) == 0, "the best chain no longer holds the payment: no credit may remain"
    with db.transaction() as session:
        lot = store.get_lot(session, txid, 0)
        tip = store.last_block(session)
    assert lot is not None and lot.block_height is None and lot.state is LotState.UNCONFIRMED
    assert tip is not None and tip[1] == rpc.getbestblockhash()
    if credited:
        reversal = ledger.get_transfer(db, operator, reversal_transfer_id(credit_transfer_id(txid, 0, 0)))
        assert reversal.corrects == credit_transfer_id(txid, 0, 0) and reversal.amount == 500_000

    mine(rpc, 6)  # the payment is back from the mempool in the next block
    follow(db, rpc)
    assert balance(db, client) == 500_000
    assert verify(db).ok


MINER_ADDRESS = "bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080"


class CrashingClock:
    """A clock that fails on its n-th reading: the follower dies in the middle of a block's transaction."""

    def __init__(self, fail_at: int) -> None:
        self.calls = 0
        self.fail_at = fail_at

    def __call__(self) -> datetime:
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("process killed")
        return utc_now()


def test_crash_mid_block_resumes_without_counting_twice(
    db: Database, operator: Principal, rpc: BitcoinRpc
) -> None:
    from corridor.custody.follower import run_follower_once

    from .conftest import POLICY

    client = open_client(db, operator, "client:acme")
    wallet_id = _receive_wallet(db, operator)
    address = issue_address(db, operator, wallet_id, AddressPurpose.DEPOSIT, "dep-c", client)
    coin = outsider_coins(rpc, 1)[0]
    pay(rpc, coin, address.script_pubkey, 77_000)
    mine(rpc, 6)
    tip = rpc.getblockcount()
    crashes = 0
    for fail_at in (40, 5, 3, 2):  # die at different points, each time inside a block's transaction
        try:
            run_follower_once(db, rpc, POLICY, clock=CrashingClock(fail_at))
        except RuntimeError:
            crashes += 1
    assert crashes >= 1
    report = follow(db, rpc)
    assert report.tip_height == tip
    assert balance(db, client) == 77_000
    with db.transaction() as session:
        assert len(store.lots_where(session, store.lots.c.wallet_id == wallet_id)) == 1
    assert verify(db).ok
