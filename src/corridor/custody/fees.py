"""Transaction size and fee rules: vsize estimation, fee-rate clamping, dust and BIP125 replacement.

Pure integer arithmetic. Fee rates are integer satoshis per 1000 virtual bytes (sat/kvB, the unit of
Bitcoin Core's ``CFeeRate``) so that 1.5 sat/vB is exactly 1500 and no float ever touches money.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

WITNESS_SCALE: Final = 4

# Non-witness part of any input: outpoint (36) + empty scriptSig length (1) + sequence (4).
_INPUT_BASE_BYTES: Final = 41
# Low-S DER signature (at most 71 bytes) plus the sighash byte; Core budgets the same 72.
_ECDSA_SIG_BYTES: Final = 72
_SCHNORR_SIG_BYTES: Final = 64  # SIGHASH_DEFAULT: no sighash byte
_COMPRESSED_PUBKEY_BYTES: Final = 33
# OP_2 <33> <33> <33> OP_3 OP_CHECKMULTISIG
_MULTISIG_2_OF_3_SCRIPT_BYTES: Final = 1 + 3 * (1 + 33) + 1 + 1

DEFAULT_DUST_RELAY_SAT_PER_KVB: Final = 3000
DEFAULT_INCREMENTAL_RELAY_SAT_PER_KVB: Final = 1000
DEFAULT_MIN_RELAY_SAT_PER_KVB: Final = 1000


class InputKind(StrEnum):
    P2WPKH = "p2wpkh"
    P2TR_KEYPATH = "p2tr"
    P2WSH_2_OF_3 = "p2wsh_2of3"


class OutputKind(StrEnum):
    P2PKH = "p2pkh"
    P2SH = "p2sh"
    P2WPKH = "p2wpkh"
    P2WSH = "p2wsh"
    P2TR = "p2tr"


OUTPUT_SCRIPT_BYTES: Final = {
    OutputKind.P2PKH: 25,
    OutputKind.P2SH: 23,
    OutputKind.P2WPKH: 22,
    OutputKind.P2WSH: 34,
    OutputKind.P2TR: 34,
}


def compact_size_len(n: int) -> int:
    if n < 0xFD:
        return 1
    if n <= 0xFFFF:
        return 3
    if n <= 0xFFFF_FFFF:
        return 5
    return 9


def _witness_stack_weight(items: Iterable[int]) -> int:
    sizes = list(items)
    return compact_size_len(len(sizes)) + sum(compact_size_len(size) + size for size in sizes)


def input_weight(kind: InputKind) -> int:
    """Worst-case weight units of one signed input of ``kind``."""
    base = _INPUT_BASE_BYTES * WITNESS_SCALE
    if kind is InputKind.P2WPKH:
        return base + _witness_stack_weight([_ECDSA_SIG_BYTES, _COMPRESSED_PUBKEY_BYTES])
    if kind is InputKind.P2TR_KEYPATH:
        return base + _witness_stack_weight([_SCHNORR_SIG_BYTES])
    # CHECKMULTISIG's extra pop needs an empty dummy element first.
    stack = [0, _ECDSA_SIG_BYTES, _ECDSA_SIG_BYTES, _MULTISIG_2_OF_3_SCRIPT_BYTES]
    return base + _witness_stack_weight(stack)


def input_vsize(kind: InputKind) -> int:
    """Virtual size an input adds, rounded up (fee budgeting must never come out short)."""
    return -(-input_weight(kind) // WITNESS_SCALE)


def output_bytes(script_len: int) -> int:
    """Serialized size of an output: value (8) + script length prefix + script."""
    return 8 + compact_size_len(script_len) + script_len


def output_kind_bytes(kind: OutputKind) -> int:
    return output_bytes(OUTPUT_SCRIPT_BYTES[kind])


def tx_weight(inputs: Sequence[InputKind], output_script_lens: Sequence[int]) -> int:
    """Weight of a transaction with these signed inputs and outputs (all our inputs are segwit)."""
    base = 4 + compact_size_len(len(inputs)) + compact_size_len(len(output_script_lens)) + 4
    base += sum(output_bytes(n) for n in output_script_lens)
    segwit_marker_and_flag = 2 if inputs else 0
    return base * WITNESS_SCALE + segwit_marker_and_flag + sum(input_weight(k) for k in inputs)


def tx_vsize(inputs: Sequence[InputKind], output_script_lens: Sequence[int]) -> int:
    return -(-tx_weight(inputs, output_script_lens) // WITNESS_SCALE)


def fee_for(vsize: int, rate_sat_per_kvb: int) -> int:
    """Fee in sats for ``vsize`` at ``rate``, rounded up like Core's ``CFeeRate::GetFee``."""
    if vsize < 0 or rate_sat_per_kvb < 0:
        raise ValueError("vsize and fee rate must not be negative")
    return -(-vsize * rate_sat_per_kvb // 1000)


@dataclass(frozen=True, slots=True)
class FeeRateBounds:
    """A jurisdiction profile's fee policy: never pay less than the floor nor more than the ceiling."""

    floor_sat_per_kvb: int
    ceiling_sat_per_kvb: int

    def __post_init__(self) -> None:
        if not 0 < self.floor_sat_per_kvb <= self.ceiling_sat_per_kvb:
            raise ValueError("fee-rate bounds need 0 < floor <= ceiling")

    def clamp(self, rate_sat_per_kvb: int | None) -> int:
        """The rate to use; an unknown estimate (None) falls back to the floor."""
        if rate_sat_per_kvb is None:
            return self.floor_sat_per_kvb
        return max(self.floor_sat_per_kvb, min(self.ceiling_sat_per_kvb, rate_sat_per_kvb))


def dust_threshold(script_pubkey: bytes, dust_relay_sat_per_kvb: int = DEFAULT_DUST_RELAY_SAT_PER_KVB) -> int:
    """Smallest non-dust value for an output paying ``script_pubkey`` (Core's ``GetDustThreshold``).

    An output is dust when spending it would cost more than it is worth at the dust relay fee; the
    spend is costed at 67 bytes for witness programs and 148 bytes otherwise. OP_RETURN is never dust.
    """
    if script_pubkey[:1] == b"\x6a":
        return 0
    size = output_bytes(len(script_pubkey))
    # outpoint 32+4, scriptSig length 1, sequence 4, plus the witness (107 bytes) discounted by 4.
    size += 32 + 4 + 1 + 107 // WITNESS_SCALE + 4 if _is_witness_program(script_pubkey) else 148
    return fee_for(size, dust_relay_sat_per_kvb)


def is_dust(
    value_sats: int, script_pubkey: bytes, dust_relay_sat_per_kvb: int = DEFAULT_DUST_RELAY_SAT_PER_KVB
) -> bool:
    return value_sats < dust_threshold(script_pubkey, dust_relay_sat_per_kvb)


def _is_witness_program(script: bytes) -> bool:
    if not 4 <= len(script) <= 42:
        return False
    version_ok = script[0] == 0x00 or 0x51 <= script[0] <= 0x60
    return version_ok and script[1] + 2 == len(script)


def min_replacement_fee(
    replaced_fees_sats: int,
    new_vsize: int,
    incremental_relay_sat_per_kvb: int = DEFAULT_INCREMENTAL_RELAY_SAT_PER_KVB,
) -> int:
    """BIP125 rules 3 and 4: pay at least what is replaced plus the relay fee for the new bytes."""
    return replaced_fees_sats + fee_for(new_vsize, incremental_relay_sat_per_kvb)


@dataclass(frozen=True, slots=True)
class TxOutputSpec:
    script_pubkey: bytes
    value_sats: int


class ReplacementRefused(ValueError):
    pass


def check_fee_bump(
    original_outputs: Sequence[TxOutputSpec],
    replacement_outputs: Sequence[TxOutputSpec],
    *,
    payee_scripts: Iterable[bytes],
    original_fee_sats: int,
    replacement_fee_sats: int,
    replacement_vsize: int,
    incremental_relay_sat_per_kvb: int = DEFAULT_INCREMENTAL_RELAY_SAT_PER_KVB,
) -> None:
    """Refuse a fee bump that drops or shrinks any payee output or pays too little under BIP125."""
    payees = set(payee_scripts)
    before = _payee_amounts(original_outputs, payees)
    after = _payee_amounts(replacement_outputs, payees)
    for script, amounts in before.items():
        if sorted(after.get(script, [])) != sorted(amounts):
            raise ReplacementRefused(
                f"payee output {script.hex()} changed: {amounts} -> {after.get(script, [])}"
            )
    required = min_replacement_fee(original_fee_sats, replacement_vsize, incremental_relay_sat_per_kvb)
    if replacement_fee_sats < required:
        raise ReplacementRefused(f"replacement fee {replacement_fee_sats} below BIP125 minimum {required}")


def _payee_amounts(outputs: Sequence[TxOutputSpec], payees: set[bytes]) -> dict[bytes, list[int]]:
    amounts: dict[bytes, list[int]] = {}
    for output in outputs:
        if output.script_pubkey in payees:
            amounts.setdefault(output.script_pubkey, []).append(output.value_sats)
    return amounts


def bumped_change(
    change_value_sats: int,
    original_fee_sats: int,
    replacement_vsize: int,
    target_rate_sat_per_kvb: int,
    change_script: bytes,
    incremental_relay_sat_per_kvb: int = DEFAULT_INCREMENTAL_RELAY_SAT_PER_KVB,
) -> tuple[int, int]:
    """New (change value, fee) when a bump is paid entirely out of change; raises if change would be dust.

    The fee is the larger of the target rate and the BIP125 minimum, so the replacement always relays.
    """
    fee = max(
        fee_for(replacement_vsize, target_rate_sat_per_kvb),
        min_replacement_fee(original_fee_sats, replacement_vsize, incremental_relay_sat_per_kvb),
    )
    new_change = change_value_sats - (fee - original_fee_sats)
    if is_dust(new_change, change_script):
        raise ReplacementRefused(f"change of {new_change} sats left after the bump would be dust")
    return new_change, fee
