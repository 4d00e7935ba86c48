"""`corridor demo --json` from the installed console script: the story ends in its expected final states."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_demo_json_ends_settled_confirmed_reconciled_and_verified(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "corridor.cli", "demo", "--json", "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    assert summary["registry_verified"] is True
    assert summary["reconciliation_differences"] == 0
    assert [(i["id"], i["status"], i["exception"]) for i in summary["invoices"]] == [
        ("inv-demo-1", "settled", None),
        ("inv-demo-2", "settled", "paid_over"),
    ]
    assert [p["status"] for p in summary["payouts"]] == ["confirmed"] * 3
    assert len({p["txid"] for p in summary["payouts"]}) == 1  # batched into one transaction
    assert summary["currency_operations"] == 5
    assert "screening: a payment to" in done.stderr and "screening_hit" in done.stderr
