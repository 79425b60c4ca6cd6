"""Two retries of one POST /sweeps (same Idempotency-Key, same body with webhooks) that arrive
at once: both answer with the one sweep, as sequential retries do, on either index backend."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from app.api import create_app
from app.db import session_scope, webhooks
from tests.api.conftest import serve, settings_for
from tests.api.test_sweeps_api import sweep_body, wait_until_ended
from tests.workflows.fakes import FakeTraining, workers

HOOKS = [{"url": "http://127.0.0.1:9/a"}, {"url": "http://127.0.0.1:9/b"}]


async def test_concurrent_retries_with_webhooks_answer_one_sweep(
    dev_client: WorkflowEnvironment, index_url: str, tmp_path: Path
) -> None:
    settings = settings_for(tmp_path, database_url=index_url, webhook_allowed_hosts="127.0.0.1")
    app = create_app(settings, temporal=dev_client.client)
    async with workers(dev_client, FakeTraining(step_seconds=0.02)), serve(app) as api:
        for _ in range(3):  # a race: tried a few times
            body = sweep_body(trials=2, webhooks=HOOKS)
            key = {"Idempotency-Key": uuid.uuid4().hex}
            answers = await asyncio.gather(
                *(api.post("/sweeps", json=body, headers=key) for _ in range(2))
            )
            assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
            (sweep_id,) = {a.json()["sweep_id"] for a in answers}
            with session_scope(app.state.engine) as session:
                made = webhooks.list_endpoints(session, sweep_id=sweep_id)
            assert len(made) == 2
            # The endpoints' secrets are shown once, in whichever answer made them.
            shown = [w["secret"] for a in answers for w in a.json()["webhooks"] if w["secret"]]
            assert len(shown) == 2
            await wait_until_ended(api, sweep_id)
