"""Chain-follower ingestion benchmark: the block scanner on real mainnet blocks with 100,000 watched scripts.

Blocks: btcd-testdata block 574200 (3,315 transactions) and bitcoin-core-testdata block 413567. The
watch set holds 100,000 random witness scripts plus a slice of real output scripts from the blocks, so
the scanner both misses and hits (and hashes the hit transactions). Run:
python bench/bench_follower.py [--quick] -> prints a JSON list of figures.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from typing import Any

from corridor.custody.blockscan import scan_block
from corridor.testdata import shared_data_dir

WATCHED = 100_000
GOAL_TX_PER_S = 20_000
BLOCKS = {
    "574200": "btcd-testdata/wire/testdata/block-0000000000000000001602407ac49862a7bca9d00f7f402db20b7be2f5de59d2.blk",
    "413567": "bitcoin-core-testdata/src/bench/data/block413567.raw",
}


def _figure(name: str, value: float, unit: str, goal: str | None) -> dict[str, Any]:
    return {"name": name, "value": round(value, 2), "unit": unit, "goal": goal, "baseline": None}


def _watch_set(raws: list[bytes]) -> set[bytes]:
    scripts = {b"\x00\x14" + hashlib.sha256(i.to_bytes(4, "little")).digest()[:20] for i in range(WATCHED)}
    # Real scripts from the blocks: every 50th output found in a block is ours.
    for raw in raws:
        scan = scan_block(raw, _EveryNth(50), set())
        scripts |= {o.script_pubkey for o in scan.outputs}
    return scripts


class _EveryNth:
    """A container that answers yes to every n-th script it is asked about (to pick real scripts)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.asked = 0

    def __contains__(self, item: object) -> bool:
        self.asked += 1
        return self.asked % self.n == 0


def run(quick: bool) -> list[dict[str, Any]]:
    data = shared_data_dir()
    raws = {name: (data / path).read_bytes() for name, path in BLOCKS.items()}
    watch = _watch_set(list(raws.values()))
    rounds = 3 if quick else 20
    figures = []
    total_tx = 0
    total_seconds = 0.0
    for name, raw in raws.items():
        best = float("inf")
        for _ in range(rounds):
            start = time.perf_counter()
            scan = scan_block(raw, watch, set())
            best = min(best, time.perf_counter() - start)
        total_tx += scan.tx_count
        total_seconds += best
        figures.append(_figure(f"follower_scan_block_{name}_tx_per_s", scan.tx_count / best, "tx/s",
                               f">= {GOAL_TX_PER_S}"))  # fmt: skip
        figures.append(_figure(f"follower_scan_block_{name}_hits", len(scan.outputs), "outputs", None))
    figures.append(_figure("follower_scan_tx_per_s", total_tx / total_seconds, "tx/s", f">= {GOAL_TX_PER_S}"))
    return figures


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:]), indent=2))
