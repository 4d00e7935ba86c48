"""Reconciliation: the ledger's custody accounts against the UTXO set at a height.

The ledger posts a received output at the credit depth and a batch at the payout depth, so the custody
accounts should equal, wallet by wallet, the value of our outputs that are confirmed and unspent at the
*settled height* (the follower's tip less the depth, plus one). That is the default height. Every output
we believe unspent is also checked against the node's own UTXO set (``gettxout``), which catches a
follower that missed a spend. Differences are reported, recorded in ``custody_reconciliations`` and
appended to the registry; nothing is booked automatically: an operator investigates and corrects.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from corridor.access.model import Principal, authorize
from corridor.bitcoin.rpc import BitcoinRpc, RpcError
from corridor.custody import store
from corridor.custody.state import CustodyPolicy, LotState
from corridor.db import Database
from corridor.errors import Conflict, ValidationFailed
from corridor.ledger import service as ledger
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class WalletLine:
    wallet_id: str
    ledger_account_id: str
    ledger_sats: int
    utxo_sats: int
    utxo_count: int
    reserved_for_payouts_sats: int

    @property
    def difference_sats(self) -> int:
        return self.utxo_sats - self.ledger_sats


@dataclass
class ReconciliationReport:
    id: int
    height: int
    block_hash: str
    settled_height: int
    wallets: list[WalletLine]
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.differences

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "height": self.height,
            "block_hash": self.block_hash,
            "settled_height": self.settled_height,
            "balanced": self.balanced,
            "wallets": [asdict(w) | {"difference_sats": w.difference_sats} for w in self.wallets],
            "differences": self.differences,
        }


def reconcile(
    db: Database,
    rpc: BitcoinRpc,
    principal: Principal,
    height: int | None = None,
    policy: CustodyPolicy | None = None,
    clock: Clock = utc_now,
) -> ReconciliationReport:
    authorize(principal, "custody.reconcile.run")
    policy = policy or CustodyPolicy()
    with db.transaction() as session:
        last = store.last_block(session)
        if last is None:
            raise Conflict("follower_not_started", "the chain follower has not processed any block yet")
        depth = max(policy.credit_confirmations, policy.payout_confirmations)
        settled = max(0, last[0] - depth + 1)
        height = settled if height is None else height
        if isinstance(height, bool) or not 0 <= height <= last[0]:
            raise ValidationFailed("height_not_followed", f"height must be between 0 and {last[0]}")
        block_hash = store.block_hash_at(session, height)
        if block_hash is None:
            raise ValidationFailed("height_not_followed", f"the follower has no block at height {height}")
        if _node_hash(rpc, height) != block_hash:
            raise Conflict(
                "follower_behind", "the node's best chain differs at that height; run the follower"
            )
        lines = [_wallet_line(session, w.id, w.ledger_account_id, height) for w in store.all_wallets(session)]
        differences: list[dict[str, Any]] = [
            {"kind": "wallet_balance", "wallet_id": line.wallet_id, "ledger_sats": line.ledger_sats,
             "utxo_sats": line.utxo_sats, "difference_sats": line.difference_sats}
            for line in lines if line.difference_sats != 0
        ]  # fmt: skip
        differences += _node_utxo_differences(session, rpc)
        report = ReconciliationReport(0, height, block_hash, settled, lines, differences)
        body = report.as_dict()
        report.id = store.insert_reconciliation(
            session,
            height,
            block_hash,
            report.balanced,
            json.dumps(body, sort_keys=True),
            format_time(clock()),
        )
        body["id"] = report.id
        registry.append(
            session, principal.actor, "custody.reconciliation", f"reconciliation:{report.id}",
            {"height": height, "block_hash": block_hash, "balanced": report.balanced, "differences": differences},
            clock,
        )  # fmt: skip
    return report


def _node_hash(rpc: BitcoinRpc, height: int) -> str | None:
    try:
        return rpc.getblockhash(height)
    except RpcError:
        return None


def _wallet_line(session: Any, wallet_id: str, account_id: str, height: int) -> WalletLine:
    account = ledger.get_account_in(session, account_id)
    ledger_sats = 0 if account is None else account.debit_balance
    reserved = 0 if account is None else account.credits_pending
    utxo_sats, count = store.wallet_lot_sum_at(session, wallet_id, height)
    return WalletLine(wallet_id, account_id, ledger_sats, utxo_sats, count, reserved)


def _node_utxo_differences(session: Any, rpc: BitcoinRpc) -> list[dict[str, Any]]:
    """Outputs we think confirmed and unspent in the best chain that the node's UTXO set lacks, or holds
    with another value."""
    differences: list[dict[str, Any]] = []
    believed = store.lots_where(
        session, store.lots.c.block_height.is_not(None), store.lots.c.spent_height.is_(None),
        store.lots.c.state != LotState.DROPPED.value,
    )  # fmt: skip
    for lot in believed:
        coin = rpc.gettxout(lot.txid, lot.vout, False)
        if coin is None:
            differences.append({"kind": "missing_from_node_utxo_set", "outpoint": f"{lot.txid}:{lot.vout}",
                                "wallet_id": lot.wallet_id, "value_sats": lot.value_sats})  # fmt: skip
        elif coin.value_sats != lot.value_sats:
            differences.append({"kind": "value_differs", "outpoint": f"{lot.txid}:{lot.vout}",
                                "ours": lot.value_sats, "node": coin.value_sats})  # fmt: skip
    return differences
