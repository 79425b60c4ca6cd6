"""Training worker on bert-training-task-queue: dataset snapshots, fine-tuning, evaluation.

    uv run python -m workers.training

One trial per device at a time. On a machine with several GPUs this process starts one
worker process per GPU (each sees only its own device through CUDA_VISIBLE_DEVICES), so a
trial never shares a device and a crash takes down one device's work only.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

from temporalio.worker import Worker

from app.logging import configure_logging
from app.settings import Settings, offset_metrics_ports
from app.temporal import contract
from app.temporal.client import connect
from workers.runtime import run_until_signalled
from workers.telemetry import start_telemetry

log = logging.getLogger("workers.training")


async def run_worker(settings: Settings, concurrency: int) -> None:
    # Imported here: loading torch takes seconds, and `--help` or the device fan-out should not.
    from workers.activities.training_queue import TrainingActivities

    client = await connect(settings, wait_seconds=60)
    activities = TrainingActivities(
        loop=asyncio.get_running_loop(), client=client, scratch_dir=settings.scratch
    )
    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency + 2) as pool:
        worker = Worker(
            client,
            activities=activities.all(),
            activity_executor=pool,
            **worker_options(concurrency),
        )
        log.info("training worker started with %d slot(s)", concurrency)
        await run_until_signalled(worker)


def worker_options(concurrency: int) -> dict[str, Any]:
    """How a training worker polls: the GPU queue, ``concurrency`` trials at once."""
    return {
        "task_queue": contract.TRAINING_TASK_QUEUE,
        "max_concurrent_activities": concurrency,
        "graceful_shutdown_timeout": timedelta(seconds=20),
        "max_heartbeat_throttle_interval": contract.HEARTBEAT_THROTTLE,
        "default_heartbeat_throttle_interval": contract.HEARTBEAT_THROTTLE,
    }


def device_environment(device: int) -> dict[str, str]:
    """What the fan-out adds to the environment of the worker process for one GPU."""
    return {"CUDA_VISIBLE_DEVICES": str(device), "SWEEPS_TRAINING_CONCURRENCY": "1"}


def _visible_gpus() -> int:
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def _fan_out(settings: Settings, gpus: int) -> int:
    """Start one single-device worker per GPU and wait for them; returns the worst exit code.
    Device i's worker serves its metrics on the configured ports + i."""
    children = []
    for device in range(gpus):
        env = {
            **offset_metrics_ports(dict(os.environ), settings, device),
            **device_environment(device),
        }
        children.append(subprocess.Popen([sys.executable, "-m", "workers.training"], env=env))
    try:
        return max(child.wait() for child in children)
    except KeyboardInterrupt:
        for child in children:
            child.terminate()
        return max(child.wait() for child in children)


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    concurrency = settings.training_concurrency
    if concurrency == 0:
        gpus = _visible_gpus()
        if gpus > 1:
            sys.exit(_fan_out(settings, gpus))
        concurrency = 1
    start_telemetry(settings)
    asyncio.run(run_worker(settings, concurrency))


if __name__ == "__main__":
    main()
