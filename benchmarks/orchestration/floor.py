"""The floor of orchestration cost: bare Temporal workflows running the benchmark's sleeps.

One workflow runs ``trials`` sleeps of ``seconds`` each, at most ``concurrency`` at once
(an asyncio semaphore), either as plain activities or as one child workflow per trial (the
child runs the activity). Nothing else: no state, no proposals, no index, no API. Whatever
this product costs beyond it is the price of what it does around a trial.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

QUEUE = "bench-floor"


class FanOut(BaseModel):
    trials: int
    concurrency: int
    seconds: float
    children: bool


@activity.defn(name="bench_sleep")
async def bench_sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@workflow.defn(name="BenchTrial")
class BenchTrialWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> float:
        return await _sleep_activity(seconds)


@workflow.defn(name="BenchFanOut")
class BenchFanOutWorkflow:
    @workflow.run
    async def run(self, inp: FanOut) -> int:
        slots = asyncio.Semaphore(inp.concurrency)

        async def one(index: int) -> None:
            async with slots:
                if inp.children:
                    await workflow.execute_child_workflow(
                        BenchTrialWorkflow.run,
                        inp.seconds,
                        id=f"{workflow.info().workflow_id}.{index}",
                    )
                else:
                    await _sleep_activity(inp.seconds)

        await asyncio.gather(*(one(i) for i in range(inp.trials)))
        return inp.trials


async def _sleep_activity(seconds: float) -> float:
    return await workflow.execute_activity(
        bench_sleep, seconds, start_to_close_timeout=timedelta(seconds=seconds + 60)
    )


@dataclass(frozen=True)
class FloorRun:
    wall: float
    worker_cpu: float  # this process: the worker (workflows and activities) and the client


async def run_floor(address: str, inp: FanOut) -> FloorRun:
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    worker = Worker(
        client,
        task_queue=QUEUE,
        workflows=[BenchFanOutWorkflow, BenchTrialWorkflow],
        activities=[bench_sleep],
        max_concurrent_activities=256,
        max_concurrent_workflow_tasks=256,
    )
    async with worker:
        cpu, started = time.process_time(), time.monotonic()
        await client.execute_workflow(
            BenchFanOutWorkflow.run, inp, id=f"floor-{uuid.uuid4().hex[:8]}", task_queue=QUEUE
        )
        return FloorRun(wall=time.monotonic() - started, worker_cpu=time.process_time() - cpu)
