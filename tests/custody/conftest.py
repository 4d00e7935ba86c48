"""Helpers shared by custody tests: deterministic keys, fake lots and libbitcoinkernel verification."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import pbk
from embit.bip32 import HDKey
from embit.networks import NETWORKS
from embit.transaction import Transaction
from pbk.script import PrecomputedTransactionData

from corridor.custody.fees import InputKind
from corridor.custody.model import Lot


def hd_root(label: str) -> HDKey:
    return HDKey.from_seed(hashlib.sha256(label.encode()).digest(), version=NETWORKS["regtest"]["xprv"])


def account_key(root: HDKey, path: str, *, private: bool = False) -> str:
    """``[fingerprint/path]tpub...`` (or tprv) for a descriptor, as a wallet exports it."""
    account = root.derive(path)
    origin = root.my_fingerprint.hex() + path[1:].replace("'", "h")
    key = (
        account.to_base58() if private else account.to_public().to_base58(version=NETWORKS["regtest"]["xpub"])
    )
    return f"[{origin}]{key}"


def fake_txid(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def make_lot(
    script: bytes, value: int, kind: InputKind, *, index: int = 0, seed: str = "", origin: str = ""
) -> Lot:
    return Lot(fake_txid(f"{seed}/{index}/{value}"), index % 4, value, script, kind, 0, index, origin)


def kernel_verify(tx_bytes: bytes, spent: Sequence[tuple[bytes, int]]) -> list[bool]:
    """Run Bitcoin Core's consensus script check (libbitcoinkernel) on every input; one bool per input."""
    tx = pbk.Transaction(tx_bytes)
    outputs = [pbk.TransactionOutput(pbk.ScriptPubkey(script), amount) for script, amount in spent]
    precomputed = PrecomputedTransactionData(tx, outputs)
    results = []
    for index, (script, amount) in enumerate(spent):
        ok = pbk.ScriptPubkey(script).verify(amount, tx, precomputed, index, pbk.ScriptVerificationFlags.ALL)
        results.append(bool(ok))
    return results


def vsize_of(tx_bytes: bytes) -> int:
    """Virtual size of a serialized transaction: weight = 3 * stripped size + total size."""
    tx = Transaction.parse(tx_bytes)
    for txin in tx.vin:
        txin.witness.items = []
    stripped = len(tx.serialize())
    return -(-(3 * stripped + len(tx_bytes)) // 4)
