"""What CLI commands share: settings, logging, the database (migrated on first use)."""

from __future__ import annotations

from dataclasses import dataclass

from corridor.db import Database
from corridor.db.migrate import upgrade
from corridor.logging import configure_logging
from corridor.settings import get_settings


def open_database(migrate: bool = True) -> Database:
    """The configured database, migrated on first use; one engine per process and URL.

    A command run in a process that runs others (a test's CliRunner, a shell embedding the CLI) gets the
    same engine again: a new one per command kept its pooled connections open until garbage collection,
    and a few dozen commands could exhaust PostgreSQL's connection limit."""
    settings = get_settings()
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url()
    known = _OPENED.get(url)
    if known is not None and (known.migrated or not migrate):
        return known.db
    if migrate:
        upgrade(url)
    db = known.db if known is not None else Database(url)
    _OPENED[url] = _Opened(db, migrated=migrate)
    return db


@dataclass(frozen=True, slots=True)
class _Opened:
    db: Database
    migrated: bool


_OPENED: dict[str, _Opened] = {}
