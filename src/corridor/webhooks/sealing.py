"""Endpoint secrets at rest: AES-256-GCM under the webhook key, bound to the endpoint's id.

Why encrypted and not plain: Corridor must hold each secret to sign with it (HMAC is symmetric), and
whoever holds it can forge "invoice settled" events to that client. Sealing means a leaked database dump
or backup forges nothing without the key file too. Why a key of its own and not ``CORRIDOR_KEK_FILE``:
the API process has to seal secrets when endpoints are created, and it should not hold the key that opens
the hot wallet's seed.

The key file holds 32 random bytes as 64 hex characters, readable only by its owner. When it is missing it
is created (the embedded single-process default); processes on several machines must share one file, and a
secret sealed under another key fails to open with a clear error in the attempt log instead of signing
with the wrong key.
"""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corridor.logging import get_logger

_MAGIC: Final = b"CWS1"
_NONCE_BYTES: Final = 12
log = get_logger("corridor.webhooks")


class SecretUnreadable(ValueError):
    """A sealed secret does not open: another webhook key, another endpoint's row, or tampered data."""


class WebhookKeyError(ValueError):
    pass


class SecretBox:
    """Seals and opens endpoint secrets with one 32-byte key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise WebhookKeyError("the webhook key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, secret: str, endpoint_id: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return _MAGIC + nonce + self._aead.encrypt(nonce, secret.encode("utf-8"), _aad(endpoint_id))

    def open(self, sealed: bytes, endpoint_id: str) -> str:
        if not sealed.startswith(_MAGIC) or len(sealed) < len(_MAGIC) + _NONCE_BYTES + 16:
            raise SecretUnreadable("not a sealed webhook secret")
        nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, sealed[len(_MAGIC) + _NONCE_BYTES :], _aad(endpoint_id))
        except InvalidTag:
            raise SecretUnreadable(
                "the endpoint secret does not open: another webhook key file, or tampered data"
            ) from None
        return plain.decode("utf-8")


def _aad(endpoint_id: str) -> bytes:
    # Bound to the endpoint so a sealed secret copied onto another endpoint's row does not open.
    return b"corridor/webhook-secret/v1/" + endpoint_id.encode("utf-8")


def load_key(path: Path) -> bytes:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise WebhookKeyError(f"{path} is readable by group or others; chmod 600 it")
    text = path.read_text(encoding="ascii").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise WebhookKeyError(f"{path} is not hex") from None
    if len(key) != 32:
        raise WebhookKeyError(f"{path} must hold 64 hex characters")
    return key


_boxes: dict[Path, SecretBox] = {}
_boxes_lock = threading.Lock()


def box_from_file(path: Path) -> SecretBox:
    """The box of the key in ``path``, creating the file (mode 600) when it does not exist yet."""
    path = path.resolve()
    with _boxes_lock:
        if path not in _boxes:
            if not path.exists():
                _create_key_file(path)
            _boxes[path] = SecretBox(load_key(path))
        return _boxes[path]


def _create_key_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_bytes(32).hex() + "\n")
    try:
        # A hard link appears whole or not at all, and never replaces a key another process made first.
        os.link(temporary, path)
        log.warning("webhook_key_created", path=str(path))
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
