"""SWEEPS_LOG_FORMAT=json: one JSON object per line with every field; text stays as it was."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.logging import JsonLogFormatter, KeyValueFormatter, configure_logging
from workers.ml.log_events import log_event


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLogFormatter())
    logger = logging.getLogger("tests.json_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, out, handler
    logger.removeHandler(handler)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_log_event_is_one_json_object_with_its_fields(
    lines: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, _ = lines
    log_event(
        logger,
        "checkpoint.saved",
        sweep_id="sweep-1",
        trial_id="t0003",
        rung=1,
        step=40,
        save_seconds=0.25,
        train_loss=float("nan"),
        reason="rung end",
    )
    (line,) = parsed(out)
    assert list(line)[:5] == ["time", "level", "logger", "event", "message"]
    assert line["level"] == "info" and line["logger"] == "tests.json_logs"
    assert line["event"] == line["message"] == "checkpoint.saved"
    assert line["time"].endswith("+00:00")
    assert {k: line[k] for k in ("sweep_id", "trial_id", "rung", "step", "save_seconds")} == {
        "sweep_id": "sweep-1",
        "trial_id": "t0003",
        "rung": 1,
        "step": 40,
        "save_seconds": 0.25,
    }
    assert line["train_loss"] == "nan"  # JSON has no NaN: strict parsers read the line
    assert line["reason"] == "rung end"


def test_extra_fields_temporal_context_exceptions_and_secrets(
    lines: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, out, _ = lines
    # What workflow.logger passes: the caller's extra and Temporal's context.
    workflow = {"workflow_id": "sweep-1", "run_id": "r1", "workflow_type": "LadderSweepWorkflow"}
    logger.warning(
        "trial failed",
        extra={"sweep_id": "sweep-1", "trial_id": "t0001", "temporal_workflow": workflow},
    )
    try:
        raise RuntimeError("header was Bearer abcdefghijklmnopqrstuvwxyz")
    except RuntimeError:
        logger.exception("boom with swp_0123456789abcdef")
    warning, error = parsed(out)
    assert warning["message"] == "trial failed" and "event" not in warning
    assert warning["sweep_id"] == "sweep-1" and warning["trial_id"] == "t0001"
    assert warning["temporal_workflow"] == workflow
    assert error["level"] == "error"
    assert "RuntimeError" in error["exc_info"]
    assert "swp_[redacted]" in error["message"]
    assert "abcdefghijklmnop" not in out.getvalue()


def test_text_format_is_unchanged() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(KeyValueFormatter())
    logger = logging.getLogger("tests.text_logs")
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        log_event(logger, "checkpoint.saved", sweep_id="s", trial_id="t0001", step=5)
    finally:
        logger.removeHandler(handler)
    # benchmarks/fault_drills.py reads these lines.
    assert (
        out.getvalue().split(" ", 3)[3] == "'checkpoint.saved sweep_id=s trial_id=t0001 step=5'\n"
    )


def test_configure_logging_json(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    try:
        configure_logging("INFO", "json")
        log_event(logging.getLogger("workers.x"), "trial.started", sweep_id="s", trial_id="t1")
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "trial.started" and line["trial_id"] == "t1"
