"""Registry: appends per second, and full verification speed on 100,000 entries.

Baseline for verification: SHA-256 alone over the same canonical bytes (the floor any verifier pays).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _support import backends, figure, scratch_database
from corridor.registry import service, store
from corridor.registry.model import stored_entry_bytes
from corridor.registry.service import NewEntry


def fill(db: Any, total: int, batch: int = 5_000) -> float:
    started = time.perf_counter()
    for first in range(0, total, batch):
        items = [
            NewEntry(
                "system:bench",
                "ledger.transfer.single",
                f"transfer:t{i}",
                {
                    "id": f"t{i}",
                    "amount": 1_000 + i,
                    "asset": "BTC",
                    "debit_account_id": "a",
                    "credit_account_id": "b",
                },
            )
            for i in range(first, min(first + batch, total))
        ]
        with db.transaction() as session:
            service.append_many(session, items)
    return total / (time.perf_counter() - started)


def hashing_floor(db: Any) -> float:
    with db.transaction() as session:
        blobs = [stored_entry_bytes(e) for e in store.iter_entries(session)]
    started = time.perf_counter()
    for blob in blobs:
        hashlib.sha256(blob).digest()
        hashlib.sha256(b"\x00" + blob).digest()
    return len(blobs) / (time.perf_counter() - started)


def run(quick: bool) -> list[dict[str, Any]]:
    total = 10_000 if quick else 100_000
    figures: list[dict[str, Any]] = []
    for backend in backends():
        with scratch_database(backend) as db:
            appends = fill(db, total)
            started = time.perf_counter()
            report = service.verify(db)
            verify_rate = report.entries / (time.perf_counter() - started)
            assert report.ok and report.entries == total
            floor = hashing_floor(db)
            figures.append(figure(f"registry.append.{backend}.batch_5000", appends, "entries/s"))
            figures.append(
                figure(
                    f"registry.verify.{backend}.{total}_entries",
                    verify_rate,
                    "entries/s",
                    ">= 50000/s",
                    {"name": "sha256 of the same bytes only", "value": round(floor, 1), "unit": "entries/s"},
                )
            )
    return figures


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv), indent=2))
