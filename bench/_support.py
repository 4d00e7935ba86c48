"""Helpers shared by the benchmarks: throw-away databases and figure records."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from corridor.db import Database
from corridor.db.testing import fresh_postgres_database, migrated_database, postgres_reachable, sqlite_url


def figure(
    name: str, value: float, unit: str, goal: str | None = None, baseline: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {"name": name, "value": round(value, 2), "unit": unit, "goal": goal, "baseline": baseline}


def backends() -> list[str]:
    return ["sqlite"] + ([] if postgres_reachable() else ["postgresql"])


@contextmanager
def scratch_database(backend: str) -> Iterator[Database]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            db = migrated_database(sqlite_url(Path(folder)))
            try:
                yield db
            finally:
                db.dispose()
    else:
        with fresh_postgres_database("corridor_bench") as url:
            db = migrated_database(url)
            try:
                yield db
            finally:
                db.dispose()
