"""`corridor custody ...` commands and the top-level `corridor reconcile`.

The lead registers them in ``corridor.cli.main``::

    from corridor.cli.custody import custody_app, reconcile_command
    app.add_typer(custody_app, name="custody")
    app.command("reconcile")(reconcile_command)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from corridor.access.model import system_principal
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.cli.context import open_database
from corridor.custody.state import CustodyPolicy, policy_from_profile
from corridor.errors import CorridorError
from corridor.settings import get_settings

custody_app = typer.Typer(help="Custody: wallets, the chain follower, payout batches.", no_args_is_help=True)


def open_rpc() -> BitcoinRpc:
    """The configured node, or the embedded devnode `corridor up` runs (its cookie in the data dir)."""
    settings = get_settings()
    if settings.bitcoin_rpc_url:
        return BitcoinRpc(settings.bitcoin_rpc_url)
    cookie = settings.data_dir / "devnode" / "regtest" / ".cookie"
    return BitcoinRpc(f"http://127.0.0.1:{settings.devnode_rpc_port}", cookie_file=cookie)


def configured_policy() -> CustodyPolicy:
    from corridor.profiles.loader import load_configured_profile

    return policy_from_profile(load_configured_profile().on(date.today()))


def _fail(error: CorridorError) -> typer.Exit:
    typer.echo(f"error: {error.code}: {error.detail}", err=True)
    return typer.Exit(2)


@custody_app.command("create-hot-wallet")
def create_hot_wallet(wallet_id: str, network: Annotated[str, typer.Option()] = "regtest") -> None:
    """Create a hot wallet; its fresh key is stored only sealed under CORRIDOR_KEK_FILE."""
    from corridor.custody.service import create_hot_wallet as create

    kek = get_settings().resolved_kek_file()
    try:
        record = create(open_database(), system_principal("cli"), wallet_id, network, kek)
    except CorridorError as error:
        raise _fail(error) from None
    typer.echo(record.descriptor)


@custody_app.command("follow")
def follow(
    start_height: Annotated[int, typer.Option(help="Where a fresh follower starts.")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Process every new block and the mempool once."""
    from corridor.custody.follower import run_follower_once

    with open_rpc() as rpc:
        report = run_follower_once(open_database(), rpc, configured_policy(), start_height=start_height)
    typer.echo(json.dumps(asdict(report)) if as_json else f"tip {report.tip_height}: {report}")


@custody_app.command("batch")
def batch(
    wallet_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Build, sign (hot wallet) and broadcast one batch of queued payouts."""
    from corridor.custody.payouts import run_batcher_once

    kek: Path = get_settings().resolved_kek_file()
    try:
        with open_rpc() as rpc:
            report = run_batcher_once(
                open_database(), rpc, configured_policy(), wallet_id=wallet_id, kek_file=kek
            )
    except CorridorError as error:
        raise _fail(error) from None
    typer.echo(json.dumps(asdict(report)) if as_json else str(report))


def reconcile_command(
    height: Annotated[int | None, typer.Option("--height", help="Default: the settled height.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare the ledger's custody accounts with the UTXO set at a height; record every difference.

    Exit 0 when balanced, 1 when there are differences, 2 on an error.
    """
    from corridor.custody.reconcile import reconcile

    try:
        with open_rpc() as rpc:
            report = reconcile(open_database(), rpc, system_principal("cli"), height, configured_policy())
    except CorridorError as error:
        raise _fail(error) from None
    if as_json:
        typer.echo(json.dumps(report.as_dict(), sort_keys=True))
    else:
        typer.echo(f"reconciliation {report.id} at height {report.height} ({report.block_hash})")
        for line in report.wallets:
            typer.echo(f"  {line.wallet_id}: ledger {line.ledger_sats} utxo {line.utxo_sats} "
                       f"difference {line.difference_sats}")  # fmt: skip
        typer.echo("balanced" if report.balanced else f"{len(report.differences)} difference(s)")
    raise typer.Exit(0 if report.balanced else 1)
