"""Structured one-line log events: ``event key=value ...`` so logs grep and parse easily."""

from __future__ import annotations

import logging


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: object) -> None:
    if not logger.isEnabledFor(level):
        return
    parts = [event, *(f"{key}={_format(value)}" for key, value in fields.items())]
    logger.log(level, " ".join(parts))


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    # Quote values with spaces so one event stays one parseable line.
    if not text or any(ch.isspace() or ch in "\"=" for ch in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text
