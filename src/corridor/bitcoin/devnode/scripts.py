"""Script classification, disassembly and regtest addresses, in the shapes Core's RPC prints."""

from __future__ import annotations

from functools import lru_cache

from embit import base58, bech32
from embit.descriptor.checksum import add_checksum

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
                raise ScriptParseError("truncated push length")
            size = int.from_bytes(script[pos : pos + width], "little")
            pos += width
        if pos + size > len(script):
            raise ScriptParseError("push past end of script")
        ops.append((op, script[pos : pos + size]))
        pos += size
    return ops


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
    """Core's ScriptToAsmStr: small pushes as numbers, other pushes as hex, opcodes by name."""
    parts: list[str] = []
    pos = 0
    try:
        ops = iter_ops(script)
    except ScriptParseError:
        ops = []
        pos = -1
    for op, data in ops:
        if data is not None:
            parts.append(_push_to_asm(data, decode_sighash))
        elif OP_1 <= op <= OP_16:
            parts.append(str(op - OP_1 + 1))
        else:
            parts.append(_OPCODE_NAMES.get(op, "OP_UNKNOWN"))
    if pos == -1:
        parts.append("[error]")
    return " ".join(parts)


def _is_witness_program(spk: bytes) -> tuple[int, bytes] | None:
    if not 4 <= len(spk) <= 42:
        return None
    if spk[0] != OP_0 and not OP_1 <= spk[0] <= OP_16:
        return None
    if spk[1] + 2 != len(spk):
        return None
    version = 0 if spk[0] == OP_0 else spk[0] - OP_1 + 1
    return version, spk[2:]


def _is_multisig(spk: bytes) -> bool:
    try:
        ops = iter_ops(spk)
    except ScriptParseError:
        return False
    if len(ops) < 4 or ops[-1][0] != OP_CHECKMULTISIG:
        return False
    required, total = ops[0][0], ops[-2][0]
    if not (OP_1 <= required <= OP_16 and OP_1 <= total <= OP_16):
        return False
    keys = ops[1:-2]
    return len(keys) == total - OP_1 + 1 and all(d is not None and len(d) in (33, 65) for _, d in keys)


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
    if spk[:1] == bytes((OP_RETURN,)):
        return "nulldata"
    if len(spk) in (35, 67) and spk[0] == len(spk) - 2 and spk[-1] == OP_CHECKSIG:
        return "pubkey"
    if _is_multisig(spk):
        return "multisig"
    return "nonstandard"


def address_of(spk: bytes) -> str | None:
    kind = classify(spk)
    if kind == "pubkeyhash":
        return str(base58.encode_check(bytes((REGTEST_P2PKH_PREFIX,)) + spk[3:23]))
    if kind == "scripthash":
        return str(base58.encode_check(bytes((REGTEST_P2SH_PREFIX,)) + spk[2:22]))
    program = _is_witness_program(spk)
    if program is not None and kind != "nonstandard":
        version, data = program
        encoding = bech32.Encoding.BECH32 if version == 0 else bech32.Encoding.BECH32M
        # bech32.encode would decode its own output again to double-check; the program is valid here.
        return str(bech32.bech32_encode(encoding, REGTEST_HRP, [version, *bech32.convertbits(data, 8, 5)]))
    return None


def descriptor_of(spk: bytes, address: str | None = None) -> str:
    """Core's inferred descriptor for an output we hold no keys for: addr(), pk() or raw()."""
    if address is None:
        address = address_of(spk)
    if address is not None:
        return str(add_checksum(f"addr({address})"))
    if classify(spk) == "pubkey":
        return str(add_checksum(f"pk({spk[1:-1].hex()})"))
    return str(add_checksum(f"raw({spk.hex()})"))


def script_pubkey_json(spk: bytes) -> dict[str, str]:
    return dict(_script_pubkey_json(spk))


@lru_cache(maxsize=200_000)
def _script_pubkey_json(spk: bytes) -> dict[str, str]:
    # Cached: address and descriptor checksums are pure-Python bech32/polymod work, and the same
    # scripts recur across getblock calls.
    address = address_of(spk)
    result = {"asm": to_asm(spk), "desc": descriptor_of(spk, address), "hex": spk.hex()}
    if address is not None:
        result["address"] = address
    result["type"] = classify(spk)
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
