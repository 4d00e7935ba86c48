"""What CLI commands share: settings, logging, the database (migrated on first use)."""

from __future__ import annotations

from corridor.db import Database
from corridor.db.migrate import upgrade
from corridor.logging import configure_logging
from corridor.settings import get_settings


def open_database(migrate: bool = True) -> Database:
    settings = get_settings()
    configure_logging(settings.log_level)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url()
    if migrate:
        upgrade(url)
    return Database(url)
