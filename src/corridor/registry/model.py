"""Registry entries and their hash chain (pure rules; no I/O).

An entry is ``(seq, time, actor, kind, subject, payload, prev_hash)``; its ``hash`` is the SHA-256 of the
canonical JSON of those seven fields, and ``prev_hash`` is the hash of the entry before it (64 zeros for
the first). The same canonical bytes are the Merkle leaf data (see :mod:`corridor.registry.merkle`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from corridor.registry.canonical import canonical_json

GENESIS_HASH = "0" * 64
ENTRY_FIELDS = ("actor", "kind", "payload", "prev_hash", "seq", "subject", "time")


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    time: str
    actor: str
    kind: str
    subject: str
    payload_json: str
    """The payload as canonical JSON text, exactly as stored and hashed."""
    prev_hash: str
    hash: str

    @property
    def payload(self) -> Any:
        return json.loads(self.payload_json)

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "kind": self.kind,
            "subject": self.subject,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _dumps(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def entry_bytes(
    seq: int, time: str, actor: str, kind: str, subject: str, payload_json: str, prev_hash: str
) -> bytes:
    """Canonical JSON of an entry, assembled around the already-canonical payload text.

    Equal to ``canonical_json`` of the seven fields whenever ``payload_json`` is canonical (a property
    test holds the two together); assembling it avoids re-encoding every payload when verifying.
    """
    return (
        f'{{"actor":{_dumps(actor)},"kind":{_dumps(kind)},"payload":{payload_json},'
        f'"prev_hash":{_dumps(prev_hash)},"seq":{seq},"subject":{_dumps(subject)},"time":{_dumps(time)}}}'
    ).encode()


def entry_bytes_from_dict(entry: dict[str, Any]) -> bytes:
    """Canonical bytes of an entry given as plain JSON data (what an outside verifier holds)."""
    return canonical_json({field: entry[field] for field in ENTRY_FIELDS})


def hash_entry_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_entry_bytes(entry: Entry) -> bytes:
    """The canonical bytes of a stored entry: what its hash and its Merkle leaf are computed over."""
    return entry_bytes(
        entry.seq, entry.time, entry.actor, entry.kind, entry.subject, entry.payload_json, entry.prev_hash
    )


def entry_hash(entry: Entry) -> str:
    return hash_entry_bytes(stored_entry_bytes(entry))


@dataclass(frozen=True, slots=True)
class ChainFault:
    seq: int
    reason: str


def check_link(
    entry: Entry, expected_seq: int, expected_prev: str, data: bytes | None = None
) -> ChainFault | None:
    """The first rule ``entry`` breaks as the successor of ``expected_prev``, or None.

    ``data`` is the entry's canonical bytes when the caller already has them (verification reuses them
    for the Merkle leaf).
    """
    if entry.seq != expected_seq:
        missing_or_extra = "missing" if entry.seq > expected_seq else "out of order"
        return ChainFault(expected_seq, f"entry seq {expected_seq} is {missing_or_extra} (found {entry.seq})")
    if entry.prev_hash != expected_prev:
        return ChainFault(entry.seq, "prev_hash does not match the previous entry's hash")
    if hash_entry_bytes(data if data is not None else stored_entry_bytes(entry)) != entry.hash:
        return ChainFault(entry.seq, "hash does not match the entry's content")
    return None
