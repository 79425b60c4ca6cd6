"""SWEEPS_LOG_LEVEL: one level, optionally followed by per-logger levels."""

from __future__ import annotations

import logging

import pytest

from app.logging import configure_logging, parse_levels


def test_plain_level() -> None:
    assert parse_levels("warning") == ("WARNING", {})


def test_per_logger_levels() -> None:
    assert parse_levels("INFO, workers.ml.steps=debug") == ("INFO", {"workers.ml.steps": "DEBUG"})


def test_unknown_level_names_the_culprit() -> None:
    with pytest.raises(ValueError, match="'LOUD'"):
        parse_levels("INFO,workers=LOUD")


def test_configure_applies_per_logger_levels() -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("ERROR,workers.ml.steps=DEBUG")
        assert root.level == logging.ERROR
        assert logging.getLogger("workers.ml.steps").isEnabledFor(logging.DEBUG)
        assert not logging.getLogger("workers.ml.train").isEnabledFor(logging.INFO)
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        logging.getLogger("workers.ml.steps").setLevel(logging.NOTSET)
