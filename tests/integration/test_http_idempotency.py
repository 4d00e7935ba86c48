"""The Idempotency-Key store on SQLite and PostgreSQL: claim, busy, replay, mismatch, release, expiry."""

from __future__ import annotations

from sqlalchemy import text

from corridor.db import Database
from corridor.http.middleware import IdempotencyStore


def stored_row(db: Database, key: str) -> dict[str, object] | None:
    with db.engine.connect() as connection:
        row = connection.execute(
            text("SELECT state, status, body FROM http_idempotency WHERE key = :key"), {"key": key}
        ).first()
    return None if row is None else dict(row._mapping)


def test_a_key_runs_once_then_replays_its_stored_response(db: Database) -> None:
    store = IdempotencyStore(db, lock_seconds=60)
    assert store.claim("cor_a", "k1", "h1") == ("run", None)
    assert store.claim("cor_a", "k1", "h1") == ("busy", None)
    assert store.claim("cor_a", "k1", "h2") == ("mismatch", None)
    store.finish("cor_a", "k1", 201, "application/json", b'{"id":"t1"}')
    assert stored_row(db, "k1") == {"state": "done", "status": 201, "body": b'{"id":"t1"}'}
    assert store.claim("cor_a", "k1", "h1") == ("replay", (201, "application/json", b'{"id":"t1"}'))
    assert store.claim("cor_a", "k1", "h2") == ("mismatch", None)


def test_callers_have_their_own_keys_and_a_released_key_runs_again(db: Database) -> None:
    store = IdempotencyStore(db, lock_seconds=60)
    assert store.claim("cor_a", "k1", "h1") == ("run", None)
    assert store.claim("cor_b", "k1", "h9") == ("run", None)
    store.release("cor_a", "k1")
    assert store.claim("cor_a", "k1", "h1") == ("run", None)


def test_a_claim_left_running_past_its_lock_may_run_again(db: Database) -> None:
    store = IdempotencyStore(db, lock_seconds=-1)  # every claim's lock has already run out
    assert store.claim("cor_a", "k1", "h1") == ("run", None)
    assert store.claim("cor_a", "k1", "h1") == ("run", None)
    assert stored_row(db, "k1") == {"state": "running", "status": None, "body": None}
