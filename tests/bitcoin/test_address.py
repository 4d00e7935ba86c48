"""Addresses against Bitcoin Core's key_io vectors and the BIP173/BIP350 reference vectors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.bitcoin import (
    AddressType,
    InvalidAddress,
    InvalidReason,
    normalize_address,
    parse_address,
    script_to_address,
)
from corridor.bitcoin.address import NETWORKS

CORE_CHAINS = {"main": ("mainnet",), "testnet4": ("testnet",), "test": ("testnet",), "signet": ("signet",),
               "regtest": ("regtest",)}  # fmt: skip


def load(shared_data: Path, relative: str) -> Any:
    return json.loads((shared_data / relative).read_text())


def key_io_valid(shared_data: Path) -> list[Any]:
    return load(shared_data, "bitcoin-core-testdata/src/test/data/key_io_valid.json")


def test_core_key_io_valid_addresses(shared_data: Path) -> None:
    checked = 0
    for text, script_hex, meta in key_io_valid(shared_data):
        if meta["isPrivkey"]:
            continue
        for network in CORE_CHAINS[meta["chain"]]:
            parsed = parse_address(text, network)
            assert parsed.script_pubkey.hex() == script_hex, text
            canonical = text.lower() if parsed.witness_version is not None else text
            assert script_to_address(parsed.script_pubkey, network) == canonical
            checked += 1
    assert checked == 54


def test_core_key_io_addresses_are_refused_on_networks_with_other_prefixes(shared_data: Path) -> None:
    for text, _script, meta in key_io_valid(shared_data):
        if meta["isPrivkey"]:
            continue
        own = parse_address(text, CORE_CHAINS[meta["chain"]][0])
        for network in NETWORKS:
            if _same_prefixes(own.network, network, own.type):
                continue
            with pytest.raises(InvalidAddress) as caught:
                parse_address(text, network)
            assert caught.value.reason is InvalidReason.WRONG_NETWORK, (text, network)


def _same_prefixes(a: str, b: str, kind: AddressType) -> bool:
    groups_base58 = [{"mainnet"}, {"testnet", "signet", "regtest"}]
    groups_bech32 = [{"mainnet"}, {"testnet", "signet"}, {"regtest"}]
    groups = groups_base58 if kind in (AddressType.P2PKH, AddressType.P2SH) else groups_bech32
    return any(a in g and b in g for g in groups)


def test_core_key_io_private_keys_are_not_addresses(shared_data: Path) -> None:
    for text, _payload, meta in key_io_valid(shared_data):
        if not meta["isPrivkey"]:
            continue
        for network in NETWORKS:
            with pytest.raises(InvalidAddress):
                parse_address(text, network)


def test_core_key_io_invalid_strings_are_refused_on_every_network(shared_data: Path) -> None:
    cases = load(shared_data, "bitcoin-core-testdata/src/test/data/key_io_invalid.json")
    assert len(cases) == 70
    for (text,) in cases:
        for network in NETWORKS:
            with pytest.raises(InvalidAddress):
                parse_address(text, network)


def test_bip173_bip350_valid_addresses(shared_data: Path) -> None:
    vectors = load(shared_data, "bech32-bip173-bip350-vectors/bech32_segwit_addr_vectors.json")
    for text, script_hex in vectors["VALID_ADDRESS"]:
        network = {"bc": "mainnet", "tb": "testnet", "bcrt": "regtest"}[text.lower().rsplit("1", 1)[0]]
        parsed = parse_address(text, network)
        assert parsed.script_pubkey.hex() == script_hex
        assert parsed.address == text.lower() == normalize_address(text)
        assert script_to_address(parsed.script_pubkey, network) == text.lower()


def test_bip173_bip350_invalid_addresses(shared_data: Path) -> None:
    vectors = load(shared_data, "bech32-bip173-bip350-vectors/bech32_segwit_addr_vectors.json")
    reasons: set[InvalidReason] = set()
    for case in vectors["INVALID_ADDRESS"]:
        for network in NETWORKS:
            with pytest.raises(InvalidAddress) as caught:
                parse_address(case["value"], network)
            reasons.add(caught.value.reason)
    # The vectors exercise distinct failure modes; the codes must tell them apart.
    assert {
        InvalidReason.WRONG_CHECKSUM_VARIANT,
        InvalidReason.BAD_WITNESS_VERSION,
        InvalidReason.BAD_WITNESS_PROGRAM,
        InvalidReason.MIXED_CASE,
        InvalidReason.BAD_PADDING,
    } <= reasons


@pytest.mark.parametrize(
    ("text", "network", "reason"),
    [
        ("", "mainnet", InvalidReason.EMPTY),
        ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "mainnet",
         InvalidReason.WRONG_CHECKSUM_VARIANT),
        ("tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "testnet", InvalidReason.UNKNOWN_PREFIX),
        ("BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "regtest", InvalidReason.WRONG_NETWORK),
        ("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", "mainnet", InvalidReason.BAD_CHECKSUM),
        ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mp", "mainnet", InvalidReason.BAD_CHECKSUM),
        ("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo", "testnet", InvalidReason.WRONG_NETWORK),
        ("0xdeadbeef", "mainnet", InvalidReason.BAD_CHARACTER),
    ],
)  # fmt: skip
def test_reason_codes(text: str, network: str, reason: InvalidReason) -> None:
    with pytest.raises(InvalidAddress) as caught:
        parse_address(text, network)
    assert caught.value.reason is reason
    assert reason.value in str(caught.value)


def test_unknown_network_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown network"):
        parse_address("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "bitcoin")


def test_address_types() -> None:
    cases = {
        "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo": AddressType.P2PKH,
        "36j4NfKv6Akva9amjWrLG6MuSQym1GuEmm": AddressType.P2SH,
        "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4": AddressType.P2WPKH,
        "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3": AddressType.P2WSH,
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0": AddressType.P2TR,
        "bc1sw50qgdz25j": AddressType.WITNESS_UNKNOWN,
    }
    for text, kind in cases.items():
        assert parse_address(text, "mainnet").type is kind, text


def test_normalizer_lowercases_bech32_only() -> None:
    assert (
        normalize_address("  BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4\n")
        == "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"
    )
    assert normalize_address("1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo") == "1FsSia9rv4NeEwvJ2GvXrX7LyxYspbN2mo"
    assert normalize_address("tb1QRP33G0Q5C5TXSP9ARYSRX4K6ZDKFS4NCE4XJ0GDCCCEFVPYSXF3Q0SL5K7").startswith(
        "tb1qrp33"
    )


@given(program=st.binary(min_size=20, max_size=20) | st.binary(min_size=32, max_size=32),
       version=st.sampled_from([0, 1]), network=st.sampled_from(NETWORKS))  # fmt: skip
def test_script_address_round_trip(program: bytes, version: int, network: str) -> None:
    script = bytes([0x50 + version if version else 0, len(program)]) + program
    address = script_to_address(script, network)
    assert address is not None
    parsed = parse_address(address, network)
    assert parsed.script_pubkey == script and parsed.witness_program == program
    assert parse_address(address.upper(), network).script_pubkey == script


@given(text=st.text(max_size=100), network=st.sampled_from(NETWORKS))
def test_arbitrary_text_parses_or_raises_invalid_address(text: str, network: str) -> None:
    try:
        parsed = parse_address(text, network)
    except InvalidAddress:
        return
    assert script_to_address(parsed.script_pubkey, network) == parsed.address
