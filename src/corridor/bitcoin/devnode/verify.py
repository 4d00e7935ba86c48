"""Script verification of a transaction's inputs through libbitcoinkernel."""

from __future__ import annotations

import ctypes

import pbk
import pbk.capi.bindings as k
from pbk.script import PrecomputedTransactionData

from corridor.bitcoin.devnode.encoding import Tx

# Every consensus rule the kernel can enforce, taproot included; Core's extra policy-only flags
# (low-S, clean stack, ...) are not exposed by the kernel API.
ALL_FLAGS = pbk.ScriptVerificationFlags.ALL


def _kernel_tx(raw: bytes) -> pbk.Transaction:
    buffer = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
    return pbk.Transaction._from_handle(k.btck_transaction_create(buffer, len(raw)))


def _kernel_script(spk: bytes) -> pbk.ScriptPubkey:
    buffer = (ctypes.c_ubyte * len(spk)).from_buffer_copy(spk) if spk else (ctypes.c_ubyte * 1)()
    return pbk.ScriptPubkey._from_handle(k.btck_script_pubkey_create(buffer, len(spk)))


def first_failing_input(tx: Tx, spent: list[tuple[int, bytes]]) -> int | None:
    """Index of the first input whose script does not verify, or None when all of them do.

    `spent` holds (value, scriptPubKey) of the coin each input spends, in input order; taproot
    signatures commit to all of them, so they go into the precomputed data.
    """
    kernel_tx = _kernel_tx(tx.raw)
    scripts = [_kernel_script(spk) for _, spk in spent]
    outputs = [
        pbk.TransactionOutput(script, value) for script, (value, _) in zip(scripts, spent, strict=True)
    ]
    precomputed = PrecomputedTransactionData(kernel_tx, outputs)
    for index, (script, (value, _)) in enumerate(zip(scripts, spent, strict=True)):
        try:
            ok = script.verify(value, kernel_tx, precomputed, index, ALL_FLAGS)
        except pbk.ScriptVerifyException:
            ok = False
        if not ok:
            return index
    return None
