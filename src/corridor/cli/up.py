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


def _housekeeping(db: Database, stop: threading.Event, every_seconds: float = 5.0) -> None:
    """Periodic jobs of the single-process deployment: expire reservations, follow the chain."""
    from corridor.cli.custody import configured_policy, open_rpc
    from corridor.custody.follower import run_follower_once
    from corridor.ledger.service import expire_pending

    rpc = open_rpc()
    policy = configured_policy()
    while not stop.wait(every_seconds):
        for job, run in (
            ("expire_pending", lambda: expire_pending(db)),
            ("follow_chain", lambda: run_follower_once(db, rpc, policy)),
        ):
            try:
                run()
            except Exception as error:  # a failed round is logged and retried next round
                log.error(
                    "housekeeping_failed", job=job, error_type=type(error).__name__, error=str(error)[:200]
                )


def run_platform(start_devnode: bool = True) -> None:
    settings = get_settings()
    db = open_database()
    stop = threading.Event()
    devnode = None
    if start_devnode and not settings.bitcoin_rpc_url:
        devnode = _start_devnode(settings.data_dir, settings.devnode_rpc_port)
    worker = threading.Thread(target=_housekeeping, args=(db, stop), name="housekeeping", daemon=True)
    worker.start()
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
