"""Registry tables and queries."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import BigInteger, Column, Integer, String, Table, Text, bindparam, insert, select, update
from sqlalchemy.orm import Session

from corridor.db import insert_many, metadata, on_postgres
from corridor.registry.model import Entry

entries = Table(
    "registry_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("time", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("kind", String(100), nullable=False, index=True),
    Column("subject", String(200), nullable=False, index=True),
    Column("payload", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

head = Table(
    "registry_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

checkpoints = Table(
    "registry_checkpoints",
    metadata,
    Column("tree_size", BigInteger, primary_key=True, autoincrement=False),
    Column("root_hash", String(64), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("anchor_txid", String(64), nullable=True),
)

HEAD_ID = 1


# Built once: every append runs them, and building a statement costs about as much as running it.
_LOCK_HEAD = select(head.c.last_seq, head.c.last_hash).where(head.c.id == HEAD_ID).with_for_update()
_MOVE_HEAD = (
    update(head)
    .where(head.c.id == HEAD_ID)
    .values(last_seq=bindparam("last_seq"), last_hash=bindparam("last_hash"))
)
# PostgreSQL only (a data-modifying WITH): insert one entry and move the head in one statement.
_APPEND_ONE = _MOVE_HEAD.add_cte(
    insert(entries).values({c.name: bindparam(f"new_{c.name}") for c in entries.c}).cte("added")
)


def lock_head(session: Session) -> tuple[int, str]:
    """Take the registry's write lock (the head row) and return the last seq and hash."""
    row = session.execute(_LOCK_HEAD).one()
    return int(row.last_seq), str(row.last_hash)


def read_head(session: Session) -> tuple[int, str]:
    row = session.execute(select(head.c.last_seq, head.c.last_hash).where(head.c.id == HEAD_ID)).one()
    return int(row.last_seq), str(row.last_hash)


def append_entries(session: Session, rows: list[Entry]) -> None:
    """Insert the chained entries and move the head to the last of them."""
    if len(rows) == 1 and on_postgres(session):
        # One statement instead of two: a single append is what most requests make.
        session.execute(_APPEND_ONE, {**_prefixed(_entry_row(rows[0])), **_head_row(rows[0])})
        return
    insert_many(session, entries, [_entry_row(e) for e in rows])
    session.execute(_MOVE_HEAD, _head_row(rows[-1]))


def _entry_row(e: Entry) -> dict[str, object]:
    return {
        "seq": e.seq,
        "time": e.time,
        "actor": e.actor,
        "kind": e.kind,
        "subject": e.subject,
        "payload": e.payload_json,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


def _head_row(last: Entry) -> dict[str, object]:
    return {"last_seq": last.seq, "last_hash": last.hash}


def _prefixed(row: dict[str, object]) -> dict[str, object]:
    return {f"new_{name}": value for name, value in row.items()}


def _to_entry(row: object) -> Entry:
    r = row._mapping  # type: ignore[attr-defined]
    return Entry(
        seq=int(r["seq"]),
        time=r["time"],
        actor=r["actor"],
        kind=r["kind"],
        subject=r["subject"],
        payload_json=r["payload"],
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


ENTRY_COLUMNS = (
    entries.c.seq,
    entries.c.time,
    entries.c.actor,
    entries.c.kind,
    entries.c.subject,
    entries.c.payload,
    entries.c.prev_hash,
    entries.c.hash,
)


def iter_entries(session: Session, after_seq: int = 0, batch: int = 20_000) -> Iterator[Entry]:
    """All entries in seq order, fetched in keyset pages of plain tuples so memory stays flat."""
    last = after_seq
    while True:
        rows = (
            session.execute(
                select(*ENTRY_COLUMNS).where(entries.c.seq > last).order_by(entries.c.seq).limit(batch)
            )
            .tuples()
            .all()
        )
        if not rows:
            return
        for seq, time, actor, kind, subject, payload, prev_hash, digest in rows:
            yield Entry(int(seq), time, actor, kind, subject, payload, prev_hash, digest)
        last = int(rows[-1][0])


def entries_page(
    session: Session, after_seq: int, limit: int, kind: str | None = None, subject: str | None = None
) -> list[Entry]:
    query = select(entries).where(entries.c.seq > after_seq)
    if kind:
        query = query.where(entries.c.kind == kind)
    if subject:
        query = query.where(entries.c.subject == subject)
    rows = session.execute(query.order_by(entries.c.seq).limit(limit)).all()
    return [_to_entry(r) for r in rows]


def get_entry(session: Session, seq: int) -> Entry | None:
    row = session.execute(select(entries).where(entries.c.seq == seq)).first()
    return _to_entry(row) if row else None


def insert_checkpoint(session: Session, tree_size: int, root_hash: str, created_at: str) -> None:
    session.execute(
        insert(checkpoints).values(tree_size=tree_size, root_hash=root_hash, created_at=created_at)
    )


def list_checkpoints(session: Session) -> list[tuple[int, str, str, str | None]]:
    rows = session.execute(select(checkpoints).order_by(checkpoints.c.tree_size)).all()
    return [(int(r.tree_size), r.root_hash, r.created_at, r.anchor_txid) for r in rows]
