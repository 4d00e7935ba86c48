"""The registry on SQLite and PostgreSQL: appends, proofs, and tampering caught at the first bad seq."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from corridor.access.model import Principal
from corridor.db import Database
from corridor.registry import service
from corridor.registry.canonical import canonical_text
from corridor.registry.model import entry_bytes, hash_entry_bytes
from corridor.registry.verify import verify_bundle, verify_tree_consistency


def fill(db: Database, count: int) -> None:
    with db.transaction() as session:
        for i in range(count):
            service.append(session, "user:test", "test.event", f"thing:{i}", {"n": i, "note": "ünïcode"})


def raw_rows(db: Database) -> list[dict[str, object]]:
    with db.engine.connect() as connection:
        return [
            dict(r._mapping) for r in connection.execute(text("SELECT * FROM registry_entries ORDER BY seq"))
        ]


def execute(db: Database, sql: str, **params: object) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(sql), params)


def test_intact_registry_verifies(db: Database) -> None:
    fill(db, 12)
    report = service.verify(db)
    assert report.ok and report.entries == 12 and report.first_bad_seq is None


def test_entries_roll_back_with_the_change_they_record(db: Database) -> None:
    fill(db, 2)
    with pytest.raises(RuntimeError), db.transaction() as session:
        service.append(session, "user:test", "test.event", "thing:x", {"n": 99})
        raise RuntimeError("the recorded change failed")
    assert len(raw_rows(db)) == 2
    assert service.verify(db).ok


def test_a_rolled_back_savepoint_does_not_leave_a_gap_in_the_chain(db: Database) -> None:
    with db.transaction() as session:
        first = service.append_chained(session, "user:test", "test.event", "thing:a", {"n": 1})
        with pytest.raises(RuntimeError), session.begin_nested():
            service.append_chained(
                session, "user:test", "test.event", "thing:b", {"n": 2}
            )  # locks in the savepoint
            raise RuntimeError("the inner change failed")
        last = service.append_chained(session, "user:test", "test.event", "thing:c", {"n": 3})
    assert (first.seq, last.seq) == (1, 2) and last.prev_hash == first.hash
    assert [r["subject"] for r in raw_rows(db)] == ["thing:a", "thing:c"]
    assert service.verify(db).ok


def test_entries_recorded_before_a_savepoint_survive_its_rollback_even_if_written_inside_it(
    db: Database,
) -> None:
    # Entries are chained and written at commit; a reader inside the savepoint writes them early, and the
    # savepoint's rollback undoes that write. The entries recorded before it must still reach the registry.
    with db.transaction() as session:
        service.append(session, "user:test", "test.event", "thing:a", {"n": 1})
        with pytest.raises(RuntimeError), session.begin_nested():
            service.append(session, "user:test", "test.event", "thing:b", {"n": 2})
            seen = service.entries_after_in(session, 0)
            assert [e.subject for e in seen] == ["thing:a", "thing:b"]
            raise RuntimeError("the inner change failed")
        service.append(session, "user:test", "test.event", "thing:c", {"n": 3})
        with session.begin_nested():  # a released savepoint keeps its entries
            service.append(session, "user:test", "test.event", "thing:d", {"n": 4})
    assert [(r["seq"], r["subject"]) for r in raw_rows(db)] == [
        (1, "thing:a"),
        (2, "thing:c"),
        (3, "thing:d"),
    ]
    assert service.verify(db).ok


def test_entries_are_chained_at_commit_in_the_order_recorded_and_cited_back(db: Database) -> None:
    cited: list[tuple[int, str]] = []
    payload = {"n": 0}
    with db.transaction() as session:
        service.append(session, "user:test", "test.event", "thing:0", payload,
                       on_chained=lambda e: cited.append((e.seq, e.subject)))  # fmt: skip
        payload["n"] = 99  # changed after recording: the entry keeps what was recorded
        for i in (1, 2):
            service.append(session, "user:test", "test.event", f"thing:{i}", {"n": i})
        assert raw_rows(db) == [] and cited == []  # nothing written, no registry lock taken yet
    assert [(r["seq"], r["subject"]) for r in raw_rows(db)] == [
        (1, "thing:0"),
        (2, "thing:1"),
        (3, "thing:2"),
    ]
    assert json.loads(str(raw_rows(db)[0]["payload"])) == {"n": 0}
    assert cited == [(1, "thing:0")]
    with db.transaction() as session:  # the next transaction continues the chain from the written head
        assert service.append_chained(session, "user:test", "test.event", "thing:3", {"n": 3}).seq == 4
    assert service.verify(db).ok


def test_an_altered_payload_is_named(db: Database) -> None:
    fill(db, 10)
    execute(db, "UPDATE registry_entries SET payload = :p WHERE seq = 4", p='{"n":400,"note":"ünïcode"}')
    report = service.verify(db)
    assert not report.ok and report.first_bad_seq == 4 and "content" in report.reason


def test_an_altered_actor_with_recomputed_hash_breaks_the_next_link(db: Database) -> None:
    fill(db, 10)
    row = raw_rows(db)[5]
    forged = hash_entry_bytes(
        entry_bytes(
            6,
            str(row["time"]),
            "user:mallory",
            str(row["kind"]),
            str(row["subject"]),
            str(row["payload"]),
            str(row["prev_hash"]),
        )
    )
    execute(db, "UPDATE registry_entries SET actor = 'user:mallory', hash = :h WHERE seq = 6", h=forged)
    assert service.verify(db).first_bad_seq == 7


def test_a_deleted_entry_is_named(db: Database) -> None:
    fill(db, 10)
    execute(db, "DELETE FROM registry_entries WHERE seq = 3")
    report = service.verify(db)
    assert not report.ok and report.first_bad_seq == 3 and "missing" in report.reason


def test_a_deleted_last_entry_is_caught_by_the_head(db: Database) -> None:
    fill(db, 10)
    execute(db, "DELETE FROM registry_entries WHERE seq = 10")
    assert service.verify(db).first_bad_seq == 10


def test_an_entry_inserted_in_the_middle_is_named(db: Database) -> None:
    fill(db, 10)
    for seq in range(10, 4, -1):  # shift 5..10 up by one, one row at a time to keep the key unique
        execute(db, "UPDATE registry_entries SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    previous = str(raw_rows(db)[3]["hash"])
    time = "2026-11-21T00:00:00.000000Z"
    payload = canonical_text({"forged": True})
    digest = hash_entry_bytes(
        entry_bytes(5, time, "user:mallory", "test.event", "thing:x", payload, previous)
    )
    execute(
        db,
        "INSERT INTO registry_entries (seq, time, actor, kind, subject, payload, prev_hash, hash) "
        "VALUES (5, :t, 'user:mallory', 'test.event', 'thing:x', :p, :prev, :h)",
        t=time,
        p=payload,
        prev=previous,
        h=digest,
    )
    report = service.verify(db)
    assert not report.ok and report.first_bad_seq == 6


def test_an_entry_appended_behind_the_registry_is_named(db: Database) -> None:
    fill(db, 4)
    last = raw_rows(db)[-1]
    time, payload = "2026-11-21T00:00:00.000000Z", canonical_text({"forged": True})
    digest = hash_entry_bytes(entry_bytes(5, time, "user:mallory", "k", "s", payload, str(last["hash"])))
    execute(
        db,
        "INSERT INTO registry_entries (seq, time, actor, kind, subject, payload, prev_hash, hash) "
        "VALUES (5, :t, 'user:mallory', 'k', 's', :p, :prev, :h)",
        t=time,
        p=payload,
        prev=last["hash"],
        h=digest,
    )
    assert service.verify(db).first_bad_seq == 5


def test_reordered_entries_are_named(db: Database) -> None:
    fill(db, 10)
    rows = raw_rows(db)
    fields = ("time", "actor", "kind", "subject", "payload", "prev_hash", "hash")
    for seq, source in ((3, rows[3]), (4, rows[2])):
        assignments = ", ".join(f"{f} = :{f}" for f in fields)
        execute(
            db,
            f"UPDATE registry_entries SET {assignments} WHERE seq = :seq",
            seq=seq,
            **{f: source[f] for f in fields},
        )
    report = service.verify(db)
    assert not report.ok and report.first_bad_seq == 3


def test_a_consistently_rewritten_history_is_caught_by_the_checkpoint(
    db: Database, operator: Principal
) -> None:
    fill(db, 8)
    checkpoint = service.create_checkpoint(db, operator)
    rows = raw_rows(db)
    previous = "0" * 64
    for row in rows:  # rewrite entry 2 and re-chain everything after it, as a careful forger would
        payload = canonical_text({"n": -1}) if row["seq"] == 2 else str(row["payload"])
        digest = hash_entry_bytes(
            entry_bytes(
                int(row["seq"]),
                str(row["time"]),
                str(row["actor"]),
                str(row["kind"]),
                str(row["subject"]),
                payload,
                previous,
            )
        )
        execute(
            db,
            "UPDATE registry_entries SET payload = :p, prev_hash = :prev, hash = :h WHERE seq = :s",
            p=payload,
            prev=previous,
            h=digest,
            s=row["seq"],
        )
        previous = digest
    execute(db, "UPDATE registry_head SET last_hash = :h", h=previous)
    report = service.verify(db)
    assert not report.ok and report.first_bad_seq == checkpoint.tree_size and "checkpoint" in report.reason


def test_inclusion_and_consistency_proofs_verify_standalone(db: Database, operator: Principal) -> None:
    fill(db, 21)
    bundle = service.inclusion_bundle(db, operator, 13, tree_size=20)
    shipped = json.loads(json.dumps(bundle))  # what the regulator receives is plain JSON
    assert verify_bundle(shipped).ok
    shipped["entry"]["payload"]["n"] = 999
    assert not verify_bundle(shipped).ok
    consistency = service.consistency_bundle(db, operator, 7, 21)
    assert verify_tree_consistency(
        7, consistency["first_root"], 21, consistency["second_root"], consistency["consistency_proof"]
    ).ok
    assert not verify_tree_consistency(
        7, "00" * 32, 21, consistency["second_root"], consistency["consistency_proof"]
    ).ok


def test_regulator_reads_but_cannot_checkpoint(db: Database, regulator: Principal) -> None:
    fill(db, 3)
    assert len(service.list_entries(db, regulator)) == 3
    from corridor.errors import Forbidden

    with pytest.raises(Forbidden):
        service.create_checkpoint(db, regulator)


def test_cli_verify_exits_nonzero_and_names_the_bad_seq(db: Database) -> None:
    fill(db, 6)
    env = {**os.environ, "CORRIDOR_DATABASE_URL": db.url}
    command = [sys.executable, "-m", "corridor.cli", "registry", "verify", "--json"]
    intact = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["ok"] is True
    execute(db, "DELETE FROM registry_entries WHERE seq = 2")
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 1
    assert json.loads(broken.stdout)["first_bad_seq"] == 2
    plain = subprocess.run(command[:-1], env=env, capture_output=True, text=True, timeout=120)
    assert plain.returncode == 1 and "seq 2" in plain.stdout


def test_a_transaction_takes_the_registry_lock_only_at_commit(db: Database) -> None:
    # Every writer takes the registry's lock last, at commit: a transaction that has recorded entries but
    # not committed does not hold up another writer. Taken at the first record instead, it made writers
    # that lock other rows first (an approval batch and the settlement worker) deadlock.
    if db.dialect != "postgresql":
        pytest.skip("SQLite runs one writer at a time (BEGIN IMMEDIATE): there is no lock order to test")
    with db.transaction() as first:
        service.append(first, "user:test", "test.event", "thing:first", {"n": 1})
        with db.transaction() as second:
            second.execute(text("SET LOCAL lock_timeout = '3s'"))  # fails here if the head were locked
            service.append(second, "user:test", "test.event", "thing:second", {"n": 2})
    assert [r["subject"] for r in raw_rows(db)] == ["thing:second", "thing:first"]
    assert service.verify(db).ok
