"""A settlement world on a real devnode, on both databases: wallets, a sanctions list, an admitted exporter
and importer with RUB contracts, a registered miner and a foreign buyer with coins."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from corridor.bitcoin.address import parse_address
from corridor.bitcoin.devnode import RunningDevnode, start_devnode
from corridor.bitcoin.devnode.testkit import Spendable
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.contracts.model import ContractType
from corridor.custody.descriptors import write_new_kek
from corridor.custody.follower import run_follower_once
from corridor.custody.payouts import run_batcher_once
from corridor.custody.state import CustodyPolicy
from corridor.db import Database
from corridor.demo import world
from corridor.settlement import service

POLICY = CustodyPolicy(credit_confirmations=6, payout_confirmations=6)


@dataclass
class World:
    db: Database
    rpc: BitcoinRpc
    kek: Path
    officers: world.Officers
    exporter: str
    importer: str
    export_contract: str
    import_contract: str
    buyer_coins: list[Spendable]

    def follow(self) -> None:
        run_follower_once(self.db, self.rpc, POLICY)

    def mine(self, count: int = 1) -> None:
        world.mine(self.rpc, count)

    def settle_round(self, clock: Callable[[], datetime] | None = None) -> service.SyncReport:
        """What `corridor up` does each round: follow the chain, batch payouts, judge settlements."""
        now = clock or (lambda: datetime.now(UTC))
        run_follower_once(self.db, self.rpc, POLICY, clock=now)
        run_batcher_once(
            self.db, self.rpc, POLICY, wallet_id=world.PAYOUT_WALLET, kek_file=self.kek, clock=now
        )
        return service.run_settlement_once(self.db, now)

    def pay(self, address: str, sats: int) -> str:
        coin = self.buyer_coins.pop()
        return world.pay_to(self.rpc, coin, parse_address(address, "regtest").script_pubkey, sats)

    def fund_importer(self, sats: int) -> None:
        """The importer deposits BTC from its own wallet; credited after the credit depth."""
        deposit = service.issue_deposit_address(self.db, self.officers.ops, self.importer)
        self.pay(deposit["address"], sats)
        self.mine(6)
        self.follow()

    def fund_hot_wallet(self, blocks: int = 3) -> None:
        """The registered miner sells mined coins to the operator's hot wallet float."""
        world.fund_hot_wallet(self.db, self.rpc, blocks)
        self.mine(6)
        self.follow()


@pytest.fixture
def node() -> Iterator[RunningDevnode]:
    running = start_devnode()
    yield running
    running.stop()


@pytest.fixture
def settlement_world(db: Database, node: RunningDevnode, tmp_path: Path) -> Iterator[World]:
    rpc = BitcoinRpc(node.url)
    kek = tmp_path / "kek.hex"
    write_new_kek(kek)
    officers = world.demo_officers()
    world.set_up_wallets(db, officers.ops, kek)
    exporter = world.onboard(db, officers, world.exporter_application())
    importer = world.onboard(db, officers, world.importer_application())
    export_contract = world.register_contract(
        db, officers, exporter, "EXP-1", ContractType.EXPORT, 9_000_000_00,
        world.counterparty("Shenzhen Trading Co Ltd", "CN", "213800KUD8LAJWSQ9D15", world.BUYER.address()),
    )  # fmt: skip
    import_contract = world.register_contract(
        db, officers, importer, "IMP-1", ContractType.IMPORT, 2_900_000_00,
        world.counterparty("Almaty Steel LLP", "KZ", "5493001KJTIIGC8Y1R12", world.SUPPLIER.address()),
    )  # fmt: skip
    world.load_demo_list(db, officers.ops)
    buyer_coins = world.coins_of(rpc, world.BUYER, 6)
    built = World(db, rpc, kek, officers, exporter, importer, export_contract, import_contract, buyer_coins)
    built.follow()
    yield built
    rpc.close()


def later(minutes: int) -> Callable[[], datetime]:
    return lambda: datetime.now(UTC) + timedelta(minutes=minutes)
