"""The code-size figure reads product modules from git, not from the work tree."""

from __future__ import annotations

from benchmarks.common.code_size import measure, module_lines, table


def test_sizes_of_head_add_up_and_name_the_largest_module() -> None:
    sizes = module_lines("HEAD")
    assert sizes and all(p.startswith(("app/", "workers/")) and p.endswith(".py") for p in sizes)
    figure = measure("HEAD")
    assert figure.lines == sum(sizes.values()) and figure.modules == len(sizes)
    assert figure.largest[1] == max(sizes.values()) >= figure.p90 >= figure.median
    assert f"| `HEAD` | {figure.modules} | {figure.lines} |" in table([figure])
