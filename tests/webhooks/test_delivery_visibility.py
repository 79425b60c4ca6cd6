"""Deliveries to global endpoints (an admin's) are not the sweep owner's to read or resend:
a non-admin sees only deliveries to the endpoints their sweep's request named."""

from __future__ import annotations

from typing import Any

from app.db import session_scope
from app.db.access import create_token
from tests.api.conftest import bearer
from tests.api.test_sweeps_api import sweep_body, wait_until_ended
from tests.webhooks.receiver import receiver
from tests.webhooks.test_webhook_delivery import settled


async def test_a_non_admin_sees_and_resends_only_their_own_endpoints(webhook_stack: Any) -> None:
    with receiver() as admins_hook, receiver() as alices_hook:
        async with webhook_stack() as stack:
            with session_scope(stack.engine) as session:
                _, token = create_token(session, "alice", admin=False)
            alice = bearer(token)
            registered = await stack.api.post("/webhooks", json={"url": admins_hook.url})
            assert registered.status_code == 201, registered.text
            body = sweep_body(trials=2, webhooks=[{"url": alices_hook.url}])
            created = await stack.api.post("/sweeps", json=body, headers=alice)
            assert created.status_code == 201, created.text
            sweep_id = created.json()["sweep_id"]
            await wait_until_ended(stack.api, sweep_id)
            every = await settled(stack.api, sweep_id, count=2)  # the admin's view
            seen = await stack.api.get(f"/sweeps/{sweep_id}/webhook-deliveries", headers=alice)
            by_url = {d["url"]: d for d in every}
            global_id = by_url[admins_hook.url]["id"]
            own_id = by_url[alices_hook.url]["id"]
            resend = f"/sweeps/{sweep_id}/webhook-deliveries/{{}}/redeliver"
            refused = await stack.api.post(resend.format(global_id), headers=alice)
            allowed = await stack.api.post(resend.format(own_id), headers=alice)
            await alices_hook.wait_for(2)
    assert seen.status_code == 200, seen.text
    assert [d["id"] for d in seen.json()] == [own_id]
    assert admins_hook.url not in seen.text
    assert refused.status_code == 404, refused.text
    assert admins_hook.url not in refused.text
    assert allowed.status_code == 202, allowed.text
    assert len(admins_hook.requests) == 1  # never sent again on alice's word
