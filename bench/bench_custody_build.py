"""Custody build benchmark: time to build and sign a 100-output batch; on-chain vsize per payout.

Run: python bench/bench_custody_build.py [--quick]  -> prints a JSON list of results.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import time
from typing import Any

from corridor.custody.coinselect import SelectionParams, select_coins
from corridor.custody.descriptors import DescriptorWallet, HotWallet
from corridor.custody.fees import InputKind
from corridor.custody.model import Lot, Payout
from corridor.custody.psbt import build_batch_psbt, extract_transaction, finalize_psbt, sign_psbt
from corridor.custody.sweeps import sweep_selection

RATE_SAT_PER_KVB = 5_000
P2WPKH_OUTPUT_VBYTES = 31  # 8 value + 1 length + 22 script: the floor any payout costs on chain
P2WPKH_INPUT_VBYTES = 68  # 41 non-witness bytes + a 108-109 byte witness / 4: what one swept deposit costs


def _hot_wallet() -> HotWallet:
    return HotWallet(hashlib.sha256(b"bench-hot").digest(), "regtest")


def _lots(wallet: HotWallet, count: int, value: int) -> list[Lot]:
    return [
        Lot(
            hashlib.sha256(f"bench-lot-{i}".encode()).hexdigest(),
            0,
            value,
            wallet.script_pubkey,
            InputKind.P2WPKH,
        )
        for i in range(count)
    ]


def _payouts(count: int) -> list[Payout]:
    return [
        Payout(b"\x00\x14" + hashlib.sha256(f"payee-{i}".encode()).digest()[:20], 50_000 + i)
        for i in range(count)
    ]


def build_and_sign(wallet: HotWallet, lots: list[Lot], payouts: list[Payout]) -> bytes:
    selection = select_coins(lots, payouts, SelectionParams(RATE_SAT_PER_KVB, wallet.script_pubkey))
    psbt = build_batch_psbt(selection, payouts, wallet=wallet)
    sign_psbt(psbt, wallet.signing_key)
    return extract_transaction(finalize_psbt(psbt))


def _vsize(tx: bytes) -> int:
    from embit.transaction import Transaction

    parsed = Transaction.parse(tx)
    for txin in parsed.vin:
        txin.witness.items = []
    return -(-(3 * len(parsed.serialize()) + len(tx)) // 4)


def bench_build_and_sign(quick: bool) -> list[dict[str, Any]]:
    wallet = _hot_wallet()
    lots = _lots(wallet, 20, 1_000_000)
    payouts = _payouts(100)
    build_and_sign(wallet, lots, payouts)  # warm caches (embit, secp256k1 context)
    runs = 5 if quick else 30
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        build_and_sign(wallet, lots, payouts)
        timings.append((time.perf_counter() - start) * 1000)
    # Baseline in the same run: a 1-output payment, to show what the 99 extra outputs cost.
    single = []
    for _ in range(runs):
        start = time.perf_counter()
        build_and_sign(wallet, lots[:1], _payouts(1))
        single.append((time.perf_counter() - start) * 1000)
    return [
        {
            "name": "custody.build_sign_batch_100_outputs_ms",
            "value": round(statistics.median(timings), 2),
            "unit": "ms",
            "goal": "< 100",
            "baseline": {"name": "build_sign_1_output_ms", "value": round(statistics.median(single), 2)},
        }
    ]


def bench_vsize_per_payout() -> list[dict[str, Any]]:
    wallet = _hot_wallet()
    results = []
    for size in (1, 10, 50, 200):
        lots = _lots(wallet, 30, 10_000_000 if size < 200 else 20_000_000)
        tx = build_and_sign(wallet, lots, _payouts(size))
        per_payout = _vsize(tx) / size
        results.append(
            {
                "name": f"custody.vsize_per_payout_batch_{size}",
                "value": round(per_payout, 2),
                "unit": "vB/payout",
                "goal": "<= 34.1 (floor 31 + 10%)" if size >= 50 else "report",
                "baseline": {"name": "p2wpkh_output_floor_vB", "value": P2WPKH_OUTPUT_VBYTES},
            }
        )
    return results


def _spendable_receive_wallet() -> DescriptorWallet:
    from embit.bip32 import HDKey
    from embit.networks import NETWORKS

    root = HDKey.from_seed(hashlib.sha256(b"bench-receive").digest(), version=NETWORKS["regtest"]["xprv"])
    account = root.derive("m/84h/1h/0h").to_base58()
    return DescriptorWallet.receive(f"[{root.my_fingerprint.hex()}/84h/1h/0h]{account}", "regtest")


def sweep_and_sign(wallet: DescriptorWallet, lots: list[Lot], destination: bytes) -> bytes:
    selection = sweep_selection(tuple(lots), destination, RATE_SAT_PER_KVB)
    assert selection is not None
    psbt = build_batch_psbt(selection, [Payout(destination, selection.payouts_sats)], wallet=wallet)
    sign_psbt(psbt, wallet.signing_key)
    return extract_transaction(finalize_psbt(psbt))


def bench_sweep(quick: bool) -> list[dict[str, Any]]:
    """A spendable receive wallet consolidating 200 deposits (one derived key per input) into one output."""
    wallet = _spendable_receive_wallet()
    lots = [
        Lot(hashlib.sha256(f"bench-deposit-{i}".encode()).hexdigest(), 0, 100_000 + i,
            wallet.derive(i).script_pubkey, InputKind.P2WPKH, 0, i)
        for i in range(200)
    ]  # fmt: skip
    destination = _hot_wallet().script_pubkey
    tx = sweep_and_sign(wallet, lots, destination)
    timings = []
    for _ in range(2 if quick else 7):
        start = time.perf_counter()
        sweep_and_sign(wallet, lots, destination)
        timings.append((time.perf_counter() - start) * 1000)
    return [
        {
            "name": "custody.build_sign_sweep_200_inputs_ms",
            "value": round(statistics.median(timings), 2),
            "unit": "ms",
            "goal": "report",
            "baseline": None,
        },
        {
            "name": "custody.vsize_per_swept_input",
            "value": round(_vsize(tx) / len(lots), 2),
            "unit": "vB/input",
            "goal": "report",
            "baseline": {"name": "p2wpkh_input_vB", "value": P2WPKH_INPUT_VBYTES},
        },
    ]


def run(quick: bool) -> list[dict[str, Any]]:
    return bench_build_and_sign(quick) + bench_vsize_per_payout() + bench_sweep(quick)


if __name__ == "__main__":
    print(json.dumps(run("--quick" in sys.argv[1:]), indent=2))
