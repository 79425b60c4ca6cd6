"""Throwaway Postgres databases for tests (also usable by the API tests).

Postgres is the real server on this machine (127.0.0.1:5432, trust auth; override with
SWEEPS_TEST_POSTGRES_URL). When it is unreachable the tests fail, they do not skip: CI
starts it with ``pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get("SWEEPS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def admin_connection() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as err:
        pytest.fail(
            f"Postgres is not reachable at {ADMIN_URL} ({err}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
            pytrace=False,
        )


@contextmanager
def fresh_postgres_database(prefix: str = "sweeps_test") -> Iterator[str]:
    """An empty database with a unique name; yields its URL (``postgresql://``, as users
    write it) and drops it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin_connection() as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
