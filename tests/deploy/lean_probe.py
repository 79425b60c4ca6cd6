"""Run by test_lean_image in a subprocess: start what the CPU image runs, with the modules of
the `train` extra made unimportable (argv[1]: their names, comma-separated).

Prints one JSON line: what was checked, for the test to assert on.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.abc
import importlib.machinery
import json
import pkgutil
import sys
from collections.abc import Sequence
from types import ModuleType

BLOCKED = frozenset(sys.argv[1].split(","))
# Loaded before this script ran (site's .pth hooks, e.g. setuptools' _distutils_hack).
AT_START = frozenset(sys.modules)


class BlockTrainingStack(importlib.abc.MetaPathFinder):
    """As if the `train` extra were not installed (the CPU image)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] in BLOCKED:
            raise ImportError(f"{fullname} is not in the CPU image", name=fullname)
        return None


sys.meta_path.insert(0, BlockTrainingStack())


def every_module(package: str) -> list[str]:
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, prefix=f"{package}."):
        if not info.name.endswith(".__main__"):  # `python -m` entry points run on import
            names.append(info.name)
    return names


def import_all() -> list[str]:
    imported = []
    # The API, the CLI (migrate, reindex, tokens) and every workflow and light activity: all of
    # app/, and workers/ but the training worker's own code (workers.ml, its activities).
    candidates = [*every_module("app"), "workers.orchestration", "workers.runtime"]
    candidates += every_module("workers.workflows")
    candidates += [
        m for m in every_module("workers.activities") if m != "workers.activities.training_queue"
    ]
    for name in candidates:
        importlib.import_module(name)
        imported.append(name)
    return imported


async def start_api() -> dict[str, object]:
    """The ASGI factory with its lifespan (migrations included) and a readiness probe."""
    import httpx

    from app.api.asgi import app as factory

    app = factory()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            answer = await client.get("/readyz")
    return {"status": answer.status_code, "checks": answer.json()["checks"]}


def propose_with_tpe() -> int:
    """The orchestration worker's one numeric activity, fitted (TPE) rather than random."""
    from temporalio.testing import ActivityEnvironment

    from app.domain import Observation, ProposeInput, SweepSpace
    from workers.activities.search import propose_configs

    space = SweepSpace.model_validate({"x": {"type": "float", "low": -5, "high": 5}})
    seen = [
        Observation(trial_index=i, params={"x": -5 + i * 0.5}, rung=0, value=float(i % 7))
        for i in range(20)
    ]
    proposal = ProposeInput(
        space=space,
        strategy="tpe",
        direction="minimize",
        sweep_seed=3,
        trial_indices=[20, 21],
        observations=seen,
    )
    return len(ActivityEnvironment().run(propose_configs, proposal))


def main() -> None:
    imported = import_all()
    api = asyncio.run(start_api())
    proposals = propose_with_tpe()
    leaked = sorted(m for m in set(sys.modules) - AT_START if m.partition(".")[0] in BLOCKED)
    print(json.dumps({"imported": imported, "api": api, "proposals": proposals, "leaked": leaked}))


if __name__ == "__main__":
    main()
