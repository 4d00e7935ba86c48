"""The `corridor` command line."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import Progress

from corridor.access.model import Role
from corridor.cli.context import open_database
from corridor.cli.contracts import contracts_app
from corridor.cli.custody import custody_app, reconcile_command
from corridor.cli.demo import demo_command
from corridor.cli.participants import participants_app
from corridor.cli.rates import rates_app
from corridor.cli.screening import alerts_app, lists_app, screen_command
from corridor.cli.settlement import invoices_app, operations_app, payments_app
from corridor.errors import CorridorError
from corridor.settings import Settings

app = typer.Typer(help="Corridor: regulated cross-border settlement in Bitcoin.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
registry_app = typer.Typer(help="The tamper-evident operations registry.", no_args_is_help=True)
admin_app = typer.Typer(help="Operator administration.", no_args_is_help=True)
ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(registry_app, name="registry")
app.add_typer(admin_app, name="admin")
app.add_typer(ledger_app, name="ledger")
app.add_typer(participants_app, name="participants")
app.add_typer(contracts_app, name="contracts")
app.add_typer(custody_app, name="custody")
app.command("reconcile")(reconcile_command)
app.add_typer(lists_app, name="lists")
app.add_typer(rates_app, name="rates")
app.add_typer(alerts_app, name="alerts")
app.add_typer(invoices_app, name="invoices")
app.add_typer(payments_app, name="payments")
app.add_typer(operations_app, name="operations")
app.command("demo")(demo_command)
app.command("screen")(screen_command)

err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration to the database CORRIDOR_DATABASE_URL names."""
    from corridor.db.migrate import upgrade
    from corridor.settings import get_settings

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url())
    typer.echo("database is up to date")


@registry_app.command("verify")
def registry_verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Recompute the hash chain, the head and every checkpoint; exit 1 and name the first bad seq if broken."""
    from corridor.registry.service import verify

    db = open_database()
    if as_json:
        report = verify(db)
    else:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("verifying registry", total=None)
            report = verify(db, progress=lambda done: progress.update(task, completed=done))
    if as_json:
        typer.echo(json.dumps(report.as_dict()))
    elif report.ok:
        typer.echo(f"registry intact: {report.entries} entries, root {report.root}")
    else:
        typer.echo(f"registry BROKEN at seq {report.first_bad_seq}: {report.reason}")
    raise typer.Exit(0 if report.ok else 1)


@registry_app.command("checkpoint")
def registry_checkpoint() -> None:
    """Record the current tree size and root; later rewrites of history are caught against it."""
    from corridor.access.model import system_principal
    from corridor.registry.service import create_checkpoint

    try:
        checkpoint = create_checkpoint(open_database(), system_principal("cli"))
    except CorridorError as error:
        raise fail(error.detail) from None
    typer.echo(json.dumps({"tree_size": checkpoint.tree_size, "root": checkpoint.root}))


@admin_app.command("create-key")
def admin_create_key(
    role: Annotated[str, typer.Option(help="One of: " + ", ".join(r.value for r in Role))],
    name: Annotated[str, typer.Option(help="Who the key is for.")] = "operator",
    participant: Annotated[str | None, typer.Option(help="Participant id (client and miner keys).")] = None,
) -> None:
    """Create a user and print its API key once (it is stored only as an argon2 hash)."""
    from corridor.access.service import bootstrap_key

    try:
        parsed_role = Role(role)
    except ValueError:
        raise fail(f"unknown role {role!r}; choose one of: {', '.join(r.value for r in Role)}") from None
    try:
        issued = bootstrap_key(open_database(), parsed_role, name, participant)
    except CorridorError as error:
        raise fail(f"{error.code}: {error.detail}") from None
    typer.echo(issued.key)
    err.print(f"key {issued.prefix} for role {issued.role} created; it is shown only this once")


@ledger_app.command("expire")
def ledger_expire() -> None:
    """Void every pending transfer whose timeout has passed."""
    from corridor.ledger.service import expire_pending

    typer.echo(f"expired {expire_pending(open_database())} pending transfers")


@ledger_app.command("totals")
def ledger_totals(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Debits and credits per asset over all accounts; exit 1 if any asset does not balance."""
    from corridor.ledger.service import totals

    rows = totals(open_database())
    if as_json:
        typer.echo(json.dumps([{**asdict(row), "balanced": row.balanced} for row in rows]))
    else:
        for row in rows:
            typer.echo(
                f"{row.asset}: debits {row.debits_posted} credits {row.credits_posted} balanced={row.balanced}"
            )
    raise typer.Exit(0 if all(row.balanced for row in rows) else 1)


@app.command("up")
def up(
    no_devnode: Annotated[
        bool, typer.Option("--no-devnode", help="Do not start the embedded devnode.")
    ] = False,
    no_demo_data: Annotated[
        bool, typer.Option("--no-demo-data", help="Start empty instead of loading the demo's story.")
    ] = False,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Serve the API only; run `corridor worker` beside it.")
    ] = False,
) -> None:
    """Migrate the database and serve the API (and, unless told otherwise, the embedded Bitcoin devnode).

    On a fresh database with the embedded devnode it first loads the demo's data (see `corridor demo`)."""
    from corridor.cli.up import run_platform

    run_platform(start_devnode=not no_devnode, demo_data=not no_demo_data, worker=not no_worker)


@app.command("worker")
def worker() -> None:
    """Run the platform's periodic jobs (chain, payouts, settlement, webhooks) in this process until
    interrupted, beside API processes started with `corridor up --no-worker`."""
    import signal
    import threading

    from corridor.cli.context import open_database
    from corridor.cli.up import run_worker
    from corridor.settings import get_settings

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: stop.set())
    err.print(f"worker: a round every {get_settings().worker_interval_seconds:g} s; Ctrl-C stops it")
    run_worker(open_database(), stop)


@app.command("devnode")
def devnode(
    datadir: Annotated[
        Path | None, typer.Option(help="Data directory (default: CORRIDOR_DATA_DIR/devnode).")
    ] = None,
    rpcport: Annotated[
        int | None, typer.Option(help="RPC port (default: CORRIDOR_DEVNODE_RPC_PORT).")
    ] = None,
    rpcuser: Annotated[
        str | None, typer.Option(help="RPC user (default: a cookie file in the datadir).")
    ] = None,
    rpcpassword: Annotated[str | None, typer.Option(help="RPC password.")] = None,
) -> None:
    """Run the regtest devnode (libbitcoinkernel, Core-compatible JSON-RPC) until interrupted."""
    from corridor.bitcoin.devnode import serve
    from corridor.settings import get_settings

    settings = get_settings()
    folder = datadir or settings.data_dir / "devnode"
    folder.mkdir(parents=True, exist_ok=True)
    port = rpcport or settings.devnode_rpc_port
    err.print(f"devnode (regtest only) on 127.0.0.1:{port}, data in {folder}")
    serve(folder, rpc_port=port, rpc_user=rpcuser, rpc_password=rpcpassword)


@app.command("bench")
def bench(
    names: Annotated[list[str] | None, typer.Argument(help="Benchmarks to run (default: all).")] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Reduced sizes; finishes in under a minute.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array of figures.")] = False,
) -> None:
    """Run the benchmarks under bench/ and print their figures."""
    from corridor.cli.bench import run_benchmarks

    try:
        figures = run_benchmarks(names or [], quick)
    except LookupError as error:
        raise fail(str(error)) from None
    if not quick and not names:
        from datetime import UTC, datetime

        from corridor.cli.bench import write_performance_doc

        doc = write_performance_doc(figures, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        err.print(f"figures written to {doc}")
    if as_json:
        typer.echo(json.dumps(figures))
    else:
        for figure in figures:
            goal = f" (goal {figure['goal']})" if figure.get("goal") is not None else ""
            typer.echo(f"{figure['name']}: {figure['value']} {figure['unit']}{goal}")


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except CorridorError as error:
        err.print(f"[red]error:[/red] {error.code}: {error.detail}")
        sys.exit(2)
    except ValidationError as error:  # a CORRIDOR_* setting that does not parse, for whichever command
        if error.title != Settings.__name__:
            raise
        for problem in error.errors():
            name = "CORRIDOR_" + "_".join(str(part) for part in problem["loc"]).upper()
            err.print(f"[red]error:[/red] settings.invalid: {name}: {problem['msg']}")
        sys.exit(2)
