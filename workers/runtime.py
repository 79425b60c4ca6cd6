"""Running a Temporal worker until SIGINT/SIGTERM, then shutting it down gracefully."""

from __future__ import annotations

import asyncio
import signal

from temporalio.worker import Worker


async def run_until_signalled(worker: Worker) -> None:
    """Run ``worker``; on SIGINT or SIGTERM stop polling and let running tasks finish.

    Activities still running when the graceful timeout ends are cancelled; training
    activities resume from their last checkpoint when retried elsewhere.
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = asyncio.create_task(worker.run())
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if runner not in done:
        await worker.shutdown()
    stopper.cancel()
    await runner
