"""Alembic's INFO lines stay out of the console of `sweeps dev` unless asked for."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli.embedded import EmbeddedStack
from app.logging import configure_logging
from app.settings import Settings


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    root, alembic = logging.getLogger(), logging.getLogger("alembic")
    saved = (root.level, list(root.handlers), alembic.level)
    yield
    root.setLevel(saved[0])
    root.handlers[:] = saved[1]
    alembic.setLevel(saved[2])


def migrate_as_sweeps_dev(data_dir: Path, monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    """What `sweeps dev` does before its API is up: configure logging from the settings, then
    migrate a fresh index to mint the session token."""
    monkeypatch.setenv("SWEEPS_LOG_LEVEL", level)
    monkeypatch.delenv("SWEEPS_DATABASE_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings(data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    EmbeddedStack(settings).create_token("dev")
    assert (data_dir / "index.db").exists()


def test_default_level_prints_no_alembic_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    migrate_as_sweeps_dev(tmp_path, monkeypatch, "INFO")
    assert "alembic" not in capsys.readouterr().err


@pytest.mark.parametrize("level", ["DEBUG", "INFO,alembic=INFO"])
def test_alembic_lines_when_asked(
    level: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    migrate_as_sweeps_dev(tmp_path, monkeypatch, level)
    printed = capsys.readouterr().err
    assert "alembic.runtime.migration 'Running upgrade" in printed, printed
