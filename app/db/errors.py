"""Errors of the results index that callers map to responses (503, 404)."""

from __future__ import annotations


class IndexUnavailable(RuntimeError):
    """The results index cannot be reached or is busy: retry later (HTTP 503)."""


class SweepNotFound(LookupError):
    """No sweep with this id in the results index (HTTP 404)."""

    def __init__(self, sweep_id: str) -> None:
        super().__init__(f"sweep {sweep_id!r} is not in the results index")
        self.sweep_id = sweep_id
