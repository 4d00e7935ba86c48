"""The ledger on SQLite and PostgreSQL: transfers, two-phase, corrections, idempotency, invariants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from corridor.access.model import Principal, Role
from corridor.db import Database
from corridor.errors import Conflict, Forbidden, NotFound, ValidationFailed
from corridor.ledger import service
from corridor.ledger.model import AccountFlags, AccountSpec, PendingState, TransferKind, TransferRequest
from corridor.registry import service as registry

NO_NEGATIVE = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS


def setup_accounts(db: Database, operator: Principal, funded: int = 1_000) -> None:
    service.open_account(db, operator, AccountSpec("custody", "BTC", "custody"))
    service.open_account(
        db, operator, AccountSpec("alice", "BTC", "client_available", "p-alice", NO_NEGATIVE)
    )
    service.open_account(db, operator, AccountSpec("bob", "BTC", "client_available", "p-bob", NO_NEGATIVE))
    service.open_account(db, operator, AccountSpec("rub-x", "RUB", "client_available", None, NO_NEGATIVE))
    if funded:
        deposit(db, operator, "fund-alice", "alice", funded)


def deposit(db: Database, operator: Principal, transfer_id: str, account: str, amount: int) -> None:
    service.create_transfer(
        db,
        operator,
        TransferRequest(transfer_id, debit_account_id="custody", credit_account_id=account, amount=amount),
    )


def pay(
    transfer_id: str, amount: int, kind: TransferKind = TransferKind.SINGLE, **extra: object
) -> TransferRequest:
    return TransferRequest(
        transfer_id, kind=kind, debit_account_id="alice", credit_account_id="bob", amount=amount, **extra
    )  # type: ignore[arg-type]


def balances(db: Database, operator: Principal, *ids: str) -> list[int]:
    return [service.get_account(db, operator, i).available for i in ids]


def registry_count(db: Database) -> int:
    with db.engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM registry_entries")).scalar_one())


def test_single_transfer_moves_money_and_is_recorded(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    before = registry_count(db)
    service.create_transfer(db, operator, pay("t1", 300))
    assert balances(db, operator, "alice", "bob") == [700, 300]
    assert registry_count(db) == before + 1
    assert all(t.balanced for t in service.totals(db))
    assert registry.verify(db).ok


def test_overdraft_is_refused_and_nothing_is_written(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    before = registry_count(db)
    with pytest.raises(Conflict) as refused:
        service.create_transfer(db, operator, pay("t1", 1_001))
    assert refused.value.code == "exceeds_credits"
    assert balances(db, operator, "alice", "bob") == [1_000, 0]
    assert registry_count(db) == before
    with pytest.raises(NotFound):
        service.get_transfer(db, operator, "t1")


def test_a_retry_returns_the_original_and_other_content_is_refused(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    first = service.create_transfer(db, operator, pay("t1", 100))
    again = service.create_transfer(db, operator, pay("t1", 100))
    assert again == first
    assert balances(db, operator, "alice") == [900]
    with pytest.raises(Conflict) as refused:
        service.create_transfer(db, operator, pay("t1", 101))
    assert refused.value.code == "transfer_id_reused"


def test_assets_cannot_mix(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    request = TransferRequest("x", debit_account_id="alice", credit_account_id="rub-x", amount=1)
    with pytest.raises(ValidationFailed) as refused:
        service.create_transfer(db, operator, request)
    assert refused.value.code == "asset_mismatch"


def test_pending_then_post_at_most_once(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    service.create_transfer(db, operator, pay("hold", 400, TransferKind.PENDING, timeout_seconds=600))
    assert balances(db, operator, "alice", "bob") == [600, 0]
    service.create_transfer(
        db, operator, TransferRequest("post", kind=TransferKind.POST, pending_id="hold", amount=250)
    )
    assert balances(db, operator, "alice", "bob") == [750, 250]
    assert service.get_transfer(db, operator, "hold").state is PendingState.POSTED
    for second in (
        TransferRequest("post-2", kind=TransferKind.POST, pending_id="hold"),
        TransferRequest("void-2", kind=TransferKind.VOID, pending_id="hold"),
    ):
        with pytest.raises(Conflict) as refused:
            service.create_transfer(db, operator, second)
        assert refused.value.code == "pending_transfer_already_posted"
    assert balances(db, operator, "alice", "bob") == [750, 250]


def test_void_releases_the_reservation(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    service.create_transfer(db, operator, pay("hold", 400, TransferKind.PENDING))
    service.create_transfer(db, operator, TransferRequest("void", kind=TransferKind.VOID, pending_id="hold"))
    assert balances(db, operator, "alice", "bob") == [1_000, 0]
    with pytest.raises(NotFound) as missing:
        service.create_transfer(db, operator, TransferRequest("p", kind=TransferKind.POST, pending_id="nope"))
    assert missing.value.code == "pending_transfer_not_found"


def test_posting_more_than_reserved_is_refused(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    service.create_transfer(db, operator, pay("hold", 400, TransferKind.PENDING))
    with pytest.raises(ValidationFailed) as refused:
        service.create_transfer(
            db, operator, TransferRequest("p", kind=TransferKind.POST, pending_id="hold", amount=401)
        )
    assert refused.value.code == "post_exceeds_pending"


def test_expired_reservations_are_released_once_and_cannot_be_posted(
    db: Database, operator: Principal
) -> None:
    setup_accounts(db, operator)
    service.create_transfer(db, operator, pay("hold", 400, TransferKind.PENDING, timeout_seconds=60))
    assert service.expire_pending(db) == 0
    later = datetime.now(UTC) + timedelta(seconds=61)
    assert service.expire_pending(db, clock=lambda: later) == 1
    assert service.expire_pending(db, clock=lambda: later) == 0
    assert balances(db, operator, "alice", "bob") == [1_000, 0]
    with pytest.raises(Conflict) as refused:
        service.create_transfer(
            db, operator, TransferRequest("post", kind=TransferKind.POST, pending_id="hold")
        )
    assert refused.value.code == "pending_transfer_already_expired"
    assert all(t.balanced for t in service.totals(db))


def test_posting_after_the_timeout_is_refused_even_before_the_sweep(
    db: Database, operator: Principal
) -> None:
    setup_accounts(db, operator)
    service.create_transfer(db, operator, pay("hold", 100, TransferKind.PENDING, timeout_seconds=1))
    later = datetime.now(UTC) + timedelta(seconds=5)
    with db.transaction() as session, pytest.raises(Conflict) as refused:
        service.transfer_in(
            session,
            "user:t",
            TransferRequest("post", kind=TransferKind.POST, pending_id="hold"),
            clock=lambda: later,
        )
    assert refused.value.code == "pending_transfer_expired"


def test_corrections_reverse_at_most_the_original(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    service.create_transfer(db, operator, pay("t1", 300))
    correction = service.correct_transfer(db, operator, "t1", "fix-1", 200, "wrong beneficiary")
    assert (correction.debit_account_id, correction.credit_account_id, correction.corrects) == (
        "bob",
        "alice",
        "t1",
    )
    assert balances(db, operator, "alice", "bob") == [900, 100]
    with pytest.raises(Conflict) as refused:
        service.correct_transfer(db, operator, "t1", "fix-2", 101, "again")
    assert refused.value.code == "correction_exceeds_original"
    service.correct_transfer(db, operator, "t1", "fix-3", None, "the rest")
    assert balances(db, operator, "alice", "bob") == [1_000, 0]


def test_a_batch_is_all_or_nothing_and_names_the_failing_index(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    before = registry_count(db)
    with pytest.raises(Conflict) as refused:
        service.create_transfers(db, operator, [pay("b1", 500), pay("b2", 400), pay("b3", 200)])
    assert refused.value.extra["index"] == 2
    assert balances(db, operator, "alice", "bob") == [1_000, 0]
    assert registry_count(db) == before
    service.create_transfers(db, operator, [pay("b1", 500), pay("b2", 400)])
    assert balances(db, operator, "alice", "bob") == [100, 900]
    assert registry_count(db) == before + 2


def test_clients_see_only_their_own_accounts_and_cannot_move_money(db: Database, operator: Principal) -> None:
    setup_accounts(db, operator)
    alice = Principal("u-alice", Role.CLIENT, participant_id="p-alice")
    assert service.get_account(db, alice, "alice").available == 1_000
    with pytest.raises(Forbidden):
        service.get_account(db, alice, "bob")
    with pytest.raises(Forbidden):
        service.get_account(db, alice, "custody")
    with pytest.raises(Forbidden):
        service.create_transfer(db, alice, pay("steal", 1))
    service.create_transfer(db, operator, pay("t1", 10))
    assert service.get_transfer(db, alice, "t1").amount == 10
    bob = Principal("u-bob", Role.CLIENT, participant_id="p-bob")
    assert service.get_transfer(db, bob, "t1").amount == 10
    carol = Principal("u-carol", Role.CLIENT, participant_id="p-carol")
    with pytest.raises(Forbidden):
        service.get_transfer(db, carol, "t1")


def test_accounts_are_idempotent_by_id(db: Database, operator: Principal) -> None:
    spec = AccountSpec("a1", "BTC", "client_available", "p1", NO_NEGATIVE)
    assert service.open_account(db, operator, spec) == service.open_account(db, operator, spec)
    with pytest.raises(Conflict):
        service.open_account(db, operator, AccountSpec("a1", "RUB", "client_available", "p1", NO_NEGATIVE))
