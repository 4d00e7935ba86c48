"""Shared fixtures. Every test that takes ``db`` runs once on SQLite and once on PostgreSQL.

PostgreSQL gets a fresh database per test session (per xdist worker), dropped afterwards. Outside CI an
unreachable server skips the PostgreSQL half with a loud warning; with CI=true it fails the run.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from corridor.access.model import Principal, Role, system_principal
from corridor.access.service import clear_key_cache
from corridor.db import Database
from corridor.db.testing import (
    fresh_postgres_database,
    migrated_database,
    postgres_reachable,
    reset,
    sqlite_url,
)
from corridor.testdata import shared_data_dir

IN_CI = os.environ.get("CI", "").lower() == "true"
# Few idle connections per test engine, room for bursts: two xdist workers share PostgreSQL's
# max_connections (100 by default) and the concurrency tests open 50 at once.
TEST_POOL = {"pool_size": 5, "max_overflow": 60}


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    db = migrated_database(sqlite_url(tmp_path_factory.mktemp("sqlite")), **TEST_POOL)
    yield db
    db.dispose()


@pytest.fixture(scope="session")
def postgresql_database() -> Iterator[Database]:
    problem = postgres_reachable()
    if problem is not None:
        message = (
            f"PostgreSQL is unreachable ({problem}): the PostgreSQL half of the database tests is SKIPPED"
        )
        if IN_CI:
            pytest.fail(f"{message}, and CI=true requires it", pytrace=False)
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    with fresh_postgres_database() as url:
        db = migrated_database(url, **TEST_POOL)
        yield db
        db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A migrated, empty database of each kind."""
    database: Database = request.getfixturevalue(f"{request.param}_database")
    reset(database)
    clear_key_cache()
    yield database


@pytest.fixture
def operator() -> Principal:
    return system_principal("tests")


@pytest.fixture
def regulator() -> Principal:
    return Principal(user_id="regulator-1", role=Role.REGULATOR)
