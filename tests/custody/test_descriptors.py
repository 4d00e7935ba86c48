"""Descriptor wallets against the BIP84/86/380 vectors, gap-limit lookup, and the sealed hot seed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from embit.bip32 import HDKey
from embit.bip39 import mnemonic_to_seed
from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.custody.descriptors import (
    DescriptorError,
    DescriptorWallet,
    HotWallet,
    KeyFileError,
    SealedSeedError,
    add_checksum,
    descriptor_checksum,
    load_kek,
    open_seed,
    seal_seed,
    strip_checksum,
    write_new_kek,
)

from .conftest import account_key, hd_root

ABANDON = " ".join(["abandon"] * 11 + ["about"])


def mainnet_account(path: str) -> str:
    root = HDKey.from_seed(mnemonic_to_seed(ABANDON))
    account = root.derive(path)
    return f"[{root.my_fingerprint.hex()}{path[1:]}]{account.to_public().to_base58()}"


def test_bip84_vectors() -> None:
    wallet = DescriptorWallet.receive(mainnet_account("m/84h/0h/0h"), "mainnet")
    assert wallet.derive(0).address == "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"
    assert wallet.derive(1).address == "bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"
    assert wallet.derive(0, change=True).address == "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"


def test_bip86_vectors() -> None:
    wallet = DescriptorWallet.receive(mainnet_account("m/86h/0h/0h"), "mainnet", taproot=True)
    assert wallet.derive(0).address == "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"
    assert wallet.derive(1).address == "bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"
    assert (
        wallet.derive(0, change=True).address
        == "bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"
    )


def test_bip380_checksum_vectors() -> None:
    assert descriptor_checksum("raw(deadbeef)") == "89f8spxm"
    assert add_checksum("raw(deadbeef)") == "raw(deadbeef)#89f8spxm"
    assert strip_checksum("raw(deadbeef)#89f8spxm") == "raw(deadbeef)"
    for bad in ["raw(deadbeef)#", "raw(deadbeef)#89f8spxmx", "raw(deadbeef)#89f8spx", "raw(deedbeef)#89f8spxm",
                "raw(deedbeef)##9f8spxm", "raw(Ü)#00000000", "raw(deadbeef)"]:  # fmt: skip
        with pytest.raises(DescriptorError):
            strip_checksum(bad)
    assert strip_checksum("raw(deadbeef)", required=False) == "raw(deadbeef)"


def test_public_descriptor_has_checksum_and_no_secrets() -> None:
    root = hd_root("receive-private")
    wallet = DescriptorWallet.receive(account_key(root, "m/84'/1'/0'", private=True), "regtest")
    text = wallet.descriptor
    assert "tprv" not in text and "tpub" in text and "/<0;1>/*" in text
    assert strip_checksum(text) == text.split("#")[0]
    again = DescriptorWallet(text, "regtest", wallet.role, wallet.kind)
    assert again.derive(11).script_pubkey == wallet.derive(11).script_pubkey


def test_treasury_is_sortedmulti_and_key_order_does_not_matter() -> None:
    keys = [account_key(hd_root(f"t{n}"), "m/48'/1'/0'/2'") for n in range(3)]
    one = DescriptorWallet.treasury(keys, "regtest")
    other = DescriptorWallet.treasury(list(reversed(keys)), "regtest")
    assert one.descriptor.startswith("wsh(sortedmulti(2,")
    assert [one.derive(i).address for i in range(5)] == [other.derive(i).address for i in range(5)]
    assert one.derive(0).address.startswith("bcrt1q") and len(one.derive(0).script_pubkey) == 34
    with pytest.raises(DescriptorError):
        DescriptorWallet.treasury(keys[:2], "regtest")
    with pytest.raises(DescriptorError):
        DescriptorWallet.treasury([keys[0], keys[0], keys[1]], "regtest")


def test_non_ranged_or_malformed_descriptors_are_refused() -> None:
    with pytest.raises(DescriptorError):
        DescriptorWallet("wpkh(02" + "11" * 32 + ")", "regtest", HotWallet.role, HotWallet.kind)
    with pytest.raises(DescriptorError):
        DescriptorWallet("wpkh(nonsense)", "regtest", HotWallet.role, HotWallet.kind)


@settings(max_examples=25, deadline=None)
@given(index=st.integers(0, 39), change=st.booleans())
def test_find_returns_the_index_inside_the_gap_window(index: int, change: bool) -> None:
    wallet = _find_wallet()
    target = wallet.derive(index, change=change)
    found = wallet.find(target.script_pubkey, next_unused=20, gap_limit=20)
    assert found == target
    assert wallet.find(target.script_pubkey, next_unused=0, gap_limit=index) is None


_WALLET: list[DescriptorWallet] = []


def _find_wallet() -> DescriptorWallet:
    if not _WALLET:
        _WALLET.append(DescriptorWallet.receive(account_key(hd_root("find"), "m/84'/1'/0'"), "regtest"))
    return _WALLET[0]


def test_find_ignores_foreign_scripts() -> None:
    assert _find_wallet().find(bytes.fromhex("0014" + "00" * 20)) is None


@pytest.fixture
def kek(tmp_path: Path) -> Path:
    path = tmp_path / "kek.hex"
    write_new_kek(path)
    return path


def test_sealed_seed_round_trip_and_binding(kek: Path, tmp_path: Path) -> None:
    wallet, secret = HotWallet.generate("regtest")
    sealed = seal_seed(secret, kek, label="hot-1")
    assert secret not in sealed
    assert HotWallet(open_seed(sealed, kek, label="hot-1"), "regtest").address == wallet.address
    with pytest.raises(SealedSeedError):
        open_seed(sealed, kek, label="hot-2")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(SealedSeedError):
        open_seed(tampered, kek, label="hot-1")
    other = tmp_path / "other.hex"
    write_new_kek(other)
    with pytest.raises(SealedSeedError):
        open_seed(sealed, other, label="hot-1")
    # A fresh nonce per sealing: the same seed never produces the same ciphertext twice.
    assert seal_seed(secret, kek, label="hot-1") != sealed


def test_kek_file_rules(kek: Path, tmp_path: Path) -> None:
    assert len(load_kek(kek)) == 32
    with pytest.raises(FileExistsError):
        write_new_kek(kek)
    loose = tmp_path / "loose.hex"
    loose.write_text("ab" * 32)
    os.chmod(loose, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_kek(loose)
    short = tmp_path / "short.hex"
    short.write_text("ab" * 16)
    os.chmod(short, 0o600)
    with pytest.raises(KeyFileError, match="64 hex"):
        load_kek(short)
    not_hex = tmp_path / "nothex.hex"
    not_hex.write_text("zz" * 32)
    os.chmod(not_hex, 0o600)
    with pytest.raises(KeyFileError, match="not hex"):
        load_kek(not_hex)
    with pytest.raises(SealedSeedError, match="unknown format"):
        open_seed(b"garbage", kek, label="x")
