"""Bitcoin address parsing (base58check P2PKH/P2SH, BIP173 bech32 and BIP350 bech32m segwit).

Pure functions without I/O. ``parse_address`` is strict in the way Bitcoin Core's ``DecodeDestination``
is: an address is valid for exactly the network it names, and every refusal carries a stable reason
code that the API can return and the screening log can record.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from embit import base58
from embit.bech32 import CHARSET, Encoding, bech32_encode, bech32_verify_checksum, convertbits

NETWORKS: Final = ("mainnet", "testnet", "signet", "regtest")

_HRP: Final = {"mainnet": "bc", "testnet": "tb", "signet": "tb", "regtest": "bcrt"}
_P2PKH_VERSION: Final = {"mainnet": 0x00, "testnet": 0x6F, "signet": 0x6F, "regtest": 0x6F}
_P2SH_VERSION: Final = {"mainnet": 0x05, "testnet": 0xC4, "signet": 0xC4, "regtest": 0xC4}
_ALL_HRPS: Final = frozenset(_HRP.values())
_BASE58_ALPHABET: Final = frozenset("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz")
_MAX_BECH32_LENGTH: Final = 90
_CHECKSUM_LENGTH: Final = 6


class AddressType(StrEnum):
    P2PKH = "p2pkh"
    P2SH = "p2sh"
    P2WPKH = "p2wpkh"
    P2WSH = "p2wsh"
    P2TR = "p2tr"
    WITNESS_UNKNOWN = "witness_unknown"


class InvalidReason(StrEnum):
    """Stable codes for why a string is not an address on the requested network."""

    EMPTY = "empty"
    BAD_CHARACTER = "bad_character"
    MIXED_CASE = "mixed_case"
    TOO_LONG = "too_long"
    BAD_CHECKSUM = "bad_checksum"
    WRONG_CHECKSUM_VARIANT = "wrong_checksum_variant"
    BAD_LENGTH = "bad_length"
    UNKNOWN_PREFIX = "unknown_prefix"
    WRONG_NETWORK = "wrong_network"
    BAD_WITNESS_VERSION = "bad_witness_version"
    BAD_WITNESS_PROGRAM = "bad_witness_program"
    BAD_PADDING = "bad_padding"


class InvalidAddress(ValueError):
    def __init__(self, reason: InvalidReason, detail: str) -> None:
        super().__init__(f"invalid address ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ParsedAddress:
    address: str
    """The canonical spelling: bech32 lower-cased, base58 unchanged."""
    network: str
    type: AddressType
    script_pubkey: bytes
    witness_version: int | None
    witness_program: bytes | None


def parse_address(text: str, network: str) -> ParsedAddress:
    """Parse ``text`` as an address on ``network`` (mainnet, testnet, signet or regtest)."""
    if network not in _HRP:
        raise ValueError(f"unknown network {network!r}; expected one of {', '.join(NETWORKS)}")
    if not text:
        raise InvalidAddress(InvalidReason.EMPTY, "empty string")
    if _has_known_hrp(text):
        return _parse_segwit(text, network)
    return _parse_base58(text, network)


def normalize_address(text: str) -> str:
    """Spelling used to compare addresses in screening: trimmed, bech32 lower-cased, base58 untouched.

    No validation: sanction lists carry addresses of every network and some typos worth matching anyway.
    """
    stripped = text.strip()
    return stripped.lower() if _has_known_hrp(stripped) else stripped


def script_to_address(script_pubkey: bytes, network: str) -> str | None:
    """The address for a standard output script, or None (bare multisig, OP_RETURN, non-standard)."""
    if network not in _HRP:
        raise ValueError(f"unknown network {network!r}")
    s = script_pubkey
    if len(s) == 25 and s[:3] == b"\x76\xa9\x14" and s[23:] == b"\x88\xac":
        return str(base58.encode_check(bytes([_P2PKH_VERSION[network]]) + s[3:23]))
    if len(s) == 23 and s[:2] == b"\xa9\x14" and s[22] == 0x87:
        return str(base58.encode_check(bytes([_P2SH_VERSION[network]]) + s[2:22]))
    version = _witness_version_opcode(s)
    if version is None or s[1] != len(s) - 2 or not 2 <= len(s) - 2 <= 40:
        return None
    program = s[2:]
    if version == 0 and len(program) not in (20, 32):
        return None
    encoding = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    return str(bech32_encode(encoding, _HRP[network], [version, *convertbits(program, 8, 5)]))


def _witness_version_opcode(script: bytes) -> int | None:
    if len(script) < 4:
        return None
    if script[0] == 0x00:
        return 0
    if 0x51 <= script[0] <= 0x60:
        return script[0] - 0x50
    return None


def _has_known_hrp(text: str) -> bool:
    separator = text.rfind("1")
    return separator > 0 and text[:separator].lower() in _ALL_HRPS


def _is_bech32_of_unknown_hrp(text: str) -> bool:
    lowered = text.lower()
    separator = lowered.rfind("1")
    if separator < 1 or len(lowered) - separator - 1 < _CHECKSUM_LENGTH:
        return False
    data = lowered[separator + 1 :]
    if any(c not in CHARSET for c in data):
        return False
    return bech32_verify_checksum(lowered[:separator], [CHARSET.index(c) for c in data]) is not None


def _parse_base58(text: str, network: str) -> ParsedAddress:
    if any(c not in _BASE58_ALPHABET for c in text):
        if _is_bech32_of_unknown_hrp(text):
            raise InvalidAddress(InvalidReason.UNKNOWN_PREFIX, "bech32 string with an unknown prefix")
        raise InvalidAddress(InvalidReason.BAD_CHARACTER, "not a base58 or known bech32 address")
    try:
        payload = base58.decode_check(text)
    except ValueError as error:
        raise InvalidAddress(InvalidReason.BAD_CHECKSUM, "base58check checksum mismatch") from error
    if len(payload) != 21:
        raise InvalidAddress(InvalidReason.BAD_LENGTH, f"base58 payload is {len(payload)} bytes, not 21")
    version, digest = payload[0], payload[1:]
    if version == _P2PKH_VERSION[network]:
        script = b"\x76\xa9\x14" + digest + b"\x88\xac"
        return ParsedAddress(text, network, AddressType.P2PKH, script, None, None)
    if version == _P2SH_VERSION[network]:
        script = b"\xa9\x14" + digest + b"\x87"
        return ParsedAddress(text, network, AddressType.P2SH, script, None, None)
    if version in {*_P2PKH_VERSION.values(), *_P2SH_VERSION.values()}:
        raise InvalidAddress(
            InvalidReason.WRONG_NETWORK, f"base58 version {version:#04x} is not for {network}"
        )
    raise InvalidAddress(InvalidReason.UNKNOWN_PREFIX, f"base58 version {version:#04x} is not an address")


def _parse_segwit(text: str, network: str) -> ParsedAddress:
    hrp, data = _decode_bech32_data(text)
    if hrp != _HRP[network]:
        raise InvalidAddress(InvalidReason.WRONG_NETWORK, f"prefix {hrp!r} is not for {network}")
    encoding = bech32_verify_checksum(hrp, data)
    if encoding is None:
        raise InvalidAddress(InvalidReason.BAD_CHECKSUM, "bech32/bech32m checksum mismatch")
    values = data[:-_CHECKSUM_LENGTH]
    if not values:
        raise InvalidAddress(InvalidReason.BAD_WITNESS_VERSION, "no witness version")
    version = values[0]
    if version > 16:
        raise InvalidAddress(InvalidReason.BAD_WITNESS_VERSION, f"witness version {version} above 16")
    expected = Encoding.BECH32 if version == 0 else Encoding.BECH32M
    if encoding != expected:
        raise InvalidAddress(
            InvalidReason.WRONG_CHECKSUM_VARIANT,
            f"witness version {version} needs {'bech32' if version == 0 else 'bech32m'} (BIP350)",
        )
    program = _witness_program(values[1:])
    if version == 0 and len(program) not in (20, 32):
        raise InvalidAddress(InvalidReason.BAD_WITNESS_PROGRAM, f"v0 program of {len(program)} bytes")
    script = bytes([0x50 + version if version else 0, len(program)]) + program
    return ParsedAddress(text.lower(), network, _segwit_type(version, program), script, version, program)


def _decode_bech32_data(text: str) -> tuple[str, list[int]]:
    if len(text) > _MAX_BECH32_LENGTH:
        raise InvalidAddress(InvalidReason.TOO_LONG, f"{len(text)} characters, at most 90")
    if any(not 33 <= ord(c) <= 126 for c in text):
        raise InvalidAddress(InvalidReason.BAD_CHARACTER, "character outside printable US-ASCII")
    if text.lower() != text and text.upper() != text:
        raise InvalidAddress(InvalidReason.MIXED_CASE, "bech32 must be all lower or all upper case")
    lowered = text.lower()
    separator = lowered.rfind("1")
    body = lowered[separator + 1 :]
    if len(body) < _CHECKSUM_LENGTH:
        raise InvalidAddress(InvalidReason.BAD_LENGTH, "data part shorter than the checksum")
    if any(c not in CHARSET for c in body):
        raise InvalidAddress(InvalidReason.BAD_CHARACTER, "character outside the bech32 alphabet")
    return lowered[:separator], [CHARSET.index(c) for c in body]


def _witness_program(five_bit_groups: list[int]) -> bytes:
    converted = convertbits(five_bit_groups, 5, 8, False)
    if converted is None:
        raise InvalidAddress(InvalidReason.BAD_PADDING, "non-zero or excess padding bits")
    if not 2 <= len(converted) <= 40:
        raise InvalidAddress(InvalidReason.BAD_WITNESS_PROGRAM, f"program of {len(converted)} bytes")
    return bytes(converted)


def _segwit_type(version: int, program: bytes) -> AddressType:
    if version == 0:
        return AddressType.P2WPKH if len(program) == 20 else AddressType.P2WSH
    if version == 1 and len(program) == 32:
        return AddressType.P2TR
    return AddressType.WITNESS_UNKNOWN
