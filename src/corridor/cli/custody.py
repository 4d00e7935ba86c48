"""`corridor custody ...` commands and the top-level `corridor reconcile`.

The lead registers them in ``corridor.cli.main``::

    from corridor.cli.custody import custody_app, reconcile_command
    app.add_typer(custody_app, name="custody")
    app.command("reconcile")(reconcile_command)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from corridor.access.model import system_principal
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.cli.context import open_database
from corridor.custody.state import CustodyPolicy, policy_from_profile
from corridor.db import Database
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


@contextmanager
def _database() -> Iterator[Database]:
    db = open_database()
    try:
        yield db
    finally:
        db.dispose()


@contextmanager
def _errors_exit_2() -> Iterator[None]:
    """Every error a caller or the environment can cause becomes one line on stderr and exit status 2."""
    from corridor.bitcoin.rpc import BitcoinRpcException
    from corridor.custody.descriptors import KeyFileError, SealedSeedError

    try:
        yield
    except CorridorError as error:
        typer.echo(f"error: {error.code}: {error.detail}", err=True)
        raise typer.Exit(2) from None
    except (KeyFileError, SealedSeedError, FileNotFoundError, PermissionError) as error:
        typer.echo(f"error: kek_unavailable: {error}", err=True)
        raise typer.Exit(2) from None
    except BitcoinRpcException as error:
        typer.echo(f"error: node_unavailable: {error}", err=True)
        raise typer.Exit(2) from None


def _kek_for_new_key() -> Path:
    """The KEK file to seal a new key under. The default one (in the data dir) is created on first use;
    one named by CORRIDOR_KEK_FILE must exist, since a fresh key there would hide a misconfiguration."""
    from corridor.custody.descriptors import write_new_kek

    settings = get_settings()
    path = settings.resolved_kek_file()
    if settings.kek_file is None and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_new_kek(path)
        typer.echo(f"created the key-encryption key {path}; back it up apart from the database", err=True)
    return path


@custody_app.command("create-hot-wallet")
def create_hot_wallet(wallet_id: str, network: Annotated[str, typer.Option()] = "regtest") -> None:
    """Create a hot wallet; its fresh key is stored only sealed under CORRIDOR_KEK_FILE."""
    from corridor.custody.service import create_hot_wallet as create

    with _errors_exit_2(), _database() as db:
        record = create(db, system_principal("cli"), wallet_id, network, _kek_for_new_key())
    typer.echo(record.descriptor)


@custody_app.command("create-receive-wallet")
def create_receive_wallet(
    wallet_id: str,
    account_key: Annotated[
        str | None, typer.Option(help="[fingerprint/path]xpub (watch-only) or xprv (with --spendable).")
    ] = None,
    generate: Annotated[bool, typer.Option(help="Make a fresh account key (implies --spendable).")] = False,
    spendable: Annotated[bool, typer.Option(help="Keep the private key sealed under the KEK.")] = False,
    taproot: Annotated[bool, typer.Option(help="tr() instead of wpkh().")] = False,
    gap_limit: Annotated[int, typer.Option()] = 20,
    network: Annotated[str, typer.Option()] = "regtest",
) -> None:
    """Create a receive wallet: watch-only over an xpub, or spendable (payouts, sweeps) with its xprv
    sealed under CORRIDOR_KEK_FILE. Prints the public descriptor."""
    from corridor.custody.descriptors import generate_account_key
    from corridor.custody.service import create_receive_wallet as create

    if generate == (account_key is not None):
        typer.echo("error: usage: give exactly one of --account-key and --generate", err=True)
        raise typer.Exit(2)
    if generate:
        if network not in ("mainnet", "testnet", "signet", "regtest"):
            typer.echo(f"error: invalid_network: {network}", err=True)
            raise typer.Exit(2)
        account_key, spendable = generate_account_key(network, taproot=taproot), True
    assert account_key is not None
    with _errors_exit_2(), _database() as db:
        kek = _kek_for_new_key() if spendable else None
        record = create(db, system_principal("cli"), wallet_id, account_key, network,
                        taproot=taproot, gap_limit=gap_limit, kek_file=kek)  # fmt: skip
    typer.echo(record.descriptor)


@custody_app.command("create-treasury-wallet")
def create_treasury_wallet(
    wallet_id: str,
    cosigner_keys: Annotated[list[str], typer.Argument(help="The three approvers' [fingerprint/path]xpub.")],
    network: Annotated[str, typer.Option()] = "regtest",
) -> None:
    """Create the 2-of-3 treasury over the approvers' account keys; Corridor holds none of its keys."""
    from corridor.custody.service import create_treasury_wallet as create

    with _errors_exit_2(), _database() as db:
        record = create(db, system_principal("cli"), wallet_id, cosigner_keys, network)
    typer.echo(record.descriptor)


@custody_app.command("follow")
def follow(
    start_height: Annotated[int, typer.Option(help="Where a fresh follower starts.")] = 0,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Process every new block and the mempool once."""
    from corridor.custody.follower import run_follower_once

    with _errors_exit_2(), _database() as db, open_rpc() as rpc:
        report = run_follower_once(db, rpc, configured_policy(), start_height=start_height)
    typer.echo(json.dumps(asdict(report)) if as_json else f"tip {report.tip_height}: {report}")


@custody_app.command("batch")
def batch(
    wallet_id: str,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Build, sign (hot wallet) and broadcast one batch of queued payouts."""
    from corridor.custody.payouts import run_batcher_once

    kek: Path = get_settings().resolved_kek_file()
    with _errors_exit_2(), _database() as db, open_rpc() as rpc:
        report = run_batcher_once(db, rpc, configured_policy(), wallet_id=wallet_id, kek_file=kek)
    typer.echo(json.dumps(asdict(report)) if as_json else str(report))


@custody_app.command("sweep")
def sweep(
    from_wallet: str,
    to_wallet: str,
    feerate: Annotated[int | None, typer.Option(help="sat/kvB; default: the node's estimate.")] = None,
    origin_prefix: Annotated[str | None, typer.Option(help="Only lots of this origin, e.g. invoice:")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Consolidate a spendable wallet's confirmed lots into the hot wallet or the treasury."""
    from corridor.custody.sweeps import sweep as run

    with _errors_exit_2(), _database() as db, open_rpc() as rpc:
        report = run(db, system_principal("cli"), from_wallet, to_wallet, rpc=rpc,
                     kek_file=get_settings().resolved_kek_file(), policy=configured_policy(),
                     feerate_sat_per_kvb=feerate, origin_prefix=origin_prefix)  # fmt: skip
    typer.echo(json.dumps(asdict(report)) if as_json else str(report))


@custody_app.command("bump")
def bump(
    batch_id: str,
    feerate: Annotated[int, typer.Option(help="The new fee rate, sat/kvB.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Replace a stuck batch (BIP125) at a higher fee; a treasury replacement needs new approvals."""
    from corridor.custody.payouts import bump_batch

    with _errors_exit_2(), _database() as db:
        replacement = bump_batch(db, system_principal("cli"), batch_id, feerate)
    if as_json:
        typer.echo(json.dumps({"id": replacement.id, "replaces": replacement.replaces,
                               "fee_sats": replacement.fee_sats, "state": replacement.state.value}))  # fmt: skip
    else:
        typer.echo(f"{replacement.id} replaces {replacement.replaces} at fee {replacement.fee_sats} sats")


def reconcile_command(
    height: Annotated[int | None, typer.Option("--height", help="Default: the settled height.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Compare the ledger's custody accounts with the UTXO set at a height; record every difference.

    Exit 0 when balanced, 1 when there are differences, 2 on an error.
    """
    from corridor.custody.reconcile import reconcile

    with _errors_exit_2(), _database() as db, open_rpc() as rpc:
        report = reconcile(db, rpc, system_principal("cli"), height, configured_policy())
    if as_json:
        typer.echo(json.dumps(report.as_dict(), sort_keys=True))
    else:
        typer.echo(f"reconciliation {report.id} at height {report.height} ({report.block_hash})")
        for line in report.wallets:
            typer.echo(f"  {line.wallet_id}: ledger {line.ledger_sats} utxo {line.utxo_sats} "
                       f"difference {line.difference_sats}")  # fmt: skip
        typer.echo("balanced" if report.balanced else f"{len(report.differences)} difference(s)")
    raise typer.Exit(0 if report.balanced else 1)
