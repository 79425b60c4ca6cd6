"""A worker process's Prometheus endpoints, both off unless a port is set:

- ``SWEEPS_METRICS_PORT``: this project's series (``workers/activities/metrics.py`` on the
  orchestration worker, ``workers/ml/metrics.py`` on a training worker) plus the process's
  own (CPU, memory, file descriptors), at ``http://<host>:<port>/metrics``.
- ``SWEEPS_TEMPORAL_METRICS_PORT``: the Temporal SDK's (task slots, poll and schedule-to-start
  latencies, RPC failures), served by the SDK's core from the process's default Runtime.

Both listen on every interface (a scraper reaches them from another container or host); they
show counts and durations only, no ids, names or payloads.
"""

from __future__ import annotations

import logging
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from app.settings import Settings

log = logging.getLogger(__name__)

ALL_INTERFACES = "0.0.0.0"


def start_telemetry(settings: Settings, host: str = ALL_INTERFACES) -> None:
    """Serve the configured endpoints; call before the worker connects to Temporal (the SDK's
    metrics come with the Runtime its client is created on)."""
    serve_metrics(settings.metrics_port, host)
    runtime = temporal_runtime(settings.temporal_metrics_port, host)
    if runtime is not None:
        Runtime.set_default(runtime)


def serve_metrics(port: int, host: str = ALL_INTERFACES) -> WSGIServer | None:
    """prometheus_client's server for the default registry, in a daemon thread (None: off).
    A port in use fails here, at start, rather than silently serving nothing."""
    if not port:
        return None
    server, _ = start_http_server(port, addr=host)
    log.info("metrics at http://%s:%d/metrics", host, port)
    return server


def temporal_runtime(port: int, host: str = ALL_INTERFACES) -> Runtime | None:
    """A Temporal Runtime exporting the SDK's metrics in Prometheus format on ``port`` (None:
    off). Metric names are the SDK's defaults (``temporal_...``), as Temporal's dashboards
    expect them."""
    if not port:
        return None
    runtime = Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"{host}:{port}"))
    )
    log.info("Temporal SDK metrics at http://%s:%d/metrics", host, port)
    return runtime
