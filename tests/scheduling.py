"""How `make test` splits the suite between xdist workers (`--dist loadfile`).

A work unit is a test module, so a module's fixtures start on one worker only. The modules
on the shared embedded stack (tests/e2e/conftest.py) share a session fixture, so a worker
that runs several of them starts the stack once: test_client_cli and test_webhooks_live are
one unit for that. test_control, the longest module by far (about 11 of the 17 minutes a
loaded 2-core machine took), is a unit of its own: kept with them it left the other worker
idle for minutes, which costs more than a second start of the stack. (xdist's `loadgroup`
cannot express units across modules under pytest 9: the group it appends to a test's node
id no longer reaches the scheduler.)

Units go out in collection order, which tests/conftest.py makes longest first: a worker is
handed the next unit when it is nearly out of work, so the long units start at once on
both workers and the short ones fill in around them."""

from __future__ import annotations

from typing import Any

SHARED_STACK = "embedded-stack"
SHARED_STACK_MODULES = frozenset(
    {"tests/e2e/test_client_cli.py", "tests/e2e/test_webhooks_live.py"}
)

# The longest units, longest first (`pytest --durations` on 2 cores); the rest keep their
# collection order after them.
LONGEST_FIRST = (
    "tests/e2e/test_control.py",
    "tests/e2e/test_faults.py",
    SHARED_STACK,
    "tests/e2e/test_demo.py",
    "tests/e2e/test_shared_artifacts.py",
    "tests/e2e/test_dev_stack.py",
    "tests/ml/test_ml_activities.py",
    "tests/ml/test_ml_training.py",
    "tests/ml/test_ml_remote_artifacts.py",
)
_RANK = {unit: place for place, unit in enumerate(LONGEST_FIRST)}


def work_unit(nodeid: str) -> str:
    module = nodeid.split("::", 1)[0]
    return SHARED_STACK if module in SHARED_STACK_MODULES else module


def rank(nodeid: str) -> int:
    """Where a test's unit goes in the run: the long ones first, the rest after them."""
    return _RANK.get(work_unit(nodeid), len(_RANK))


def make_scheduler(config: Any, log: Any) -> Any:
    """xdist's load-by-scope scheduler with our work units (imported here: xdist is only
    there when the suite runs in parallel)."""
    from xdist.scheduler import LoadScopeScheduling

    class ModuleScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ModuleScheduling(config, log)
