"""Layer boundaries from docs/architecture.md that a careless import would break."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "datasets")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "module",
    [
        "workers.orchestration",
        "workers.workflows",
        "workers.workflows.engine",
        "app.temporal.activity_refs",
        "app.cli",
        "app.client",
        "app.domain",
        "app.search",
    ],
)
def test_module_never_imports_the_torch_stack(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"{module} imports {done.stdout.strip()}"


def test_search_layer_does_not_load_optuna_for_workflows() -> None:
    code = "import sys, app.search, workers.workflows\nprint('optuna' in sys.modules)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_client_speaks_http_only() -> None:
    """Notebooks import the client: it must not load the server, Temporal or the database."""
    code = (
        "import sys, app.client\n"
        "server = ('fastapi', 'temporalio', 'sqlalchemy', 'uvicorn')\n"
        "print(','.join(m for m in server if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"app.client loads {done.stdout.strip()}"


def loaded_by(module: str, candidates: tuple[str, ...]) -> list[str]:
    code = f"import sys, {module}\nprint(','.join(m for m in {candidates!r} if m in sys.modules))\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in done.stdout.strip().split(",") if m]


def test_the_domain_needs_pydantic_only() -> None:
    """API, workflows and activities share the domain: it must not drag any of them in."""
    assert loaded_by("app.domain", ("fastapi", "temporalio", "sqlalchemy", "optuna", "httpx")) == []


def test_the_ladder_model_is_pure() -> None:
    """app.search.ladder runs inside workflows and simulators alike: no Temporal, no Optuna."""
    assert loaded_by("app.search.ladder", ("temporalio", "optuna", "sqlalchemy")) == []


def test_workflows_reach_activities_only_through_their_references() -> None:
    """A workflow module that imported an activity implementation would load its worker's
    dependencies (the torch stack, the database) into the orchestration sandbox."""
    assert loaded_by("workers.workflows", ("workers.activities", "sqlalchemy", "fastapi")) == []


def test_no_module_imports_another_modules_private_names() -> None:
    offenders = []
    for path in sorted([*ROOT.glob("app/**/*.py"), *ROOT.glob("workers/**/*.py")]):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private:
                    offenders.append(f"{path.relative_to(ROOT)}: {node.module} {private}")
    assert offenders == []
