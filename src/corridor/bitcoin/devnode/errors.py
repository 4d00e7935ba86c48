"""Bitcoin Core's RPC error codes (src/rpc/protocol.h) and the node's rejection types."""

from __future__ import annotations

from enum import IntEnum


class RpcCode(IntEnum):
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    PARSE_ERROR = -32700
    MISC_ERROR = -1
    TYPE_ERROR = -3
    INVALID_ADDRESS_OR_KEY = -5
    INVALID_PARAMETER = -8
    DATABASE_ERROR = -20
    DESERIALIZATION_ERROR = -22
    VERIFY_ERROR = -25
    VERIFY_REJECTED = -26
    VERIFY_ALREADY_IN_CHAIN = -27
    IN_WARMUP = -28
    METHOD_DEPRECATED = -32


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = int(code)
        self.message = message


class TxRejected(Exception):
    """A transaction the mempool refuses, with Core's reject reason and its debug detail."""

    def __init__(self, reason: str, details: str = "", *, missing_inputs: bool = False) -> None:
        super().__init__(f"{reason}, {details}" if details else reason)
        self.reason = reason
        self.details = details
        self.missing_inputs = missing_inputs

    @property
    def full(self) -> str:
        return f"{self.reason}, {self.details}" if self.details else self.reason


class AlreadyInChain(Exception):
    """sendrawtransaction of a transaction whose outputs are already in the UTXO set."""


class BlockRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
