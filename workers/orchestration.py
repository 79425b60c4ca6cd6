"""Orchestration worker on bert-eval-task-queue: every workflow plus light activities.

Runs on any CPU box: it never imports torch, transformers or datasets.
    uv run python -m workers.orchestration
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from datetime import timedelta
from typing import Any

from temporalio.worker import Worker

from app.db import make_engine
from app.db.migrate import upgrade_to_head
from app.logging import configure_logging
from app.settings import Settings
from app.temporal import contract
from app.temporal.client import connect
from app.webhooks.wiring import address_policy, secrets_box
from workers.activities.mirror import MirrorActivities
from workers.activities.search import propose_configs
from workers.activities.webhooks import WebhookActivities, WebhookLinks
from workers.runtime import run_until_signalled
from workers.telemetry import start_telemetry
from workers.workflows import ALL_WORKFLOWS

log = logging.getLogger("workers.orchestration")


async def run_worker(settings: Settings) -> None:
    client = await connect(settings, wait_seconds=60)
    engine = make_engine(settings.resolved_database_url)
    if settings.auto_migrate:
        await asyncio.to_thread(upgrade_to_head, settings.resolved_database_url)
    mirror = MirrorActivities(engine)
    webhooks = WebhookActivities(
        engine,
        secrets_box(settings),
        address_policy(settings),
        request_timeout=settings.webhook_timeout_seconds,
        links=WebhookLinks(
            public_api_url=settings.public_api_url,
            temporal_ui_url=settings.temporal_ui_url,
            namespace=settings.temporal_namespace,
        ),
    )
    if settings.webhook_allow_list:
        log.warning(
            "webhooks may reach these hosts although they are not public: %s",
            ", ".join(settings.webhook_allow_list),
        )
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        worker = Worker(
            client,
            activities=[propose_configs, mirror.mirror_results, *webhooks.all()],
            activity_executor=pool,
            **worker_options(),
        )
        log.info("orchestration worker started on %s", contract.ORCHESTRATION_TASK_QUEUE)
        await run_until_signalled(worker)


def worker_options() -> dict[str, Any]:
    """How the orchestration worker polls: every workflow, on the CPU queue."""
    return {
        "task_queue": contract.ORCHESTRATION_TASK_QUEUE,
        "workflows": ALL_WORKFLOWS,
        "graceful_shutdown_timeout": timedelta(seconds=10),
    }


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    start_telemetry(settings)
    asyncio.run(run_worker(settings))


if __name__ == "__main__":
    main()
