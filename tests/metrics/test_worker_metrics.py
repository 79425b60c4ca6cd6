"""The workers' Prometheus series: moved by the real activity code paths (mirror, webhook
delivery) and served by a worker's metrics endpoint. Training's series move in
tests/ml/test_ml_activities.py, where a real fine_tune runs anyway."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

import workers.ml.metrics  # noqa: F401  (the training worker's series, without torch)
from app.db import IndexUnavailable, make_engine, session_scope
from app.db import webhooks as repo
from app.db.migrate import upgrade_to_head
from app.domain import SweepStatus, TrialStatus
from app.domain.webhooks import DeliverInput, FinishDeliveryInput
from app.domain.workflow_io import MirrorInput
from app.settings import Settings, offset_metrics_ports
from app.webhooks.address_policy import AddressPolicy
from app.webhooks.signing import new_secret
from app.webhooks.wiring import secrets_box
from tests.db.factories import sweep, trial
from tests.db.test_repository_contract import a_request
from tests.webhooks.receiver import receiver
from workers.activities.mirror import MirrorActivities, lag_seconds
from workers.activities.webhooks import WebhookActivities
from workers.telemetry import serve_metrics, temporal_runtime


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'index.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def mirror_input(changed_since: datetime | None) -> MirrorInput:
    trials = [trial(0, TrialStatus.COMPLETED, [0.7]), trial(1, TrialStatus.RUNNING)]
    return MirrorInput(
        result=sweep(f"sweep-{uuid.uuid4().hex[:8]}", trials, status=SweepStatus.RUNNING),
        request=a_request(),
        result_count=1,
        changed_since=changed_since,
    )


def test_mirror_counts_writes_trials_and_lag(engine: Engine) -> None:
    before = {
        "ok": value("sweeps_mirror_writes_total", outcome="ok"),
        "trials": value("sweeps_mirror_trials_written_total"),
        "lags": value("sweeps_mirror_lag_seconds_count"),
        "lag_sum": value("sweeps_mirror_lag_seconds_sum"),
        "within_2s": value("sweeps_mirror_lag_seconds_bucket", le="2.0"),
    }
    three_seconds_ago = datetime.now(UTC) - timedelta(seconds=3)
    written = ActivityEnvironment().run(
        MirrorActivities(engine).mirror_results, mirror_input(three_seconds_ago)
    )
    assert written == 2
    assert value("sweeps_mirror_writes_total", outcome="ok") == before["ok"] + 1
    assert value("sweeps_mirror_trials_written_total") == before["trials"] + 2
    assert value("sweeps_mirror_lag_seconds_count") == before["lags"] + 1
    lag = value("sweeps_mirror_lag_seconds_sum") - before["lag_sum"]
    assert 3 <= lag < 60
    assert value("sweeps_mirror_lag_seconds_bucket", le="2.0") == before["within_2s"]

    # A write scheduled by an older sweep (no change time) counts, without a lag.
    ActivityEnvironment().run(MirrorActivities(engine).mirror_results, mirror_input(None))
    assert value("sweeps_mirror_writes_total", outcome="ok") == before["ok"] + 2
    assert value("sweeps_mirror_lag_seconds_count") == before["lags"] + 1


def test_mirror_counts_an_unreachable_index() -> None:
    down = make_engine("postgresql://postgres@127.0.0.1:9/none")
    before = value("sweeps_mirror_writes_total", outcome="unavailable")
    try:
        with pytest.raises(IndexUnavailable):
            ActivityEnvironment().run(
                MirrorActivities(down).mirror_results, mirror_input(datetime.now(UTC))
            )
    finally:
        down.dispose()
    assert value("sweeps_mirror_writes_total", outcome="unavailable") == before + 1


def test_lag_is_never_negative() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert lag_seconds(now + timedelta(seconds=1), now) == 0.0  # clocks a little apart
    assert lag_seconds(now.replace(tzinfo=None) - timedelta(seconds=2), now) == 2.0


async def test_webhook_attempts_by_verdict(engine: Engine, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "state")
    box = secrets_box(settings)
    hooks = WebhookActivities(engine, box, AddressPolicy(["127.0.0.1"]))
    before = {
        verdict: value("sweeps_webhook_attempts_total", verdict=verdict)
        for verdict in ("retry", "delivered")
    }
    timed = value("sweeps_webhook_attempt_seconds_count")
    given_up = value("sweeps_webhook_deliveries_given_up_total")
    with receiver(script=[503]) as hook:
        with session_scope(engine) as session:
            endpoint = repo.create_endpoint(
                session,
                url=hook.url,
                events=["sweep.completed"],
                secret_encrypted=box.encrypt(new_secret()),
                sweep_id="sweep-hooks",
                position=0,
            )
            (delivery_id,) = repo.create_deliveries(
                session,
                sweep_id="sweep-hooks",
                event_type="sweep.completed",
                event_key="sweep",
                payload={"type": "sweep.completed", "data": {}},
                endpoint_ids=[endpoint.id],
            )
        deliver = DeliverInput(delivery_id=delivery_id)
        with pytest.raises(ApplicationError):  # 503: Temporal would call again
            await ActivityEnvironment().run(hooks.deliver_webhook, deliver)
        report = await ActivityEnvironment().run(hooks.deliver_webhook, deliver)
    assert report.state == "delivered"
    assert value("sweeps_webhook_attempts_total", verdict="retry") == before["retry"] + 1
    assert value("sweeps_webhook_attempts_total", verdict="delivered") == before["delivered"] + 1
    assert value("sweeps_webhook_attempt_seconds_count") == timed + 2

    await ActivityEnvironment().run(
        hooks.finish_webhook_delivery, FinishDeliveryInput(delivery_id=delivery_id, error="x")
    )
    assert value("sweeps_webhook_deliveries_given_up_total") == given_up + 1


def test_a_worker_serves_its_series_on_its_metrics_port() -> None:
    port = free_port()
    server = serve_metrics(port, "127.0.0.1")
    assert server is not None
    try:
        answer = httpx.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    assert answer.status_code == 200
    names = {family.name for family in text_string_to_metric_families(answer.text)}
    assert {
        "sweeps_mirror_lag_seconds",
        "sweeps_mirror_writes",
        "sweeps_webhook_attempts",
        "sweeps_checkpoint_save_seconds",
        "sweeps_train_samples",
        "sweeps_train_samples_per_second",
        "sweeps_trials_running",
        "sweeps_training_runs",
        "process_resident_memory_bytes",
    } <= names
    assert serve_metrics(0) is None  # off by default


async def test_temporal_sdk_metrics_on_their_own_port(dev_env: WorkflowEnvironment) -> None:
    port = free_port()
    runtime = temporal_runtime(port, "127.0.0.1")
    assert runtime is not None and temporal_runtime(0) is None
    client = await Client.connect(
        dev_env.client.service_client.config.target_host,
        data_converter=pydantic_data_converter,
        runtime=runtime,
    )
    await client.count_workflows()  # one RPC, so the SDK has something to count
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200
    assert "temporal_request" in answer.text


def test_processes_on_one_host_get_their_own_ports() -> None:
    settings = Settings(metrics_port=9400, temporal_metrics_port=9500)
    env = {"PATH": "/bin", "SWEEPS_METRICS_PORT": "9400"}
    assert offset_metrics_ports(env, settings, 2) == {
        "PATH": "/bin",
        "SWEEPS_METRICS_PORT": "9402",
        "SWEEPS_TEMPORAL_METRICS_PORT": "9502",
    }
    # Off in the settings: an inherited port is not passed on (two processes would share it).
    assert offset_metrics_ports(env, Settings(metrics_port=0), 1) == {"PATH": "/bin"}


def test_the_orchestration_worker_process_serves_both_endpoints(tmp_path: Path) -> None:
    """The real entry point: endpoints up before it connects (here: to nobody, so it keeps
    trying while we scrape)."""
    ports = free_port(), free_port()
    env = os.environ | {
        "SWEEPS_TEMPORAL_ADDRESS": "127.0.0.1:9",
        "SWEEPS_DATA_DIR": str(tmp_path),
        "SWEEPS_METRICS_PORT": str(ports[0]),
        "SWEEPS_TEMPORAL_METRICS_PORT": str(ports[1]),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "workers.orchestration"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ours = scrape_when_up(ports[0], worker).text
        sdk = scrape_when_up(ports[1], worker)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert "sweeps_mirror_lag_seconds_count 0.0" in ours
    assert 'sweeps_webhook_attempts_total{verdict="delivered"} 0.0' in ours
    assert "sweeps_checkpoint_save_seconds" not in ours  # the training worker's, not here
    assert sdk.status_code == 200


def scrape_when_up(
    port: int, process: subprocess.Popen[bytes], timeout: float = 60
) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "the worker exited"
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
        except httpx.TransportError:
            assert time.monotonic() < deadline, f"nothing on port {port} in {timeout:.0f} s"
            time.sleep(0.2)
