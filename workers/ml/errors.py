"""Errors the ML layer raises for input that no retry can fix."""

from __future__ import annotations


class BadInputError(ValueError):
    """The request names something that does not exist or cannot work (column, file, model).

    The activity adapters turn it into a non-retryable Temporal ``ApplicationError``.
    """
