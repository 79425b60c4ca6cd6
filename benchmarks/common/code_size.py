"""Product code size at git revisions: lines of app/ and workers/, and module sizes.

    uv run python -m benchmarks.common.code_size [REV ...]   (default: HEAD)

Counts every ``*.py`` file under app/ and workers/ in the revision's tree (read with git, so
no checkout is needed): physical lines, and the median, 90th percentile and largest module.
Prints a Markdown table; records nothing.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
from dataclasses import dataclass

PRODUCT = ("app", "workers")


@dataclass(frozen=True)
class CodeSize:
    rev: str
    modules: int
    lines: int
    median: float
    p90: float
    largest: tuple[str, int]


def module_lines(rev: str) -> dict[str, int]:
    paths = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", rev, "--", *PRODUCT],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    sizes = {}
    for path in paths:
        if path.endswith(".py"):
            text = subprocess.run(
                ["git", "show", f"{rev}:{path}"], capture_output=True, text=True, check=True
            ).stdout
            sizes[path] = len(text.splitlines())
    return sizes


def measure(rev: str) -> CodeSize:
    sizes = module_lines(rev)
    values = sorted(sizes.values())
    largest = max(sizes.items(), key=lambda item: item[1])
    return CodeSize(
        rev=rev,
        modules=len(values),
        lines=sum(values),
        median=statistics.median(values),
        p90=statistics.quantiles(values, n=10)[-1],
        largest=largest,
    )


def table(sizes: list[CodeSize]) -> str:
    rows = [
        "| revision | modules | lines | median | p90 | largest |",
        "|---|---|---|---|---|---|",
    ]
    for s in sizes:
        name, lines = s.largest
        rows.append(
            f"| `{s.rev}` | {s.modules} | {s.lines} | {s.median:.0f} | {s.p90:.0f} "
            f"| `{name}` ({lines}) |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revs", nargs="*", default=["HEAD"])
    args = parser.parse_args(argv)
    print(table([measure(rev) for rev in args.revs]))


if __name__ == "__main__":
    main()
