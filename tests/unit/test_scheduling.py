"""The split of the suite between xdist workers names modules that exist, and keeps the
shared stack's short modules in one unit."""

from __future__ import annotations

from pathlib import Path

from tests import scheduling

ROOT = Path(__file__).parents[2]


def test_named_modules_exist() -> None:
    named = scheduling.SHARED_STACK_MODULES | set(scheduling.LONGEST_FIRST)
    missing = [m for m in named - {scheduling.SHARED_STACK} if not (ROOT / m).is_file()]
    assert not missing, missing


def test_the_shared_stacks_modules_are_one_unit_and_go_first() -> None:
    units = {
        scheduling.work_unit(f"{module}::test_x[p::q]")
        for module in scheduling.SHARED_STACK_MODULES
    }
    assert units == {scheduling.SHARED_STACK}
    assert scheduling.work_unit("tests/unit/test_x.py::test_y") == "tests/unit/test_x.py"
    first = scheduling.rank("tests/e2e/test_control.py::test_z")
    assert first == 0 < scheduling.rank("tests/e2e/test_client_cli.py::t")
    assert scheduling.rank("tests/unit/test_x.py::t") == len(scheduling.LONGEST_FIRST)
