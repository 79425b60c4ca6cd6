"""Fixtures of the results-index tests: one migrated database per backend and test session
(SQLite in a temporary folder; a fresh database on the real Postgres, see databases.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from app.db import make_engine
from app.db.migrate import upgrade_to_head
from tests.db.databases import fresh_postgres_database

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite+pysqlite:///{tmp_path_factory.mktemp('index') / 'index.db'}"


@pytest.fixture(scope="session")
def migrated_engines(sqlite_url: str, postgres_url: str) -> Iterator[dict[str, Engine]]:
    engines: dict[str, Engine] = {}
    for backend, url in (("sqlite", sqlite_url), ("postgresql", postgres_url)):
        upgrade_to_head(url)
        engines[backend] = make_engine(url)
    yield engines
    for engine in engines.values():
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, migrated_engines: dict[str, Engine]) -> Engine:
    """A migrated, empty results index on each backend."""
    engine = migrated_engines[request.param]
    with engine.begin() as connection:
        for table in ("checkpoints", "trial_rungs", "trials", "sweeps"):
            connection.execute(text(f"DELETE FROM {table}"))
    return engine


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database on each backend, nothing migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nested' / 'index.db'}"  # the folder does not exist yet
        return
    with fresh_postgres_database("sweeps_migrate") as url:
        yield url
