"""`corridor up`: the whole platform in one process tree on its embedded defaults."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from corridor.cli.context import open_database
from corridor.db import Database
from corridor.http.app import create_app
from corridor.logging import get_logger
from corridor.settings import get_settings

if TYPE_CHECKING:
    from corridor.bitcoin.devnode import RunningDevnode

log = get_logger("corridor.up")


def run_worker(db: Database, stop: threading.Event) -> None:
    """The platform's periodic jobs, round after round until ``stop``: expire reservations, follow the chain,
    batch and sign payouts, judge invoices and payment orders, deliver webhooks. `corridor up` runs them in
    a thread of the API's process; `corridor worker` runs them in a process of their own, so that API
    processes and the worker use separate cores (run one worker per database: the follower and the batcher
    take advisory and row locks, so a second one only waits)."""
    _housekeeping(db, stop, get_settings().worker_interval_seconds)


def _housekeeping(db: Database, stop: threading.Event, every_seconds: float) -> None:
    from corridor.cli.custody import configured_policy, open_rpc
    from corridor.custody.follower import run_follower_once
    from corridor.ledger.service import expire_pending
    from corridor.settlement.service import run_settlement_once
    from corridor.webhooks.service import run_webhooks_once

    settings = get_settings()
    rpc = open_rpc()
    policy = configured_policy()
    kek = settings.resolved_kek_file()
    while not stop.wait(every_seconds):
        for job, run in (
            ("expire_pending", lambda: expire_pending(db)),
            ("follow_chain", lambda: run_follower_once(db, rpc, policy)),
            ("batch_payouts", lambda: _batch_if_wallet(db, rpc, policy, settings.payout_wallet, kek)),
            ("settle", lambda: run_settlement_once(db)),
            ("webhooks", lambda: run_webhooks_once(db)),
        ):
            try:
                run()
            except Exception as error:  # a failed round is logged and retried next round
                log.error(
                    "housekeeping_failed", job=job, error_type=type(error).__name__, error=str(error)[:200]
                )


def _batch_if_wallet(db: Database, rpc: object, policy: object, wallet_id: str, kek: Path) -> None:
    from corridor.custody import store
    from corridor.custody.payouts import run_batcher_once

    with db.transaction() as session:
        if store.get_wallet(session, wallet_id) is None:
            return  # no payout wallet yet: nothing to batch
    run_batcher_once(db, rpc, policy, wallet_id=wallet_id, kek_file=kek)  # type: ignore[arg-type]


def _load_demo_data(db: Database, kek: Path) -> None:
    """On a fresh database with the embedded devnode, tell the demo's story so a newcomer opens a living
    system: participants, contracts, settled invoices, confirmed payouts, a verified registry."""
    from corridor.cli.custody import open_rpc
    from corridor.custody import store
    from corridor.custody.descriptors import write_new_kek
    from corridor.demo.story import tell

    with db.transaction() as session:
        if store.all_wallets(session):
            return
    if not kek.exists():
        write_new_kek(kek)
    rpc = open_rpc()
    try:
        summary = tell(db, rpc, kek, lambda line: log.info("demo_data", step=line))
    finally:
        rpc.close()
    log.info("demo_data_loaded", registry_verified=summary["registry_verified"],
             reconciliation_differences=summary["reconciliation_differences"])  # fmt: skip


def run_platform(start_devnode: bool = True, demo_data: bool = True, worker: bool = True) -> None:
    settings = get_settings()
    db = open_database()
    stop = threading.Event()
    devnode = None
    if start_devnode and not settings.bitcoin_rpc_url:
        devnode = _start_devnode(settings.data_dir, settings.devnode_rpc_port)
        if demo_data:
            _load_demo_data(db, settings.resolved_kek_file())
    if worker:
        threading.Thread(target=run_worker, args=(db, stop), name="worker", daemon=True).start()
    log.info("corridor_up", http=f"http://{settings.http_host}:{settings.http_port}", database=db.dialect)
    try:
        uvicorn.run(
            create_app(db, settings), host=settings.http_host, port=settings.http_port, log_config=None
        )
    finally:
        stop.set()
        if devnode is not None:
            devnode.stop()


def _start_devnode(data_dir: Path, port: int) -> RunningDevnode:
    from corridor.bitcoin.devnode import start_devnode

    folder = data_dir / "devnode"
    folder.mkdir(parents=True, exist_ok=True)
    node = start_devnode(datadir=folder, port=port)
    log.info("devnode_started", rpc=f"127.0.0.1:{node.port}", cookie=str(node.cookie_file))
    return node
