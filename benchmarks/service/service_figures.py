"""The service's own figures in one table: leaderboard and POST latency, recovery.

    uv run python -m benchmarks.service.service_figures [--quick]

Measures the REST API again (``benchmarks.service.api_latency``: the leaderboard of sweeps of 1,000
and 100,000 trials x 4 rungs in a throwaway Postgres database, and ``POST /sweeps`` against
the dev server) and quotes the recovery figures of the newest fault-drill section of
docs/benchmarks-history.md (``make faults`` measures them: a drill kills the training worker three times
and takes about ten minutes, too long to repeat here), with that section's date.
"""

from __future__ import annotations

import argparse
import re

from benchmarks.common.report import HISTORY, machine, prepend_section, today
from benchmarks.service.api_latency import measure_calls
from benchmarks.service.leaderboard import throwaway_postgres

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
FAULT_DRILLS = "## Fault drills"
# The lines of the fault-drill section quoted here, by how each begins.
RECOVERY_LINES = {
    "Steps redone per kill": "training steps redone after kill -9 of the training worker",
    "Worker restart to training resumed": "training worker restarted to training resumed",
    "Checkpoint-now, request to checkpoint reported": "checkpoint-now, request to checkpoint",
}


def recovery_rows(text: str) -> list[str]:
    """Table rows for the newest fault-drill section's figures, or none if it has none."""
    start = text.find(FAULT_DRILLS)
    if start < 0:
        return []
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else len(text)]
    dated = re.search(r"\((\d{4}-\d{2}-\d{2})\)", section.splitlines()[0])
    source = f"Fault drills ({dated.group(1) if dated else 'undated'}), `make faults`"
    rows = []
    for line in section.splitlines():
        for prefix, label in RECOVERY_LINES.items():
            if line.startswith(f"- {prefix}:"):
                # The figure, without the explanation that follows it in the section.
                figure = line.split(":", 1)[1].strip().split(". ")[0].rstrip(".")
                rows.append(f"| {label} | {figure} | {source} |")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 trials only, fewer calls")
    parser.add_argument("--admin-url", default=ADMIN_URL)
    args = parser.parse_args(argv)
    sizes, calls, posts = ([1_000], 50, 20) if args.quick else ([1_000, 100_000], 200, 100)

    with throwaway_postgres(args.admin_url) as url:
        timings = measure_calls(url, sizes, calls, posts)
    command = "uv run python -m benchmarks.service.service_figures" + (
        " --quick" if args.quick else ""
    )
    rows = [
        f"| {label}: p50 / p95 | {t.p50_ms:.1f} ms / {t.p95_ms:.1f} ms ({t.calls} calls) "
        f"| this run |"
        for label, t in timings
    ]
    rows += recovery_rows(HISTORY.read_text() if HISTORY.exists() else "")
    section = "\n".join(
        [
            f"## Service figures ({today()})",
            "",
            f"Command: `{command}` (part of `make bench`). Machine: {machine()}; Postgres 15, "
            "the Temporal dev server and the API (uvicorn, one process) on the same machine; "
            "httpx, one connection, sequential calls after a warm-up.",
            "",
            "| figure | value | measured by |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )
    prepend_section(section)
    print(section)


if __name__ == "__main__":
    main()
