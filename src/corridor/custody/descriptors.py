"""Descriptor wallets (BIP380+) on embit, and the hot wallet's seed sealed at rest with AES-GCM.

Three wallet shapes cover custody:

* receive wallets, ``wpkh(...)`` or ``tr(...)`` over an account xpub (or xprv) with ``/0/*`` for
  receiving and ``/1/*`` for change;
* the hot wallet, a single key ``wpkh(<pubkey>)`` whose secret is kept encrypted under a key-encryption
  key (KEK) read from a file;
* the treasury, ``wsh(sortedmulti(2, A/<0;1>/*, B/<0;1>/*, C/<0;1>/*))`` signed by two of three approvers.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from embit import ec
from embit.descriptor import Descriptor
from embit.descriptor.checksum import checksum as _embit_checksum
from embit.descriptor.errors import DescriptorError as _EmbitDescriptorError
from embit.networks import NETWORKS

from corridor.bitcoin.address import script_to_address
from corridor.custody.fees import InputKind
from corridor.custody.model import WalletRole

RECEIVE_BRANCH: Final = 0
CHANGE_BRANCH: Final = 1
DEFAULT_GAP_LIMIT: Final = 20
_EMBIT_NETWORK: Final = {"mainnet": "main", "testnet": "test", "signet": "signet", "regtest": "regtest"}


class DescriptorError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------------------
# BIP380 checksums
# ---------------------------------------------------------------------------------------------------------


def descriptor_checksum(descriptor: str) -> str:
    """The 8-character BIP380 checksum of a descriptor written without one."""
    try:
        return str(_embit_checksum(descriptor))
    except _EmbitDescriptorError as error:
        raise DescriptorError(f"descriptor has characters outside the BIP380 set: {error}") from error


def add_checksum(descriptor: str) -> str:
    return f"{descriptor}#{descriptor_checksum(descriptor)}"


def strip_checksum(text: str, *, required: bool = True) -> str:
    """Return the descriptor without its ``#checksum``, refusing a wrong, short or (if required) absent one."""
    body, sep, given = text.partition("#")
    if not sep:
        if required:
            raise DescriptorError("descriptor has no #checksum")
        return body
    if len(given) != 8:
        raise DescriptorError(f"checksum must be 8 characters, got {len(given)}")
    if descriptor_checksum(body) != given:
        raise DescriptorError("descriptor checksum mismatch")
    return body


# ---------------------------------------------------------------------------------------------------------
# Wallets
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DerivedAddress:
    branch: int
    index: int
    script_pubkey: bytes
    address: str


class DescriptorWallet:
    """A ranged descriptor with a receive and a change branch (``/<0;1>/*``)."""

    def __init__(self, descriptor: str, network: str, role: WalletRole, kind: InputKind) -> None:
        if network not in _EMBIT_NETWORK:
            raise DescriptorError(f"unknown network {network!r}")
        self.network = network
        self.role = role
        self.kind = kind
        try:
            self._descriptor = Descriptor.from_string(strip_checksum(descriptor, required=False))
        except DescriptorError:
            raise
        except Exception as error:  # embit raises a variety of types for malformed input
            raise DescriptorError(f"cannot parse descriptor: {error}") from error
        if not self._descriptor.is_wildcard or self._descriptor.num_branches != 2:
            raise DescriptorError("wallet descriptors must be ranged with <0;1> receive/change branches")
        self._cache: dict[tuple[int, int], DerivedAddress] = {}

    @classmethod
    def receive(cls, account_key: str, network: str, *, taproot: bool = False) -> DescriptorWallet:
        """``account_key`` is ``[fingerprint/path]xpub`` (or xprv), e.g. the BIP84/BIP86 account key."""
        wrapper = "tr" if taproot else "wpkh"
        kind = InputKind.P2TR_KEYPATH if taproot else InputKind.P2WPKH
        return cls(f"{wrapper}({account_key}/<0;1>/*)", network, WalletRole.RECEIVE, kind)

    @classmethod
    def treasury(cls, cosigner_keys: Sequence[str], network: str) -> DescriptorWallet:
        """2-of-3 ``wsh(sortedmulti)``; key order does not matter, sortedmulti sorts per index (BIP67)."""
        if len(cosigner_keys) != 3 or len(set(cosigner_keys)) != 3:
            raise DescriptorError("the treasury needs exactly three distinct cosigner keys")
        keys = ",".join(f"{key}/<0;1>/*" for key in cosigner_keys)
        return cls(f"wsh(sortedmulti(2,{keys}))", network, WalletRole.TREASURY, InputKind.P2WSH_2_OF_3)

    @property
    def descriptor(self) -> str:
        """The public descriptor with checksum: safe to show, store and hand to watch-only nodes."""
        return add_checksum(str(self._descriptor.to_public()))

    @property
    def is_private(self) -> bool:
        """Whether the descriptor holds the account's private key (a spendable receive wallet)."""
        return all(getattr(key, "is_private", False) for key in self._descriptor.keys)

    @property
    def signing_key(self) -> Any:
        """The private embit descriptor, which signs every input it derives; only signers ask for it."""
        if not self.is_private:
            raise DescriptorError("a watch-only wallet cannot sign")
        return self._descriptor

    def derived_descriptor(self, branch: int, index: int) -> Any:
        """The embit descriptor for one address, with key origins (used to fill PSBT derivations)."""
        if branch not in (RECEIVE_BRANCH, CHANGE_BRANCH) or not 0 <= index < 2**31:
            raise DescriptorError(f"no address at branch {branch} index {index}")
        return self._descriptor.derive(index, branch_index=branch)

    def derive(self, index: int, *, change: bool = False) -> DerivedAddress:
        branch = CHANGE_BRANCH if change else RECEIVE_BRANCH
        cached = self._cache.get((branch, index))
        if cached is None:
            script = bytes(self.derived_descriptor(branch, index).script_pubkey().data)
            address = script_to_address(script, self.network)
            if address is None:
                raise DescriptorError("descriptor produced a script without an address")
            cached = DerivedAddress(branch, index, script, address)
            self._cache[(branch, index)] = cached
        return cached

    def find(
        self, script_pubkey: bytes, *, next_unused: int = 0, gap_limit: int = DEFAULT_GAP_LIMIT
    ) -> DerivedAddress | None:
        """Which of our addresses pays ``script_pubkey``, looking at indexes below ``next_unused + gap_limit``.

        The window follows BIP44's gap limit: a chain follower raises ``next_unused`` as deposits arrive,
        so scripts beyond the window are treated as foreign rather than derived forever.
        """
        for index in range(next_unused + gap_limit):
            for change in (False, True):
                derived = self.derive(index, change=change)
                if derived.script_pubkey == script_pubkey:
                    return derived
        return None


def generate_account_key(network: str, *, taproot: bool = False) -> str:
    """A fresh BIP84 (or BIP86) account key ``[fingerprint/path]xprv`` from 32 random bytes.

    Only the account key is kept (sealed); the root seed is not needed to sign and is discarded.
    """
    from embit.bip32 import HDKey

    version = embit_network(network)
    root = HDKey.from_seed(secrets.token_bytes(32), version=version["xprv"])
    coin = 0 if network == "mainnet" else 1
    path = f"m/{86 if taproot else 84}h/{coin}h/0h"
    account = root.derive(path)
    return f"[{root.my_fingerprint.hex()}{path[1:]}]{account.to_base58(version=version['xprv'])}"


class HotWallet:
    """One key, ``wpkh(<pubkey>)``: signs automatically, so its secret lives only sealed at rest."""

    role: Final = WalletRole.HOT
    kind: Final = InputKind.P2WPKH

    def __init__(self, secret: bytes, network: str) -> None:
        if len(secret) != 32:
            raise DescriptorError("hot wallet secret must be 32 bytes")
        self.network = network
        self._key = ec.PrivateKey(secret)
        self._descriptor = Descriptor.from_string(f"wpkh({self._key.get_public_key().sec().hex()})")
        self.script_pubkey = bytes(self._descriptor.script_pubkey().data)
        self.address = script_to_address(self.script_pubkey, network) or ""

    @classmethod
    def generate(cls, network: str) -> tuple[HotWallet, bytes]:
        secret = secrets.token_bytes(32)
        return cls(secret, network), secret

    @property
    def descriptor(self) -> str:
        return add_checksum(str(self._descriptor))

    @property
    def signing_key(self) -> Any:
        """The embit private key; only the hot-wallet signer should ask for it."""
        return self._key

    def derived_descriptor(self, branch: int, index: int) -> Any:
        return self._descriptor


def embit_network(network: str) -> Any:
    return NETWORKS[_EMBIT_NETWORK[network]]


# ---------------------------------------------------------------------------------------------------------
# Seed encryption at rest
# ---------------------------------------------------------------------------------------------------------

_SEALED_MAGIC: Final = b"CSK1"
_NONCE_BYTES: Final = 12


class KeyFileError(ValueError):
    pass


class SealedSeedError(ValueError):
    pass


def load_kek(path: Path, *, require_private: bool = True) -> bytes:
    """Read a key-encryption key: 32 random bytes written as 64 hex characters (a newline is allowed)."""
    if require_private and os.name == "posix" and path.stat().st_mode & 0o077:
        raise KeyFileError(f"{path} is readable by group or others; chmod 600 it")
    text = path.read_text(encoding="ascii").strip()
    if len(text) != 64:
        raise KeyFileError(f"{path} must hold 64 hex characters, found {len(text)}")
    try:
        return bytes.fromhex(text)
    except ValueError as error:
        raise KeyFileError(f"{path} is not hex") from error


def write_new_kek(path: Path) -> None:
    """Create a fresh KEK file readable only by its owner; refuses to overwrite an existing one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_bytes(32).hex() + "\n")


def seal_seed(seed: bytes, kek_path: Path, *, label: str) -> bytes:
    """Encrypt ``seed`` with AES-256-GCM; ``label`` (the wallet id) is bound as associated data so a
    sealed seed copied onto another wallet's row will not open."""
    kek = load_kek(kek_path)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    return _SEALED_MAGIC + nonce + AESGCM(kek).encrypt(nonce, seed, _aad(label))


def open_seed(sealed: bytes, kek_path: Path, *, label: str) -> bytes:
    if not sealed.startswith(_SEALED_MAGIC) or len(sealed) < len(_SEALED_MAGIC) + _NONCE_BYTES + 16:
        raise SealedSeedError("not a sealed seed (unknown format)")
    kek = load_kek(kek_path)
    nonce = sealed[len(_SEALED_MAGIC) : len(_SEALED_MAGIC) + _NONCE_BYTES]
    body = sealed[len(_SEALED_MAGIC) + _NONCE_BYTES :]
    try:
        return AESGCM(kek).decrypt(nonce, body, _aad(label))
    except InvalidTag as error:
        raise SealedSeedError(
            "sealed seed does not open: wrong KEK, wrong wallet label or tampered data"
        ) from error


def _aad(label: str) -> bytes:
    return b"corridor/hot-seed/v1/" + label.encode("utf-8")
