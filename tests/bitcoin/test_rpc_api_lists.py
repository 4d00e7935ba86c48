"""Every method and positional argument the client sends exists in Bitcoin Core's own `help` output."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from corridor.bitcoin import rpc as rpc_module
from corridor.bitcoin.rpc import METHOD_PARAMS, READ_METHODS, BitcoinRpc

RECENT_VERSIONS = tuple(range(25, 32))
# Core's `help` hides the generating RPCs on mainnet from v23 on, where corepc recorded these lists; the
# newest list that shows them is v22, and their signatures have only grown since (generateblock `submit`).
HIDDEN_ON_MAINNET = {"generatetoaddress": 22, "generateblock": 22}


def tokenize(signature: str) -> list[str]:
    """Split `getblock "blockhash" ( verbosity )` into names; arrays/objects become '[...]'/'{...}'."""
    tokens: list[str] = []
    depth, current = 0, ""
    for char in signature:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == " " and depth == 0:
            tokens.append(current)
            current = ""
        else:
            current += char
    tokens.append(current)
    names = []
    for token in tokens:
        if token in ("", "(", ")"):
            continue
        if token.startswith("["):
            names.append("[...]")
        elif token.startswith("{"):
            names.append("{...}")
        else:
            names.append(token.strip('"'))
    return names


def load_api(shared_data: Path, version: int) -> dict[str, list[str]]:
    text = (shared_data / "corepc-rpc-api-lists" / f"rpc-api-v{version}.txt").read_text()
    methods: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("=="):
            continue
        name, _, rest = line.partition(" ")
        methods[name] = tokenize(rest)
    return methods


def test_tokenizer_reads_core_signatures() -> None:
    assert tokenize('"txid" n ( include_mempool )') == ["txid", "n", "include_mempool"]
    assert tokenize('["rawtx",...] ( maxfeerate )') == ["[...]", "maxfeerate"]
    assert tokenize('"output" ["rawtx/txid",...] ( submit )') == ["output", "[...]", "submit"]


@pytest.mark.parametrize("method", sorted(METHOD_PARAMS))
def test_method_and_argument_names_match_core(shared_data: Path, method: str) -> None:
    versions = (HIDDEN_ON_MAINNET[method],) if method in HIDDEN_ON_MAINNET else RECENT_VERSIONS
    ours = METHOD_PARAMS[method]
    for version in versions:
        api = load_api(shared_data, version)
        assert method in api, f"{method} missing from Core v{version}"
        theirs = api[method]
        # generateblock gained `submit` in v25; the hidden lists stop at v22, so compare the common prefix.
        compared = ours[: len(theirs)] if method in HIDDEN_ON_MAINNET else ours
        assert len(compared) <= len(theirs), f"{method}: we send more arguments than Core v{version} takes"
        for position, (name, core_name) in enumerate(zip(compared, theirs, strict=False)):
            if core_name in ("[...]", "{...}"):
                continue  # help prints an array's element, not the parameter's name
            assert name == core_name, (
                f"{method} arg {position}: we say {name!r}, Core v{version} says {core_name!r}"
            )


def test_client_calls_only_documented_methods() -> None:
    source = inspect.getsource(BitcoinRpc)
    called = set(re.findall(r'self\.call\(\s*"([a-z]+)"', source))
    assert called, "no calls found: the pattern no longer matches the client's source"
    assert called <= set(METHOD_PARAMS), called - set(METHOD_PARAMS)
    expected = {
        "getblockchaininfo", "getblockcount", "getbestblockhash", "getblockhash", "getblockheader", "getblock",
        "getrawtransaction", "gettxout", "sendrawtransaction", "testmempoolaccept", "getrawmempool",
        "getmempoolentry", "estimatesmartfee", "generatetoaddress", "generateblock", "submitblock", "getchaintips",
    }  # fmt: skip
    assert expected <= called


def test_state_changing_methods_are_not_retried() -> None:
    writers = {"sendrawtransaction", "submitblock", "generatetoaddress", "generateblock"}
    assert not writers & READ_METHODS
    assert set(METHOD_PARAMS) >= rpc_module.READ_METHODS
