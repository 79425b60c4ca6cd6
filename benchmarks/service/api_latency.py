"""Latency of the REST API over HTTP (uvicorn), recorded in the benchmark history.

    uv run python -m benchmarks.service.api_latency [--trials 100000 1000] [--calls 200] [--posts 100]

- GET /sweeps/{id}/leaderboard?limit=20 on sweeps of 100,000 and 1,000 trials x 4 rungs
  bulk-loaded into a throwaway Postgres database: the cost must not grow with the sweep.
- POST /sweeps against the Temporal dev server (validation, workflow start, response).

The API runs as in production: `uvicorn app.api.asgi:app --factory` in its own process,
started by the embedded stack (with no workers: the started sweeps just wait in Temporal).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import httpx

from app.cli.embedded import EmbeddedStack, free_port
from app.db import make_engine
from app.db.migrate import upgrade_to_head
from app.presets import preset
from app.settings import Settings
from benchmarks.common.report import machine, prepend_section, today
from benchmarks.service.leaderboard import Timing, load_sweep, throwaway_postgres, time_calls


def measure(url: str, sizes: list[int], calls: int, posts: int) -> list[str]:
    return [
        f"| {label} | {t.p50_ms:.2f} | {t.p95_ms:.2f} | {t.max_ms:.2f} | {t.calls} |"
        for label, t in measure_calls(url, sizes, calls, posts)
    ]


def measure_calls(url: str, sizes: list[int], calls: int, posts: int) -> list[tuple[str, Timing]]:
    """(call, its timing): the leaderboard at each size, then POST /sweeps."""
    upgrade_to_head(url)
    engine = make_engine(url)
    loaded = {}
    try:
        for size in sizes:
            report = load_sweep(engine, f"bench-{size}", size, 4)
            loaded[size] = report
            print(f"loaded {size:,} trials x 4 rungs in {report.seconds:.1f} s", file=sys.stderr)
    finally:
        engine.dispose()

    with tempfile.TemporaryDirectory() as state:
        settings = Settings(data_dir=Path(state), database_url=url)
        stack = EmbeddedStack(
            settings,
            temporal_port=free_port(),
            ui_port=free_port(),
            api_port=free_port(),
            workers=(),
        )
        # Latency of the calls themselves: the per-token rate limit would stop the POST loop.
        os.environ["SWEEPS_RATE_LIMIT_PER_MINUTE"] = "0"
        with stack, httpx.Client(base_url=stack.api_url, timeout=30) as api:
            api.headers.update(stack.auth_headers())
            rows: list[tuple[str, Timing]] = []
            for size in sizes:
                path = f"/sweeps/bench-{size}/leaderboard?limit=20"
                assert api.get(path).status_code == 200

                def get(path: str = path) -> object:
                    return api.get(path).raise_for_status()

                rows.append(
                    (f"GET leaderboard?limit=20, {size:,} trials x 4 rungs", time_calls(get, calls))
                )
            body = preset("tiny").model_dump_json()

            def post() -> object:
                return api.post(
                    "/sweeps", content=body, headers={"content-type": "application/json"}
                ).raise_for_status()

            rows.append(
                (
                    "POST /sweeps (workflow start on the dev server)",
                    time_calls(post, posts, warmup=5),
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--trials", type=int, nargs="+", default=[100_000, 1_000])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--posts", type=int, default=100)
    args = parser.parse_args()
    with throwaway_postgres(args.admin_url) as url:
        table = measure(url, args.trials, args.calls, args.posts)
    section = "\n".join(
        [
            f"## REST API latency over HTTP ({today()})",
            "",
            "- command: `uv run python -m benchmarks.service.api_latency`",
            f"- machine: {machine()}; Postgres 15 and the Temporal dev server on the same machine",
            "- client: httpx, one connection, sequential calls after a warm-up; uvicorn, one process",
            "",
            "| call | p50 ms | p95 ms | max ms | calls |",
            "|---|---:|---:|---:|---:|",
            *table,
        ]
    )
    prepend_section(section)
    print(section)


if __name__ == "__main__":
    main()
