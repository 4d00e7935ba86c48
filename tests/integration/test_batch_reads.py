"""Reads shared by the items of a batch (corridor.db.batch_reads), on both databases: one read per batch,
none outside a batch, and nothing remembered past a rollback of any kind."""

from __future__ import annotations

import pytest

from corridor.db import Database
from corridor.db.batch_reads import batch_reads, remembered, update_remembered

pytestmark = pytest.mark.db


class Reader:
    def __init__(self) -> None:
        self.reads = 0

    def __call__(self) -> int:
        self.reads += 1
        return self.reads


def test_outside_a_batch_every_lookup_reads(db: Database) -> None:
    read = Reader()
    with db.transaction() as session:
        assert [remembered(session, "k", read) for _ in range(3)] == [1, 2, 3]


def test_inside_a_batch_a_key_is_read_once_and_kept_in_step_with_the_batch(db: Database) -> None:
    read, other = Reader(), Reader()
    with db.transaction() as session, batch_reads(session):
        assert [remembered(session, "k", read) for _ in range(3)] == [1, 1, 1]
        assert remembered(session, "other", other) == 1
        update_remembered(session, "k", 40)
        update_remembered(session, "never-read", 7)  # only what was read is kept in step
        assert remembered(session, "k", read) == 40
        assert remembered(session, "never-read", lambda: 0) == 0
    with db.transaction() as session, batch_reads(session):  # a new batch reads afresh
        assert remembered(session, "k", read) == 2


def test_a_rolled_back_savepoint_forgets_what_the_batch_read(db: Database) -> None:
    # An item that read (or created) something in a savepoint that rolled back must not pass it on.
    read = Reader()
    with db.transaction() as session, batch_reads(session):
        assert remembered(session, "k", read) == 1
        with pytest.raises(RuntimeError), session.begin_nested():
            assert remembered(session, "k", read) == 1
            raise RuntimeError("the item was refused")
        assert remembered(session, "k", read) == 2
        with session.begin_nested():  # a released savepoint keeps it
            assert remembered(session, "k", read) == 2
        assert remembered(session, "k", read) == 2
