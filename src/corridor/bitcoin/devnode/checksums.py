"""Bech32/bech32m segwit addresses (BIP173, BIP350) and descriptor checksums (BIP380), fast.

`getblock` verbosity 3 prints an address and an `addr(...)#checksum` descriptor for every output and
prevout, so both checksums run thousands of times per call. The reference algorithms feed a BCH
polymod one 5-bit symbol per step. The polymod is linear over GF(2), so what the bits shifted out of
the state contribute can be tabulated: here four symbols (20 bits) go in per step, with two
1,024-entry tables for the 20 bits shifted out. A witness program is read 20 bits at a time straight
from one integer, and a descriptor three characters (their three symbols and the class symbol) at a
time. tests/devnode/test_checksums.py holds both against the straightforward BIP code.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

CHARSET: Final = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32_CONST: Final = 1
BECH32M_CONST: Final = 0x2BC830A3

_BECH32_GENERATORS: Final = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_DESCRIPTOR_GENERATORS: Final = (0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD)
_INPUT_CHARSET: Final = (
    "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
)
# The text of two consecutive 5-bit symbols, by their 10-bit value.
_CHAR_PAIRS: Final = tuple(a + b for a in CHARSET for b in CHARSET)


class _Polymod:
    """Tables for one BCH code: `step` advances one symbol, `high`/`low` four symbols at once."""

    def __init__(self, generators: tuple[int, ...], width: int) -> None:
        self.width = width
        self.step = _linear_table([generators[bit] for bit in range(5)])
        self.high = self._four_steps_of(width - 10)
        self.low = self._four_steps_of(width - 20)

    def _four_steps_of(self, offset: int) -> tuple[int, ...]:
        """What ten state bits at `offset`, all shifted out within four steps, add to the state."""
        mask = (1 << (self.width - 5)) - 1
        basis = []
        for bit in range(10):
            state = 1 << (offset + bit)
            for _ in range(4):
                state = ((state & mask) << 5) ^ self.step[state >> (self.width - 5)]
            basis.append(state)
        return _linear_table(basis)


def _linear_table(basis: list[int]) -> tuple[int, ...]:
    """The XOR of the basis values selected by each index's bits (the maps here are GF(2)-linear)."""
    table = [0]
    for value in basis:
        table += [entry ^ value for entry in table]
    return tuple(table)


_BECH32: Final = _Polymod(_BECH32_GENERATORS, 30)
_DESCRIPTOR: Final = _Polymod(_DESCRIPTOR_GENERATORS, 40)

# Per input character, its symbol and class placed where they go in a group's 20-bit quad of symbols
# (c0, c1, c2, 9*class0 + 3*class1 + class2); the class sum stays below 32, so the parts just add.
_FIRST: Final = {c: (i & 31) << 15 | (i >> 5) * 9 for i, c in enumerate(_INPUT_CHARSET)}
_SECOND: Final = {c: (i & 31) << 10 | (i >> 5) * 3 for i, c in enumerate(_INPUT_CHARSET)}
_THIRD: Final = {c: (i & 31) << 5 | i >> 5 for i, c in enumerate(_INPUT_CHARSET)}
_POSITION: Final = {c: i for i, c in enumerate(_INPUT_CHARSET)}


def _bech32_step(state: int, value: int) -> int:
    return ((state & 0x1FFFFFF) << 5) ^ value ^ _BECH32.step[state >> 25]


def _descriptor_step(state: int, value: int) -> int:
    return ((state & 0x7FFFFFFFF) << 5) ^ value ^ _DESCRIPTOR.step[state >> 35]


@lru_cache(maxsize=64)
def _hrp_state(hrp: str) -> int:
    """The bech32 polymod state after the expanded human-readable part (the same for every address)."""
    state = 1
    for value in [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]:
        state = _bech32_step(state, value)
    return state


def bech32_create_checksum(hrp: str, data: list[int], const: int) -> str:
    """The six checksum characters for 5-bit `data` (BIP173 with const 1, BIP350 with BECH32M_CONST)."""
    state = _hrp_state(hrp)
    for value in [*data, 0, 0, 0, 0, 0, 0]:
        state = _bech32_step(state, value)
    return _checksum_text(state ^ const, 6)


def segwit_address(hrp: str, version: int, program: bytes) -> str:
    """The bech32 (v0) or bech32m (v1+) address of a witness program. No validity checks: the caller
    passes a version of 0..16 and a program that version allows."""
    state = _bech32_step(_hrp_state(hrp), version)
    bits = 8 * len(program)
    groups = -(-bits // 5)
    number = int.from_bytes(program, "big") << (5 * groups - bits)
    high, low, pairs = _BECH32.high, _BECH32.low, _CHAR_PAIRS
    parts = [hrp, "1", CHARSET[version]]
    leftover = groups % 4
    for shift in range(5 * groups - 20, 5 * leftover - 1, -20):
        quad = (number >> shift) & 0xFFFFF
        state = ((state & 0x3FF) << 20) ^ quad ^ high[state >> 20] ^ low[(state >> 10) & 0x3FF]
        parts += (pairs[quad >> 10], pairs[quad & 0x3FF])
    for shift in range(5 * leftover - 5, -1, -5):
        symbol = (number >> shift) & 31
        state = _bech32_step(state, symbol)
        parts.append(CHARSET[symbol])
    state = ((state & 0x3FF) << 20) ^ high[state >> 20] ^ low[(state >> 10) & 0x3FF]
    state = _bech32_step(_bech32_step(state, 0), 0)  # six zero symbols in all
    parts.append(_checksum_text(state ^ (BECH32_CONST if version == 0 else BECH32M_CONST), 6))
    return "".join(parts)


def descriptor_checksum(descriptor: str) -> str:
    """BIP380's eight-character checksum of a descriptor (given without any `#...` suffix)."""
    high, low = _DESCRIPTOR.high, _DESCRIPTOR.low
    first, second, third = _FIRST, _SECOND, _THIRD
    whole = len(descriptor) - len(descriptor) % 3
    state = 1
    try:
        chars = iter(descriptor[:whole])
        for a, b, c in zip(chars, chars, chars, strict=True):
            quad = first[a] + second[b] + third[c]
            state = ((state & 0xFFFFF) << 20) ^ quad ^ high[state >> 30] ^ low[(state >> 20) & 0x3FF]
        rest = [_POSITION[c] for c in descriptor[whole:]]
    except KeyError as exc:
        raise ValueError(f"invalid character {exc.args[0]!r} in descriptor") from exc
    for position in rest:
        state = _descriptor_step(state, position & 31)
    if len(rest) == 1:
        state = _descriptor_step(state, rest[0] >> 5)
    elif len(rest) == 2:
        state = _descriptor_step(state, (rest[0] >> 5) * 3 + (rest[1] >> 5))
    for _ in range(2):  # eight zero symbols
        state = ((state & 0xFFFFF) << 20) ^ high[state >> 30] ^ low[(state >> 20) & 0x3FF]
    return _checksum_text(state ^ 1, 8)


def add_descriptor_checksum(descriptor: str) -> str:
    return f"{descriptor}#{descriptor_checksum(descriptor)}"


def _checksum_text(value: int, length: int) -> str:
    """`length` (6 or 8) symbols of `value`, most significant first."""
    pairs = _CHAR_PAIRS
    if length == 6:
        return pairs[value >> 20] + pairs[(value >> 10) & 0x3FF] + pairs[value & 0x3FF]
    return (
        pairs[value >> 30]
        + pairs[(value >> 20) & 0x3FF]
        + pairs[(value >> 10) & 0x3FF]
        + pairs[value & 0x3FF]
    )


__all__ = [
    "BECH32M_CONST",
    "BECH32_CONST",
    "CHARSET",
    "add_descriptor_checksum",
    "bech32_create_checksum",
    "descriptor_checksum",
    "segwit_address",
]
