"""Webhooks end to end through the API: real receivers over HTTP, the real dev server, the
real delivery activities and delivery log; training is faked (tests/e2e trains for real)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from tests.api.test_sweeps_api import sweep_body, wait_until_ended
from tests.webhooks.conftest import FixedDns
from tests.webhooks.receiver import Received, receiver


def verified(secret: str, request: Received) -> dict[str, Any]:
    """The body, if its signature verifies with the standardwebhooks library."""
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


async def deliveries(api: httpx.AsyncClient, sweep_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/sweeps/{sweep_id}/webhook-deliveries")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def settled(
    api: httpx.AsyncClient, sweep_id: str, count: int = 1, timeout: float = 20
) -> list[dict[str, Any]]:
    """The delivery log once ``count`` deliveries have left the pending state."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        log = await deliveries(api, sweep_id)
        if len(log) >= count and all(d["state"] != "pending" for d in log):
            return log
        assert asyncio.get_running_loop().time() < deadline, f"still pending: {log}"
        await asyncio.sleep(0.1)


async def start_sweep(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await api.post("/sweeps", json=sweep_body(trials=2, **body))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_finished_sweep_sends_one_signed_sweep_completed(webhook_stack: Any) -> None:
    with receiver() as hook:
        async with webhook_stack() as stack:
            created = await start_sweep(stack.api, webhooks=[{"url": hook.url}])
            (endpoint,) = created["webhooks"]
            assert endpoint["secret"].startswith("whsec_")
            assert endpoint["events"] == ["sweep.completed", "sweep.failed", "sweep.cancelled"]
            sweep_id = created["sweep_id"]
            view = await wait_until_ended(stack.api, sweep_id)
            assert view["status"] == "completed"
            (request,) = await hook.wait_for(1)
            (log,) = await settled(stack.api, sweep_id)
            await asyncio.sleep(1.0)  # nothing else arrives
        assert len(hook.requests) == 1

    event = verified(endpoint["secret"], request)
    assert event["type"] == "sweep.completed"
    data = event["data"]
    assert data["sweep_id"] == sweep_id and data["status"] == "completed"
    assert data["best"]["trial_id"] == view["best"]["trial_id"]
    assert set(data["best"]["params"]) == {"learning_rate"}
    assert data["best"]["metrics"]["accuracy"] > 0 and data["best"]["checkpoint"]["path"]
    assert data["leaderboard"][0]["trial_id"] == data["best"]["trial_id"]
    assert data["counts"]["trials"] == 2 and data["counts"]["completed"] == 2
    assert data["timings"]["ended_at"] and data["timings"]["duration_seconds"] >= 0
    assert data["links"]["leaderboard"] == f"/sweeps/{sweep_id}/leaderboard"
    assert request.headers["webhook-id"] == log["id"]
    assert log["state"] == "delivered" and log["url"] == hook.url
    assert [a["status_code"] for a in log["attempts"]] == [200]
    assert log["attempts"][0]["peer"] == "127.0.0.1"
    assert log["attempts"][0]["response_excerpt"] == '{"answer": 200}'


async def test_500_500_200_is_three_attempts_with_one_webhook_id(webhook_stack: Any) -> None:
    with receiver(script=[500, 500, 200]) as hook:
        async with webhook_stack() as stack:
            created = await start_sweep(stack.api, webhooks=[{"url": hook.url}])
            sweep_id = created["sweep_id"]
            await wait_until_ended(stack.api, sweep_id)
            requests = await hook.wait_for(3)
            (log,) = await settled(stack.api, sweep_id)
    secret = created["webhooks"][0]["secret"]
    assert len({r.headers["webhook-id"] for r in requests}) == 1
    assert all(verified(secret, r)["type"] == "sweep.completed" for r in requests)
    assert len({r.body for r in requests}) == 1  # byte for byte the same body
    assert log["state"] == "delivered" and log["attempt_count"] == 3
    attempts = log["attempts"]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert [a["status_code"] for a in attempts] == [500, 500, 200]
    assert [a["verdict"] for a in attempts] == ["retry", "retry", "delivered"]
    assert all(a["duration_ms"] >= 0 for a in attempts)


async def test_410_disables_the_endpoint(webhook_stack: Any) -> None:
    with receiver(script=[410]) as hook:
        async with webhook_stack() as stack:
            registered = await stack.api.post("/webhooks", json={"url": hook.url})
            assert registered.status_code == 201, registered.text
            endpoint_id = registered.json()["id"]
            first = (await start_sweep(stack.api))["sweep_id"]
            await wait_until_ended(stack.api, first)
            (log,) = await settled(stack.api, first)
            endpoint = (await stack.api.get(f"/webhooks/{endpoint_id}")).json()
            # Disabled: the next sweep's end is not sent to it.
            second = (await start_sweep(stack.api))["sweep_id"]
            await wait_until_ended(stack.api, second)
            await asyncio.sleep(1.0)
            later = await deliveries(stack.api, second)
    assert [a["status_code"] for a in log["attempts"]] == [410]
    assert log["state"] == "failed" and log["attempts"][0]["verdict"] == "gone"
    assert endpoint["status"] == "disabled" and "410" in endpoint["status_reason"]
    assert len(hook.requests) == 1 and later == []


async def test_400_is_not_retried(webhook_stack: Any) -> None:
    with receiver(script=[400, 200, 200]) as hook:
        async with webhook_stack() as stack:
            created = await start_sweep(stack.api, webhooks=[{"url": hook.url}])
            sweep_id = created["sweep_id"]
            await wait_until_ended(stack.api, sweep_id)
            (log,) = await settled(stack.api, sweep_id)
            await asyncio.sleep(1.5)  # several retry intervals of the test schedule
            (log,) = await deliveries(stack.api, sweep_id)
    assert len(hook.requests) == 1
    assert log["state"] == "failed" and log["attempt_count"] == 1
    assert log["attempts"][0]["verdict"] == "failed"


async def test_cancelled_sweep_sends_sweep_cancelled(webhook_stack: Any) -> None:
    with receiver() as hook:
        async with webhook_stack(step_seconds=30) as stack:
            created = await start_sweep(stack.api, webhooks=[{"url": hook.url}])
            sweep_id = created["sweep_id"]
            await asyncio.sleep(1.0)  # trials are training
            assert (await stack.api.post(f"/sweeps/{sweep_id}/cancel")).status_code == 202
            (request,) = await hook.wait_for(1)
            (log,) = await settled(stack.api, sweep_id)
    event = verified(created["webhooks"][0]["secret"], request)
    assert event["type"] == "sweep.cancelled" and event["data"]["status"] == "cancelled"
    assert log["event_type"] == "sweep.cancelled" and log["state"] == "delivered"


async def test_redeliver_and_rotated_secret(webhook_stack: Any) -> None:
    with receiver() as hook:
        async with webhook_stack() as stack:
            registered = (await stack.api.post("/webhooks", json={"url": hook.url})).json()
            sweep_id = (await start_sweep(stack.api))["sweep_id"]
            await wait_until_ended(stack.api, sweep_id)
            (first,) = await hook.wait_for(1)
            (log,) = await settled(stack.api, sweep_id)

            rotated = await stack.api.post(f"/webhooks/{registered['id']}/rotate-secret")
            assert rotated.status_code == 200, rotated.text
            again = await stack.api.post(
                f"/sweeps/{sweep_id}/webhook-deliveries/{log['id']}/redeliver"
            )
            assert again.status_code == 202, again.text
            second = (await hook.wait_for(2))[1]
            (log,) = await settled(stack.api, sweep_id)
            unknown = await stack.api.post(
                f"/sweeps/{sweep_id}/webhook-deliveries/msg_{'0' * 32}/redeliver"
            )
    assert unknown.status_code == 404
    assert second.headers["webhook-id"] == first.headers["webhook-id"] == log["id"]
    assert json.loads(second.body) == json.loads(first.body)
    # During the grace period both the new and the previous secret verify.
    assert verified(rotated.json()["secret"], second)["type"] == "sweep.completed"
    assert verified(registered["secret"], second)["type"] == "sweep.completed"
    assert len(second.headers["webhook-signature"].split(" ")) == 2
    assert [a["number"] for a in log["attempts"]] == [1, 2] and log["state"] == "delivered"


async def test_delivery_refused_when_the_address_changed(webhook_stack: Any) -> None:
    """DNS rebinding: public when registered, private when the webhook is sent."""
    api_dns = FixedDns({"hooks.example.com": ["93.184.215.14"]})
    worker_dns = FixedDns({"hooks.example.com": ["10.0.0.7"]})
    async with webhook_stack(allow="", api_resolver=api_dns, worker_resolver=worker_dns) as stack:
        created = await start_sweep(stack.api, webhooks=[{"url": "http://hooks.example.com/hook"}])
        sweep_id = created["sweep_id"]
        await wait_until_ended(stack.api, sweep_id)
        (log,) = await settled(stack.api, sweep_id)
    (attempt,) = log["attempts"]
    assert attempt["verdict"] == "refused" and attempt["status_code"] is None
    assert "10.0.0.7" in attempt["error"] and "private" in attempt["error"]
    assert log["state"] == "failed"
