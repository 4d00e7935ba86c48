"""Schema migrations with Alembic.

Each area keeps its own migrations beside its store (``corridor/<area>/migrations``), as an Alembic branch
labelled with the area's name; ``upgrade`` applies every branch to its head. An area whose tables refer
to another area's names it with ``depends_on``.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from corridor.db import make_engine, normalise_url

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def area_version_locations() -> list[str]:
    """Every area's migrations folder, nested areas (``compliance/screening``) included."""
    own = Path(__file__).resolve().parent / "migrations"
    return sorted(str(p) for p in PACKAGE_DIR.glob("**/migrations") if p.is_dir() and p != own)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).resolve().parent / "migrations"))
    config.set_main_option("version_locations", " ".join(area_version_locations()))
    config.set_main_option("path_separator", "space")
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


def expected_heads(url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def current_heads(engine: Engine) -> set[str]:
    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())


def applied_revisions(url: str, engine: Engine) -> set[str]:
    """Every revision applied, following down-revisions and ``depends_on`` links from the stored heads.

    Alembic stores only heads; a branch that another branch depends on is not stored separately.
    """
    heads = tuple(current_heads(engine))
    if not heads:
        return set()
    script = ScriptDirectory.from_config(alembic_config(url))
    return {revision.revision for revision in script.iterate_revisions(heads, "base")}


def is_up_to_date(url: str, engine: Engine | None = None) -> bool:
    own_engine = engine is None
    engine = engine or make_engine(url)
    try:
        return expected_heads(url) <= applied_revisions(url, engine)
    finally:
        if own_engine:
            engine.dispose()
