"""A database that cannot be reached surfaces as IndexUnavailable (the API answers 503)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from app.db import IndexUnavailable, get_sweep, leaderboard, make_engine, ping, session_scope
from app.db.migrate import upgrade_to_head


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe is closed


@pytest.fixture(params=["postgresql", "sqlite"])
def down_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return f"postgresql://postgres@127.0.0.1:{_closed_port()}/test"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    return f"sqlite:///{blocker / 'index.db'}"  # its parent is a file: cannot be opened


def test_reads_raise_index_unavailable(down_url: str) -> None:
    engine = make_engine(down_url)
    try:
        with pytest.raises(IndexUnavailable, match="results index unavailable"):
            ping(engine)
        with pytest.raises(IndexUnavailable), session_scope(engine) as session:
            get_sweep(session, "sw")
        with pytest.raises(IndexUnavailable), session_scope(engine) as session:
            leaderboard(session, "sw")
    finally:
        engine.dispose()


def test_migrating_raises_index_unavailable(down_url: str) -> None:
    with pytest.raises(IndexUnavailable):
        upgrade_to_head(down_url)
