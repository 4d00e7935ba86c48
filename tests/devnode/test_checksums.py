"""The table-driven bech32/bech32m and descriptor checksums against the straightforward BIP code and
the BIP173/BIP350/BIP380 and Bitcoin Core vectors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corridor.bitcoin.devnode.checksums import (
    BECH32_CONST,
    BECH32M_CONST,
    CHARSET,
    add_descriptor_checksum,
    bech32_create_checksum,
    descriptor_checksum,
    segwit_address,
)

# ---- reference implementations, as printed in BIP173/BIP350 and BIP380 ---------------------------

INPUT_CHARSET = (
    "0123456789()[],'/*abcdefgh@:$%{}IJKLMNOPQRSTUVWXYZ&+-.;<=>?!^_|~ijklmnopqrstuvwxyzABCDEFGH`#\"\\ "
)


def ref_bech32_polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    chk = 1
    for value in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk


def ref_hrp_expand(hrp: str) -> list[int]:
    return [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]


def ref_create_checksum(hrp: str, data: list[int], const: int) -> list[int]:
    polymod = ref_bech32_polymod(ref_hrp_expand(hrp) + data + [0] * 6) ^ const
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def ref_convertbits(data: bytes, frombits: int, tobits: int) -> list[int]:
    acc, bits, ret = 0, 0, []
    maxv = (1 << tobits) - 1
    for value in data:
        acc = (acc << frombits) | value
        bits += frombits
        while bits >= tobits:
            bits -= tobits
            ret.append((acc >> bits) & maxv)
    if bits:
        ret.append((acc << (tobits - bits)) & maxv)
    return ret


def ref_segwit_address(hrp: str, version: int, program: bytes) -> str:
    data = [version, *ref_convertbits(program, 8, 5)]
    const = BECH32_CONST if version == 0 else BECH32M_CONST
    combined = data + ref_create_checksum(hrp, data, const)
    return hrp + "1" + "".join(CHARSET[d] for d in combined)


def ref_descsum_polymod(symbols: list[int]) -> int:
    generator = [0xF5DEE51989, 0xA9FDCA3312, 0x1BAB10E32D, 0x3706B1677A, 0x644D626FFD]
    chk = 1
    for value in symbols:
        top = chk >> 35
        chk = (chk & 0x7FFFFFFFF) << 5 ^ value
        for i in range(5):
            chk ^= generator[i] if ((top >> i) & 1) else 0
    return chk


def ref_descsum_create(s: str) -> str:
    groups: list[int] = []
    symbols: list[int] = []
    for c in s:
        v = INPUT_CHARSET.find(c)
        symbols.append(v & 31)
        groups.append(v >> 5)
        if len(groups) == 3:
            symbols.append(groups[0] * 9 + groups[1] * 3 + groups[2])
            groups = []
    if len(groups) == 1:
        symbols.append(groups[0])
    elif len(groups) == 2:
        symbols.append(groups[0] * 3 + groups[1])
    checksum = ref_descsum_polymod(symbols + [0] * 8) ^ 1
    return s + "#" + "".join(CHARSET[(checksum >> (5 * (7 - i))) & 31] for i in range(8))


# ---- properties ---------------------------------------------------------------------------------

hrps = st.sampled_from(["bc", "tb", "bcrt"]) | st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=20
).map(str.lower)


@given(hrp=hrps, version=st.integers(0, 16), program=st.binary(min_size=2, max_size=40))
def test_segwit_address_equals_reference(hrp: str, version: int, program: bytes) -> None:
    assert segwit_address(hrp, version, program) == ref_segwit_address(hrp, version, program)


@given(hrp=hrps, data=st.lists(st.integers(0, 31), max_size=80), bech32m=st.booleans())
def test_bech32_checksum_equals_reference(hrp: str, data: list[int], bech32m: bool) -> None:
    const = BECH32M_CONST if bech32m else BECH32_CONST
    expected = "".join(CHARSET[d] for d in ref_create_checksum(hrp, data, const))
    assert bech32_create_checksum(hrp, data, const) == expected


@given(text=st.text(alphabet=INPUT_CHARSET, max_size=200))
def test_descriptor_checksum_equals_reference(text: str) -> None:
    assert add_descriptor_checksum(text) == ref_descsum_create(text)


@given(text=st.text(max_size=40))
def test_descriptor_checksum_refuses_characters_outside_the_input_set(text: str) -> None:
    if all(c in INPUT_CHARSET for c in text):
        assert descriptor_checksum(text) == ref_descsum_create(text)[-8:]
    else:
        with pytest.raises(ValueError):
            descriptor_checksum(text)


# ---- vectors ------------------------------------------------------------------------------------


def _bech32_vectors(shared_data: Path) -> dict[str, list[object]]:
    path = shared_data / "bech32-bip173-bip350-vectors/bech32_segwit_addr_vectors.json"
    loaded: dict[str, list[object]] = json.loads(path.read_text())
    return loaded


@pytest.mark.parametrize(("key", "const"), [("VALID_BECH32", BECH32_CONST), ("VALID_BECH32M", BECH32M_CONST)])
def test_bip173_bip350_valid_strings(shared_data: Path, key: str, const: int) -> None:
    vectors = _bech32_vectors(shared_data)[key]
    assert vectors
    for text in vectors:
        assert isinstance(text, str)
        lowered = text.lower()
        separator = lowered.rfind("1")
        data = [CHARSET.index(c) for c in lowered[separator + 1 : -6]]
        assert bech32_create_checksum(lowered[:separator], data, const) == lowered[-6:], text


def test_bip173_bip350_valid_addresses(shared_data: Path) -> None:
    vectors = _bech32_vectors(shared_data)["VALID_ADDRESS"]
    assert vectors
    for item in vectors:
        assert isinstance(item, list)
        address, script_hex = item
        script = bytes.fromhex(script_hex)
        version = 0 if script[0] == 0 else script[0] - 0x50
        lowered = address.lower()
        assert segwit_address(lowered[: lowered.rfind("1")], version, script[2:]) == lowered


def test_bip380_vector() -> None:
    assert add_descriptor_checksum("raw(deadbeef)") == "raw(deadbeef)#89f8spxm"


def test_core_descriptors(shared_data: Path) -> None:
    """Every `desc` Bitcoin Core printed in its recorded bitcoin-tx and decodescript outputs."""
    folder = shared_data / "bitcoin-core-testdata/test"
    files = [*folder.glob("util/data/*.json"), folder / "functional/data/rpc_decodescript.json"]
    found = {m for f in files for m in re.findall(r'"desc": "([^"]+#[a-z0-9]{8})"', f.read_text())}
    assert len(found) >= 20
    for desc in found:
        body, _, checksum = desc.rpartition("#")
        assert descriptor_checksum(body) == checksum, desc
