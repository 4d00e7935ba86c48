"""Migrations build the schema on both databases, and readiness knows whether they ran."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command

from corridor.db import make_engine
from corridor.db.migrate import alembic_config, expected_heads, is_up_to_date, upgrade
from corridor.db.testing import fresh_postgres_database, postgres_reachable, sqlite_url


def check_round_trip(url: str) -> None:
    engine = make_engine(url)
    try:
        assert not is_up_to_date(url, engine)
        upgrade(url)
        assert is_up_to_date(url, engine)
        command.downgrade(alembic_config(url), "ledger@base")
        assert not is_up_to_date(url, engine)
        upgrade(url)
        assert is_up_to_date(url, engine)
    finally:
        engine.dispose()


def test_every_area_branch_has_a_head() -> None:
    heads = expected_heads("sqlite://")
    assert {"reg0001", "led0001", "acc0001", "htp0001"} <= heads


def test_readiness_follows_the_migrations_on_sqlite(tmp_path: Path) -> None:
    check_round_trip(sqlite_url(tmp_path))


def test_readiness_follows_the_migrations_on_postgresql() -> None:
    problem = postgres_reachable()
    if problem is not None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL unreachable in CI: {problem}")
        pytest.skip(f"PostgreSQL unreachable: {problem}")
    with fresh_postgres_database() as url:
        check_round_trip(url)
