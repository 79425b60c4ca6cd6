"""Environment variables -> Temporal connection, task queues and worker slots (no network)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError
from temporalio.service import TLSConfig

from app.settings import Settings
from app.temporal import contract
from app.temporal.client import TemporalConfigError, connection_options
from workers import orchestration, training

CERT = "-----BEGIN CERTIFICATE-----\nMIIBclient\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMIIEkey\n-----END PRIVATE KEY-----\n"
CA = "-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A clean SWEEPS_* environment; settings are then read from it as the services do."""
    for name in [n for n in os.environ if n.startswith("SWEEPS_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def settings() -> Settings:
    return Settings(_env_file=None)


def test_plain_self_hosted_server_by_default(env: pytest.MonkeyPatch) -> None:
    options = connection_options(settings())
    assert options.target_host == "127.0.0.1:7233"
    assert options.namespace == "default"
    assert options.tls is False
    assert options.api_key is None


def test_temporal_cloud_with_an_api_key_turns_tls_on(env: pytest.MonkeyPatch) -> None:
    env.setenv("SWEEPS_TEMPORAL_ADDRESS", "us-east-1.aws.api.temporal.io:7233")
    env.setenv("SWEEPS_TEMPORAL_NAMESPACE", "sweeps.a1b2c")
    env.setenv("SWEEPS_TEMPORAL_API_KEY", "cloud-key")
    options = connection_options(settings())
    assert options.target_host == "us-east-1.aws.api.temporal.io:7233"
    assert options.namespace == "sweeps.a1b2c"
    assert options.tls is True  # the system's roots verify Temporal Cloud
    assert options.api_key == "cloud-key"
    assert "cloud-key" not in repr(settings())


def test_mtls_from_certificate_files(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "client.pem").write_text(CERT)
    (tmp_path / "client.key").write_text(KEY)
    env.setenv("SWEEPS_TEMPORAL_TLS_CERT", str(tmp_path / "client.pem"))
    env.setenv("SWEEPS_TEMPORAL_TLS_KEY", str(tmp_path / "client.key"))
    tls = connection_options(settings()).tls
    assert isinstance(tls, TLSConfig)
    assert tls.client_cert == CERT.encode()
    assert tls.client_private_key == KEY.encode()
    assert tls.server_root_ca_cert is None  # Temporal Cloud: public roots
    assert connection_options(settings()).api_key is None


def test_pem_text_private_ca_and_server_name(env: pytest.MonkeyPatch) -> None:
    """A secret store that hands over environment variables only: PEM text, not paths."""
    env.setenv("SWEEPS_TEMPORAL_TLS_CERT", CERT)
    env.setenv("SWEEPS_TEMPORAL_TLS_KEY", KEY)
    env.setenv("SWEEPS_TEMPORAL_TLS_CA", CA)
    env.setenv("SWEEPS_TEMPORAL_TLS_SERVER_NAME", "temporal.internal")
    tls = connection_options(settings()).tls
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (CERT.encode(), KEY.encode())
    assert tls.server_root_ca_cert == CA.encode()
    assert tls.domain == "temporal.internal"


def test_tls_with_system_roots_only(env: pytest.MonkeyPatch) -> None:
    env.setenv("SWEEPS_TEMPORAL_TLS", "true")
    assert connection_options(settings()).tls is True


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SWEEPS_TEMPORAL_TLS_CERT": CERT}, "go together"),
        ({"SWEEPS_TEMPORAL_TLS_KEY": KEY}, "go together"),
        ({"SWEEPS_TEMPORAL_TLS": "false", "SWEEPS_TEMPORAL_TLS_CA": CA}, "is false"),
    ],
)
def test_contradictory_tls_settings_are_refused(
    env: pytest.MonkeyPatch, variables: dict[str, str], message: str
) -> None:
    for name, value in variables.items():
        env.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        settings()


def test_a_missing_certificate_file_names_the_variable(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env.setenv("SWEEPS_TEMPORAL_TLS_CERT", str(tmp_path / "absent.pem"))
    env.setenv("SWEEPS_TEMPORAL_TLS_KEY", KEY)
    with pytest.raises(TemporalConfigError, match="SWEEPS_TEMPORAL_TLS_CERT"):
        connection_options(settings())


def test_empty_variables_count_as_unset(env: pytest.MonkeyPatch) -> None:
    """Compose passes `${VAR:-}` through as an empty string."""
    for name in ("SWEEPS_TEMPORAL_TLS", "SWEEPS_TEMPORAL_TLS_CERT", "SWEEPS_TEMPORAL_API_KEY"):
        env.setenv(name, "")
    options = connection_options(settings())
    assert (options.tls, options.api_key) == (False, None)


def test_task_queues_split_gpu_from_cpu_work() -> None:
    assert orchestration.worker_options()["task_queue"] == "bert-eval-task-queue"
    assert training.worker_options(1)["task_queue"] == "bert-training-task-queue"
    assert contract.ORCHESTRATION_TASK_QUEUE != contract.TRAINING_TASK_QUEUE


def test_training_concurrency_from_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("SWEEPS_TRAINING_CONCURRENCY", "3")
    slots = settings().training_concurrency
    assert training.worker_options(slots)["max_concurrent_activities"] == 3


def test_one_process_per_gpu_sees_one_device_and_runs_one_trial(
    env: pytest.MonkeyPatch,
) -> None:
    device_env = training.device_environment(2)
    assert device_env["CUDA_VISIBLE_DEVICES"] == "2"
    for name, value in device_env.items():
        env.setenv(name, value)
    assert settings().training_concurrency == 1
