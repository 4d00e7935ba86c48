"""``corridor demo``: tell the whole story on a fresh devnode and a fresh database, then summarise it."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from corridor.bitcoin.devnode import start_devnode
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.custody.descriptors import write_new_kek
from corridor.db import Database
from corridor.db.migrate import upgrade
from corridor.demo.story import tell
from corridor.logging import configure_logging

err = Console(stderr=True)


def demo_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON summary object on stdout.")] = False,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep the demo's database and keys here (default: a temporary folder)."),
    ] = None,
) -> None:
    """Run the demo: onboarding, contracts, an invoice, batched import payments, a reorg, reconciliation."""
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="corridor-demo-") as scratch:
        folder = workdir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        summary = run_demo(folder, say=(lambda line: err.print(f"[bold cyan]demo[/] {line}")))
    if as_json:
        typer.echo(json.dumps(summary, sort_keys=True))
    else:
        err.print_json(json.dumps(summary))
    ok = summary["registry_verified"] and summary["reconciliation_differences"] == 0
    raise typer.Exit(0 if ok else 1)


def run_demo(folder: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    url = f"sqlite:///{folder / 'demo.db'}"
    upgrade(url)
    db = Database(url)
    kek = folder / "kek.hex"
    if not kek.exists():
        write_new_kek(kek)
    node = start_devnode()
    rpc = BitcoinRpc(node.url)
    try:
        return tell(db, rpc, kek, say)
    finally:
        rpc.close()
        node.stop()
        db.dispose()
