"""Leaderboard latency of the results index on large sweeps (repository level).

    uv run python -m benchmarks.service.leaderboard [--url URL] [--trials 100000 1000]
        [--rungs 4] [--shape full|halving] [--calls 200]

Without --url, a throwaway database is created on the local Postgres (see --admin-url)
and dropped afterwards. Each sweep is bulk-loaded (COPY on Postgres, executemany on
SQLite) with the same row derivation as ``mirror_sweep``, then each query is timed over
--calls calls, each in its own unit of work as an API request would run it.

``load_sweep`` and ``time_calls`` are meant to be reused (e.g. to time the HTTP API).
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Table, func, insert, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from app.db import SweepRecord, leaderboard, make_engine, mirror_sweep, session_scope, upsert_sweep
from app.db.migrate import upgrade_to_head
from app.db.models import CHECKPOINTS, SWEEPS, TRIAL_RUNGS, TRIALS
from app.db.records import checkpoint_rows_of, rung_row, trial_row
from app.domain import (
    CheckpointInfo,
    RungResult,
    SweepResult,
    SweepStatus,
    TrialMetrics,
    TrialResult,
    TrialStatus,
    trial_id,
)

CHUNK = 5_000


@dataclass(frozen=True)
class LoadReport:
    sweep_id: str
    trials: int
    rung_rows: int
    checkpoint_rows: int
    seconds: float


@dataclass(frozen=True)
class Timing:
    p50_ms: float
    p95_ms: float
    mean_ms: float
    max_ms: float
    calls: int

    def __str__(self) -> str:
        return (
            f"p50 {self.p50_ms:7.2f} ms  p95 {self.p95_ms:7.2f} ms  "
            f"mean {self.mean_ms:7.2f} ms  max {self.max_ms:7.2f} ms  ({self.calls} calls)"
        )


# ---- synthetic sweeps ------------------------------------------------------------------------


def synthetic_trials(
    count: int, rungs: int = 4, *, shape: str = "full", seed: int = 0
) -> Iterator[TrialResult]:
    """Trials of a finished ladder. ``full``: every trial has a result at every rung;
    ``halving``: a third of each rung's trials reach the next one. About 2% failed, 1% NaN."""
    rng = random.Random(seed)
    for index in range(count):
        reached = rungs - 1
        if shape == "halving":
            reached = 0
            while reached < rungs - 1 and rng.random() < 1 / 3:
                reached += 1
        quality = rng.random()
        results = []
        for r in range(reached + 1):
            value = min(1.0, 0.3 + 0.5 * quality + 0.05 * r + rng.gauss(0, 0.02))
            if rng.random() < 0.01:
                value = math.nan
            step = 100 * (r + 1)
            results.append(
                RungResult.model_construct(
                    rung=r,
                    budget=float(step),
                    global_step=step,
                    metrics=TrialMetrics.model_construct(
                        accuracy=value, f1_macro=value * 0.9, eval_loss=1 - value, num_examples=2000
                    ),
                    objective_value=value,
                    checkpoint=CheckpointInfo.model_construct(
                        path=f"/artifacts/bench/{trial_id(index)}/checkpoint-{step}",
                        step=step,
                        epoch=step / 60,
                        rung=r,
                        reason="rung_end",
                    ),
                    train_seconds=30.0,
                    eval_seconds=5.0,
                )
            )
        failed = rng.random() < 0.02
        if failed:
            status = TrialStatus.FAILED
        elif reached == rungs - 1:
            status = TrialStatus.COMPLETED
        else:
            status = TrialStatus.PRUNED
        last = results[-1]
        yield TrialResult.model_construct(
            trial_id=trial_id(index),
            trial_index=index,
            params={
                "learning_rate": 10 ** rng.uniform(-5, -3),
                "per_device_train_batch_size": rng.choice([16, 32, 64]),
                "weight_decay": rng.uniform(0, 0.1),
            },
            seed=rng.randrange(2**31),
            status=status,
            rung=reached + (1 if failed and reached < rungs - 1 else 0),
            objective_value=last.objective_value,
            metrics=last.metrics,
            checkpoint=last.checkpoint,
            rungs=results,
            train_seconds=30.0 * len(results),
            error="CUDA out of memory" if failed else None,
        )


def load_sweep(
    engine: Engine,
    sweep_id: str,
    trials: int,
    rungs: int = 4,
    *,
    shape: str = "full",
    seed: int = 0,
) -> LoadReport:
    """Bulk-load a finished synthetic sweep (replacing one with the same id)."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    rung_count = checkpoint_count = 0
    with session_scope(engine) as session:
        for table in (CHECKPOINTS, TRIAL_RUNGS, TRIALS, SWEEPS):
            key = table.c.id if table is SWEEPS else table.c.sweep_id
            session.execute(table.delete().where(key == sweep_id))
        record = SweepRecord(
            sweep_id=sweep_id,
            name=f"bench-{trials}",
            status=SweepStatus.COMPLETED,
            metric="accuracy",
            direction="maximize",
            strategy="tpe",
            current_rung=rungs - 1,
            started_at=now,
            ended_at=now,
        )
        upsert_sweep(session, record, now=now)
        write = _copy_rows if engine.dialect.name == "postgresql" else _insert_rows
        chunk: list[TrialResult] = []
        for trial in synthetic_trials(trials, rungs, shape=shape, seed=seed):
            chunk.append(trial)
            if len(chunk) == CHUNK:
                r, c = _write_chunk(session, write, sweep_id, chunk, now)
                rung_count, checkpoint_count, chunk = rung_count + r, checkpoint_count + c, []
        if chunk:
            r, c = _write_chunk(session, write, sweep_id, chunk, now)
            rung_count, checkpoint_count = rung_count + r, checkpoint_count + c
        count = select(func.count()).where(TRIALS.c.sweep_id == sweep_id).scalar_subquery()
        session.execute(update(SWEEPS).where(SWEEPS.c.id == sweep_id).values(trial_count=count))
    _analyze(engine)
    return LoadReport(sweep_id, trials, rung_count, checkpoint_count, time.perf_counter() - started)


Writer = Callable[[Session, Table, list[dict[str, Any]]], None]


def _write_chunk(
    session: Session, write: Writer, sweep_id: str, chunk: list[TrialResult], now: datetime
) -> tuple[int, int]:
    trial_rows = [trial_row(sweep_id, t, "maximize", now) for t in chunk]
    rung_rows = [rung_row(sweep_id, t, r, "maximize", now) for t in chunk for r in t.rungs]
    checkpoint_rows = [row for t in chunk for row in checkpoint_rows_of(sweep_id, t, now)]
    write(session, TRIALS, trial_rows)
    write(session, TRIAL_RUNGS, rung_rows)
    write(session, CHECKPOINTS, checkpoint_rows)
    return len(rung_rows), len(checkpoint_rows)


def _copy_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    from psycopg.types.json import Json

    columns = [c.name for c in table.c]
    json_columns = {c.name for c in table.c if c.type.__class__.__name__ == "JSON"}
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([Json(row[c]) if c in json_columns else row[c] for c in columns])


def _insert_rows(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    session.execute(insert(table), rows)


def _analyze(engine: Engine) -> None:
    """Fresh planner statistics (and, on Postgres, a visibility map for index-only scans)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in ("sweeps", "trials", "trial_rungs", "checkpoints"):
                connection.execute(text(f"VACUUM ANALYZE {table}"))
    else:
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))


# ---- timing ------------------------------------------------------------------------------------


def time_calls(call: Callable[[], object], calls: int = 200, warmup: int = 20) -> Timing:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return Timing(
        p50_ms=statistics.median(samples),
        p95_ms=samples[min(len(samples) - 1, math.ceil(0.95 * len(samples)) - 1)],
        mean_ms=statistics.fmean(samples),
        max_ms=samples[-1],
        calls=calls,
    )


def leaderboard_call(engine: Engine, sweep_id: str, **filters: Any) -> Callable[[], object]:
    def call() -> object:
        with session_scope(engine) as session:
            page = leaderboard(session, sweep_id, **filters)
        assert page.items, filters
        return page

    return call


def mirror_call(
    engine: Engine, sweep_id: str, trials: int, *, partial: bool = False
) -> Callable[[], object]:
    """The mirror activity's write after one trial result, on a sweep of ``trials`` trials:
    one trial changed each time, sent alone (``partial``, as the sweep workflow does) or
    within the whole snapshot."""
    snapshot = list(synthetic_trials(trials, 4, shape="halving", seed=1))
    result = SweepResult(
        sweep_id=sweep_id,
        name="bench-mirror",
        status=SweepStatus.RUNNING,
        metric="accuracy",
        direction="maximize",
        trials=snapshot,
    )
    results = sum(len(t.rungs) for t in snapshot)
    with session_scope(engine) as session:
        mirror_sweep(session, result)
    counter = iter(range(10**9))

    def call() -> object:
        i = next(counter)
        changed = snapshot[i % trials].model_copy(update={"train_seconds": 1000.0 + i})
        snapshot[i % trials] = changed
        sent = [changed] if partial else snapshot
        with session_scope(engine) as session:
            return mirror_sweep(
                session, result.model_copy(update={"trials": sent}), result_count=results
            )

    return call


def explain(engine: Engine, sweep_id: str) -> str:
    if engine.dialect.name != "postgresql":
        return ""
    sql = (
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) SELECT trial_id FROM trials WHERE sweep_id = :s "
        "ORDER BY rank_group, scored_rung DESC, rank_value, rank_tie, trial_index LIMIT 20"
    )
    with engine.connect() as connection:
        return "\n".join(row[0] for row in connection.execute(text(sql), {"s": sweep_id}))


# ---- main --------------------------------------------------------------------------------------


@contextmanager
def throwaway_postgres(admin_url: str) -> Iterator[str]:
    import psycopg

    name = f"sweeps_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(url: str, sizes: list[int], rungs: int, shape: str, calls: int) -> None:
    upgrade_to_head(url)
    engine = make_engine(url)
    try:
        for size in sizes:
            sweep_id = f"bench-{size}-{shape}"
            report = load_sweep(engine, sweep_id, size, rungs, shape=shape)
            print(
                f"\n== {size:,} trials x {rungs} rungs ({shape}): loaded {report.trials:,} trials, "
                f"{report.rung_rows:,} rung results, {report.checkpoint_rows:,} checkpoints "
                f"in {report.seconds:.1f} s"
            )
            cases: list[tuple[str, dict[str, Any]]] = [
                ("leaderboard limit=20", {}),
                ("leaderboard limit=20 offset=100", {"offset": 100}),
                ("leaderboard rung=0 limit=20 (with COUNT)", {"rung": 0}),
                ("leaderboard rung=0 limit=20 with_total=False", {"rung": 0, "with_total": False}),
                ("leaderboard status=failed (with COUNT)", {"status": TrialStatus.FAILED}),
                (
                    "leaderboard status=failed,cancelled (COUNT)",
                    {"status": [TrialStatus.FAILED, TrialStatus.CANCELLED]},
                ),
            ]
            for label, filters in cases:
                print(
                    f"  {label:<46} {time_calls(leaderboard_call(engine, sweep_id, **filters), calls)}"
                )
            plan = explain(engine, sweep_id)
            if plan:
                print("  plan of the leaderboard query:")
                print("\n".join(f"    {line}" for line in plan.splitlines()))
        mirror_size = min(max(sizes), 1000)
        print(f"\n== mirror_sweep on a {mirror_size:,}-trial sweep, 1 trial changed")
        for partial, label in (
            (True, "only the changed trial sent"),
            (False, "whole snapshot sent"),
        ):
            mirror = mirror_call(engine, f"bench-mirror-{partial}", mirror_size, partial=partial)
            print(f"  {label:<46} {time_calls(mirror, min(calls, 100), warmup=5)}")
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="results index database (default: a throwaway Postgres DB)")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--trials", type=int, nargs="+", default=[100_000, 1_000])
    parser.add_argument("--rungs", type=int, default=4)
    parser.add_argument("--shape", choices=["full", "halving"], default="full")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    if args.url:
        run(args.url, args.trials, args.rungs, args.shape, args.calls)
        return
    with throwaway_postgres(args.admin_url) as url:
        run(url, args.trials, args.rungs, args.shape, args.calls)


if __name__ == "__main__":
    main()
