"""The RPC methods the devnode serves, with Bitcoin Core's parameter names, result shapes and errors.

Besides Core's methods there is one devnode-only method, for reorg tests:

    generatefork height nblocks "address"

mines `nblocks` blocks (no mempool transactions) on top of the active-chain block at `height` and
returns their hashes. If the new branch ends up with more work than the active chain, the node
reorganises onto it exactly as Core would: the abandoned blocks' transactions return to the
mempool, confirmations and `gettxout` follow the new chain, and `getchaintips` lists the old tip
as a `valid-fork`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from corridor.bitcoin.devnode.encoding import (
    Block,
    DecodeError,
    Tx,
    decode_block,
    decode_tx,
    difficulty,
    hex_id,
    id_from_hex,
    work_from_bits,
)
from corridor.bitcoin.devnode.errors import AlreadyInChain, BlockRejected, RpcCode, RpcError, TxRejected
from corridor.bitcoin.devnode.kernel import SpentCoin
from corridor.bitcoin.devnode.mempool import COIN, MempoolEntry, format_money, is_unspendable
from corridor.bitcoin.devnode.node import DevNode
from corridor.bitcoin.devnode.scripts import AddressError, script_for_address, script_pubkey_json, to_asm

DEFAULT_MAX_FEERATE = Decimal("0.10")
MAX_PACKAGE_COUNT = 25
NO_FEE_ESTIMATE = "Insufficient data or no feerate found"
VERSION = 290000
SUBVERSION = "/corridor-devnode:0.1.0/"

Handler = Callable[..., Any]


def btc(sats: int) -> Decimal:
    """Satoshis as a BTC amount with exactly eight decimals (the coefficient is `sats` itself)."""
    return Decimal(sats).scaleb(-8)


@dataclass(frozen=True)
class Method:
    handler: Handler
    params: tuple[str, ...]


class RpcMethods:
    """Binds Core's method names to the node; `call` takes positional or named parameters."""

    def __init__(self, node: DevNode, on_stop: Callable[[], None] | None = None) -> None:
        self.node = node
        self._on_stop = on_stop
        self._started = time.time()
        self.table: dict[str, Method] = {
            "getblockchaininfo": Method(self.getblockchaininfo, ()),
            "getblockcount": Method(self.getblockcount, ()),
            "getbestblockhash": Method(self.getbestblockhash, ()),
            "getblockhash": Method(self.getblockhash, ("height",)),
            "getblockheader": Method(self.getblockheader, ("blockhash", "verbose")),
            "getblock": Method(self.getblock, ("blockhash", "verbosity")),
            "getrawtransaction": Method(self.getrawtransaction, ("txid", "verbosity", "blockhash")),
            "gettxout": Method(self.gettxout, ("txid", "n", "include_mempool")),
            "sendrawtransaction": Method(
                self.sendrawtransaction, ("hexstring", "maxfeerate", "maxburnamount")
            ),
            "testmempoolaccept": Method(self.testmempoolaccept, ("rawtxs", "maxfeerate")),
            "getrawmempool": Method(self.getrawmempool, ("verbose", "mempool_sequence")),
            "getmempoolentry": Method(self.getmempoolentry, ("txid",)),
            "estimatesmartfee": Method(self.estimatesmartfee, ("conf_target", "estimate_mode")),
            "generatetoaddress": Method(self.generatetoaddress, ("nblocks", "address", "maxtries")),
            "generateblock": Method(self.generateblock, ("output", "transactions", "submit")),
            "submitblock": Method(self.submitblock, ("hexdata", "dummy")),
            "getchaintips": Method(self.getchaintips, ()),
            "generatefork": Method(self.generatefork, ("height", "nblocks", "address")),
            "getnetworkinfo": Method(self.getnetworkinfo, ()),
            "uptime": Method(self.uptime, ()),
            "stop": Method(self.stop, ()),
        }

    def call(self, name: str, params: list[Any] | dict[str, Any] | None) -> Any:
        method = self.table.get(name)
        if method is None:
            raise RpcError(RpcCode.METHOD_NOT_FOUND, "Method not found")
        kwargs = _bind(method, params)
        return method.handler(**kwargs)

    # ---- chain --------------------------------------------------------------------------------

    def getblockchaininfo(self) -> dict[str, Any]:
        node = self.node
        with node.lock:
            tip = node.read_block(node.tip_hash)
            assert tip is not None
            height = node.tip_height
            return {
                "chain": "regtest",
                "blocks": height,
                "headers": height,
                "bestblockhash": hex_id(node.tip_hash),
                "bits": f"{tip.header.bits:08x}",
                "target": f"{_target(tip.header.bits):064x}",
                "difficulty": difficulty(tip.header.bits),
                "time": tip.header.time,
                "mediantime": node.median_time_past(height),
                "verificationprogress": 1,
                "initialblockdownload": False,
                "chainwork": _chainwork(tip.header.bits, height),
                "size_on_disk": _size_on_disk(node),
                "pruned": False,
                "warnings": ["This is a Corridor devnode: regtest only, not Bitcoin Core."],
            }

    def getblockcount(self) -> int:
        return self.node.tip_height

    def getbestblockhash(self) -> str:
        return hex_id(self.node.tip_hash)

    def getblockhash(self, height: Any) -> str:
        height = _int(height, "height")
        with self.node.lock:
            if not 0 <= height <= self.node.tip_height:
                raise RpcError(RpcCode.INVALID_PARAMETER, "Block height out of range")
            return hex_id(self.node.hash_at(height))

    def getblockheader(self, blockhash: Any, verbose: Any = True) -> Any:
        block_hash = _hash(blockhash, "blockhash")
        with self.node.lock:
            block = self.node.read_block(block_hash)
            if block is None:
                raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Block not found")
            if not _bool(verbose, "verbose"):
                return block.raw[:80].hex()
            return self._header_json(block)

    def _header_json(self, block: Block) -> dict[str, Any]:
        node = self.node
        height = node.block_height(block.hash)
        assert height is not None
        active_height = node.height_in_active_chain(block.hash)
        header = block.header
        result: dict[str, Any] = {
            "hash": hex_id(block.hash),
            "confirmations": node.tip_height - height + 1 if active_height is not None else -1,
            "height": height,
            "version": header.version,
            "versionHex": f"{header.version & 0xFFFFFFFF:08x}",
            "merkleroot": hex_id(header.merkle_root),
            "time": header.time,
            "mediantime": _median_time(node, block),
            "nonce": header.nonce,
            "bits": f"{header.bits:08x}",
            "target": f"{_target(header.bits):064x}",
            "difficulty": difficulty(header.bits),
            "chainwork": _chainwork(header.bits, height),
            "nTx": len(block.txs),
        }
        if height > 0:
            result["previousblockhash"] = hex_id(header.prev_hash)
        if active_height is not None and active_height < node.tip_height:
            result["nextblockhash"] = hex_id(node.hash_at(active_height + 1))
        return result

    def getblock(self, blockhash: Any, verbosity: Any = 1) -> Any:
        block_hash = _hash(blockhash, "blockhash")
        level = _verbosity(verbosity)
        with self.node.lock:
            block = self.node.read_block(block_hash)
            if block is None:
                raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Block not found")
            if level == 0:
                return block.raw.hex()
            result = self._header_json(block)
            result["strippedsize"] = block.stripped_size
            result["size"] = len(block.raw)
            result["weight"] = block.weight
            if level == 1:
                result["tx"] = [hex_id(tx.txid) for tx in block.txs]
            else:
                undo = self.node.kernel.read_spent_coins(block_hash)
                result["tx"] = [
                    tx_json(tx, undo[i - 1] if i > 0 and undo else None, prevouts=level >= 3, with_hex=True)
                    for i, tx in enumerate(block.txs)
                ]
            nxt = result.pop("nextblockhash", None)
            if nxt is not None:
                result["nextblockhash"] = nxt
            return result

    def getchaintips(self) -> list[dict[str, Any]]:
        node = self.node
        with node.lock:
            tips = []
            for block_hash, height, status in node.store.leaf_blocks():
                if block_hash == node.tip_hash:
                    tips.append(
                        {"height": height, "hash": hex_id(block_hash), "branchlen": 0, "status": "active"}
                    )
                    continue
                if node.height_in_active_chain(block_hash) is not None:
                    continue
                branchlen = _branch_length(node, block_hash)
                tips.append(
                    {"height": height, "hash": hex_id(block_hash), "branchlen": branchlen, "status": status}
                )
            return sorted(tips, key=lambda t: (-t["height"], t["branchlen"]))

    # ---- transactions -------------------------------------------------------------------------

    def getrawtransaction(self, txid: Any, verbosity: Any = 0, blockhash: Any = None) -> Any:
        tx_id = _hash(txid, "parameter 1")
        level = _verbosity(verbosity)
        node = self.node
        with node.lock:
            if blockhash is not None:
                block_hash = _hash(blockhash, "parameter 3")
                block = node.read_block(block_hash)
                if block is None:
                    raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Block hash not found")
                position = next((i for i, tx in enumerate(block.txs) if tx.txid == tx_id), None)
                if position is None:
                    raise RpcError(
                        RpcCode.INVALID_ADDRESS_OR_KEY,
                        "No such transaction found in the provided block. Use gettransaction for wallet transactions.",
                    )
                in_active = node.height_in_active_chain(block_hash) is not None
                return self._located_tx(block, position, level, in_active_chain=in_active)
            entry = node.mempool.entries.get(tx_id)
            if entry is not None:
                if level == 0:
                    return entry.tx.raw.hex()
                return tx_json(entry.tx, None, prevouts=False, with_hex=True)
            if tx_id == _genesis_coinbase_txid(node):
                raise RpcError(
                    RpcCode.INVALID_ADDRESS_OR_KEY,
                    "The genesis block coinbase is not considered an ordinary transaction and cannot be retrieved",
                )
            location = node.store.locate_tx(tx_id)
            if location is None:
                raise RpcError(
                    RpcCode.INVALID_ADDRESS_OR_KEY,
                    "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.",
                )
            block = node.read_block(location.block_hash)
            assert block is not None
            return self._located_tx(block, location.position, level, in_active_chain=None)

    def _located_tx(self, block: Block, position: int, level: int, in_active_chain: bool | None) -> Any:
        tx = block.txs[position]
        if level == 0:
            return tx.raw.hex()
        undo: list[SpentCoin] | None = None
        if level >= 2 and position > 0:
            undo = self.node.kernel.read_spent_coins(block.hash)[position - 1]
        result = tx_json(tx, undo, prevouts=level >= 2, with_hex=True)
        if in_active_chain is not None:
            result["in_active_chain"] = in_active_chain
        result["blockhash"] = hex_id(block.hash)
        height = self.node.height_in_active_chain(block.hash)
        if height is None:
            result["confirmations"] = 0
        else:
            result["confirmations"] = self.node.tip_height - height + 1
            result["time"] = block.header.time
            result["blocktime"] = block.header.time
        return result

    def gettxout(self, txid: Any, n: Any, include_mempool: Any = True) -> Any:
        tx_id = _hash(txid, "txid")
        index = _int(n, "n")
        node = self.node
        with node.lock:
            outpoint = (tx_id, index)
            use_mempool = _bool(include_mempool, "include_mempool")
            if use_mempool and outpoint in node.mempool.spenders:
                return None
            coin = node.store.coin(outpoint)
            if coin is not None:
                confirmations = node.tip_height - coin.height + 1
                value, spk, coinbase = coin.value, coin.script_pubkey, coin.coinbase
            else:
                txout = node.mempool.output(outpoint) if use_mempool else None
                if txout is None:
                    return None
                confirmations, value, spk, coinbase = 0, txout.value, txout.script_pubkey, False
            return {
                "bestblock": hex_id(node.tip_hash),
                "confirmations": confirmations,
                "value": btc(value),
                "scriptPubKey": script_pubkey_json(spk),
                "coinbase": coinbase,
            }

    def sendrawtransaction(
        self, hexstring: Any, maxfeerate: Any = DEFAULT_MAX_FEERATE, maxburnamount: Any = 0
    ) -> str:
        tx = _decode_tx_param(hexstring)
        max_rate = _amount(maxfeerate, "maxfeerate")
        max_burn = _amount(maxburnamount, "maxburnamount")
        if any(is_unspendable(o.script_pubkey) and o.value > max_burn for o in tx.outputs):
            raise RpcError(
                RpcCode.VERIFY_ERROR, "Unspendable output exceeds maximum configured by user (maxburnamount)"
            )
        node = self.node
        with node.lock:
            if tx.txid in node.mempool.entries:
                return hex_id(tx.txid)
            try:
                admission = node.test_accept(tx)
                _check_max_fee(admission.fee, tx.vsize, max_rate)
                node.accept(tx)
            except TxRejected as rejected:
                if rejected.reason == "txn-already-known":
                    raise RpcError(
                        RpcCode.VERIFY_ALREADY_IN_CHAIN, "Transaction outputs already in utxo set"
                    ) from rejected
                code = RpcCode.VERIFY_ERROR if rejected.missing_inputs else RpcCode.VERIFY_REJECTED
                raise RpcError(code, rejected.full) from rejected
            except AlreadyInChain as exc:
                raise RpcError(
                    RpcCode.VERIFY_ALREADY_IN_CHAIN, "Transaction outputs already in utxo set"
                ) from exc
            return hex_id(tx.txid)

    def testmempoolaccept(self, rawtxs: Any, maxfeerate: Any = DEFAULT_MAX_FEERATE) -> list[dict[str, Any]]:
        if not isinstance(rawtxs, list):
            raise RpcError(RpcCode.TYPE_ERROR, _type_message(rawtxs, "array"))
        if not 1 <= len(rawtxs) <= MAX_PACKAGE_COUNT:
            raise RpcError(RpcCode.INVALID_PARAMETER, "Array must contain between 1 and 25 transactions.")
        txs = [_decode_tx_param(raw) for raw in rawtxs]
        max_rate = _amount(maxfeerate, "maxfeerate")
        results = []
        for tx, outcome in zip(txs, self.node.test_accept_package(txs), strict=True):
            item: dict[str, Any] = {"txid": hex_id(tx.txid), "wtxid": hex_id(tx.wtxid)}
            if isinstance(outcome, TxRejected):
                item["allowed"] = False
                item["reject-reason"] = "missing-inputs" if outcome.missing_inputs else outcome.reason
                item["reject-details"] = outcome.full
            elif max_rate > 0 and outcome.fee * 1000 > max_rate * tx.vsize:
                item["allowed"] = False
                item["reject-reason"] = "max-fee-exceeded"
            else:
                item["allowed"] = True
                item["vsize"] = tx.vsize
                item["fees"] = {
                    "base": btc(outcome.fee),
                    "effective-feerate": btc(outcome.fee * 1000 // tx.vsize),
                    "effective-includes": [hex_id(tx.wtxid)],
                }
            results.append(item)
        return results

    def getrawmempool(self, verbose: Any = False, mempool_sequence: Any = False) -> Any:
        node = self.node
        with node.lock:
            if _bool(verbose, "verbose"):
                if _bool(mempool_sequence, "mempool_sequence"):
                    raise RpcError(
                        RpcCode.INVALID_PARAMETER, "Verbose results cannot contain mempool sequence values."
                    )
                return {hex_id(t): self._entry_json(e) for t, e in node.mempool.entries.items()}
            txids = [hex_id(t) for t in node.mempool.entries]
            if _bool(mempool_sequence, "mempool_sequence"):
                return {"txids": txids, "mempool_sequence": node.mempool.sequence}
            return txids

    def getmempoolentry(self, txid: Any) -> dict[str, Any]:
        tx_id = _hash(txid, "txid")
        with self.node.lock:
            entry = self.node.mempool.entries.get(tx_id)
            if entry is None:
                raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, "Transaction not in mempool")
            return self._entry_json(entry)

    def _entry_json(self, entry: MempoolEntry) -> dict[str, Any]:
        pool = self.node.mempool
        txid = entry.tx.txid
        ancestors = [pool.entries[t] for t in pool.ancestors(txid)]
        descendants = [pool.entries[t] for t in pool.descendants(txid)]
        return {
            "vsize": entry.vsize,
            "weight": entry.tx.weight,
            "time": entry.time,
            "height": entry.height,
            "descendantcount": len(descendants) + 1,
            "descendantsize": entry.vsize + sum(e.vsize for e in descendants),
            "ancestorcount": len(ancestors) + 1,
            "ancestorsize": entry.vsize + sum(e.vsize for e in ancestors),
            "wtxid": hex_id(entry.tx.wtxid),
            "fees": {
                "base": btc(entry.fee),
                "modified": btc(entry.fee),
                "ancestor": btc(entry.fee + sum(e.fee for e in ancestors)),
                "descendant": btc(entry.fee + sum(e.fee for e in descendants)),
            },
            "depends": sorted(hex_id(t) for t in entry.parents),
            "spentby": sorted(hex_id(t) for t in entry.children),
            "bip125-replaceable": pool.signals_replaceable(txid),
            "unbroadcast": False,
        }

    def estimatesmartfee(self, conf_target: Any, estimate_mode: Any = "economical") -> dict[str, Any]:
        target = _int(conf_target, "conf_target")
        if not 1 <= target <= 1008:
            raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid conf_target, must be between 1 and 1008")
        mode = str(estimate_mode).lower()
        if mode not in ("unset", "economical", "conservative"):
            raise RpcError(RpcCode.INVALID_PARAMETER, "Invalid estimate_mode parameter, must be one of: "
                           '"unset", "economical", "conservative"')  # fmt: skip
        node = self.node
        with node.lock:
            rate = _estimate_rate(node, target, conservative=mode == "conservative")
            if rate is None:
                return {"errors": [NO_FEE_ESTIMATE], "blocks": 0}
            return {"feerate": btc(rate), "blocks": max(target, 2)}

    # ---- mining -------------------------------------------------------------------------------

    def generatetoaddress(self, nblocks: Any, address: Any, maxtries: Any = 1_000_000) -> list[str]:
        count = _int(nblocks, "nblocks")
        _int(maxtries, "maxtries")
        script = _address_script(address, "Error: Invalid address")
        return [hex_id(h) for h in self.node.mine(script, max(count, 0))]

    def generatefork(self, height: Any, nblocks: Any, address: Any) -> list[str]:
        fork_height = _int(height, "height")
        count = _int(nblocks, "nblocks")
        script = _address_script(address, "Error: Invalid address")
        if not 0 <= fork_height <= self.node.tip_height:
            raise RpcError(RpcCode.INVALID_PARAMETER, "Block height out of range")
        return [hex_id(h) for h in self.node.mine_branch(fork_height, max(count, 0), script)]

    def generateblock(self, output: Any, transactions: Any, submit: Any = True) -> dict[str, str]:
        script = _address_script(output, "Error: Invalid address or descriptor")
        if not isinstance(transactions, list):
            raise RpcError(RpcCode.TYPE_ERROR, _type_message(transactions, "array"))
        if not _bool(submit, "submit"):
            raise RpcError(RpcCode.INVALID_PARAMETER, "submit=false is not supported by the devnode")
        node = self.node
        with node.lock:
            txs: list[Tx] = []
            for item in transactions:
                txs.append(self._block_tx_param(item))
            try:
                block_hash = node.mine_with(script, txs)
            except BlockRejected as rejected:
                raise RpcError(
                    RpcCode.VERIFY_ERROR, f"TestBlockValidity failed: {rejected.reason}"
                ) from rejected
            return {"hash": hex_id(block_hash)}

    def _block_tx_param(self, item: Any) -> Tx:
        if not isinstance(item, str):
            raise RpcError(RpcCode.TYPE_ERROR, _type_message(item, "string"))
        if len(item) == 64:
            try:
                tx_id = id_from_hex(item)
            except ValueError:
                tx_id = b""
            entry = self.node.mempool.entries.get(tx_id)
            if entry is None:
                raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, f"Transaction {item} not in mempool.")
            return entry.tx
        try:
            return decode_tx(bytes.fromhex(item))
        except (ValueError, DecodeError) as exc:
            raise RpcError(
                RpcCode.DESERIALIZATION_ERROR,
                f"Transaction decode failed for {item}. Make sure the tx has at least one input.",
            ) from exc

    def submitblock(self, hexdata: Any, dummy: Any = None) -> str | None:
        if not isinstance(hexdata, str):
            raise RpcError(RpcCode.TYPE_ERROR, _type_message(hexdata, "string"))
        try:
            block = decode_block(bytes.fromhex(hexdata))
        except (ValueError, DecodeError) as exc:
            raise RpcError(RpcCode.DESERIALIZATION_ERROR, "Block decode failed") from exc
        if not block.txs or not block.txs[0].is_coinbase:
            raise RpcError(RpcCode.DESERIALIZATION_ERROR, "Block does not start with a coinbase")
        return self.node.submit_block(block.raw).result

    # ---- node ---------------------------------------------------------------------------------

    def getnetworkinfo(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "subversion": SUBVERSION,
            "protocolversion": 70016,
            "localservices": "0000000000000000",
            "localservicesnames": [],
            "localrelay": True,
            "timeoffset": 0,
            "networkactive": False,
            "connections": 0,
            "connections_in": 0,
            "connections_out": 0,
            "networks": [],
            "relayfee": btc(self.node.mempool.min_relay_sat_per_kvb),
            "incrementalfee": btc(self.node.mempool.min_relay_sat_per_kvb),
            "localaddresses": [],
            "warnings": ["This is a Corridor devnode: regtest only, not Bitcoin Core."],
        }

    def uptime(self) -> int:
        return int(time.time() - self._started)

    def stop(self) -> str:
        if self._on_stop is not None:
            self._on_stop()
        return "Bitcoin Core stopping"


# ---- JSON shapes shared by several methods --------------------------------------------------------


def tx_json(tx: Tx, spent: list[SpentCoin] | None, *, prevouts: bool, with_hex: bool) -> dict[str, Any]:
    """Core's TxToUniv; `spent` (undo data) adds the fee and, with `prevouts`, each input's prevout."""
    vin: list[dict[str, Any]] = []
    for index, txin in enumerate(tx.inputs):
        item: dict[str, Any]
        if tx.is_coinbase:
            item = {"coinbase": txin.script_sig.hex()}
        else:
            item = {
                "txid": hex_id(txin.prev_txid),
                "vout": txin.prev_vout,
                "scriptSig": {
                    "asm": to_asm(txin.script_sig, decode_sighash=True),
                    "hex": txin.script_sig.hex(),
                },
            }
        if txin.witness:
            item["txinwitness"] = [w.hex() for w in txin.witness]
        if prevouts and spent is not None and not tx.is_coinbase:
            coin = spent[index]
            item["prevout"] = {
                "generated": coin.coinbase,
                "height": coin.height,
                "value": btc(coin.value),
                "scriptPubKey": script_pubkey_json(coin.script_pubkey),
            }
        item["sequence"] = txin.sequence
        vin.append(item)
    result: dict[str, Any] = {
        "txid": hex_id(tx.txid),
        "hash": hex_id(tx.wtxid),
        "version": tx.version,
        "size": tx.size,
        "vsize": tx.vsize,
        "weight": tx.weight,
        "locktime": tx.locktime,
        "vin": vin,
        "vout": [
            {"value": btc(o.value), "n": n, "scriptPubKey": script_pubkey_json(o.script_pubkey)}
            for n, o in enumerate(tx.outputs)
        ],
    }
    if spent is not None and not tx.is_coinbase:
        result["fee"] = btc(sum(c.value for c in spent) - sum(o.value for o in tx.outputs))
    if with_hex:
        result["hex"] = tx.raw.hex()
    return result


# ---- helpers ----------------------------------------------------------------------------------------


def _bind(method: Method, params: list[Any] | dict[str, Any] | None) -> dict[str, Any]:
    if params is None:
        return {}
    if isinstance(params, list):
        if len(params) > len(method.params):
            raise RpcError(RpcCode.MISC_ERROR, "Too many parameters")  # Core prints the method's help here
        return {name: value for name, value in zip(method.params, params, strict=False) if value is not None}
    if not isinstance(params, dict):
        raise RpcError(RpcCode.INVALID_REQUEST, "Params must be an array or object")
    named = dict(params)
    positional = named.pop("args", [])
    bound = {name: value for name, value in zip(method.params, positional, strict=False)}
    for name, value in named.items():
        if name not in method.params:
            raise RpcError(RpcCode.INVALID_PARAMETER, f"Unknown named parameter {name}")
        if name in bound:
            raise RpcError(
                RpcCode.INVALID_PARAMETER,
                f"Parameter {name} specified twice both as positional and named argument",
            )
        bound[name] = value
    return {k: v for k, v in bound.items() if v is not None}


_JSON_TYPE_NAMES = {
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def _type_message(value: Any, expected: str) -> str:
    got = "null" if value is None else _JSON_TYPE_NAMES.get(type(value), "number")
    return f"JSON value of type {got} is not of expected type {expected}"


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
        raise RpcError(RpcCode.TYPE_ERROR, _type_message(value, "number"))
    if int(value) != value:
        raise RpcError(RpcCode.TYPE_ERROR, f"JSON integer out of range for {name}")
    return int(value)


def _bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise RpcError(RpcCode.TYPE_ERROR, _type_message(value, "bool"))
    return value


def _verbosity(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    level = _int(value, "verbosity")
    return level


def _hash(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise RpcError(RpcCode.TYPE_ERROR, _type_message(value, "string"))
    if len(value) != 64:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"{name} must be of length 64 (not {len(value)}, for '{value}')"
        )
    try:
        return id_from_hex(value)
    except ValueError as exc:
        raise RpcError(
            RpcCode.INVALID_PARAMETER, f"{name} must be hexadecimal string (not '{value}')"
        ) from exc


def _amount(value: Any, name: str) -> int:
    """A BTC amount parameter in satoshis; floats from clients are read through their decimal text."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise RpcError(RpcCode.TYPE_ERROR, "Amount is not a number or string")
    try:
        amount = Decimal(str(value))
    except ArithmeticError as exc:
        raise RpcError(RpcCode.TYPE_ERROR, "Invalid amount") from exc
    if amount < 0:
        raise RpcError(RpcCode.TYPE_ERROR, "Amount out of range")
    sats = amount * COIN
    if sats != sats.to_integral_value():
        raise RpcError(RpcCode.TYPE_ERROR, "Invalid amount")
    return int(sats)


def _decode_tx_param(value: Any) -> Tx:
    if not isinstance(value, str):
        raise RpcError(RpcCode.TYPE_ERROR, _type_message(value, "string"))
    try:
        return decode_tx(bytes.fromhex(value))
    except (ValueError, DecodeError) as exc:
        raise RpcError(
            RpcCode.DESERIALIZATION_ERROR, "TX decode failed. Make sure the tx has at least one input."
        ) from exc


def _check_max_fee(fee: int, vsize: int, max_rate_sats_per_kvb: int) -> None:
    if max_rate_sats_per_kvb > 0 and fee * 1000 > max_rate_sats_per_kvb * vsize:
        raise RpcError(
            RpcCode.VERIFY_ERROR, "Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)"
        )


def _address_script(value: Any, message: str) -> bytes:
    if not isinstance(value, str):
        raise RpcError(RpcCode.TYPE_ERROR, _type_message(value, "string"))
    try:
        return script_for_address(value)
    except AddressError as exc:
        raise RpcError(RpcCode.INVALID_ADDRESS_OR_KEY, message) from exc


def _target(bits: int) -> int:
    from corridor.bitcoin.devnode.encoding import bits_to_target

    return bits_to_target(bits)


def _chainwork(bits: int, height: int) -> str:
    # Regtest never retargets, so every block carries the same work.
    return f"{work_from_bits(bits) * (height + 1):064x}"


def _median_time(node: DevNode, block: Block) -> int:
    height = node.height_in_active_chain(block.hash)
    if height is not None:
        return node.median_time_past(height)
    return block.header.time


def _size_on_disk(node: DevNode) -> int:
    blocks_dir = node.datadir / "regtest" / "blocks"
    if not blocks_dir.exists():
        return 0
    return sum(p.stat().st_size for p in blocks_dir.glob("*.dat"))


def _branch_length(node: DevNode, block_hash: bytes) -> int:
    length = 0
    current = block_hash
    while node.height_in_active_chain(current) is None:
        parent = node.store.parent_of(current)
        if parent is None:
            break
        current = parent[0]
        length += 1
    return length


def _genesis_coinbase_txid(node: DevNode) -> bytes:
    genesis = node.read_block(node.hash_at(0))
    assert genesis is not None
    return genesis.txs[0].txid


def _estimate_rate(node: DevNode, target: int, conservative: bool) -> int | None:
    """Fee rate (sat/kvB) of transactions confirmed in recent blocks: a high percentile for near
    targets, the median for later ones, never below the relay minimum."""
    window = max(6, 2 * target)
    samples = sorted(node.store.fee_samples_since(node.tip_height - window + 1))
    if not samples:
        return None
    quantile = 0.95 if target <= 2 or conservative else 0.5
    rate = samples[min(len(samples) - 1, int(len(samples) * quantile))]
    return max(rate, node.mempool.min_relay_sat_per_kvb)


__all__ = ["RpcMethods", "btc", "format_money", "tx_json"]
