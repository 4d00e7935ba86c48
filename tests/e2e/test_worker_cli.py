"""`corridor worker` runs the platform's rounds in a process of its own (beside `corridor up --no-worker`):
it follows the chain into the database and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from corridor.bitcoin.devnode import start_devnode
from corridor.bitcoin.devnode.testkit import DevKey
from corridor.bitcoin.rpc import BitcoinRpc
from corridor.db import Database
from corridor.db.testing import migrated_database, sqlite_url


def followed_tip(db: Database) -> int | None:
    with db.engine.connect() as connection:
        return connection.execute(text("SELECT max(height) FROM custody_blocks")).scalar()


def test_the_worker_follows_the_chain_in_its_own_process_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = migrated_database(sqlite_url(tmp_path))
    node = start_devnode()
    try:
        rpc = BitcoinRpc(node.url)
        rpc.generatetoaddress(3, DevKey.from_seed("worker-test").address())
        rpc.close()
        env = {**os.environ, "CORRIDOR_DATA_DIR": str(tmp_path), "CORRIDOR_DATABASE_URL": db.url,
               "CORRIDOR_BITCOIN_RPC_URL": node.url, "CORRIDOR_WORKER_INTERVAL_SECONDS": "0.2"}  # fmt: skip
        worker = subprocess.Popen(
            [sys.executable, "-m", "corridor.cli", "worker"], env=env, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 60
        while followed_tip(db) != 3 and time.monotonic() < deadline and worker.poll() is None:
            time.sleep(0.2)
        assert followed_tip(db) == 3, (
            worker.stderr.read().decode() if worker.poll() is not None else "no round"
        )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        node.stop()
        db.dispose()


def test_a_setting_that_does_not_parse_is_named_and_exits_2(tmp_path: Path) -> None:
    env = {**os.environ, "CORRIDOR_DATA_DIR": str(tmp_path), "CORRIDOR_WORKER_INTERVAL_SECONDS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "corridor.cli", "worker"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert "settings.invalid: CORRIDOR_WORKER_INTERVAL_SECONDS" in " ".join(done.stderr.split())
    assert not (tmp_path / "corridor.db").exists()  # nothing opened, nothing written
