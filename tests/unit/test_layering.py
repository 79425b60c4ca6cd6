"""Layer boundaries from docs/architecture.md that a careless import would break."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "datasets")


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
