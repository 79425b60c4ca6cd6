"""Schema migrations of the results index (Alembic, scripts under ``migrations/``).

``upgrade_to_head(url)`` is what ``sweeps migrate`` and the embedded mode call. Concurrent
callers are serialised (a Postgres advisory lock; a lock file next to a SQLite database),
so that processes starting together do not race to create the tables.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL

from app.db.errors import IndexUnavailable
from app.db.models import Base
from app.db.session import database_url, make_engine, translate_errors

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_ADVISORY_LOCK_KEY = 0x5357_4545_5053  # "SWEEPS": any constant shared by all callers


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration without an ini file; ``connection`` is used by env.py."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def configure_context(context: Any, connection: Connection) -> None:
    """Shared by env.py and the drift check, so both compare the same way."""
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        compare_type=True,
        compare_server_default=True,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE by copy on SQLite
    )


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_to_head(url: str | URL) -> None:
    """Create or upgrade the index schema to the newest revision (idempotent)."""
    parsed = database_url(url)
    engine = make_engine(parsed)
    try:
        with _migration_lock(parsed), translate_errors(), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY}
                )
            command.upgrade(alembic_config(connection), "head")
    finally:
        engine.dispose()


def current_revision(url: str | URL) -> str | None:
    engine = make_engine(url)
    try:
        with translate_errors(), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def schema_drift(url: str | URL) -> list[Any]:
    """Differences between the migrated schema and the models (empty when in sync)."""
    engine = make_engine(url)
    try:
        with translate_errors(), engine.connect() as connection:
            context = MigrationContext.configure(
                connection,
                opts={"compare_type": True, "compare_server_default": True},
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


@contextlib.contextmanager
def _migration_lock(url: URL) -> Iterator[None]:
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        yield
        return
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock file, as before
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate.lock")
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = lock_path.open("a")
    except OSError as err:
        raise IndexUnavailable(f"results index unavailable: {err}") from err
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
