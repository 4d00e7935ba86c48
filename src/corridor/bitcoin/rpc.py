"""Bitcoin Core JSON-RPC client: the one the whole platform uses to talk to bitcoind or the devnode.

Requests follow Core's legacy JSON-RPC 1.1 dialect (no ``"jsonrpc": "2.0"`` marker) because every Core
version since 0.17 speaks it and it is what the devnode mirrors. Parameters go by position; the names
in :data:`METHOD_PARAMS` document which positional slot is which and are checked against Core's own
``help`` output in the tests.

Amounts arrive as JSON numbers with eight decimals; they are parsed with ``Decimal`` and converted to
integer satoshis exactly, so a value that is not a whole number of satoshis is a protocol error rather
than a silent rounding.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

SATS_PER_BTC: Final = 100_000_000
_T = TypeVar("_T")


class RpcErrorCode(IntEnum):
    """Error codes from Bitcoin Core's ``src/rpc/protocol.h``."""

    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    PARSE_ERROR = -32700
    MISC_ERROR = -1
    TYPE_ERROR = -3
    INVALID_ADDRESS_OR_KEY = -5
    OUT_OF_MEMORY = -7
    INVALID_PARAMETER = -8
    DATABASE_ERROR = -20
    DESERIALIZATION_ERROR = -22
    VERIFY_ERROR = -25
    VERIFY_REJECTED = -26
    VERIFY_ALREADY_IN_CHAIN = -27
    IN_WARMUP = -28
    METHOD_DEPRECATED = -32
    CLIENT_NOT_CONNECTED = -9
    CLIENT_IN_INITIAL_DOWNLOAD = -10
    CLIENT_NODE_ALREADY_ADDED = -23
    CLIENT_NODE_NOT_ADDED = -24
    CLIENT_NODE_NOT_CONNECTED = -29
    CLIENT_INVALID_IP_OR_SUBNET = -30
    CLIENT_P2P_DISABLED = -31
    CLIENT_MEMPOOL_DISABLED = -33
    CLIENT_NODE_CAPACITY_REACHED = -34
    WALLET_ERROR = -4
    WALLET_INSUFFICIENT_FUNDS = -6
    WALLET_INVALID_LABEL_NAME = -11
    WALLET_KEYPOOL_RAN_OUT = -12
    WALLET_UNLOCK_NEEDED = -13
    WALLET_PASSPHRASE_INCORRECT = -14
    WALLET_WRONG_ENC_STATE = -15
    WALLET_ENCRYPTION_FAILED = -16
    WALLET_ALREADY_UNLOCKED = -17
    WALLET_NOT_FOUND = -18
    WALLET_NOT_SPECIFIED = -19
    WALLET_ALREADY_LOADED = -35
    WALLET_ALREADY_EXISTS = -36


class BitcoinRpcException(Exception):
    """Base of every error raised by :class:`BitcoinRpc`."""

    def __init__(self, method: str, message: str) -> None:
        super().__init__(f"{method}: {message}")
        self.method = method


class RpcError(BitcoinRpcException):
    """The node answered, and the answer is an error (bad parameters, rejected transaction, ...)."""

    def __init__(self, method: str, code: int, message: str) -> None:
        self.code = code
        self.message = message
        self.named_code: RpcErrorCode | None = _named_code(code)
        label = self.named_code.name if self.named_code is not None else "UNKNOWN"
        super().__init__(method, f"RPC error {code} ({label}): {message}")


class RpcTransportError(BitcoinRpcException):
    """The node could not be reached or did not answer in time; nothing is known about the call's effect."""

    def __init__(self, method: str, reason: str, *, retryable: bool = True) -> None:
        super().__init__(method, f"transport error: {reason}")
        self.reason = reason
        self.retryable = retryable


class RpcAuthError(RpcTransportError):
    """HTTP 401/403: wrong user, password or cookie. Never retried."""

    def __init__(self, method: str, status: int) -> None:
        super().__init__(method, f"authentication refused (HTTP {status})", retryable=False)
        self.status = status


class RpcProtocolError(BitcoinRpcException):
    """The node answered something that is not a well-formed Core response."""


def _named_code(code: int) -> RpcErrorCode | None:
    try:
        return RpcErrorCode(code)
    except ValueError:
        return None


# Methods whose repetition cannot change node state: safe to retry after a timeout or dropped connection.
READ_METHODS: Final = frozenset(
    {
        "getblockchaininfo",
        "getblockcount",
        "getbestblockhash",
        "getblockhash",
        "getblockheader",
        "getblock",
        "getrawtransaction",
        "gettxout",
        "testmempoolaccept",
        "getrawmempool",
        "getmempoolentry",
        "estimatesmartfee",
        "getchaintips",
        "getnetworkinfo",
    }
)

# Positional parameter names, as Core's `help` prints them; the client never sends more than these.
METHOD_PARAMS: Final[Mapping[str, tuple[str, ...]]] = {
    "getblockchaininfo": (),
    "getblockcount": (),
    "getbestblockhash": (),
    "getblockhash": ("height",),
    "getblockheader": ("blockhash", "verbose"),
    "getblock": ("blockhash", "verbosity"),
    "getrawtransaction": ("txid", "verbosity", "blockhash"),
    "gettxout": ("txid", "n", "include_mempool"),
    "sendrawtransaction": ("hexstring", "maxfeerate", "maxburnamount"),
    "testmempoolaccept": ("rawtxs", "maxfeerate"),
    "getrawmempool": ("verbose", "mempool_sequence"),
    "getmempoolentry": ("txid",),
    "estimatesmartfee": ("conf_target", "estimate_mode"),
    "generatetoaddress": ("nblocks", "address", "maxtries"),
    "generateblock": ("output", "transactions", "submit"),
    "submitblock": ("hexdata", "dummy"),
    "getchaintips": (),
    "getnetworkinfo": (),
}


def btc_to_sats(value: Any) -> int:
    """Convert a Core JSON amount (BTC, parsed as Decimal) to integer satoshis, refusing fractions."""
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)):
        raise ValueError(f"amount must be a JSON number, got {value!r}")
    sats = Decimal(value) * SATS_PER_BTC
    if sats != sats.to_integral_value():
        raise ValueError(f"amount {value} is not a whole number of satoshis")
    return int(sats)


def sats_to_btc(sats: int) -> Decimal:
    """Integer satoshis to the exact BTC Decimal Core expects in parameters such as ``maxfeerate``."""
    return Decimal(sats).scaleb(-8)


# ---------------------------------------------------------------------------------------------------------
# Typed results
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockchainInfo:
    chain: str
    blocks: int
    headers: int
    bestblockhash: str
    difficulty: Decimal
    time: int | None
    mediantime: int
    verificationprogress: Decimal
    initialblockdownload: bool
    chainwork: str
    size_on_disk: int
    pruned: bool
    warnings: tuple[str, ...]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BlockchainInfo:
        warnings = raw.get("warnings", ())
        # Core 28 turned `warnings` from a string into a list of strings.
        if isinstance(warnings, str):
            warnings = (warnings,) if warnings else ()
        return cls(
            chain=raw["chain"],
            blocks=raw["blocks"],
            headers=raw["headers"],
            bestblockhash=raw["bestblockhash"],
            difficulty=Decimal(raw["difficulty"]),
            time=raw.get("time"),
            mediantime=raw["mediantime"],
            verificationprogress=Decimal(raw["verificationprogress"]),
            initialblockdownload=raw["initialblockdownload"],
            chainwork=raw["chainwork"],
            size_on_disk=raw["size_on_disk"],
            pruned=raw["pruned"],
            warnings=tuple(warnings),
        )


@dataclass(frozen=True, slots=True)
class BlockHeader:
    hash: str
    confirmations: int
    height: int
    version: int
    merkleroot: str
    time: int
    mediantime: int
    nonce: int
    bits: str
    difficulty: Decimal
    chainwork: str
    n_tx: int
    previousblockhash: str | None
    nextblockhash: str | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BlockHeader:
        return cls(
            hash=raw["hash"],
            confirmations=raw["confirmations"],
            height=raw["height"],
            version=raw["version"],
            merkleroot=raw["merkleroot"],
            time=raw["time"],
            mediantime=raw["mediantime"],
            nonce=raw["nonce"],
            bits=raw["bits"],
            difficulty=Decimal(raw["difficulty"]),
            chainwork=raw["chainwork"],
            n_tx=raw["nTx"],
            previousblockhash=raw.get("previousblockhash"),
            nextblockhash=raw.get("nextblockhash"),
        )


@dataclass(frozen=True, slots=True)
class ScriptPubKey:
    hex: str
    type: str
    address: str | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ScriptPubKey:
        address = raw.get("address")
        # Core before 22 reported a list `addresses` instead of a single `address`.
        if address is None and len(raw.get("addresses", ())) == 1:
            address = raw["addresses"][0]
        return cls(hex=raw["hex"], type=raw["type"], address=address)


@dataclass(frozen=True, slots=True)
class PrevOut:
    """What an input spends; only present with getblock verbosity 3 or getrawtransaction verbosity 2."""

    generated: bool
    height: int
    value_sats: int
    script_pubkey: ScriptPubKey


@dataclass(frozen=True, slots=True)
class TxIn:
    txid: str | None
    vout: int | None
    coinbase: str | None
    script_sig_hex: str
    witness: tuple[str, ...]
    sequence: int
    prevout: PrevOut | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TxIn:
        prevout = raw.get("prevout")
        return cls(
            txid=raw.get("txid"),
            vout=raw.get("vout"),
            coinbase=raw.get("coinbase"),
            script_sig_hex=raw.get("scriptSig", {}).get("hex", ""),
            witness=tuple(raw.get("txinwitness", ())),
            sequence=raw["sequence"],
            prevout=None
            if prevout is None
            else PrevOut(
                generated=prevout["generated"],
                height=prevout["height"],
                value_sats=btc_to_sats(prevout["value"]),
                script_pubkey=ScriptPubKey.from_json(prevout["scriptPubKey"]),
            ),
        )


@dataclass(frozen=True, slots=True)
class TxOut:
    n: int
    value_sats: int
    script_pubkey: ScriptPubKey

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TxOut:
        return cls(
            n=raw["n"],
            value_sats=btc_to_sats(raw["value"]),
            script_pubkey=ScriptPubKey.from_json(raw["scriptPubKey"]),
        )


@dataclass(frozen=True, slots=True)
class Transaction:
    """A decoded transaction as getrawtransaction (verbose) or getblock (verbosity >= 2) reports it."""

    txid: str
    wtxid: str
    version: int
    size: int
    vsize: int
    weight: int
    locktime: int
    vin: tuple[TxIn, ...]
    vout: tuple[TxOut, ...]
    hex: str | None
    fee_sats: int | None
    blockhash: str | None
    confirmations: int | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Transaction:
        fee = raw.get("fee")
        return cls(
            txid=raw["txid"],
            wtxid=raw["hash"],
            version=raw["version"],
            size=raw["size"],
            vsize=raw["vsize"],
            weight=raw["weight"],
            locktime=raw["locktime"],
            vin=tuple(TxIn.from_json(item) for item in raw["vin"]),
            vout=tuple(TxOut.from_json(item) for item in raw["vout"]),
            hex=raw.get("hex"),
            fee_sats=None if fee is None else btc_to_sats(fee),
            blockhash=raw.get("blockhash"),
            confirmations=raw.get("confirmations"),
        )


@dataclass(frozen=True, slots=True)
class Block:
    """getblock verbosity 1 (``txids``) or 2/3 (``transactions``, the other empty)."""

    header: BlockHeader
    size: int
    strippedsize: int
    weight: int
    txids: tuple[str, ...]
    transactions: tuple[Transaction, ...]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Block:
        entries = raw["tx"]
        decoded = tuple(Transaction.from_json(t) for t in entries if isinstance(t, Mapping))
        txids = tuple(t.txid for t in decoded) if decoded else tuple(entries)
        return cls(
            header=BlockHeader.from_json(raw),
            size=raw["size"],
            strippedsize=raw["strippedsize"],
            weight=raw["weight"],
            txids=txids,
            transactions=decoded,
        )


@dataclass(frozen=True, slots=True)
class UnspentOutput:
    """gettxout: an unspent output, with the tip it was checked against."""

    bestblock: str
    confirmations: int
    value_sats: int
    script_pubkey: ScriptPubKey
    coinbase: bool

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> UnspentOutput:
        return cls(
            bestblock=raw["bestblock"],
            confirmations=raw["confirmations"],
            value_sats=btc_to_sats(raw["value"]),
            script_pubkey=ScriptPubKey.from_json(raw["scriptPubKey"]),
            coinbase=raw["coinbase"],
        )


@dataclass(frozen=True, slots=True)
class MempoolAcceptResult:
    txid: str
    wtxid: str | None
    allowed: bool | None
    vsize: int | None
    base_fee_sats: int | None
    reject_reason: str | None
    package_error: str | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MempoolAcceptResult:
        fees = raw.get("fees")
        return cls(
            txid=raw["txid"],
            wtxid=raw.get("wtxid"),
            allowed=raw.get("allowed"),
            vsize=raw.get("vsize"),
            base_fee_sats=None if fees is None else btc_to_sats(fees["base"]),
            reject_reason=raw.get("reject-reason"),
            package_error=raw.get("package-error"),
        )


@dataclass(frozen=True, slots=True)
class MempoolEntry:
    vsize: int
    weight: int
    time: int
    height: int
    wtxid: str
    base_fee_sats: int
    modified_fee_sats: int
    ancestor_fee_sats: int
    descendant_fee_sats: int
    ancestorcount: int
    ancestorsize: int
    descendantcount: int
    descendantsize: int
    depends: tuple[str, ...]
    spentby: tuple[str, ...]
    bip125_replaceable: bool | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> MempoolEntry:
        fees = raw["fees"]
        return cls(
            vsize=raw["vsize"],
            weight=raw["weight"],
            time=raw["time"],
            height=raw["height"],
            wtxid=raw["wtxid"],
            base_fee_sats=btc_to_sats(fees["base"]),
            modified_fee_sats=btc_to_sats(fees["modified"]),
            ancestor_fee_sats=btc_to_sats(fees["ancestor"]),
            descendant_fee_sats=btc_to_sats(fees["descendant"]),
            ancestorcount=raw["ancestorcount"],
            ancestorsize=raw["ancestorsize"],
            descendantcount=raw["descendantcount"],
            descendantsize=raw["descendantsize"],
            depends=tuple(raw.get("depends", ())),
            spentby=tuple(raw.get("spentby", ())),
            # Removed from Core 29 onwards (full RBF made every transaction replaceable).
            bip125_replaceable=raw.get("bip125-replaceable"),
        )


@dataclass(frozen=True, slots=True)
class FeeEstimate:
    """estimatesmartfee; ``feerate_sat_per_kvb`` is None when the node has no estimate yet."""

    feerate_sat_per_kvb: int | None
    blocks: int
    errors: tuple[str, ...]

    @property
    def feerate_sat_per_vb(self) -> Decimal | None:
        return None if self.feerate_sat_per_kvb is None else Decimal(self.feerate_sat_per_kvb) / 1000

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FeeEstimate:
        rate = raw.get("feerate")
        return cls(
            feerate_sat_per_kvb=None if rate is None else btc_to_sats(rate),
            blocks=raw["blocks"],
            errors=tuple(raw.get("errors", ())),
        )


@dataclass(frozen=True, slots=True)
class ChainTip:
    height: int
    hash: str
    branchlen: int
    status: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ChainTip:
        return cls(height=raw["height"], hash=raw["hash"], branchlen=raw["branchlen"], status=raw["status"])


@dataclass(frozen=True, slots=True)
class BatchCall:
    method: str
    params: tuple[Any, ...] = ()


# ---------------------------------------------------------------------------------------------------------
# Client
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries apply to read calls only; ``backoff_seconds`` doubles after each attempt."""

    attempts: int = 3
    backoff_seconds: float = 0.2


def _encode_request(payload: Any) -> bytes:
    return json.dumps(_convert_decimals(payload)).encode()


def _convert_decimals(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Core's AmountFromValue accepts a string, which keeps the exact decimal a float would blur.
        return format(value, "f")
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _convert_decimals(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert_decimals(v) for v in value]
    return value


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    parts = urlsplit(url)
    if parts.username is None:
        return url, None
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, parts.fragment))
    return clean, (unquote(parts.username), unquote(parts.password or ""))


def read_cookie_file(path: Path) -> tuple[str, str]:
    """Core's ``.cookie`` holds ``__cookie__:<random hex>``; it is rewritten at every node start."""
    text = path.read_text(encoding="utf-8").strip()
    user, sep, password = text.partition(":")
    if not sep:
        raise ValueError(f"cookie file {path} is not in user:password form")
    return user, password


class BitcoinRpc:
    """Synchronous, thread-safe client for Bitcoin Core's JSON-RPC interface.

    Credentials come from the URL (``http://user:pass@host:port``), an explicit ``auth`` pair, or a
    cookie file (re-read once after a 401, because Core writes a new cookie whenever it restarts).
    """

    def __init__(
        self,
        url: str,
        *,
        auth: tuple[str, str] | None = None,
        cookie_file: Path | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url, url_auth = _split_credentials(url)
        self._cookie_file = cookie_file
        self._auth = auth or url_auth or (read_cookie_file(cookie_file) if cookie_file else None)
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> BitcoinRpc:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- generic calls ------------------------------------------------------------------------------

    def call(self, method: str, *params: Any) -> Any:
        """Call one method; returns Core's ``result`` with floats parsed as Decimal."""
        payload = {"version": "1.1", "id": self._next_id(), "method": method, "params": list(params)}
        response = self._post_with_retries(method, payload, retryable=method in READ_METHODS)
        return self._unwrap(method, response)

    def batch(self, calls: Sequence[BatchCall]) -> list[Any | RpcError]:
        """Send several calls in one HTTP request; each slot is the result or that call's RpcError."""
        if not calls:
            return []
        ids = [self._next_id() for _ in calls]
        payload = [
            {"version": "1.1", "id": i, "method": c.method, "params": list(c.params)}
            for i, c in zip(ids, calls, strict=True)
        ]
        label = "batch[" + ",".join(c.method for c in calls) + "]"
        retryable = all(c.method in READ_METHODS for c in calls)
        response = self._post_with_retries(label, payload, retryable=retryable)
        if not isinstance(response, list):
            raise RpcProtocolError(label, "batch answer is not a JSON array")
        by_id = {item.get("id"): item for item in response if isinstance(item, dict)}
        results: list[Any | RpcError] = []
        for call_id, call in zip(ids, calls, strict=True):
            item = by_id.get(call_id)
            if item is None:
                raise RpcProtocolError(label, f"no answer for {call.method} (id {call_id})")
            error = item.get("error")
            results.append(self._error_from(call.method, error) if error else item.get("result"))
        return results

    def _next_id(self) -> int:
        with self._id_lock:
            return next(self._ids)

    def _post_with_retries(self, method: str, payload: Any, *, retryable: bool) -> Any:
        attempts = self._retry.attempts if retryable else 1
        delay = self._retry.backoff_seconds
        for attempt in range(1, attempts + 1):
            try:
                return self._post(method, payload)
            except RpcTransportError as error:
                if not error.retryable or attempt == attempts:
                    raise
            except RpcError as error:
                if error.code != RpcErrorCode.IN_WARMUP or attempt == attempts:
                    raise
            self._sleep(delay)
            delay *= 2
        raise AssertionError("unreachable: the loop returns or raises")

    def _post(self, method: str, payload: Any) -> Any:
        response = self._send(method, payload)
        if response.status_code in (401, 403) and self._cookie_file is not None:
            self._auth = read_cookie_file(self._cookie_file)
            response = self._send(method, payload)
        if response.status_code in (401, 403):
            raise RpcAuthError(method, response.status_code)
        body = self._parse_body(method, response)
        # Core answers a whole batch with one error object when it cannot parse the batch itself.
        if isinstance(body, dict) and body.get("error"):
            raise self._error_from(method, body["error"])
        if response.status_code >= 500 and body is None:
            raise RpcTransportError(method, f"HTTP {response.status_code} without a JSON-RPC body")
        if response.status_code != 200 and body is None:
            raise RpcTransportError(method, f"HTTP {response.status_code}", retryable=False)
        return body

    def _send(self, method: str, payload: Any) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        if self._auth is not None:
            token = base64.b64encode(f"{self._auth[0]}:{self._auth[1]}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        try:
            return self._http.post(self.url, content=_encode_request(payload), headers=headers)
        except httpx.TimeoutException as error:
            raise RpcTransportError(method, f"timed out ({type(error).__name__})") from error
        except httpx.TransportError as error:
            raise RpcTransportError(method, f"{type(error).__name__}: {error}") from error

    @staticmethod
    def _parse_body(method: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return json.loads(response.content, parse_float=Decimal)
        except ValueError as error:
            if response.status_code != 200:
                return None
            raise RpcProtocolError(method, f"answer is not JSON: {error}") from error

    @staticmethod
    def _error_from(method: str, error: Any) -> RpcError:
        if isinstance(error, Mapping):
            return RpcError(method, int(error.get("code", 0)), str(error.get("message", "")))
        return RpcError(method, 0, str(error))

    @staticmethod
    def _unwrap(method: str, body: Any) -> Any:
        if not isinstance(body, dict) or "result" not in body:
            raise RpcProtocolError(method, "answer has no result field")
        return body["result"]

    # -- typed methods --------------------------------------------------------------------------------

    def getblockchaininfo(self) -> BlockchainInfo:
        return _typed("getblockchaininfo", BlockchainInfo.from_json, self.call("getblockchaininfo"))

    def getblockcount(self) -> int:
        return _expect("getblockcount", int, self.call("getblockcount"))

    def getbestblockhash(self) -> str:
        return _expect("getbestblockhash", str, self.call("getbestblockhash"))

    def getblockhash(self, height: int) -> str:
        return _expect("getblockhash", str, self.call("getblockhash", height))

    def getblockheader(self, blockhash: str) -> BlockHeader:
        return _typed("getblockheader", BlockHeader.from_json, self.call("getblockheader", blockhash, True))

    def getblockheader_raw(self, blockhash: str) -> bytes:
        return _hex_bytes("getblockheader", self.call("getblockheader", blockhash, False))

    def getblock_raw(self, blockhash: str) -> bytes:
        """getblock verbosity 0: the serialized block."""
        return _hex_bytes("getblock", self.call("getblock", blockhash, 0))

    def getblock(self, blockhash: str, verbosity: int = 1) -> Block:
        """getblock verbosity 1 (txids), 2 (decoded transactions with fees) or 3 (plus prevouts)."""
        if verbosity not in (1, 2, 3):
            raise ValueError("verbosity must be 1, 2 or 3; use getblock_raw for 0")
        return _typed("getblock", Block.from_json, self.call("getblock", blockhash, verbosity))

    def getrawtransaction(self, txid: str, blockhash: str | None = None) -> bytes:
        params: tuple[Any, ...] = (txid, 0) if blockhash is None else (txid, 0, blockhash)
        return _hex_bytes("getrawtransaction", self.call("getrawtransaction", *params))

    def getrawtransaction_verbose(self, txid: str, blockhash: str | None = None) -> Transaction:
        # `true` rather than 1 keeps Core 24 and older (boolean `verbose`) answering the same way.
        params: tuple[Any, ...] = (txid, True) if blockhash is None else (txid, True, blockhash)
        return _typed("getrawtransaction", Transaction.from_json, self.call("getrawtransaction", *params))

    def gettxout(self, txid: str, n: int, include_mempool: bool = True) -> UnspentOutput | None:
        raw = self.call("gettxout", txid, n, include_mempool)
        return None if raw is None else _typed("gettxout", UnspentOutput.from_json, raw)

    def sendrawtransaction(self, tx: bytes | str, maxfeerate_btc_per_kvb: Decimal | None = None) -> str:
        """Broadcast; never retried, because a timeout leaves it unknown whether the node took it."""
        hexstring = tx.hex() if isinstance(tx, bytes) else tx
        params: tuple[Any, ...] = (
            (hexstring,) if maxfeerate_btc_per_kvb is None else (hexstring, maxfeerate_btc_per_kvb)
        )
        return _expect("sendrawtransaction", str, self.call("sendrawtransaction", *params))

    def testmempoolaccept(
        self, txs: Sequence[bytes | str], maxfeerate_btc_per_kvb: Decimal | None = None
    ) -> list[MempoolAcceptResult]:
        rawtxs = [t.hex() if isinstance(t, bytes) else t for t in txs]
        params: tuple[Any, ...] = (
            (rawtxs,) if maxfeerate_btc_per_kvb is None else (rawtxs, maxfeerate_btc_per_kvb)
        )
        raw = _expect("testmempoolaccept", list, self.call("testmempoolaccept", *params))
        return [_typed("testmempoolaccept", MempoolAcceptResult.from_json, item) for item in raw]

    def getrawmempool(self) -> list[str]:
        return list(_expect("getrawmempool", list, self.call("getrawmempool", False)))

    def getrawmempool_verbose(self) -> dict[str, MempoolEntry]:
        raw = _expect("getrawmempool", dict, self.call("getrawmempool", True))
        return {txid: _typed("getrawmempool", MempoolEntry.from_json, entry) for txid, entry in raw.items()}

    def getmempoolentry(self, txid: str) -> MempoolEntry:
        return _typed("getmempoolentry", MempoolEntry.from_json, self.call("getmempoolentry", txid))

    def estimatesmartfee(self, conf_target: int, estimate_mode: str = "conservative") -> FeeEstimate:
        raw = self.call("estimatesmartfee", conf_target, estimate_mode)
        return _typed("estimatesmartfee", FeeEstimate.from_json, raw)

    def generatetoaddress(self, nblocks: int, address: str) -> list[str]:
        return list(_expect("generatetoaddress", list, self.call("generatetoaddress", nblocks, address)))

    def generateblock(self, output: str, transactions: Sequence[str]) -> str:
        """Mine one block paying ``output`` (address or descriptor) with exactly these txids/raw txs."""
        raw = _expect("generateblock", dict, self.call("generateblock", output, list(transactions)))
        return _expect("generateblock", str, raw.get("hash"))

    def submitblock(self, block: bytes | str) -> str | None:
        """None when accepted; otherwise Core's reason (``duplicate``, ``inconclusive``, ``bad-...``)."""
        raw = self.call("submitblock", block.hex() if isinstance(block, bytes) else block)
        return None if raw is None else _expect("submitblock", str, raw)

    def getchaintips(self) -> list[ChainTip]:
        raw = _expect("getchaintips", list, self.call("getchaintips"))
        return [_typed("getchaintips", ChainTip.from_json, item) for item in raw]


def _expect(method: str, kind: type[_T], value: Any) -> _T:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RpcProtocolError(method, f"expected {kind.__name__}, got {type(value).__name__}")
    return value


def _typed(method: str, parse: Callable[[Any], _T], raw: Any) -> _T:
    try:
        return parse(raw)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise RpcProtocolError(method, f"unexpected answer shape: {type(error).__name__}: {error}") from error


def _hex_bytes(method: str, value: Any) -> bytes:
    try:
        return bytes.fromhex(_expect(method, str, value))
    except ValueError as error:
        raise RpcProtocolError(method, f"answer is not hex: {error}") from error
