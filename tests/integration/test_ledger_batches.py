"""The batch write paths on SQLite and PostgreSQL: id lookups, bulk inserts (COPY), grouped state moves."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from corridor.access.model import Principal
from corridor.db import Database, insert_many
from corridor.errors import CorridorError
from corridor.ledger import service, store
from corridor.ledger.model import PendingState, TransferKind, TransferRequest
from corridor.registry import service as registry

from .test_ledger import balances, pay, setup_accounts


def test_one_batch_can_post_some_reservations_and_void_others(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    service.create_transfers(db, operator, [pay(f"h{i}", 100, TransferKind.PENDING) for i in range(4)])
    service.create_transfers(
        db,
        operator,
        [
            TransferRequest("p0", kind=TransferKind.POST, pending_id="h0"),
            TransferRequest("v1", kind=TransferKind.VOID, pending_id="h1"),
            TransferRequest("p2", kind=TransferKind.POST, pending_id="h2", amount=40),
            TransferRequest("v3", kind=TransferKind.VOID, pending_id="h3"),
        ],
    )
    states = {i: service.get_transfer(db, operator, f"h{i}").state for i in range(4)}
    assert states == {
        0: PendingState.POSTED,
        1: PendingState.VOIDED,
        2: PendingState.POSTED,
        3: PendingState.VOIDED,
    }
    assert balances(db, operator, "alice", "bob") == [860, 140]
    assert registry.verify(db).ok


def test_a_retried_batch_returns_the_originals_and_writes_nothing(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    batch = [
        pay(f"r{i}", 10, reference=f"tab\there, line\nbreak, back\\slash, 'quote' \"ü€\" {i}")
        for i in range(5)
    ]
    first = service.create_transfers(db, operator, batch)
    again = service.create_transfers(db, operator, batch)
    assert again == first
    assert [service.get_transfer(db, operator, t.id).reference for t in first] == [b.reference for b in batch]
    assert balances(db, operator, "alice", "bob") == [950, 50]
    assert registry.verify(db).ok


def test_an_id_longer_than_the_column_matches_nothing(db: Database, operator: Principal) -> None:
    # Array parameters are cast without a length: a cast to varchar(64) would cut the id and match.
    setup_accounts(db, operator)
    stored = "x" * 64
    service.create_transfer(db, operator, pay(stored, 10))
    with db.transaction() as session:
        assert set(store.get_transfers(session, [stored, stored + "-longer"])) == {stored}
        assert store.get_transfers(session, [stored + "-longer"], lock=True) == {}


def test_a_bulk_insert_of_an_existing_id_raises_integrity_error_and_rolls_back(
    db: Database, operator: Principal
) -> None:
    setup_accounts(db, operator)
    existing = service.create_transfer(db, operator, pay("dup", 10))
    row = {
        "id": "dup",
        "kind": "single",
        "debit_account_id": "alice",
        "credit_account_id": "bob",
        "asset": "BTC",
        "amount": 1,
        "pending_id": None,
        "timeout_at": None,
        "state": None,
        "reference": "",
        "corrects": None,
        "fingerprint": "f" * 64,
        "created_at": existing.created_at,
        "metadata": "{}",
    }
    with pytest.raises(IntegrityError), db.transaction() as session:
        insert_many(session, store.transfers, [{**row, "id": "new-one"}, row])
    with db.transaction() as session:
        assert set(store.get_transfers(session, ["dup", "new-one"])) == {"dup"}


def test_bulk_inserts_roll_back_with_their_transaction(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    new = [pay(f"rb{i}", 10) for i in range(3)]
    with pytest.raises(RuntimeError), db.transaction() as session:
        service.transfer_many_in(session, "user:test", new)
        raise RuntimeError("the caller's change failed")
    with db.transaction() as session:
        assert store.get_transfers(session, [t.id for t in new]) == {}
    assert balances(db, operator, "alice", "bob") == [1_000, 0]
    assert registry.verify(db).ok


def test_deferred_transfers_apply_together_at_the_end_of_the_block(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    with db.transaction() as session:
        with service.deferring(session):
            service.transfers_soon_in(session, "user:test", [pay("d0", 10)])
            with pytest.raises(RuntimeError), session.begin_nested():  # dropped with its savepoint
                service.transfers_soon_in(session, "user:test", [pay("d-gone", 20)])
                raise RuntimeError("the item was refused")
            service.transfers_soon_in(session, "user:test", [pay("d1", 30)])
            assert store.get_transfers(session, ["d0", "d1"]) == {}  # nothing applied yet
        assert set(store.get_transfers(session, ["d0", "d1", "d-gone"])) == {"d0", "d1"}
    assert balances(db, operator, "alice", "bob") == [960, 40]
    assert registry.verify(db).ok


def test_a_refused_deferred_transfer_refuses_the_block(db: Database, operator: Principal) -> None:
    # All or none: the caller's transaction rolls back (settlement then runs its batch again item by item).
    setup_accounts(db, operator)
    with pytest.raises(CorridorError), db.transaction() as session, service.deferring(session):
        service.transfers_soon_in(session, "user:test", [pay("ok", 10), pay("too-much", 5_000)])
    assert balances(db, operator, "alice", "bob") == [1_000, 0]
    assert registry.verify(db).ok
