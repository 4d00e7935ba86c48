"""PSBT (BIP174, version 0): strict parsing, batch building, signing, combining, finalising, extraction.

embit does the heavy lifting (data model, sighashes, signatures) but its parser is lenient, so every
PSBT that enters Corridor from outside first passes :func:`check_psbt_bytes`, a key-by-key walk that
enforces the same rules as Bitcoin Core's ``PartiallySignedTransaction::Unserialize`` (key sizes, value
sizes, duplicate keys, valid pubkeys and signature encodings, Taproot and MuSig2 field shapes, an
unsigned transaction with empty scriptSigs, map counts matching the transaction, nothing left over).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Final, Protocol

from embit import ec
from embit.psbt import PSBT, DerivationPath
from embit.script import Script, Witness
from embit.transaction import Transaction, TransactionInput, TransactionOutput

from corridor.custody.model import Payout, Selection

MAGIC: Final = b"psbt\xff"
_MAX_COMPACT_SIZE: Final = 0x02000000
RBF_SEQUENCE: Final = 0xFFFFFFFD
_TAPROOT_MAX_DEPTH: Final = 128


class PsbtError(ValueError):
    """A PSBT that is malformed, inconsistent, or cannot go to the next step (sign, finalise, extract)."""


# ---------------------------------------------------------------------------------------------------------
# Strict parsing
# ---------------------------------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def read(self, n: int) -> bytes:
        if n > self.remaining:
            raise PsbtError("unexpected end of data")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def byte(self) -> int:
        return self.read(1)[0]

    def compact(self) -> int:
        first = self.byte()
        if first < 0xFD:
            return first
        width, minimum = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000), 0xFF: (8, 0x100000000)}[first]
        value = int.from_bytes(self.read(width), "little")
        if value < minimum:
            raise PsbtError("non-canonical compact size")
        if value > _MAX_COMPACT_SIZE:
            raise PsbtError("compact size too large")
        return value

    def varbytes(self) -> bytes:
        return self.read(self.compact())


@dataclass(frozen=True, slots=True)
class _RawTx:
    txid: bytes  # internal byte order
    prevouts: tuple[tuple[bytes, int], ...]
    script_sigs_empty: bool
    has_witness: bool
    n_outputs: int


def _parse_tx(data: bytes, *, allow_witness: bool) -> _RawTx:
    reader = _Reader(data)
    version = reader.read(4)
    n_in = reader.compact()
    segwit = False
    if n_in == 0 and allow_witness:
        flag = reader.byte()
        if flag != 1:
            raise PsbtError("unknown transaction optional data")
        segwit = True
        n_in = reader.compact()
    inputs_start = reader.pos
    prevouts = []
    scripts_empty = True
    for _ in range(n_in):
        prev_hash, index = reader.read(32), int.from_bytes(reader.read(4), "little")
        prevouts.append((prev_hash, index))
        scripts_empty &= len(reader.varbytes()) == 0
        reader.read(4)
    n_out = reader.compact()
    for _ in range(n_out):
        reader.read(8)
        reader.varbytes()
    body_end = reader.pos
    has_witness = False
    if segwit:
        for _ in range(n_in):
            items = reader.compact()
            has_witness |= items > 0
            for _ in range(items):
                reader.varbytes()
        if not has_witness:
            raise PsbtError("superfluous witness record")
    locktime = reader.read(4)
    if reader.remaining:
        raise PsbtError("Size of value was not the stated size (transaction has trailing bytes)")
    stripped = version + _compact_bytes(n_in) + data[inputs_start:body_end] + locktime
    txid = hashlib.sha256(hashlib.sha256(stripped).digest()).digest()
    return _RawTx(txid, tuple(prevouts), scripts_empty, has_witness, n_out)


def _compact_bytes(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFF_FFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")


def _exactly(value: bytes, parse: Callable[[_Reader], object], what: str) -> None:
    reader = _Reader(value)
    parse(reader)
    if reader.remaining:
        raise PsbtError(f"Size of value was not the stated size ({what})")


def _valid_pubkey(data: bytes) -> bool:
    if len(data) == 33 and data[0] in (2, 3):
        pass
    elif not (len(data) == 65 and data[0] in (4, 6, 7)):
        return False
    try:
        ec.PublicKey.parse(data)
    except Exception:  # embit reports bad points with several exception types
        return False
    return True


def _is_strict_der_signature(sig: bytes) -> bool:
    """BIP66 strict DER plus a defined sighash byte (Core's SCRIPT_VERIFY_DERSIG | STRICTENC)."""
    if not 9 <= len(sig) <= 73 or sig[0] != 0x30 or sig[1] != len(sig) - 3:
        return False
    len_r = sig[3]
    if 5 + len_r >= len(sig):
        return False
    len_s = sig[5 + len_r]
    if len_r + len_s + 7 != len(sig) or sig[2] != 0x02 or len_r == 0 or sig[4] & 0x80:
        return False
    if len_r > 1 and sig[4] == 0 and not sig[5] & 0x80:
        return False
    if sig[len_r + 4] != 0x02 or len_s == 0 or sig[len_r + 6] & 0x80:
        return False
    if len_s > 1 and sig[len_r + 6] == 0 and not sig[len_r + 7] & 0x80:
        return False
    return (sig[-1] & ~0x80) in (1, 2, 3)


def _check_keypath(value: bytes) -> None:
    if len(value) == 0 or len(value) % 4:
        raise PsbtError("Invalid length for HD key path")


def _check_tap_keypath(value: bytes, scope: str) -> None:
    reader = _Reader(value)
    try:
        count = reader.compact()
        reader.read(32 * count)
        _check_keypath(reader.read(reader.remaining))
    except PsbtError as error:
        raise PsbtError(f"{scope} Taproot BIP32 keypath has an invalid length") from error


def _check_proprietary(key: bytes) -> None:
    reader = _Reader(key[1:])
    reader.varbytes()
    reader.compact()


def _require_key_size(key: bytes, sizes: tuple[int, ...], what: str) -> None:
    if len(key) not in sizes:
        raise PsbtError(f"{what} key is not the expected size")


def _check_global(key: bytes, value: bytes) -> None:
    kind = key[0]
    if kind == 0x00:
        _require_key_size(key, (1,), "global unsigned tx")
    elif kind == 0x01:
        _require_key_size(key, (79,), "global xpub")
        if not _valid_pubkey(key[46:79]):
            raise PsbtError("Invalid pubkey in global xpub")
        _check_keypath(value)
    elif kind == 0xFB:
        _require_key_size(key, (1,), "global version")
        if len(value) != 4:
            raise PsbtError("Size of value was not the stated size (version)")
        if int.from_bytes(value, "little") > 0:
            raise PsbtError("Unsupported version number (only PSBT version 0)")
    elif kind == 0xFC:
        _check_proprietary(key)


def _check_input(key: bytes, value: bytes) -> None:
    kind = key[0]
    single = {0x00, 0x01, 0x03, 0x04, 0x05, 0x07, 0x08, 0x13, 0x17, 0x18}
    if kind in single:
        _require_key_size(key, (1,), f"input type {kind:#04x}")
    if kind == 0x00:
        _parse_tx(value, allow_witness=True)
    elif kind == 0x01:
        _exactly(value, lambda r: (r.read(8), r.varbytes()), "witness utxo")
    elif kind == 0x02:
        _require_key_size(key, (34, 66), "partial signature pubkey")
        if not _valid_pubkey(key[1:]):
            raise PsbtError("Invalid pubkey")
        if not _is_strict_der_signature(value):
            raise PsbtError("Signature is not a valid encoding")
    elif kind == 0x03 and len(value) != 4:
        raise PsbtError("Size of value was not the stated size (sighash type)")
    elif kind == 0x06:
        _require_key_size(key, (34, 66), "BIP32 keypath")
        if not _valid_pubkey(key[1:]):
            raise PsbtError("Invalid pubkey")
        _check_keypath(value)
    elif kind == 0x08:
        _exactly(value, lambda r: [r.varbytes() for _ in range(r.compact())], "final script witness")
    elif kind in (0x0A, 0x0B, 0x0C, 0x0D):
        _check_preimage(kind, key, value)
    elif kind in (0x13, 0x14):
        if kind == 0x14:
            _require_key_size(key, (65,), "Input Taproot script signature")
        if len(value) < 64:
            raise PsbtError("Input Taproot signature is shorter than 64 bytes")
        if len(value) > 65:
            raise PsbtError("Input Taproot signature is longer than 65 bytes")
    elif kind == 0x15:
        if len(key) < 34 or (len(key) - 2) % 32:
            raise PsbtError("Input Taproot leaf script key has an invalid control block size")
        if not value:
            raise PsbtError("Input Taproot leaf script must be at least 1 byte")
    elif kind == 0x16:
        _require_key_size(key, (33,), "Input Taproot BIP32 keypath")
        _check_tap_keypath(value, "Input")
    elif kind in (0x17, 0x18) and len(value) != 32:
        raise PsbtError(f"Input Taproot {'internal key' if kind == 0x17 else 'merkle root'} is not 32 bytes")
    elif kind == 0x1A:
        _check_musig_participants(key, value, "Input")
    elif kind in (0x1B, 0x1C):
        name = "pubnonce" if kind == 0x1B else "partial sig"
        if len(key) not in (67, 99):
            raise PsbtError(f"Input musig2 {name} key is not expected size")
        if kind == 0x1B and len(value) != 66:
            raise PsbtError("Input musig2 pubnonce value is not 66 bytes")
        if kind == 0x1C and len(value) != 32:
            raise PsbtError("Size of value was not the stated size (musig2 partial signature)")
    elif kind == 0xFC:
        _check_proprietary(key)


def _check_preimage(kind: int, key: bytes, value: bytes) -> None:
    digest: Callable[[bytes], bytes]
    if kind == 0x0A:
        digest = lambda d: hashlib.new("ripemd160", d).digest()  # noqa: E731
    elif kind == 0x0B:
        digest = lambda d: hashlib.sha256(d).digest()  # noqa: E731
    elif kind == 0x0C:
        digest = lambda d: hashlib.new("ripemd160", hashlib.sha256(d).digest()).digest()  # noqa: E731
    else:
        digest = lambda d: hashlib.sha256(hashlib.sha256(d).digest()).digest()  # noqa: E731
    size = 21 if kind in (0x0A, 0x0C) else 33
    _require_key_size(key, (size,), "hash preimage")
    if digest(value) != key[1:]:
        raise PsbtError("Provided preimage does not match hash")


def _check_musig_participants(key: bytes, value: bytes, scope: str) -> None:
    if len(key) != 34:
        raise PsbtError(f"{scope} musig2 participants pubkeys aggregate key is not 34 bytes")
    if len(value) % 33:
        raise PsbtError(f"{scope} musig2 participants pubkeys value size is not a multiple of 33")


def _check_output(key: bytes, value: bytes) -> None:
    kind = key[0]
    if kind in (0x00, 0x01, 0x05, 0x06):
        _require_key_size(key, (1,), f"output type {kind:#04x}")
    if kind == 0x02:
        _require_key_size(key, (34, 66), "BIP32 keypath")
        if not _valid_pubkey(key[1:]):
            raise PsbtError("Invalid pubkey")
        _check_keypath(value)
    elif kind == 0x05 and len(value) != 32:
        raise PsbtError("Output Taproot internal key is not 32 bytes")
    elif kind == 0x06:
        _check_tap_tree(value)
    elif kind == 0x07:
        _require_key_size(key, (33,), "Output Taproot BIP32 keypath")
        _check_tap_keypath(value, "Output")
    elif kind == 0x08:
        _check_musig_participants(key, value, "Output")
    elif kind == 0xFC:
        _check_proprietary(key)


def _check_tap_tree(value: bytes) -> None:
    """Leaves in depth-first order must form one complete binary tree (Core's TaprootBuilder)."""
    if not value:
        raise PsbtError("Output Taproot tree must not be empty")
    reader = _Reader(value)
    pending: list[int] = []  # depths of subtrees still waiting for a sibling
    while reader.remaining:
        depth, leaf_version = reader.byte(), reader.byte()
        reader.varbytes()
        if depth > _TAPROOT_MAX_DEPTH:
            raise PsbtError("Output Taproot tree has a leaf greater than Taproot maximum depth")
        if leaf_version & 1:
            raise PsbtError("Output Taproot tree has a leaf with an invalid leaf version")
        if pending and (depth < pending[-1] or pending == [0]):
            raise PsbtError("Output Taproot tree is malformed")
        pending.append(depth)
        while len(pending) >= 2 and pending[-1] == pending[-2]:
            pending.pop()
            pending[-1] -= 1
    if pending != [0]:
        raise PsbtError("Output Taproot tree is malformed")


def _read_map(reader: _Reader, check: Callable[[bytes, bytes], None]) -> dict[bytes, bytes]:
    entries: dict[bytes, bytes] = {}
    while True:
        key = reader.varbytes()
        if not key:
            return entries
        value = reader.varbytes()
        if key in entries:
            raise PsbtError(f"Duplicate Key, type {key[0]:#04x} already provided")
        check(key, value)
        entries[key] = value


def check_psbt_bytes(raw: bytes) -> None:
    """Raise :class:`PsbtError` unless ``raw`` is a well-formed version 0 PSBT."""
    reader = _Reader(raw)
    if reader.read(len(MAGIC)) != MAGIC:
        raise PsbtError("Invalid PSBT magic bytes")
    global_map = _read_map(reader, _check_global)
    if b"\x00" not in global_map:
        raise PsbtError("No unsigned transaction was provided")
    tx = _parse_tx(global_map[b"\x00"], allow_witness=False)
    if not tx.script_sigs_empty:
        raise PsbtError("Unsigned tx does not have empty scriptSigs and scriptWitnesses")
    for prev_hash, prev_index in tx.prevouts:
        if not reader.remaining:
            raise PsbtError("Inputs provided does not match the number of inputs in transaction")
        entries = _read_map(reader, _check_input)
        if b"\x00" in entries:
            utxo = _parse_tx(entries[b"\x00"], allow_witness=True)
            if utxo.txid != prev_hash:
                raise PsbtError("Non-witness UTXO does not match outpoint hash")
            if prev_index >= utxo.n_outputs:
                raise PsbtError("Input specifies output index that does not exist")
    for _ in range(tx.n_outputs):
        if not reader.remaining:
            raise PsbtError("Outputs provided does not match the number of outputs in transaction")
        _read_map(reader, _check_output)
    if reader.remaining:
        raise PsbtError("extra data after PSBT")


def decode_psbt_text(data: str | bytes) -> bytes:
    """Accept raw bytes, base64 (as Core and most wallets exchange it) or hex."""
    if isinstance(data, bytes):
        if data.startswith(MAGIC):
            return data
        data = data.decode("ascii", errors="strict")
    text = data.strip()
    if text.startswith(MAGIC.hex()):
        try:
            return bytes.fromhex(text)
        except ValueError as error:
            raise PsbtError("invalid hex") from error
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PsbtError("invalid base64") from error


def parse_psbt(data: str | bytes) -> Any:
    """The entry point for PSBTs from outside: strict checks, then an embit ``PSBT``."""
    raw = decode_psbt_text(data)
    check_psbt_bytes(raw)
    try:
        return _parse_without_inputs(raw) if _has_no_inputs(raw) else PSBT.parse(raw)
    except Exception as error:  # embit raises its own and builtin exception types
        raise PsbtError(f"PSBT could not be decoded: {error}") from error


def _has_no_inputs(raw: bytes) -> bool:
    reader = _Reader(raw)
    reader.read(len(MAGIC))
    unsigned = _read_map(reader, _check_global)[b"\x00"]
    return _Reader(unsigned[4:]).compact() == 0


def _parse_without_inputs(raw: bytes) -> Any:
    """embit reads a zero-input transaction as a segwit marker; Core allows such PSBTs, so build it here."""
    reader = _Reader(raw)
    reader.read(len(MAGIC))
    global_map = _read_map(reader, _check_global)
    unsigned = _Reader(global_map.pop(b"\x00"))
    version = int.from_bytes(unsigned.read(4), "little")
    unsigned.compact()
    outputs = [TransactionOutput(int.from_bytes(unsigned.read(8), "little"), Script(unsigned.varbytes()))
               for _ in range(unsigned.compact())]  # fmt: skip
    locktime = int.from_bytes(unsigned.read(4), "little")
    psbt = PSBT(Transaction(version=version, vin=[], vout=outputs, locktime=locktime), unknown=global_map)
    stream = BytesIO(raw[reader.pos :])
    psbt.outputs = [PSBT.PSBTOUT_CLS.read_from(stream, vout=vout) for vout in outputs]
    return psbt


# ---------------------------------------------------------------------------------------------------------
# Building a batch
# ---------------------------------------------------------------------------------------------------------


class SpendingWallet(Protocol):
    network: str

    def derived_descriptor(self, branch: int, index: int) -> Any: ...


def build_batch_psbt(
    selection: Selection,
    payouts: Sequence[Payout],
    *,
    wallet: SpendingWallet,
    change_index: int = 0,
    locktime: int = 0,
) -> Any:
    """An unsigned PSBT paying ``payouts`` from ``selection``'s lots, change back to ``wallet``'s change branch.

    Inputs carry ``witness_utxo`` and BIP32 (or Taproot BIP32) derivations so independent signers can find
    their keys; the change output carries its derivation so signers can recognise it as ours. Every input
    signals replaceability (BIP125) so a stuck batch can be fee-bumped.
    """
    if sum(p.amount_sats for p in payouts) != selection.payouts_sats:
        raise PsbtError("payouts do not match the selection they were selected for")
    outputs = [TransactionOutput(p.amount_sats, Script(p.script_pubkey)) for p in payouts]
    change_descriptor = None
    if selection.change_sats is not None:
        change_descriptor = wallet.derived_descriptor(1, change_index)
        outputs.append(TransactionOutput(selection.change_sats, change_descriptor.script_pubkey()))
    inputs = [
        TransactionInput(bytes.fromhex(lot.txid), lot.vout, sequence=RBF_SEQUENCE) for lot in selection.inputs
    ]
    psbt = PSBT(Transaction(version=2, vin=inputs, vout=outputs, locktime=locktime))
    for scope, lot in zip(psbt.inputs, selection.inputs, strict=True):
        descriptor = wallet.derived_descriptor(lot.branch, lot.index)
        if bytes(descriptor.script_pubkey().data) != lot.script_pubkey:
            raise PsbtError(
                f"lot {lot.txid}:{lot.vout} is not paid to this wallet at {lot.branch}/{lot.index}"
            )
        scope.witness_utxo = TransactionOutput(lot.value_sats, Script(lot.script_pubkey))
        _describe_keys(scope, descriptor)
    if change_descriptor is not None:
        _describe_keys(psbt.outputs[-1], change_descriptor)
    return psbt


def _describe_keys(scope: Any, descriptor: Any) -> None:
    witness_script = descriptor.witness_script()
    if witness_script is not None:
        scope.witness_script = witness_script
    for key in descriptor.keys:
        if key.origin is None:
            continue
        path = DerivationPath(key.origin.fingerprint, key.origin.derivation)
        if descriptor.is_taproot:
            scope.taproot_internal_key = key.get_public_key()
            scope.taproot_bip32_derivations[key.get_public_key()] = ([], path)
        else:
            scope.bip32_derivations[key.get_public_key()] = path


# ---------------------------------------------------------------------------------------------------------
# Signing, combining, finalising, extracting
# ---------------------------------------------------------------------------------------------------------


def sign_psbt(psbt: Any, key: Any) -> int:
    """Add this signer's signatures (HD root, descriptor key or single private key); returns how many."""
    added = int(psbt.sign_with(key))
    if added == 0:
        raise PsbtError("this key cannot sign any input of the PSBT")
    return added


def combine_psbts(psbts: Sequence[Any]) -> Any:
    """BIP174 combiner: merge signatures from copies of the same unsigned transaction."""
    if not psbts:
        raise PsbtError("nothing to combine")
    combined = PSBT.parse(psbts[0].serialize())
    txid = combined.tx.txid()
    for other in psbts[1:]:
        if other.tx.txid() != txid:
            raise PsbtError("PSBTs are for different transactions")
        for mine, theirs in zip(combined.inputs, other.inputs, strict=True):
            mine.partial_sigs.update(theirs.partial_sigs)
            mine.taproot_sigs.update(theirs.taproot_sigs)
            mine.final_scriptwitness = mine.final_scriptwitness or theirs.final_scriptwitness
    return combined


def finalize_psbt(psbt: Any) -> Any:
    """BIP174 finaliser for our script types (P2WPKH, P2WSH multisig, P2TR key path), in place."""
    for index, scope in enumerate(psbt.inputs):
        if scope.final_scriptwitness is None or not scope.final_scriptwitness.items:
            scope.final_scriptwitness = _final_witness(index, scope)
        _clear_signing_data(scope)
    return psbt


def _final_witness(index: int, scope: Any) -> Any:
    if scope.witness_utxo is None:
        raise PsbtError(f"input {index} has no witness_utxo")
    spk = bytes(scope.witness_utxo.script_pubkey.data)
    if len(spk) == 22 and spk[:2] == b"\x00\x14":
        for pub, sig in scope.partial_sigs.items():
            if hashlib.new("ripemd160", hashlib.sha256(pub.sec()).digest()).digest() == spk[2:]:
                return Witness([sig, pub.sec()])
        raise PsbtError(f"input {index} (p2wpkh) has no signature for its key")
    if len(spk) == 34 and spk[:2] == b"\x00\x20":
        return _multisig_witness(index, scope, spk)
    raise PsbtError(f"input {index} is not signed or its script type cannot be finalised here")


def _multisig_witness(index: int, scope: Any, spk: bytes) -> Any:
    script = scope.witness_script
    if script is None or hashlib.sha256(script.data).digest() != spk[2:]:
        raise PsbtError(f"input {index} witness script does not match its output")
    threshold, pubkeys = _parse_multisig(bytes(script.data))
    # CHECKMULTISIG walks signatures in key order, so signatures must follow the script's key order.
    sigs = [scope.partial_sigs[pub] for pub in pubkeys if pub in scope.partial_sigs][:threshold]
    if len(sigs) < threshold:
        raise PsbtError(f"input {index} has {len(sigs)} of {threshold} required signatures")
    return Witness([b"", *sigs, script.data])


def _parse_multisig(script: bytes) -> tuple[int, list[Any]]:
    if (
        len(script) < 3
        or script[-1] != 0xAE
        or not 0x51 <= script[0] <= 0x60
        or not 0x51 <= script[-2] <= 0x60
    ):
        raise PsbtError("witness script is not a bare multisig")
    threshold, count = script[0] - 0x50, script[-2] - 0x50
    body = script[1:-2]
    if len(body) != 34 * count or any(body[i * 34] != 33 for i in range(count)):
        raise PsbtError("witness script keys are not compressed pubkeys")
    return threshold, [ec.PublicKey.parse(body[i * 34 + 1 : (i + 1) * 34]) for i in range(count)]


def _clear_signing_data(scope: Any) -> None:
    scope.partial_sigs.clear()
    scope.sighash_type = None
    scope.redeem_script = None
    scope.witness_script = None
    scope.bip32_derivations.clear()
    scope.taproot_bip32_derivations.clear()
    scope.taproot_internal_key = None
    scope.taproot_merkle_root = None
    scope.taproot_sigs.clear()
    scope.taproot_scripts.clear()


def extract_transaction(psbt: Any) -> bytes:
    """The network serialization of a finalised PSBT's transaction."""
    tx = Transaction.parse(psbt.tx.serialize())
    for index, (txin, scope) in enumerate(zip(tx.vin, psbt.inputs, strict=True)):
        if scope.final_scriptwitness is None or not scope.final_scriptwitness.items:
            raise PsbtError(f"input {index} is not finalised")
        txin.witness = scope.final_scriptwitness
        if scope.final_scriptsig is not None:
            txin.script_sig = scope.final_scriptsig
    return bytes(tx.serialize())


def psbt_fee(psbt: Any) -> int:
    """Inputs minus outputs, in sats, from the PSBT's own UTXO data."""
    return int(psbt.fee())
