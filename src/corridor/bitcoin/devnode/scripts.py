"""Script classification, disassembly and regtest addresses, in the shapes Core's RPC prints."""

from __future__ import annotations

from functools import lru_cache

from embit import base58, bech32
from embit.util import secp256k1

from corridor.bitcoin.devnode.checksums import add_descriptor_checksum, segwit_address

REGTEST_HRP = "bcrt"
REGTEST_P2PKH_PREFIX = 0x6F
REGTEST_P2SH_PREFIX = 0xC4

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_PUSHDATA4 = 0x4E
OP_1NEGATE = 0x4F
OP_1 = 0x51
OP_16 = 0x60
OP_RETURN = 0x6A
OP_CHECKSIG = 0xAC
OP_CHECKMULTISIG = 0xAE
MAX_SCRIPT_SIZE = 10_000

_OPCODE_NAMES: dict[int, str] = {
    0x4F: "-1", 0x50: "OP_RESERVED", 0x61: "OP_NOP", 0x62: "OP_VER", 0x63: "OP_IF", 0x64: "OP_NOTIF",
    0x65: "OP_VERIF", 0x66: "OP_VERNOTIF", 0x67: "OP_ELSE", 0x68: "OP_ENDIF", 0x69: "OP_VERIFY",
    0x6A: "OP_RETURN", 0x6B: "OP_TOALTSTACK", 0x6C: "OP_FROMALTSTACK", 0x6D: "OP_2DROP", 0x6E: "OP_2DUP",
    0x6F: "OP_3DUP", 0x70: "OP_2OVER", 0x71: "OP_2ROT", 0x72: "OP_2SWAP", 0x73: "OP_IFDUP",
    0x74: "OP_DEPTH", 0x75: "OP_DROP", 0x76: "OP_DUP", 0x77: "OP_NIP", 0x78: "OP_OVER", 0x79: "OP_PICK",
    0x7A: "OP_ROLL", 0x7B: "OP_ROT", 0x7C: "OP_SWAP", 0x7D: "OP_TUCK", 0x7E: "OP_CAT", 0x7F: "OP_SUBSTR",
    0x80: "OP_LEFT", 0x81: "OP_RIGHT", 0x82: "OP_SIZE", 0x83: "OP_INVERT", 0x84: "OP_AND", 0x85: "OP_OR",
    0x86: "OP_XOR", 0x87: "OP_EQUAL", 0x88: "OP_EQUALVERIFY", 0x89: "OP_RESERVED1", 0x8A: "OP_RESERVED2",
    0x8B: "OP_1ADD", 0x8C: "OP_1SUB", 0x8D: "OP_2MUL", 0x8E: "OP_2DIV", 0x8F: "OP_NEGATE", 0x90: "OP_ABS",
    0x91: "OP_NOT", 0x92: "OP_0NOTEQUAL", 0x93: "OP_ADD", 0x94: "OP_SUB", 0x95: "OP_MUL", 0x96: "OP_DIV",
    0x97: "OP_MOD", 0x98: "OP_LSHIFT", 0x99: "OP_RSHIFT", 0x9A: "OP_BOOLAND", 0x9B: "OP_BOOLOR",
    0x9C: "OP_NUMEQUAL", 0x9D: "OP_NUMEQUALVERIFY", 0x9E: "OP_NUMNOTEQUAL", 0x9F: "OP_LESSTHAN",
    0xA0: "OP_GREATERTHAN", 0xA1: "OP_LESSTHANOREQUAL", 0xA2: "OP_GREATERTHANOREQUAL", 0xA3: "OP_MIN",
    0xA4: "OP_MAX", 0xA5: "OP_WITHIN", 0xA6: "OP_RIPEMD160", 0xA7: "OP_SHA1", 0xA8: "OP_SHA256",
    0xA9: "OP_HASH160", 0xAA: "OP_HASH256", 0xAB: "OP_CODESEPARATOR", 0xAC: "OP_CHECKSIG",
    0xAD: "OP_CHECKSIGVERIFY", 0xAE: "OP_CHECKMULTISIG", 0xAF: "OP_CHECKMULTISIGVERIFY", 0xB0: "OP_NOP1",
    0xB1: "OP_CHECKLOCKTIMEVERIFY", 0xB2: "OP_CHECKSEQUENCEVERIFY", 0xB3: "OP_NOP4", 0xB4: "OP_NOP5",
    0xB5: "OP_NOP6", 0xB6: "OP_NOP7", 0xB7: "OP_NOP8", 0xB8: "OP_NOP9", 0xB9: "OP_NOP10",
    0xBA: "OP_CHECKSIGADD",
}  # fmt: skip

_SIGHASH_NAMES = {0x01: "ALL", 0x02: "NONE", 0x03: "SINGLE", 0x81: "ALL|ANYONECANPAY",
                  0x82: "NONE|ANYONECANPAY", 0x83: "SINGLE|ANYONECANPAY"}  # fmt: skip

_ANCHOR_SCRIPT = bytes.fromhex("51024e73")


class ScriptParseError(ValueError):
    pass


def iter_ops(script: bytes) -> list[tuple[int, bytes | None]]:
    """Split a script into (opcode, pushed data or None); raises on a push that runs past the end."""
    ops, complete = _parse_ops(script)
    if not complete:
        raise ScriptParseError("push past end of script")
    return ops


def _parse_ops(script: bytes) -> tuple[list[tuple[int, bytes | None]], bool]:
    """The ops up to the first malformed push, and whether the whole script parsed."""
    ops: list[tuple[int, bytes | None]] = []
    pos = 0
    while pos < len(script):
        op = script[pos]
        pos += 1
        if op > OP_PUSHDATA4:
            ops.append((op, None))
            continue
        if op < OP_PUSHDATA1:
            size = op
        else:
            width = {OP_PUSHDATA1: 1, OP_PUSHDATA2: 2, OP_PUSHDATA4: 4}[op]
            if pos + width > len(script):
                return ops, False
            size = int.from_bytes(script[pos : pos + width], "little")
            pos += width
        if pos + size > len(script):
            return ops, False
        ops.append((op, script[pos : pos + size]))
        pos += size
    return ops, True


def _script_num(data: bytes) -> int:
    if not data:
        return 0
    value = int.from_bytes(data, "little")
    if data[-1] & 0x80:
        return -(value & ~(0x80 << (8 * (len(data) - 1))))
    return value


def _looks_like_der_signature(data: bytes) -> bool:
    return 9 <= len(data) <= 73 and data[0] == 0x30 and data[1] == len(data) - 3


def _push_to_asm(data: bytes, decode_sighash: bool) -> str:
    if len(data) <= 4:
        return str(_script_num(data))
    if decode_sighash and _looks_like_der_signature(data) and data[-1] in _SIGHASH_NAMES:
        return data[:-1].hex() + f"[{_SIGHASH_NAMES[data[-1]]}]"
    return data.hex()


def to_asm(script: bytes, decode_sighash: bool = False) -> str:
    """Core's ScriptToAsmStr: small pushes as numbers, other pushes as hex, opcodes by name, and
    `[error]` after the ops that parsed when a push runs past the end."""
    ops, complete = _parse_ops(script)
    # Core never reads signatures into unspendable scripts, whose data may only look like them.
    decode_sighash = decode_sighash and not _is_unspendable(script)
    parts: list[str] = []
    for op, data in ops:
        if data is not None:
            parts.append(_push_to_asm(data, decode_sighash))
        elif OP_1 <= op <= OP_16:
            parts.append(str(op - OP_1 + 1))
        else:
            parts.append(_OPCODE_NAMES.get(op, "OP_UNKNOWN"))
    if not complete:
        parts.append("[error]")
    return " ".join(parts)


def _is_unspendable(script: bytes) -> bool:
    return script[:1] == bytes((OP_RETURN,)) or len(script) > MAX_SCRIPT_SIZE


def _is_witness_program(spk: bytes) -> tuple[int, bytes] | None:
    if not 4 <= len(spk) <= 42:
        return None
    if spk[0] != OP_0 and not OP_1 <= spk[0] <= OP_16:
        return None
    if spk[1] + 2 != len(spk):
        return None
    version = 0 if spk[0] == OP_0 else spk[0] - OP_1 + 1
    return version, spk[2:]


def _valid_pubkey_size(data: bytes) -> bool:
    """Core's CPubKey::ValidSize: the length the first byte announces."""
    return (len(data) == 33 and data[0] in (2, 3)) or (len(data) == 65 and data[0] in (4, 6, 7))


def _multisig_keys(spk: bytes) -> tuple[int, list[bytes]] | None:
    """(required signatures, keys) of a bare multisig script with OP_1..OP_16 counts, else None."""
    ops, complete = _parse_ops(spk)
    if not complete or len(ops) < 4 or ops[-1][0] != OP_CHECKMULTISIG:
        return None
    required, total = ops[0][0] - OP_1 + 1, ops[-2][0] - OP_1 + 1
    if not (1 <= required <= 16 and 1 <= total <= 16 and required <= total):
        return None
    keys = [data for _, data in ops[1:-2] if data is not None and _valid_pubkey_size(data)]
    return (required, keys) if len(keys) == len(ops) - 3 == total else None


def _is_push_only(script: bytes) -> bool:
    ops, complete = _parse_ops(script)
    return complete and all(op <= OP_16 for op, _ in ops)


def classify(spk: bytes) -> str:
    """Core's TxoutType name for a scriptPubKey."""
    if spk == _ANCHOR_SCRIPT:
        return "anchor"
    if len(spk) == 25 and spk[:3] == b"\x76\xa9\x14" and spk[23:] == b"\x88\xac":
        return "pubkeyhash"
    if len(spk) == 23 and spk[:2] == b"\xa9\x14" and spk[22] == 0x87:
        return "scripthash"
    program = _is_witness_program(spk)
    if program is not None:
        version, data = program
        if version == 0 and len(data) == 20:
            return "witness_v0_keyhash"
        if version == 0 and len(data) == 32:
            return "witness_v0_scripthash"
        if version == 1 and len(data) == 32:
            return "witness_v1_taproot"
        if version != 0:
            return "witness_unknown"
        return "nonstandard"
    if spk[:1] == bytes((OP_RETURN,)) and _is_push_only(spk[1:]):
        return "nulldata"
    if len(spk) in (35, 67) and spk[0] == len(spk) - 2 and spk[-1] == OP_CHECKSIG:
        if _valid_pubkey_size(spk[1:-1]):
            return "pubkey"
    if _multisig_keys(spk) is not None:
        return "multisig"
    return "nonstandard"


_SEGWIT_KINDS = frozenset(
    ("witness_v0_keyhash", "witness_v0_scripthash", "witness_v1_taproot", "witness_unknown", "anchor")
)


def address_of(spk: bytes) -> str | None:
    return _address_of_kind(spk, classify(spk))


def _address_of_kind(spk: bytes, kind: str) -> str | None:
    if kind == "pubkeyhash":
        return str(base58.encode_check(bytes((REGTEST_P2PKH_PREFIX,)) + spk[3:23]))
    if kind == "scripthash":
        return str(base58.encode_check(bytes((REGTEST_P2SH_PREFIX,)) + spk[2:22]))
    if kind in _SEGWIT_KINDS:
        return segwit_address(REGTEST_HRP, 0 if spk[0] == OP_0 else spk[0] - OP_1 + 1, spk[2:])
    return None


def descriptor_of(spk: bytes, address: str | None = None) -> str:
    """Core's inferred descriptor for an output we hold no keys for: rawtr(), pk(), multi(), addr()
    or raw()."""
    if address is None:
        address = address_of(spk)
    return _descriptor_of_kind(spk, classify(spk), address)


def _descriptor_of_kind(spk: bytes, kind: str, address: str | None) -> str:
    # Core's InferDescriptor with no signing provider, in its order of preference.
    if kind == "witness_v1_taproot" and _on_curve(spk[2:]):
        return add_descriptor_checksum(f"rawtr({spk[2:].hex()})")
    if kind == "pubkey" and _not_hybrid(spk[1:-1]):
        return add_descriptor_checksum(f"pk({spk[1:-1].hex()})")
    if kind == "multisig":
        multisig = _multisig_keys(spk)
        if multisig is not None and all(_not_hybrid(key) for key in multisig[1]):
            keys = ",".join(key.hex() for key in multisig[1])
            return add_descriptor_checksum(f"multi({multisig[0]},{keys})")
    if address is not None:
        return add_descriptor_checksum(f"addr({address})")
    return add_descriptor_checksum(f"raw({spk.hex()})")


def _not_hybrid(key: bytes) -> bool:
    return key[0] in (2, 3, 4)


def _on_curve(x_only: bytes) -> bool:
    """Whether a 32-byte x coordinate is that of a secp256k1 point (Core's XOnlyPubKey::IsFullyValid)."""
    try:
        secp256k1.ec_pubkey_parse(b"\x02" + x_only)
    except ValueError:
        return False
    return True


def script_pubkey_json(spk: bytes) -> dict[str, str]:
    return dict(_script_pubkey_json(spk))


@lru_cache(maxsize=200_000)
def _script_pubkey_json(spk: bytes) -> dict[str, str]:
    # Cached because the same scripts recur across getblock calls (and prevouts within one block).
    kind = classify(spk)
    address = _address_of_kind(spk, kind)
    result = {"asm": to_asm(spk), "desc": _descriptor_of_kind(spk, kind, address), "hex": spk.hex()}
    if address is not None:
        result["address"] = address
    result["type"] = kind
    return result


class AddressError(ValueError):
    pass


def script_for_address(address: str) -> bytes:
    """scriptPubKey for a regtest address; anything else (mainnet, testnet, garbage) is refused."""
    if address.lower().startswith(REGTEST_HRP + "1"):
        version, program = bech32.decode(REGTEST_HRP, address.lower() if address.islower() else address)
        if version is None or program is None:
            raise AddressError("Invalid address")
        return bytes((OP_0 if version == 0 else OP_1 + version - 1, len(program), *program))
    try:
        payload = bytes(base58.decode_check(address))
    except Exception as exc:
        raise AddressError("Invalid address") from exc
    if len(payload) != 21:
        raise AddressError("Invalid address")
    if payload[0] == REGTEST_P2PKH_PREFIX:
        return b"\x76\xa9\x14" + payload[1:] + b"\x88\xac"
    if payload[0] == REGTEST_P2SH_PREFIX:
        return b"\xa9\x14" + payload[1:] + b"\x87"
    raise AddressError("Invalid address")
