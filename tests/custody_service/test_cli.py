"""The custody commands against a real database and devnode: wallets (the KEK made on first use), the
follower, a sweep, a batch run, and `corridor reconcile` exiting 0 when balanced, 1 on a difference and
2 on an error."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from corridor.access.model import Principal
from corridor.bitcoin.devnode import RunningDevnode
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.cli.main import app
from corridor.custody.service import issue_address
from corridor.custody.state import AddressPurpose, BatchState
from corridor.db import Database
from corridor.ledger import service as ledger
from corridor.ledger.model import TransferRequest
from corridor.settings import get_settings

from .conftest import (
    account_key,
    balance,
    batch_of,
    hd_root,
    kernel_verify,
    mine,
    open_client,
    outsider_coins,
    pay,
    spent_outputs_of_batch,
    treasury_keys,
)

pytestmark = [pytest.mark.db, pytest.mark.chain]


@pytest.fixture
def cli_env(
    db: Database, node: RunningDevnode, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Path]:
    monkeypatch.setenv("CORRIDOR_DATABASE_URL", db.url)
    monkeypatch.setenv("CORRIDOR_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CORRIDOR_BITCOIN_RPC_URL", node.url)
    monkeypatch.delenv("CORRIDOR_KEK_FILE", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def ok(*args: str) -> str:
    result = run(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def refused(code: str, *args: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert f"error: {code}" in result.stderr, result.stderr


def test_wallets_follow_sweep_and_reconcile_from_the_command_line(
    db: Database, operator: Principal, rpc: BitcoinRpc, cli_env: Path
) -> None:
    descriptor = ok("custody", "create-receive-wallet", "recv", "--generate")
    assert descriptor.startswith("wpkh([") and "tpub" in descriptor and "tprv" not in descriptor
    kek = cli_env / "kek.hex"
    assert kek.exists() and stat.S_IMODE(kek.stat().st_mode) == 0o600
    ok("custody", "create-hot-wallet", "hot")
    ok("custody", "create-treasury-wallet", "treasury", *treasury_keys())
    xpub = account_key(hd_root("cli-watch"), "m/84'/1'/0'")
    assert ok("custody", "create-receive-wallet", "watch", "--account-key", xpub).startswith("wpkh(")
    refused(
        "private_key_required", "custody", "create-receive-wallet", "w2", "--account-key", xpub, "--spendable"
    )
    refused("usage", "custody", "create-receive-wallet", "w3")
    refused("invalid_descriptor", "custody", "create-treasury-wallet", "t2", *treasury_keys()[:2])
    refused("wallet_cannot_sign", "custody", "sweep", "watch", "hot")
    refused("follower_not_started", "reconcile")

    client = open_client(db, operator, "client:acme")
    coins = outsider_coins(rpc, 2)
    for n, coin in enumerate(coins):
        address = issue_address(db, operator, "recv", AddressPurpose.INVOICE, f"inv-{n}", client)
        pay(rpc, coin, address.script_pubkey, 400_000 + n)
    mine(rpc, 6)
    followed = json.loads(ok("custody", "follow", "--json"))
    assert followed["tip_height"] == rpc.getblockcount() and followed["credits_posted"] == 2
    assert json.loads(ok("reconcile", "--json"))["balanced"] is True
    refused("height_not_followed", "reconcile", "--height", "100000")

    swept = json.loads(ok("custody", "sweep", "recv", "hot", "--json"))
    assert swept["inputs"] == 2 and swept["built"] in swept["broadcast"]
    sweep_batch = batch_of(db, swept["built"])
    spent = spent_outputs_of_batch(db, sweep_batch.id)
    assert kernel_verify(bytes.fromhex(sweep_batch.raw_tx or ""), spent) == [True, True]
    assert json.loads(ok("custody", "sweep", "recv", "hot", "--json"))["built"] is None, "nothing left"
    mine(rpc, 6)
    ok("custody", "follow")
    assert batch_of(db, sweep_batch.id).state is BatchState.CONFIRMED
    assert balance(db, "custody:recv") == 0
    assert -balance(db, "custody:hot") == 800_001 - sweep_batch.fee_sats
    text = ok("reconcile")
    assert "hot: ledger" in text and text.rstrip().endswith("balanced")
    assert json.loads(ok("custody", "batch", "hot", "--json"))["built"] == []

    # A booking the chain does not show: reconciliation reports it and exits 1.
    ledger.create_transfer(
        db, operator,
        TransferRequest(id="stray-1", debit_account_id="custody:hot", credit_account_id="custody:suspense",
                        amount=1_234, asset="BTC", reference="booked by mistake"),
    )  # fmt: skip
    result = run("reconcile", "--json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["balanced"] is False
    assert report["differences"] == [
        {"kind": "wallet_balance", "wallet_id": "hot", "ledger_sats": 800_001 - sweep_batch.fee_sats + 1_234,
         "utxo_sats": 800_001 - sweep_batch.fee_sats, "difference_sats": -1_234}
    ]  # fmt: skip
    assert run("reconcile").exit_code == 1


def test_the_command_line_reports_an_unreachable_node_and_a_missing_kek(
    db: Database, cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRIDOR_KEK_FILE", str(cli_env / "elsewhere" / "kek.hex"))
    get_settings.cache_clear()
    refused("kek_unavailable", "custody", "create-hot-wallet", "hot")
    monkeypatch.setenv("CORRIDOR_BITCOIN_RPC_URL", "http://u:p@127.0.0.1:9")
    get_settings.cache_clear()
    refused("node_unavailable", "custody", "batch", "hot")
    refused("node_unavailable", "custody", "follow")
