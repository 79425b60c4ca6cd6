"""Structured logs: one line per event, key=value pairs, with sweep/trial/rung when known."""

from __future__ import annotations

import logging
import sys

_CONTEXT_KEYS = ("sweep_id", "trial_id", "rung", "step", "workflow_id", "activity")


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [
            self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            record.levelname.lower(),
            record.name,
            repr(record.getMessage()),
        ]
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                parts.append(f"{key}={value}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
