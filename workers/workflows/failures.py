"""What a failure says, for workflows to record: the innermost cause's own words."""

from __future__ import annotations

from temporalio.exceptions import FailureError


def root_message(err: BaseException) -> str:
    """The innermost cause's message (e.g. the activity's "attempt 16: HTTP 503"), not
    Temporal's wrappers around it."""
    while isinstance(err, FailureError) and err.cause is not None:
        err = err.cause
    return str(err.message if isinstance(err, FailureError) else err)
