"""Structured logs: one line per event, with sweep/trial/rung when known: key=value pairs
(``SWEEPS_LOG_FORMAT=text``, the default) or one JSON object (``json``)."""

from __future__ import annotations

import logging
import math
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS, merge_record_extra
from pythonjsonlogger.json import JsonFormatter

_CONTEXT_KEYS = ("sweep_id", "trial_id", "rung", "step", "workflow_id", "activity")


# Defence in depth: nothing should log a token or a webhook secret, but if a message or a
# traceback ever carries one (an exception quoting a header, say), it is masked here.
_SECRETS = re.compile(r"\b(swp_|whsec_)[A-Za-z0-9_+/=-]{8,}|(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str) -> str:
    return _SECRETS.sub(lambda m: (m.group(1) or "Bearer ") + "[redacted]", text)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(self._format(record))

    def _format(self, record: logging.LogRecord) -> str:
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


# ``workers.ml.log_events.log_event`` hands its event name and fields over in these attributes.
EVENT_ATTR, FIELDS_ATTR = "event", "event_fields"
# Attributes that are no field: uvicorn's coloured copy of its message.
_NOT_FIELDS = {*RESERVED_ATTRS, "color_message", EVENT_ATTR, FIELDS_ATTR}


class JsonLogFormatter(JsonFormatter):
    """One JSON object per line: time, level, logger, message (the event name for
    ``log_event`` lines, with ``event`` too), then every field: ``extra=`` ones, ``log_event``
    ones, and Temporal's ``temporal_workflow`` / ``temporal_activity`` context.

    python-json-logger knows which record attributes are logging's own (so every ``extra``
    is kept) and how to encode datetimes, enums, paths and exceptions; this class orders the
    keys, merges ``log_event`` fields and masks secrets as the text format does."""

    def __init__(self) -> None:
        super().__init__(reserved_attrs=sorted(_NOT_FIELDS))

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        event = getattr(record, EVENT_ATTR, None)
        log_data["time"] = datetime.fromtimestamp(record.created, UTC).isoformat(
            timespec="milliseconds"
        )
        log_data["level"] = record.levelname.lower()
        log_data["logger"] = record.name
        if event is not None:
            log_data["event"] = event
        log_data["message"] = event if event is not None else record.getMessage()
        extra: dict[str, Any] = {}
        merge_record_extra(record, extra, reserved=self._skip_fields)
        fields = getattr(record, FIELDS_ATTR, None) or {}
        for key, value in (extra | fields | message_dict).items():
            log_data.setdefault(key, _finite(value))  # a field never hides time, level, ...

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _finite(value: Any) -> Any:
    """NaN and infinities as strings: JSON has no such numbers (a diverged trial's loss)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


LogFormat = Literal["text", "json"]


def configure_logging(level: str = "INFO", fmt: LogFormat = "text") -> None:
    """``level`` is a level for everything, optionally followed by per-logger ones:
    ``INFO,workers.ml.steps=DEBUG`` adds one line per optimizer step to the INFO logs;
    ``INFO,alembic=INFO`` the migration lines, which are otherwise shown only at DEBUG.
    ``fmt``: ``text`` (key=value) or ``json`` (one object per line)."""
    root_level, per_logger = parse_levels(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if fmt == "json":
        # uvicorn's own handlers would write plain lines among the JSON ones.
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            logging.getLogger(name).handlers.clear()
            logging.getLogger(name).propagate = True
    root.setLevel(root_level)
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Alembic says a dozen INFO lines per migration run, at every start of `sweeps dev`
    # even with nothing to migrate: shown at DEBUG or on request (``INFO,alembic=INFO``).
    quiet = logging.getLevelNamesMapping()[root_level] > logging.DEBUG
    logging.getLogger("alembic").setLevel(logging.WARNING if quiet else logging.NOTSET)
    for name, named_level in per_logger.items():
        logging.getLogger(name).setLevel(named_level)


def parse_levels(spec: str) -> tuple[str, dict[str, str]]:
    root = "INFO"
    per_logger: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.rpartition("=")
        level = (value if sep else part).upper()
        if level not in logging.getLevelNamesMapping():
            raise ValueError(f"log level {value or part!r} in {spec!r} is not a level name")
        if sep:
            per_logger[name] = level
        else:
            root = level
    return root, per_logger
