"""Users and API keys: creation, authentication, revocation.

A key reads ``cor_<prefix>_<secret>``. The prefix is stored in clear so operators can tell keys apart and
so a presented key is found with one indexed lookup; the whole key is stored only as an argon2 hash.
Verified keys are trusted for ``CORRIDOR_API_KEY_CACHE_SECONDS`` to keep argon2 off the hot path; that is
also the longest a revoked key can still be used.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from corridor.access import store
from corridor.access.model import SCOPED_ROLES, Principal, Role, authorize, system_principal
from corridor.db import Database
from corridor.errors import NotFound, Unauthenticated, ValidationFailed
from corridor.registry import service as registry
from corridor.registry.canonical import format_time
from corridor.registry.service import utc_now
from corridor.settings import get_settings

KEY_PREFIX = "cor_"
# OWASP's argon2id minimum (19 MiB, 2 passes): keys are long random secrets, so this is ample.
_hasher = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str
    """The full secret: shown once, never stored."""
    key_id: str
    prefix: str
    user_id: str
    role: Role
    participant_id: str | None


def create_user(
    db: Database, principal: Principal, name: str, role: Role, participant_id: str | None = None
) -> Principal:
    authorize(principal, "access.user.create")
    _check_scope(role, participant_id)
    user_id = uuid.uuid4().hex
    with db.transaction() as session:
        store.insert_user(session, user_id, name, role, participant_id, format_time(utc_now()))
        registry.append(
            session,
            principal.actor,
            "access.user_created",
            f"user:{user_id}",
            {"id": user_id, "name": name, "role": role.value, "participant_id": participant_id},
        )
    return Principal(user_id, role, participant_id, name)


def _check_scope(role: Role, participant_id: str | None) -> None:
    if role in SCOPED_ROLES and not participant_id:
        raise ValidationFailed("participant_required", f"a {role} user is scoped to one participant")
    if role not in SCOPED_ROLES and participant_id:
        raise ValidationFailed("participant_not_allowed", f"a {role} user is not scoped to a participant")


def create_key(db: Database, principal: Principal, user_id: str, label: str = "") -> IssuedKey:
    authorize(principal, "access.key.create")
    prefix = KEY_PREFIX + secrets.token_hex(4)
    key = f"{prefix}_{secrets.token_urlsafe(24)}"
    key_id = uuid.uuid4().hex
    with db.transaction() as session:
        user = store.get_user(session, user_id)
        if user is None:
            raise NotFound("user_not_found", f"no active user {user_id}")
        store.insert_key(session, key_id, prefix, _hasher.hash(key), user_id, label, format_time(utc_now()))
        registry.append(
            session,
            principal.actor,
            "access.key_created",
            f"api_key:{key_id}",
            {"id": key_id, "prefix": prefix, "user_id": user_id, "label": label},
        )
    return IssuedKey(key, key_id, prefix, user_id, user.role, user.participant_id)


def bootstrap_key(db: Database, role: Role, name: str, participant_id: str | None = None) -> IssuedKey:
    """Create a user and its first key without a caller: what `corridor admin create-key` does."""
    operator = system_principal("cli")
    user = create_user(db, operator, name, role, participant_id)
    return create_key(db, operator, user.user_id, label="created by corridor admin create-key")


def revoke_key(db: Database, principal: Principal, key_id: str) -> None:
    authorize(principal, "access.key.revoke")
    with db.transaction() as session:
        if not store.revoke_key(session, key_id, format_time(utc_now())):
            raise NotFound("api_key_not_found", f"no live key {key_id}")
        registry.append(session, principal.actor, "access.key_revoked", f"api_key:{key_id}", {"id": key_id})
    _cache.clear()


class _VerifiedKeys:
    """Short-lived cache of verified keys, keyed by the key's SHA-256 (never the key itself)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> Principal | None:
        with self._lock:
            hit = self._entries.get(digest)
            if hit is None or hit[0] < time.monotonic():
                self._entries.pop(digest, None)
                return None
            return hit[1]

    def put(self, digest: str, principal: Principal, ttl: float) -> None:
        with self._lock:
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, principal)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


_cache = _VerifiedKeys()


def authenticate(db: Database, presented: str | None) -> Principal:
    """The principal behind an API key, or :class:`Unauthenticated`."""
    if not presented:
        raise Unauthenticated("unauthenticated", "send an API key as 'Authorization: Bearer <key>'")
    digest = hashlib.sha256(f"{db.url}\x00{presented}".encode()).hexdigest()
    cached = _cache.get(digest)
    if cached is not None:
        return cached
    principal = _verify(db, presented)
    _cache.put(digest, principal, get_settings().api_key_cache_seconds)
    return principal


def _verify(db: Database, presented: str) -> Principal:
    invalid = Unauthenticated("invalid_credentials", "the API key is unknown, revoked or malformed")
    parts = presented.split("_")
    if len(parts) < 3 or not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        raise invalid
    prefix = f"{parts[0]}_{parts[1]}"
    with db.transaction() as session:
        found = store.find_key(session, prefix)
        if found is None:
            raise invalid
        _, hashed, user_id = found
        try:
            _hasher.verify(hashed, presented)
        except (VerificationError, InvalidHashError):
            raise invalid from None
        user = store.get_user(session, user_id)
    if user is None:
        raise invalid
    return user


def clear_key_cache() -> None:
    _cache.clear()
