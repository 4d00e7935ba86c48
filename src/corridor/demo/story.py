"""``corridor demo``: the whole money path on the devnode in well under a minute, told step by step.

Operator set-up, an exporter and an importer onboarded and admitted, a registered miner, contracts, an
invoice paid by a foreign buyer's wallet, import payments batched into one transaction, a payment to a
sanctioned wallet refused, a chain reorganisation survived, then reconciliation and registry verification.
``build_living_system`` is the same story stopped where a newcomer can carry on (``corridor up``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from corridor.bitcoin.address import parse_address
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.contracts.model import ContractType
from corridor.custody.follower import run_follower_once
from corridor.custody.payouts import run_batcher_once
from corridor.custody.reconcile import reconcile
from corridor.custody.state import CustodyPolicy, policy_from_profile
from corridor.db import Database
from corridor.demo import world
from corridor.errors import CorridorError
from corridor.profiles.loader import load_configured_profile
from corridor.registry.service import verify
from corridor.settlement import service as settlement
from corridor.settlement.service import InvoiceIn, PaymentOrderIn

Say = Callable[[str], None]


@dataclass
class DemoRun:
    db: Database
    rpc: BitcoinRpc
    kek: Path
    say: Say
    policy: CustodyPolicy = field(
        default_factory=lambda: policy_from_profile(load_configured_profile().on(datetime.now(UTC).date()))
    )

    def round(self) -> None:
        """One round of the platform's workers: follow the chain, batch and sign, judge settlements."""
        run_follower_once(self.db, self.rpc, self.policy)
        run_batcher_once(self.db, self.rpc, self.policy, wallet_id=world.PAYOUT_WALLET, kek_file=self.kek)
        settlement.run_settlement_once(self.db)
        run_follower_once(self.db, self.rpc, self.policy)  # see what the batcher just broadcast

    def mine(self, blocks: int) -> None:
        world.mine(self.rpc, blocks)
        self.round()


@dataclass
class Cast:
    officers: world.Officers
    exporter: str
    importer: str
    export_contract: str
    import_contract: str


def set_the_stage(run: DemoRun) -> Cast:
    db, say = run.db, run.say
    officers = world.demo_officers()
    say(
        "operator: creating the receive wallet (wpkh descriptor) and the hot wallet (key sealed with AES-GCM)"
    )
    world.set_up_wallets(db, officers.ops, run.kek)
    say("compliance: onboarding Uralsk Machine Works JSC (exporter) and Volga Import LLC (importer)")
    exporter = world.onboard(db, officers, world.exporter_application())
    importer = world.onboard(db, officers, world.importer_application())
    say(
        "contracts: an export contract with a Chinese buyer and an import contract with a Kazakh supplier (RUB)"
    )
    export_contract = world.register_contract(
        db, officers, exporter, "EXP-2025/07", ContractType.EXPORT, 9_000_000_00,
        world.counterparty("Shenzhen Trading Co Ltd", "CN", "213800KUD8LAJWSQ9D15", world.BUYER.address()),
    )  # fmt: skip
    import_contract = world.register_contract(
        db, officers, importer, "IMP-2025/11", ContractType.IMPORT, 2_900_000_00,
        world.counterparty("Almaty Steel LLP", "KZ", "5493001KJTIIGC8Y1R12", world.SUPPLIER.address()),
    )  # fmt: skip
    say("screening: loading the demo sanctions list (fictional, FollowTheMoney format)")
    world.load_demo_list(db, officers.ops)
    say("miner: the registered miner mines 101 blocks and sells 3 block rewards into the hot wallet float")
    world.fund_hot_wallet(db, run.rpc, 3)
    run.mine(6)
    return Cast(officers, exporter, importer, export_contract, import_contract)


def export_proceeds(run: DemoRun, cast: Cast) -> list[str]:
    """An invoice paid exactly and one overpaid; both judged in locked sats."""
    say, db = run.say, run.db
    coins = world.coins_of(run.rpc, world.BUYER, 2)
    full = settlement.create_invoice(db, cast.officers.ops, InvoiceIn(cast.export_contract, "450000.00", "RUB",
                                     id="inv-demo-1", description="CNC lathe, lot 1"))  # fmt: skip
    over = settlement.create_invoice(db, cast.officers.ops, InvoiceIn(cast.export_contract, "120000.00", "RUB",
                                     id="inv-demo-2", description="spare parts"))  # fmt: skip
    say(
        f"invoice {full['id']}: RUB 450,000.00 = {full['sats_due']} sats locked at {full['quote']['price']} RUB/BTC"
    )
    for invoice, sats, coin in (
        (full, full["sats_due"], coins[0]),
        (over, over["sats_due"] + 5_000, coins[1]),
    ):
        script = parse_address(invoice["address"], world.NETWORK).script_pubkey
        world.pay_to(run.rpc, coin, script, sats)
    say("buyer: paid invoice 1 in full and invoice 2 with 5,000 sats too many")
    run.round()
    run.mine(6)
    for invoice_id in (full["id"], over["id"]):
        view = settlement.get_invoice(db, cast.officers.ops, invoice_id)
        requests = (
            ", ".join(f"{r['kind']} request of {r['sats']} sats" for r in view["requests"]) or "no request"
        )
        say(f"invoice {invoice_id}: {view['status']} {view['exception'] or ''} ({requests})")
    return [full["id"], over["id"]]


def import_payments(run: DemoRun, cast: Cast) -> list[str]:
    say, db, ops = run.say, run.db, cast.officers.ops
    deposit = settlement.issue_deposit_address(db, ops, cast.importer)
    coin = world.coins_of(run.rpc, world.IMPORTER_FUNDING, 1)[0]
    world.pay_to(run.rpc, coin, parse_address(deposit["address"], world.NETWORK).script_pubkey, 300_000_000)
    run.mine(6)
    say(
        f"importer: deposited 3 BTC; balance {settlement.balance(db, ops, cast.importer)['available_sats']} sats"
    )
    orders = []
    for n, (amount, supplier) in enumerate((("350000.00", None), ("180000.00", None), ("1250000.00", None))):
        made = settlement.create_payment_order(
            db, ops, PaymentOrderIn(cast.import_contract, amount, "RUB", address=supplier, id=f"po-demo-{n + 1}",
                                    reference=f"supplier invoice {n + 1}"),
        )  # fmt: skip
        orders.append(made["id"])
        say(
            f"payment order {made['id']}: RUB {amount} = {made['sats']} sats, {made['approvals_required']} approval(s)"
        )
    sanctioned = world.demo_list_addresses()[0]
    try:
        settlement.create_payment_order(
            db, ops, PaymentOrderIn(cast.import_contract, "1000.00", "RUB", address=sanctioned, id="po-demo-x",
                                    beneficiary={"name": "Blackfin Shadow Trading FZE", "country": "AE"}),
        )  # fmt: skip
    except CorridorError as refused:
        say(f"screening: a payment to {sanctioned[:16]}... was refused ({refused.code})")
    for order_id in orders:
        settlement.approve_payment_order(db, cast.officers.treasurer, order_id)
        order = settlement.get_payment_order(db, ops, order_id)
        if order["state"] == "pending_approval":
            settlement.approve_payment_order(db, cast.officers.checker, order_id)
    run.round()
    txids = {settlement.get_payment_order(db, ops, o)["txid"] for o in orders}
    say(f"custody: {len(orders)} payouts batched into {len(txids)} transaction(s), signed and broadcast")
    return orders


def survive_a_reorg(run: DemoRun) -> None:
    run.mine(1)
    height = run.rpc.getblockcount()
    run.rpc.call("generatefork", height - 1, 3, world.MINER.address())
    run.say(f"chain: a competing branch of 3 blocks replaced block {height} (reorg of depth 1)")
    run.round()
    run.mine(6)
    run.say("chain: the batch confirmed again on the new branch and reached 6 confirmations")


def tell(db: Database, rpc: BitcoinRpc, kek: Path, say: Say) -> dict[str, Any]:
    started = time.monotonic()
    run = DemoRun(db, rpc, kek, say)
    cast = set_the_stage(run)
    invoices = export_proceeds(run, cast)
    orders = import_payments(run, cast)
    survive_a_reorg(run)
    run.mine(1)
    ops = cast.officers.ops
    report = reconcile(db, rpc, ops, policy=run.policy)
    verified = verify(db)
    summary = {
        "invoices": [_invoice_summary(settlement.get_invoice(db, ops, i)) for i in invoices],
        "payouts": [_order_summary(settlement.get_payment_order(db, ops, o)) for o in orders],
        "currency_operations": len(settlement.list_operations(db, ops)),
        "registry_verified": verified.ok,
        "registry_entries": verified.entries,
        "reconciliation_differences": len(report.differences),
        "chain_height": rpc.getblockcount(),
        "seconds": round(time.monotonic() - started, 1),
    }
    say(f"done: registry verified={verified.ok} ({verified.entries} entries), reconciliation differences="
        f"{len(report.differences)}, {summary['seconds']} s")  # fmt: skip
    return summary


def _invoice_summary(view: dict[str, Any]) -> dict[str, Any]:
    return {"id": view["id"], "status": view["status"], "exception": view["exception"],
            "sats_due": view["sats_due"], "paid_sats": view["paid_sats"]}  # fmt: skip


def _order_summary(view: dict[str, Any]) -> dict[str, Any]:
    return {"id": view["id"], "status": view["state"], "sats": view["sats"], "txid": view["txid"]}
