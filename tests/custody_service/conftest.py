"""Fixtures for custody services against a real devnode: nodes, keys, funded coins, a follower loop."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from embit.bip32 import HDKey
from embit.networks import NETWORKS

from corridor.access.model import Principal
from corridor.bitcoin.devnode import RunningDevnode, start_devnode
from corridor.bitcoin.devnode.testkit import DevKey, Spendable, build_spend
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody import store
from corridor.custody.descriptors import write_new_kek
from corridor.custody.follower import FollowerReport, run_follower_once
from corridor.custody.state import BatchRecord, CustodyPolicy
from corridor.db import Database
from corridor.ledger import service as ledger
from corridor.ledger import store as ledger_store
from corridor.ledger.model import AccountFlags, AccountSpec

from ..custody.conftest import kernel_verify  # type: ignore[misc]  # the custody tests' kernel check

__all__ = ["kernel_verify"]

POLICY = CustodyPolicy(credit_confirmations=6, payout_confirmations=6)
OUTSIDER = DevKey.from_seed("custody-tests-outsider")
MINER = DevKey.from_seed("custody-tests-miner")


@pytest.fixture
def node() -> Iterator[RunningDevnode]:
    running = start_devnode()
    yield running
    running.stop()


@pytest.fixture
def rpc(node: RunningDevnode) -> Iterator[BitcoinRpc]:
    client = BitcoinRpc(node.url)
    yield client
    client.close()


@pytest.fixture
def kek(tmp_path: Path) -> Path:
    path = tmp_path / "kek.hex"
    write_new_kek(path)
    return path


def hd_root(label: str) -> HDKey:
    return HDKey.from_seed(hashlib.sha256(label.encode()).digest(), version=NETWORKS["regtest"]["xprv"])


def account_key(root: HDKey, path: str, *, private: bool = False) -> str:
    account = root.derive(path)
    origin = root.my_fingerprint.hex() + path[1:].replace("'", "h")
    key = (
        account.to_base58() if private else account.to_public().to_base58(version=NETWORKS["regtest"]["xpub"])
    )
    return f"[{origin}]{key}"


def mine(rpc: BitcoinRpc, count: int, key: DevKey = MINER) -> list[str]:
    return rpc.generatetoaddress(count, key.address())


def follow(db: Database, rpc: BitcoinRpc, policy: CustodyPolicy = POLICY) -> FollowerReport:
    return run_follower_once(db, rpc, policy)


def open_client(db: Database, operator: Principal, account_id: str) -> str:
    """A client's BTC account: credit-normal, never negative."""
    ledger.open_account(
        db,
        operator,
        AccountSpec(account_id, "BTC", "client", None, AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS),
    )
    return account_id


def balance(db: Database, account_id: str) -> int:
    with db.transaction() as session:
        account = ledger_store.get_account(session, account_id)
    assert account is not None
    return account.credit_balance


def available(db: Database, account_id: str) -> int:
    with db.transaction() as session:
        account = ledger_store.get_account(session, account_id)
    assert account is not None
    return account.available


def outsider_coins(rpc: BitcoinRpc, count: int) -> list[Spendable]:
    """``count`` mature coinbase outputs the outsider (a paying client's own wallet) can spend."""
    hashes = rpc.generatetoaddress(count, OUTSIDER.address())
    mine(rpc, 100)
    coins = []
    for block_hash in hashes:
        block = rpc.getblock(block_hash, 2)
        coinbase = block.transactions[0]
        coins.append(
            Spendable(
                bytes.fromhex(coinbase.txid)[::-1], 0, coinbase.vout[0].value_sats, OUTSIDER.p2wpkh, OUTSIDER
            )
        )
    return coins


def pay(rpc: BitcoinRpc, coin: Spendable, script: bytes, amount: int, fee: int = 2_000) -> str:
    """The outsider pays ``amount`` to ``script`` (change back to itself)."""
    outputs = [(script, amount), (OUTSIDER.p2wpkh, coin.value - amount - fee)]
    tx = build_spend([coin], outputs)
    return rpc.sendrawtransaction(tx.raw)


def verify_batch_in_kernel(db: Database, raw: bytes, spent: list[tuple[bytes, int]]) -> None:
    assert kernel_verify(raw, spent) == [True] * len(spent)


def spent_outputs_of_batch(db: Database, batch_id: str) -> list[tuple[bytes, int]]:
    """The (script, value) of each input of a batch, in input order, from our lot records."""
    from embit.transaction import Transaction

    with db.transaction() as session:
        batch = store.get_batch(session, batch_id)
        assert batch is not None and batch.raw_tx is not None
        tx = Transaction.parse(bytes.fromhex(batch.raw_tx))
        spent = []
        for txin in tx.vin:
            lot = store.get_lot(session, txin.txid.hex(), txin.vout)
            assert lot is not None
            spent.append((lot.script_pubkey, lot.value_sats))
    return spent


# --- the treasury: three approvers holding keys Corridor never sees ----------------------------------------

APPROVER_ROOTS = [hd_root(f"approver-{n}") for n in range(3)]
APPROVER_PATH = "m/48'/1'/0'/2'"


def treasury_keys() -> list[str]:
    return [account_key(root, APPROVER_PATH) for root in APPROVER_ROOTS]


def sign_as_approver(psbt_text: str, n: int) -> str:
    """What an approver's own BIP174 wallet does (here embit): parse, sign what its key can, return."""
    from embit.psbt import PSBT

    psbt = PSBT.from_string(psbt_text)
    assert psbt.sign_with(APPROVER_ROOTS[n]) > 0
    return str(psbt.to_string())


def registry_size(db: Database) -> int:
    from sqlalchemy import func, select

    from corridor.registry.store import entries

    with db.transaction() as session:
        return int(session.execute(select(func.count()).select_from(entries)).scalar_one())


def batch_of(db: Database, batch_id: str) -> BatchRecord:
    with db.transaction() as session:
        found = store.get_batch(session, batch_id)
    assert found is not None
    return found
