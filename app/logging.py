"""Structured logs: one line per event, key=value pairs, with sweep/trial/rung when known."""

from __future__ import annotations

import logging
import re
import sys

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


def configure_logging(level: str = "INFO") -> None:
    """``level`` is a level for everything, optionally followed by per-logger ones:
    ``INFO,workers.ml.steps=DEBUG`` adds one line per optimizer step to the INFO logs."""
    root_level, per_logger = parse_levels(level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(root_level)
    for noisy in ("httpx", "urllib3", "filelock", "datasets", "optuna"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
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
