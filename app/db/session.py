"""Engines and the unit of work: the one place where transactions commit or roll back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from app.db.errors import IndexUnavailable

SQLITE_BUSY_TIMEOUT_S = 5.0
POSTGRES_CONNECT_TIMEOUT_S = 5

# Connection-level failures: the database is down, unreachable, locked or shedding load.
# Retrying later may succeed, so they surface as IndexUnavailable (HTTP 503).
_UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError, exc.DisconnectionError)


def database_url(url: str | URL) -> URL:
    """Parse a URL; bare ``postgres://`` / ``postgresql://`` use psycopg 3."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine for SQLite (WAL, busy timeout, foreign keys) or Postgres (pre-ping).

    Connects lazily: an unreachable database shows up on first use, as IndexUnavailable.
    """
    parsed = database_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, **kwargs)
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
    return create_engine(parsed, **(options | kwargs))


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(url.query)
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_S}
    }
    if in_memory:
        options["poolclass"] = StaticPool  # one shared connection, or each sees its own DB
    engine = create_engine(url, **(options | kwargs))

    if not in_memory and not database.startswith("file:"):

        @event.listens_for(engine, "do_connect")
        def _make_parent_dir(*_: Any) -> None:
            # If this fails, sqlite3 fails to open the file: an OperationalError, translated.
            with suppress(OSError):
                Path(database).parent.mkdir(parents=True, exist_ok=True)

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    return engine


@contextmanager
def translate_errors() -> Iterator[None]:
    """Raise IndexUnavailable for connection-level database failures."""
    try:
        yield
    except _UNAVAILABLE as err:
        raise IndexUnavailable(f"results index unavailable: {_reason(err)}") from err


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commits when the block succeeds, rolls back when it raises.

    Repositories never commit; this is where it happens. Connection failures anywhere in
    the block (or at commit) are raised as IndexUnavailable.
    """
    session = Session(engine, expire_on_commit=False)
    try:
        with translate_errors():
            yield session
            session.commit()
    except BaseException:
        _rollback_quietly(session)
        raise
    finally:
        session.close()


def ping(engine: Engine) -> None:
    """Check that the index answers (readiness probes); raises IndexUnavailable if not."""
    with translate_errors(), engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _rollback_quietly(session: Session) -> None:
    # The original error matters more than a failed rollback on a dead connection.
    try:
        session.rollback()
    except exc.SQLAlchemyError:
        with suppress(exc.SQLAlchemyError):
            session.invalidate()


def _reason(err: exc.DBAPIError | exc.SQLAlchemyError) -> str:
    original = getattr(err, "orig", None)
    message = str(original if original is not None else err).strip()
    return message.splitlines()[0] if message else type(err).__name__


def dialect_insert(session: Session, table: Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (the index upserts everything)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"the results index supports sqlite and postgresql, not {dialect}")
