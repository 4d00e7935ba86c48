"""libbitcoinkernel (through py-bitcoinkernel) behind a small regtest-only interface.

Two traps of the kernel API shape this module:
- `process_block` does not tell whether a block is valid (it may return normally for an invalid
  block, or raise for one whose failure it caches); the verdict comes from the `block_checked`
  callback, which is captured per call here.
- Callbacks fire synchronously inside `process_block` while the kernel holds its own locks, so they
  only record events; the node applies them to its indexes after `process_block` returns.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pbk
import pbk.capi.bindings as k

from corridor.bitcoin.devnode.encoding import hex_id

REGTEST_GENESIS_HASH = "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206"


@dataclass(frozen=True, slots=True)
class ChainEvent:
    connected: bool
    block_hash: bytes
    height: int
    raw_block: bytes


@dataclass(slots=True)
class BlockVerdict:
    """What the kernel said about one submitted block."""

    checked: bool = False
    valid: bool = False
    result: pbk.BlockValidationResult = pbk.BlockValidationResult.UNSET
    raised: bool = False
    events: list[ChainEvent] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SpentCoin:
    value: int
    script_pubkey: bytes
    height: int
    coinbase: bool


def _block_from_bytes(raw: bytes) -> pbk.Block:
    # pbk.Block(raw) unpacks every byte into a ctypes constructor call; a buffer copy is much faster.
    buffer = (ctypes.c_ubyte * len(raw)).from_buffer_copy(raw)
    return pbk.Block._from_handle(k.btck_block_create(buffer, len(raw)))


class Kernel:
    """The chainstate: block storage, validation and the active chain, all done by libbitcoinkernel."""

    def __init__(self, datadir: Path, in_memory: bool) -> None:
        self._pending: list[ChainEvent] = []
        self._checked: dict[bytes, tuple[pbk.ValidationMode, pbk.BlockValidationResult]] = {}
        self._callbacks = pbk.ValidationInterfaceCallbacks(
            block_checked=self._on_checked,
            block_connected=self._on_connected,
            block_disconnected=self._on_disconnected,
        )
        context = pbk.make_context(pbk.ChainType.REGTEST, self._callbacks)
        datadir.mkdir(parents=True, exist_ok=True)
        options = pbk.ChainstateManagerOptions(context, str(datadir), str(datadir / "blocks"))
        options.set_worker_threads_num(0)
        if in_memory:
            options.update_block_tree_db_in_memory(True)
            options.update_chainstate_db_in_memory(True)
        self._chainman = pbk.ChainstateManager(options)
        self._chain = self._chainman.get_active_chain()
        self._pending.clear()
        genesis = hex_id(self.hash_at(0))
        if genesis != REGTEST_GENESIS_HASH:
            raise RuntimeError(f"kernel is not on regtest (genesis {genesis})")

    def _on_checked(self, _user: Any, block: pbk.Block, state: pbk.BlockValidationState) -> None:
        self._checked[bytes(block.block_hash)] = (state.validation_mode, state.block_validation_result)

    def _on_connected(self, _user: Any, block: pbk.Block, entry: pbk.BlockTreeEntry) -> None:
        self._pending.append(ChainEvent(True, bytes(entry.block_hash), entry.height, bytes(block)))

    def _on_disconnected(self, _user: Any, block: pbk.Block, entry: pbk.BlockTreeEntry) -> None:
        self._pending.append(ChainEvent(False, bytes(entry.block_hash), entry.height, bytes(block)))

    def close(self) -> None:
        # Destroying the chainstate manager flushes the kernel's chainstate to disk.
        self._chainman.__del__()

    def process_block(self, raw: bytes, block_hash: bytes) -> BlockVerdict:
        verdict = BlockVerdict()
        self._checked.pop(block_hash, None)
        try:
            self._chainman.process_block(_block_from_bytes(raw))
        except pbk.ProcessBlockException:
            verdict.raised = True
        except RuntimeError:
            verdict.raised = True
        checked = self._checked.pop(block_hash, None)
        if checked is not None:
            verdict.checked = True
            verdict.valid = checked[0] == pbk.ValidationMode.VALID
            verdict.result = checked[1]
        verdict.events = self.take_events()
        return verdict

    def take_events(self) -> list[ChainEvent]:
        events, self._pending = self._pending, []
        return events

    @property
    def height(self) -> int:
        return int(self._chain.height)

    def hash_at(self, height: int) -> bytes:
        return bytes(self._chain.block_tree_entries[height].block_hash)

    def _entry(self, block_hash: bytes) -> pbk.BlockTreeEntry | None:
        entries = self._chainman.block_tree_entries
        key = pbk.BlockHash(block_hash)
        if key not in entries:
            return None
        return entries[key]

    def knows(self, block_hash: bytes) -> bool:
        return self._entry(block_hash) is not None

    def in_active_chain(self, block_hash: bytes) -> bool:
        entry = self._entry(block_hash)
        return entry is not None and entry in self._chain.block_tree_entries

    def height_of(self, block_hash: bytes) -> int | None:
        entry = self._entry(block_hash)
        return None if entry is None else int(entry.height)

    def read_block(self, block_hash: bytes) -> bytes | None:
        entry = self._entry(block_hash)
        if entry is None or entry not in self._chainman.blocks:
            return None
        return bytes(self._chainman.blocks[entry])

    def header_bytes(self, block_hash: bytes) -> bytes | None:
        entry = self._entry(block_hash)
        return None if entry is None else bytes(entry.block_header)

    def read_spent_coins(self, block_hash: bytes) -> list[list[SpentCoin]]:
        """The undo data: for each non-coinbase transaction, the coins its inputs spent, in order."""
        entry = self._entry(block_hash)
        if entry is None or entry.height == 0:
            return []
        return _spent_coins(self._chainman.block_spent_outputs[entry])


def _spent_coins(undo: pbk.BlockSpentOutputs) -> list[list[SpentCoin]]:
    """The coins of `undo`, read through the C API directly: pbk wraps every coin, output and script
    in Python objects and serialises each script through a freshly made callback, which costs more
    than the rest of a `getblock` of a full block. `undo` stays referenced, so its views stay valid."""
    chunks: list[bytes] = []

    def collect(data: int, size: int, _user: int) -> int:
        chunks.append(ctypes.string_at(data, size))
        return 0

    writer = k.btck_WriteBytes(collect)
    result: list[list[SpentCoin]] = []
    for t in range(k.btck_block_spent_outputs_count(undo)):
        tx_spent = k.btck_block_spent_outputs_get_transaction_spent_outputs_at(undo, t)
        coins = []
        for c in range(k.btck_transaction_spent_outputs_count(tx_spent)):
            coin = k.btck_transaction_spent_outputs_get_coin_at(tx_spent, c)
            output = k.btck_coin_get_output(coin)
            script = k.btck_transaction_output_get_script_pubkey(output)
            chunks.clear()
            if k.btck_script_pubkey_to_bytes(script, writer, None) != 0:
                raise RuntimeError("libbitcoinkernel failed to serialise a spent script")
            coins.append(
                SpentCoin(
                    int(k.btck_transaction_output_get_amount(output)),
                    b"".join(chunks),
                    int(k.btck_coin_confirmation_height(coin)),
                    bool(k.btck_coin_is_coinbase(coin)),
                )
            )
        result.append(coins)
    return result
