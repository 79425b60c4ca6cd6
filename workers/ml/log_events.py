"""Structured one-line log events: ``event key=value ...`` so logs grep and parse easily.

The event name and fields also travel on the record (``event``, ``event_fields``), from which
the JSON log format (``SWEEPS_LOG_FORMAT=json``, ``app.logging``) writes them as keys.
"""

from __future__ import annotations

import logging


def log_event(logger: logging.Logger, event: str, **fields: object) -> None:
    _emit(logger, logging.INFO, event, fields)


def log_debug(logger: logging.Logger, event: str, **fields: object) -> None:
    _emit(logger, logging.DEBUG, event, fields)


def log_warning(logger: logging.Logger, event: str, **fields: object) -> None:
    _emit(logger, logging.WARNING, event, fields)


def _emit(logger: logging.Logger, level: int, event: str, fields: dict[str, object]) -> None:
    if logger.isEnabledFor(level):
        text = " ".join([event, *(f"{k}={_format(v)}" for k, v in fields.items())])
        logger.log(level, text, extra={"event": event, "event_fields": fields})


def _format(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    # Quote values with spaces so one event stays one parseable line.
    if not text or any(ch.isspace() or ch in '"=' for ch in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text
