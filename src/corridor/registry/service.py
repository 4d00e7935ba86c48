"""Registry use cases: append in the caller's transaction, verify, checkpoint, prove.

Other areas call :func:`append` with the session of the transaction that makes the change, so the change
and its entry commit or roll back together.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from corridor.access.model import Principal, authorize
from corridor.db import Database
from corridor.db.transaction_state import transaction_state
from corridor.errors import NotFound, ValidationFailed
from corridor.registry import store
from corridor.registry.canonical import canonical_text, format_time
from corridor.registry.merkle import consistency_proof, inclusion_proof, leaf_hash, root_from_leaf_hashes
from corridor.registry.model import (
    GENESIS_HASH,
    ChainFault,
    Entry,
    check_link,
    entry_bytes,
    hash_entry_bytes,
    stored_entry_bytes,
)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class NewEntry:
    actor: str
    kind: str
    subject: str
    payload: Mapping[str, Any]


def append(
    session: Session,
    actor: str,
    kind: str,
    subject: str,
    payload: Mapping[str, Any],
    clock: Clock = utc_now,
    *,
    on_chained: Callable[[Entry], None] | None = None,
) -> None:
    """Record an entry in the caller's transaction; it is chained and written when the transaction commits.

    ``on_chained`` is called with the chained entry (its seq and hash) just before the commit, for a caller
    that keeps a reference to the entry in its own rows."""
    _queue(session, [NewEntry(actor, kind, subject, payload)], clock, on_chained)


def append_many(session: Session, items: Sequence[NewEntry], clock: Clock = utc_now) -> None:
    """Record ``items`` in order, in the caller's transaction, like :func:`append`."""
    _queue(session, items, clock, None)


def append_chained(
    session: Session, actor: str, kind: str, subject: str, payload: Mapping[str, Any], clock: Clock = utc_now
) -> Entry:
    """Record an entry and chain it at once (with those recorded before it), for a caller that needs its seq
    in the same transaction. It takes the registry's lock now instead of at commit: call it only where
    the transaction takes no other lock after it (see :func:`write_pending`)."""
    append(session, actor, kind, subject, payload, clock)
    return write_pending(session)[-1]


@dataclass(frozen=True, slots=True)
class _Recorded:
    actor: str
    kind: str
    subject: str
    payload_json: str
    time: str
    on_chained: Callable[[Entry], None] | None


def _queue(
    session: Session, items: Sequence[NewEntry], clock: Clock, on_chained: Callable[[Entry], None] | None
) -> None:
    if not items:
        return
    time = format_time(clock())
    # The payload is frozen now: the caller may change its dicts after recording them.
    recorded = [
        _Recorded(i.actor, i.kind, i.subject, _payload_text(i.payload), time, on_chained) for i in items
    ]
    session.info.setdefault(_QUEUED_KEY, []).extend(recorded)


def write_pending(session: Session) -> list[Entry]:
    """Chain the entries recorded in this transaction and not yet written, under the registry's lock, and
    write them; return them (none when nothing is waiting).

    The lock (the head row) is taken here, at commit, and held only until the commit: every transaction
    takes it last, after its own row locks. Taken at a transaction's first record instead, it made two
    writers wait on each other (an approval batch holding the head and wanting a ledger account the
    settlement worker held while wanting the head: a deadlock seen under load), and it serialised all
    writers for the whole length of their transactions instead of for their commits."""
    queued: list[_Recorded] | None = session.info.get(_QUEUED_KEY)
    if not queued:
        return []
    last_seq, last_hash = _locked_head(session)
    chained: list[Entry] = []
    for item in queued:
        last_seq += 1
        digest = hash_entry_bytes(
            entry_bytes(
                last_seq, item.time, item.actor, item.kind, item.subject, item.payload_json, last_hash
            )
        )
        chained.append(
            Entry(
                last_seq, item.time, item.actor, item.kind, item.subject, item.payload_json, last_hash, digest
            )
        )
        last_hash = digest
    store.append_entries(session, chained)
    session.info[_QUEUED_KEY] = []
    session.info[_HEAD_KEY] = (last_seq, last_hash)
    for item, entry in zip(queued, chained, strict=True):
        if item.on_chained is not None:
            item.on_chained(entry)
    return chained


# Taken back with a rolled-back savepoint (if it took the head lock, PostgreSQL released it with the
# savepoint, and the head is forgotten so the next write locks it again) and dropped at the end.
_HEAD_KEY = transaction_state("corridor.registry.head")
_QUEUED_KEY = transaction_state("corridor.registry.queued")


def _locked_head(session: Session) -> tuple[int, str]:
    """The head under this transaction's lock: taken (and read) by the first write, then remembered.

    The row lock is held until the transaction ends, so the head cannot move under us."""
    known: tuple[int, str] | None = session.info.get(_HEAD_KEY)
    return store.lock_head(session) if known is None else known


@event.listens_for(Session, "before_commit")
def _write_before_commit(session: Session) -> None:
    # Fires for a savepoint's release too; a savepoint's entries wait for the outer commit.
    if not session.in_nested_transaction():
        write_pending(session)


_PLAIN = frozenset({str, int, bool, type(None)})
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _payload_text(payload: Mapping[str, Any]) -> str:
    """The payload's canonical JSON text.

    Most payloads are flat dicts of strings, integers and None, which canonical JSON leaves as they are;
    those are encoded directly, skipping the per-value conversion (half the cost of an append's Python).
    """
    if type(payload) is dict and all(type(k) is str and type(v) in _PLAIN for k, v in payload.items()):
        return _CANONICAL.encode(payload)
    return canonical_text(payload)


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    entries: int
    first_bad_seq: int | None
    reason: str
    tree_size: int
    root: str
    checkpoints_checked: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(db: Database, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Recompute the whole chain, the head and every stored checkpoint root; name the first bad seq."""
    with db.transaction() as session:
        head_seq, head_hash = store.read_head(session)
        checkpoints = store.list_checkpoints(session)
        fault, leaves, last_hash = _walk_chain(store.iter_entries(session), progress)
    count = len(leaves)
    if fault is None:
        fault = _check_head(count, last_hash, head_seq, head_hash)
    root = root_from_leaf_hashes(leaves).hex()
    if fault is None:
        fault = _check_checkpoints(leaves, checkpoints)
    if fault is not None:
        return VerifyReport(False, count, fault.seq, fault.reason, count, root, len(checkpoints))
    return VerifyReport(True, count, None, "registry intact", count, root, len(checkpoints))


def _walk_chain(
    entries: Iterable[Entry], progress: Callable[[int], None] | None
) -> tuple[ChainFault | None, list[bytes], str]:
    leaves: list[bytes] = []
    previous = GENESIS_HASH
    for entry in entries:
        data = stored_entry_bytes(entry)
        fault = check_link(entry, len(leaves) + 1, previous, data)
        if fault is not None:
            return fault, leaves, previous
        leaves.append(leaf_hash(data))
        previous = entry.hash
        if progress is not None and len(leaves) % 10_000 == 0:
            progress(len(leaves))
    return None, leaves, previous


def _check_head(count: int, last_hash: str, head_seq: int, head_hash: str) -> ChainFault | None:
    if count < head_seq:
        return ChainFault(count + 1, f"entries after seq {count} are missing (head says {head_seq})")
    if count > head_seq:
        return ChainFault(head_seq + 1, f"entry {head_seq + 1} was added behind the registry's back")
    if last_hash != head_hash:
        return ChainFault(count, "the last entry's hash differs from the recorded head")
    return None


def _check_checkpoints(
    leaves: list[bytes], checkpoints: list[tuple[int, str, str, str | None]]
) -> ChainFault | None:
    for tree_size, root_hash, _, _ in checkpoints:
        if tree_size > len(leaves):
            return ChainFault(len(leaves) + 1, f"checkpoint of size {tree_size} covers entries that are gone")
        if root_from_leaf_hashes(leaves[:tree_size]).hex() != root_hash:
            return ChainFault(tree_size, f"the tree of size {tree_size} no longer has its checkpointed root")
    return None


def _leaf_hashes(session: Session, tree_size: int | None = None) -> list[bytes]:
    leaves: list[bytes] = []
    for entry in store.iter_entries(session):
        if tree_size is not None and entry.seq > tree_size:
            break
        leaves.append(leaf_hash(stored_entry_bytes(entry)))
    return leaves


@dataclass(frozen=True, slots=True)
class Checkpoint:
    tree_size: int
    root: str
    created_at: str
    anchor_txid: str | None


def create_checkpoint(db: Database, principal: Principal, clock: Clock = utc_now) -> Checkpoint:
    """Record the current tree head (size and root): later rewrites of history are caught against it."""
    authorize(principal, "registry.checkpoint")
    with db.transaction() as session:
        head_seq, _ = store.lock_head(session)
        if head_seq == 0:
            raise ValidationFailed("registry_empty", "there is nothing to checkpoint yet")
        existing = {size for size, *_ in store.list_checkpoints(session)}
        root = root_from_leaf_hashes(_leaf_hashes(session, head_seq)).hex()
        created_at = format_time(clock())
        if head_seq not in existing:
            store.insert_checkpoint(session, head_seq, root, created_at)
        return Checkpoint(head_seq, root, created_at, None)


def list_checkpoints(db: Database, principal: Principal) -> list[Checkpoint]:
    authorize(principal, "registry.read")
    with db.transaction() as session:
        return [Checkpoint(*row) for row in store.list_checkpoints(session)]


def list_entries(
    db: Database,
    principal: Principal,
    after_seq: int = 0,
    limit: int = 100,
    kind: str | None = None,
    subject: str | None = None,
) -> list[Entry]:
    authorize(principal, "registry.read")
    with db.transaction() as session:
        return store.entries_page(session, after_seq, max(1, min(limit, 1000)), kind, subject)


def inclusion_bundle(
    db: Database, principal: Principal, seq: int, tree_size: int | None = None
) -> dict[str, Any]:
    """Everything an outsider needs to check that entry ``seq`` is in the tree of ``tree_size`` entries."""
    authorize(principal, "registry.read")
    with db.transaction() as session:
        head_seq, _ = store.read_head(session)
        size = tree_size or head_seq
        if not 1 <= seq <= size <= head_seq:
            raise NotFound("registry_entry_not_found", f"no entry {seq} in a tree of size {size}")
        entry = store.get_entry(session, seq)
        leaves = _leaf_hashes(session, size)
    assert entry is not None
    return {
        "entry": entry.as_dict(),
        "leaf_index": seq - 1,
        "tree_size": size,
        "inclusion_proof": [node.hex() for node in inclusion_proof(seq - 1, leaves)],
        "root": root_from_leaf_hashes(leaves).hex(),
    }


def consistency_bundle(
    db: Database, principal: Principal, first_size: int, second_size: int
) -> dict[str, Any]:
    authorize(principal, "registry.read")
    with db.transaction() as session:
        head_seq, _ = store.read_head(session)
        if not 1 <= first_size <= second_size <= head_seq:
            raise ValidationFailed("registry_bad_range", f"need 1 <= first <= second <= {head_seq}")
        leaves = _leaf_hashes(session, second_size)
    return {
        "first_size": first_size,
        "first_root": root_from_leaf_hashes(leaves[:first_size]).hex(),
        "second_size": second_size,
        "second_root": root_from_leaf_hashes(leaves).hex(),
        "consistency_proof": [node.hex() for node in consistency_proof(first_size, leaves)],
    }


def entries_after_in(session: Session, after_seq: int, limit: int = 500) -> list[Entry]:
    """Up to ``limit`` entries with seq > ``after_seq``, in seq order, in the caller's transaction.

    What event consumers (webhooks, monitoring, the regulator feed) read from their stored offsets, so the
    offset they advance commits with what they derived from the entries. Seqs become visible in order
    (each append holds the head lock until it commits), so reading past an offset never skips an entry.
    """
    write_pending(session)
    return store.entries_page(session, after_seq, max(1, limit))
