"""End to end: the embedded stack (real dev server, both real workers, the API as a process)
runs a real tiny-BERT sweep whose request names a webhook; a real receiver started here gets
exactly one signed sweep.completed, verified with the standardwebhooks library."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from app.cli.embedded import EmbeddedStack
from app.presets import preset
from tests.webhooks.receiver import receiver

# On the shared stack (tests/e2e/conftest.py, tests/scheduling.py), whose children allow
# webhooks to 127.0.0.1.
pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_real_sweep_sends_one_signed_sweep_completed(stack: EmbeddedStack) -> None:
    request = preset("tiny", seed=0).model_dump(mode="json")
    request["name"] = "hooks-live"
    with receiver() as hook, httpx.Client(base_url=stack.api_url, timeout=30) as api:
        request["webhooks"] = [{"url": hook.url}]
        api.headers.update(stack.auth_headers())
        created = api.post("/sweeps", json=request)
        assert created.status_code == 201, created.text
        sweep_id = created.json()["sweep_id"]
        secret = created.json()["webhooks"][0]["secret"]
        view = wait_until_ended(api, stack, sweep_id)
        (received,) = asyncio.run(hook.wait_for(1, timeout=60))
        log = wait_for_delivered(api, sweep_id)
        time.sleep(2)  # and nothing more arrives
        assert len(hook.requests) == 1

    assert view["status"] == "completed"
    event = Webhook(secret).verify(received.body, received.headers)
    assert event["type"] == "sweep.completed"
    data = event["data"]
    assert data["sweep_id"] == sweep_id and data["name"] == "hooks-live"
    assert data["best"]["trial_id"] == view["best"]["trial_id"]
    assert Path(data["best"]["checkpoint"]["path"]).is_dir()  # a real checkpoint on disk
    assert data["counts"] == {
        "trials": 4, "completed": 2, "pruned": 2, "failed": 0, "cancelled": 0,
        "rungs_done": 2, "rungs_total": 2,
    }  # fmt: skip
    assert received.headers["webhook-id"] == log["id"]
    assert [a["status_code"] for a in log["attempts"]] == [200]


def wait_until_ended(api: httpx.Client, stack: EmbeddedStack, sweep_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        stack.check_alive()
        view: dict[str, Any] = api.get(f"/sweeps/{sweep_id}").json()
        if view["status"] not in ("running", "paused"):
            return view
        time.sleep(1)
    raise AssertionError(f"sweep {sweep_id} did not end in time")


def wait_for_delivered(api: httpx.Client, sweep_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        response = api.get(f"/sweeps/{sweep_id}/webhook-deliveries")
        if response.status_code == 200 and response.json():
            (log,) = response.json()
            if log["state"] == "delivered":
                return log  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, response.text
        time.sleep(0.5)
