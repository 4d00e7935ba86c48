"""Keys and signed spends for exercising a node in tests and benchmarks (signing by embit).

Not a wallet: no coin selection and no key storage. `Spendable` names one output and the key that
can spend it; `build_spend` signs P2WPKH (BIP143) and P2TR key-path (BIP341) inputs.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from embit import ec, script
from embit.transaction import SIGHASH, Transaction, TransactionInput, TransactionOutput

from corridor.bitcoin.devnode.encoding import Tx, decode_block, decode_tx, hex_id
from corridor.bitcoin.devnode.scripts import address_of


@dataclass(frozen=True)
class DevKey:
    private: ec.PrivateKey

    @classmethod
    def from_seed(cls, seed: str) -> DevKey:
        return cls(ec.PrivateKey(hashlib.sha256(seed.encode()).digest()))

    @property
    def p2wpkh(self) -> bytes:
        return bytes(script.p2wpkh(self.private.get_public_key()).data)

    @property
    def p2tr(self) -> bytes:
        return bytes(script.p2tr(self.private.get_public_key()).data)

    def address(self, taproot: bool = False) -> str:
        found = address_of(self.p2tr if taproot else self.p2wpkh)
        assert found is not None
        return found


@dataclass(frozen=True)
class Spendable:
    txid: bytes  # internal byte order
    vout: int
    value: int
    script_pubkey: bytes
    key: DevKey

    @property
    def is_taproot(self) -> bool:
        return self.script_pubkey[:2] == b"\x51\x20"


def build_spend(
    inputs: list[Spendable],
    outputs: list[tuple[bytes, int]],
    *,
    sequence: int = 0xFFFFFFFD,
    locktime: int = 0,
    version: int = 2,
) -> Tx:
    """A signed transaction spending `inputs` to `(scriptPubKey, sats)` outputs."""
    tx = Transaction(
        version=version,
        vin=[TransactionInput(hex_id_bytes(s.txid), s.vout, sequence=sequence) for s in inputs],
        vout=[TransactionOutput(value, script.Script(spk)) for spk, value in outputs],
        locktime=locktime,
    )
    spks = [script.Script(s.script_pubkey) for s in inputs]
    values = [s.value for s in inputs]
    for index, spendable in enumerate(inputs):
        private = spendable.key.private
        if spendable.is_taproot:
            digest = tx.sighash_taproot(index, spks, values, sighash=SIGHASH.DEFAULT)
            signature = private.taproot_tweak(b"").schnorr_sign(digest).serialize()
            tx.vin[index].witness = script.Witness([signature])
        else:
            pub = private.get_public_key()
            digest = tx.sighash_segwit(index, script.p2pkh(pub), spendable.value, sighash=SIGHASH.ALL)
            signature = private.sign(digest).serialize() + bytes([SIGHASH.ALL])
            tx.vin[index].witness = script.Witness([signature, pub.sec()])
    return decode_tx(tx.serialize())


def hex_id_bytes(internal: bytes) -> bytes:
    """embit keeps txids in display order."""
    return bytes.fromhex(hex_id(internal))


def outputs_of(tx: Tx, key: DevKey) -> list[Spendable]:
    """The outputs of `tx` that `key` can spend."""
    mine = {key.p2wpkh, key.p2tr}
    return [
        Spendable(tx.txid, n, out.value, out.script_pubkey, key)
        for n, out in enumerate(tx.outputs)
        if out.script_pubkey in mine
    ]


class RawRpc:
    """A bare JSON-RPC poster, so the server is tested without our production client."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.base = f"http://127.0.0.1:{port}/"
        self.user = user
        self.password = password

    def post(self, body: bytes | str, auth: bool = True) -> tuple[int, Any]:
        data = body.encode() if isinstance(body, str) else body
        request = urllib.request.Request(self.base, data=data, method="POST")
        if auth:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                raw = response.read()
                return response.status, json.loads(raw, parse_float=Decimal) if raw else None
        except urllib.error.HTTPError as error:
            raw = error.read()
            return error.code, json.loads(raw, parse_float=Decimal) if raw else None

    def request(self, method: str, *params: Any) -> dict[str, Any]:
        from corridor.bitcoin.devnode.rpcserver import dumps

        _, reply = self.post(dumps({"jsonrpc": "1.0", "id": "t", "method": method, "params": list(params)}))
        assert isinstance(reply, dict)
        return reply

    def __call__(self, method: str, *params: Any) -> Any:
        reply = self.request(method, *params)
        if reply["error"] is not None:
            raise RpcFailure(reply["error"]["code"], reply["error"]["message"])
        return reply["result"]


class RpcFailure(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def coinbase_spendable(rpc: RawRpc, block_hash: str, key: DevKey) -> Spendable:
    block = decode_block(bytes.fromhex(rpc("getblock", block_hash, 0)))
    return outputs_of(block.txs[0], key)[0]
