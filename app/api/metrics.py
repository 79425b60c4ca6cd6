"""The API's Prometheus series: requests by route template, and sweeps and trials by status
counted in the results index when Prometheus scrapes.

Each app has its own registry (built by ``create_app``), so two apps in one process (tests)
never share counts, and the index collector lives exactly as long as the app's engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import session_scope
from app.db.stats import sweeps_by_status, trials_by_status

log = logging.getLogger(__name__)

# Anything else (a made-up method) is counted as "other": labels stay a bounded set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self.requests = Counter(
            "sweeps_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "sweeps_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by route template "
            "(an event stream lasts as long as its follower stays).",
            ["method", "route"],
            registry=self.registry,
        )
        self._index: IndexCollector | None = None

    def watch_index(self, engine: Engine | None) -> None:
        """Count sweeps and trials in ``engine`` at each scrape (None: stop)."""
        if self._index is not None:
            self.registry.unregister(self._index)
            self._index = None
        if engine is not None:
            self._index = IndexCollector(engine)
            self.registry.register(self._index)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)


class RequestMetrics:
    """ASGI middleware: counts every HTTP request under its route's template
    (``/sweeps/{sweep_id}``), never its raw path, so the series stay few."""

    def __init__(self, app: ASGIApp, *, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            seconds = time.perf_counter() - started
            # The router notes the route it chose in the scope. None: no route matched (404),
            # or the body guard refused the request before routing (413, 422).
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            self.metrics.observe(scope["method"], route, status, seconds)


class IndexCollector(Collector):
    """``sweeps_sweeps{status}`` and ``sweeps_trials{status}`` from the results index, with
    ``sweeps_index_up``: an unreachable index is reported, never a failed scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._was_up = True

    def describe(self) -> Iterable[Metric]:
        # Names only: registering must not query the database.
        return list(_families())

    def collect(self) -> Iterator[Metric]:
        sweeps, trials, up = _families()
        try:
            with session_scope(self.engine) as session:
                counts = [sweeps_by_status(session), trials_by_status(session)]
        except Exception as exc:  # whatever it is, /metrics still answers
            if self._was_up:  # once per outage, not once per scrape
                log.warning("metrics: results index unreachable: %s", exc)
            self._was_up = False
            up.add_metric([], 0)
            yield up
            return
        self._was_up = True
        for family, by_status in zip((sweeps, trials), counts, strict=True):
            for status, count in by_status.items():
                family.add_metric([status], count)
            yield family
        up.add_metric([], 1)
        yield up


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily(
            "sweeps_sweeps", "Sweeps in the results index, by status.", labels=["status"]
        ),
        GaugeMetricFamily(
            "sweeps_trials", "Trials in the results index, by status.", labels=["status"]
        ),
        GaugeMetricFamily(
            "sweeps_index_up", "1 if the results index answered this scrape's counts, else 0."
        ),
    )
