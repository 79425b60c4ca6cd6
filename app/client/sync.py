"""SweepsClient: the API from scripts, CI jobs and notebooks (blocking calls, httpx)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx
from httpx_sse import connect_sse
from rich.console import Console

from app.api.schemas import CancelAccepted, SweepCreated, SweepView
from app.client import calls
from app.client.follow import RETRYABLE, STREAM_READ_TIMEOUT, EventFollower, StreamEnded
from app.client.leaderboard import Leaderboard
from app.client.progress import SweepProgress
from app.domain import SweepRequest, SweepResult, SweepStatus
from app.domain.rows import Page, SweepRow, TrialDetail
from app.domain.sweep_events import SweepEvent
from app.domain.workflow_io import ControlAck

T = TypeVar("T")


class SweepsClient:
    """``SweepsClient()`` reads SWEEPS_API_URL and SWEEPS_TOKEN; arguments override them.

    Every method raises a ``SweepsError``: ``ApiError`` subclasses carry the API's message
    and field errors, ``ServiceUnreachable`` means no answer at all."""

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url, headers, timeouts = calls.connection(base_url, token, timeout)
        self.base_url = url
        self._http = httpx.Client(
            base_url=url, headers=headers, timeout=timeouts, transport=transport
        )

    def _do(self, call: calls.Call[T]) -> T:
        try:
            response = self._http.request(
                call.method, call.path, params=call.params, content=call.content,
                headers=call.headers,
            )  # fmt: skip
        except httpx.TransportError as exc:
            raise calls.unreachable(self.base_url, exc) from None
        return call.answer(response)

    # ---- sweeps ------------------------------------------------------------------------------

    def submit(
        self, request: SweepRequest | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> SweepCreated:
        """Start a sweep. A dict is validated locally first (``InvalidRequest`` names the
        field). With ``idempotency_key``, a retried call finds the sweep the first started."""
        return self._do(calls.submit(request, idempotency_key))

    def get(self, sweep_id: str) -> SweepView:
        """Live state, from the sweep's workflow."""
        return self._do(calls.get(sweep_id))

    def result(self, sweep_id: str) -> SweepResult:
        """Every trial with its rung results (the final result once the sweep has ended)."""
        return self._do(calls.result(sweep_id))

    def list(
        self,
        *,
        status: SweepStatus | str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[SweepRow]:
        return self._do(calls.list_sweeps(status, name, limit, offset))

    def leaderboard(
        self, sweep_id: str, *, limit: int = 20, rung: int | None = None
    ) -> Leaderboard:
        """Trials ranked by the objective (``.to_pandas()`` for a DataFrame)."""
        return self._do(calls.leaderboard(sweep_id, limit, rung))

    def trial(self, sweep_id: str, trial_id: str) -> TrialDetail:
        return self._do(calls.trial(sweep_id, trial_id))

    # ---- control -----------------------------------------------------------------------------

    def pause(self, sweep_id: str) -> ControlAck:
        return self._do(calls.control(sweep_id, "pause"))

    def resume(self, sweep_id: str) -> ControlAck:
        return self._do(calls.control(sweep_id, "resume"))

    def checkpoint(self, sweep_id: str, trial_id: str | None = None) -> ControlAck:
        """Every running trial (or ``trial_id``) saves a checkpoint and keeps training."""
        if trial_id is None:
            return self._do(calls.control(sweep_id, "checkpoint"))
        return self._do(calls.checkpoint_trial(sweep_id, trial_id))

    def cancel_trial(self, sweep_id: str, trial_id: str) -> ControlAck:
        return self._do(calls.cancel_trial(sweep_id, trial_id))

    def cancel(self, sweep_id: str) -> CancelAccepted:
        return self._do(calls.cancel(sweep_id))

    # ---- following ---------------------------------------------------------------------------

    def events(self, sweep_id: str, *, after: int | None = None) -> Iterator[SweepEvent]:
        """The sweep's events from ``after`` on (all retained ones when None), live, until
        the sweep ends; dropped connections resume where they stopped."""
        follower = EventFollower(after, base_url=self.base_url)
        timeout = httpx.Timeout(self._http.timeout.connect, read=STREAM_READ_TIMEOUT)
        while not follower.ended:
            try:
                with connect_sse(
                    self._http, "GET", f"/sweeps/{sweep_id}/events",
                    headers=follower.headers(), timeout=timeout,
                ) as source:  # fmt: skip
                    if source.response.status_code != 200:
                        source.response.read()
                    follower.connected(source.response)
                    for message in source.iter_sse():
                        event = follower.accept(message)
                        if event is not None:
                            yield event
                    if not follower.ended:
                        raise StreamEnded()
            except RETRYABLE as exc:
                delay = follower.broken(exc)
                time.sleep(delay)

    def wait(
        self,
        sweep_id: str,
        *,
        progress: bool = True,
        console: Console | None = None,
    ) -> SweepResult:
        """Follow the sweep until it ends (live progress unless ``progress=False``) and
        return its final result."""
        view = self.get(sweep_id)
        if view.ended_at is None:
            tracker = SweepProgress(view, console) if progress else None
            with tracker if tracker is not None else contextlib.nullcontext():
                for event in self.events(sweep_id, after=0):
                    if tracker is not None:
                        tracker.update(event)
                        if tracker.needs_view:
                            tracker.refresh(self.get(sweep_id))
        return self.result(sweep_id)

    # ---- lifetime ----------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SweepsClient:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
