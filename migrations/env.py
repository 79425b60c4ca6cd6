"""Alembic environment of the results index.

Run through ``app.db.migrate`` (``sweeps migrate``, embedded mode), which hands over an
open connection in ``config.attributes["connection"]``; or by the alembic CLI from the
repo root (``uv run alembic upgrade head``), which uses ``-x url=...``, else
``alembic.ini``'s ``sqlalchemy.url``, else the service settings.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from app.db.migrate import configure_context
from app.db.session import make_engine


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    url = url or context.config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.settings import Settings

    return Settings().resolved_database_url


def _run(connection: Connection) -> None:
    configure_context(context, connection)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported: connect to a database")

if context.config.config_file_name is not None:
    fileConfig(context.config.config_file_name, disable_existing_loggers=False)

given: Connection | None = context.config.attributes.get("connection")
if given is not None:
    _run(given)
else:
    engine = make_engine(_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()
