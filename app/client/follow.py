"""Following a sweep's event stream across dropped connections: where to resume, when to give
up, what each Server-Sent Event means. The sync and async clients drive the same follower."""

from __future__ import annotations

import json
import math
import time

import httpx
from httpx_sse import ServerSentEvent

from app.client.calls import unreachable
from app.client.errors import ApiError, ServiceUnavailable, ServiceUnreachable, error_of
from app.domain.sweep_events import SweepEvent

# A stream needs no read timeout shorter than the server's keep-alive pings (15 s) allow.
STREAM_READ_TIMEOUT = 60.0
DEFAULT_RECONNECT_FOR = 300.0


class StreamEnded(Exception):
    """The server closed the stream before the sweep ended."""


# Failures after which following goes on with a reconnect.
RETRYABLE = (ServiceUnavailable, httpx.TransportError, StreamEnded)


class EventFollower:
    """Resume position and reconnection policy of one follow.

    The stream ends on its own after ``sweep.ended``; any other end (a restarted API, a
    Temporal blip, a dropped connection) is followed by a reconnect with ``Last-Event-ID``,
    until ``reconnect_for`` seconds pass without a working connection."""

    def __init__(
        self,
        after: int | None,
        reconnect_for: float = DEFAULT_RECONNECT_FOR,
        base_url: str = "the API",
    ) -> None:
        self.last_id = after
        self._base_url = base_url
        self.ended = False
        self._retry_seconds = 1.0
        self._reconnect_for = reconnect_for
        self._failing_since: float | None = None

    def headers(self) -> dict[str, str]:
        return {} if self.last_id is None else {"last-event-id": str(self.last_id)}

    def connected(self, response: httpx.Response) -> None:
        """Check the answer to a (re)connect (an error's body already read). Errors raise:
        ServiceUnavailable (503) and transport errors are worth a reconnect (``RETRYABLE``),
        others are final."""
        if response.status_code != 200:
            raise error_of(response)
        self._failing_since = None

    def accept(self, sse: ServerSentEvent) -> SweepEvent | None:
        """The event carried by one SSE message (None for keep-alives and empty messages)."""
        if sse.retry is not None:
            self._retry_seconds = max(0.1, sse.retry / 1000)
        if not sse.data:
            return None
        event = _event_of(sse.data)
        self.last_id = event.id
        if event.type == "sweep.ended":
            self.ended = True
        return event

    def broken(self, error: Exception) -> float:
        """The connection failed or ended early: seconds to wait before reconnecting, or the
        error once it has gone on for too long (no answer at all: ServiceUnreachable)."""
        if isinstance(error, httpx.TransportError):
            error = unreachable(self._base_url, error)
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._failing_since > self._reconnect_for:
            if isinstance(error, ApiError | ServiceUnreachable):
                raise error
            raise ServiceUnreachable(f"the event stream keeps failing: {error}") from error
        return self._retry_seconds


def _event_of(data: str) -> SweepEvent:
    """The stream writes NaN (a diverged trial's metrics) as null, which browsers can parse;
    read it back as NaN where a number is certain: metrics, and a finished rung's score."""
    body = json.loads(data)
    metrics = body.get("metrics")
    if isinstance(metrics, dict):
        body["metrics"] = {k: math.nan if v is None else v for k, v in metrics.items()}
    if body.get("status") == "rung_done" and body.get("objective_value", 0) is None:
        body["objective_value"] = math.nan
    return SweepEvent.model_validate(body)
