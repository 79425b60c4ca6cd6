"""Where a slot's time goes between two trials: phase latencies read from workflow histories.

    uv run python -m benchmarks.orchestration.slot_phases [--trials 300] [--concurrency 16]

Runs this service's sweep of 1-s sleeping trials and the plain-activity floor on one embedded
stack (as ``benchmarks.orchestration.orchestration`` does), then reads both workflows' histories and prints,
per phase, the median, mean and 90th percentile in milliseconds: a workflow task waiting for
the worker and being processed, and each kind of activity waiting to be started and running.
It explains ``benchmarks.orchestration.orchestration``'s figures; it records nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from app.cli.embedded import EmbeddedStack
from benchmarks.orchestration.orchestration import describe, run_bare, run_service, service_stack

Phases = dict[str, list[float]]


async def phases(address: str, workflow_type: str) -> Phases:
    """Phase durations (ms) of the newest workflow of ``workflow_type`` on the server."""
    client = await Client.connect(address)
    listed = client.list_workflows(f"WorkflowType='{workflow_type}'")  # newest first
    newest = await anext(listed, None)
    if newest is None:
        raise RuntimeError(f"no {workflow_type} workflow on the server")
    found: Phases = defaultdict(list)
    scheduled: dict[int, tuple[str, float]] = {}  # activity's scheduled event -> (name, time)
    started: dict[int, float] = {}
    task_scheduled = task_started = 0.0
    async for event in client.get_workflow_handle(newest.id).fetch_history_events():
        at = event.event_time.ToDatetime().timestamp() * 1000
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_scheduled = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            found["workflow task: waits for the worker"].append(at - task_scheduled)
            task_started = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            found["workflow task: processed"].append(at - task_started)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[event.event_id] = (name, at)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            origin = event.activity_task_started_event_attributes.scheduled_event_id
            name, when = scheduled[origin]
            found[f"{name}: scheduled to started"].append(at - when)
            started[origin] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            origin = event.activity_task_completed_event_attributes.scheduled_event_id
            found[f"{scheduled[origin][0]}: runs"].append(at - started[origin])
    return found


def table(system: str, found: Phases) -> list[str]:
    lines = [f"| {system} | phase | n | median ms | mean ms | p90 ms |"]
    lines.append("|---|---|---:|---:|---:|---:|")
    for phase, values in found.items():
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        cells = (statistics.median(values), statistics.fmean(values), p90)
        lines.append(
            f"| | {phase} | {len(values)} | " + " | ".join(f"{v:.1f}" for v in cells) + " |"
        )
    return lines


def measure(stack: EmbeddedStack, trials: int, concurrency: int) -> list[str]:
    run_service(stack, concurrency, 1.0, concurrency)  # warm-up, as the benchmark does
    service = run_service(stack, trials, 1.0, concurrency)
    floor = run_bare(stack, trials, 1.0, concurrency, children=False)
    lines = [f"- {describe(service)}", f"- {describe(floor)}", ""]
    for system, workflow_type in (
        ("this service", "LadderSweepWorkflow"),
        ("bare Temporal, activities", "BenchFanOut"),
    ):
        lines += [*table(system, asyncio.run(phases(stack.address, workflow_type))), ""]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    os.environ["SWEEPS_RATE_LIMIT_PER_MINUTE"] = "0"
    with (
        tempfile.TemporaryDirectory() as state,
        service_stack(Path(state)) as stack,
    ):
        print("\n".join(measure(stack, args.trials, args.concurrency)))


if __name__ == "__main__":
    main()
