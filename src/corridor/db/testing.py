"""Throw-away databases for tests and benchmarks: a fresh PostgreSQL database per run, or a SQLite file.

``CORRIDOR_TEST_POSTGRES_URL`` names the PostgreSQL server to create databases on (default: the local
server with trust auth). Each database is built through the migrations, never ``create_all``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from corridor.db import Database, normalise_url
from corridor.db.migrate import upgrade

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PRESERVED_TABLES = {"alembic_version"}
SEED_ROWS = {
    "registry_head": "INSERT INTO registry_head (id, last_seq, last_hash) VALUES (1, 0, '" + "0" * 64 + "')"
}


def postgres_admin_url() -> str:
    return normalise_url(os.environ.get("CORRIDOR_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL))


def postgres_reachable() -> str | None:
    """None when the server answers, else why not."""
    engine = create_engine(
        postgres_admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as error:
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    finally:
        engine.dispose()


@contextmanager
def fresh_postgres_database(prefix: str = "corridor_test") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards (also when the block fails)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{(folder / f'corridor-{uuid.uuid4().hex[:8]}.db').resolve()}"


def migrated_database(url: str, **engine_kwargs: object) -> Database:
    upgrade(url)
    return Database(url, **engine_kwargs)


def reset(db: Database) -> None:
    """Empty every table but the migration bookkeeping, and put back the rows migrations seed."""
    with db.engine.begin() as connection:
        tables = [t for t in inspect(connection).get_table_names() if t not in PRESERVED_TABLES]
        if db.dialect == "postgresql":
            quoted = ", ".join(f'"{t}"' for t in tables)
            connection.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            connection.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            for table in tables:
                connection.execute(text(f'DELETE FROM "{table}"'))
        for table, statement in SEED_ROWS.items():
            if table in tables:
                connection.execute(text(statement))
