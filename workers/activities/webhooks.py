"""Webhook activities (orchestration queue): look up subscriptions, prepare one delivery per
endpoint, make one signed attempt, and mark a delivery failed after the retries ran out.

Every attempt is recorded in the index database before the activity returns or raises, so
the delivery log shows attempts that Temporal's retries make invisible elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.db import session_scope
from app.db import webhooks as repo
from app.domain.webhook_targets import PROGRESS_EVENTS
from app.domain.webhooks import (
    DeliverInput,
    DeliveryReport,
    DeliveryState,
    FinishDeliveryInput,
    PrepareDeliveriesInput,
)
from app.temporal import contract
from app.webhooks.address_policy import AddressPolicy
from app.webhooks.payload import body_of, finalise
from app.webhooks.secret_box import SecretBox
from app.webhooks.sender import AttemptResult, Verdict, send
from app.webhooks.signing import signature_headers
from workers.activities.metrics import WEBHOOK_ATTEMPT_SECONDS, WEBHOOK_ATTEMPTS, WEBHOOK_GIVEN_UP

log = logging.getLogger(__name__)

_STATE_AFTER: dict[Verdict, DeliveryState] = {
    "delivered": "delivered",
    "retry": "pending",
    "failed": "failed",
    "gone": "failed",
    "refused": "failed",
}


@dataclass(frozen=True)
class WebhookLinks:
    public_api_url: str | None = None
    temporal_ui_url: str | None = None
    namespace: str = "default"


class WebhookActivities:
    """Bound to the worker's index engine, secret box and address policy (built in main)."""

    def __init__(
        self,
        engine: Engine,
        box: SecretBox,
        policy: AddressPolicy,
        *,
        request_timeout: float = 10.0,
        links: WebhookLinks | None = None,
    ) -> None:
        self._engine = engine
        self._box = box
        self._policy = policy
        self._timeout = request_timeout
        self._links = links or WebhookLinks()

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.webhook_subscriptions,
            self.prepare_webhook_deliveries,
            self.deliver_webhook,
            self.finish_webhook_delivery,
        ]

    @activity.defn(name=contract.WEBHOOK_SUBSCRIPTIONS)
    async def webhook_subscriptions(self, sweep_id: str) -> list[str]:
        """The progress events (trial.completed, rung.completed) some endpoint of this sweep
        wants: the sweep sends nothing it would only throw away."""

        def read() -> set[str]:
            with session_scope(self._engine) as session:
                return repo.subscribed_events(session, sweep_id)

        wanted = await asyncio.to_thread(read)
        return [event for event in PROGRESS_EVENTS if event in wanted]

    @activity.defn(name=contract.PREPARE_WEBHOOK_DELIVERIES)
    async def prepare_webhook_deliveries(self, inp: PrepareDeliveriesInput) -> list[str]:
        """One delivery per endpoint that wants the event; safe to retry (derived ids)."""
        payload = finalise(
            inp.event,
            public_api_url=self._links.public_api_url,
            temporal_ui_url=self._links.temporal_ui_url,
            namespace=self._links.namespace,
        )

        def write() -> list[str]:
            with session_scope(self._engine) as session:
                endpoints = repo.endpoints_for_event(session, inp.sweep_id, inp.event.type)
                return repo.create_deliveries(
                    session,
                    sweep_id=inp.sweep_id,
                    event_type=inp.event.type,
                    event_key=inp.event_key,
                    payload=payload,
                    endpoint_ids=[e.id for e in endpoints],
                )

        ids = await asyncio.to_thread(write)
        log.info(
            "webhook %s: %d deliveries",
            inp.event.type,
            len(ids),
            extra={"sweep_id": inp.sweep_id},
        )
        return ids

    @activity.defn(name=contract.DELIVER_WEBHOOK)
    async def deliver_webhook(self, inp: DeliverInput) -> DeliveryReport:
        """One signed POST. Returns for an outcome that is final; raises a retryable error
        (Temporal backs off and calls again, same webhook-id) for 408, 429, 5xx, timeouts."""
        target = await asyncio.to_thread(self._load, inp.delivery_id)
        if target is None:
            raise ApplicationError(
                f"no webhook delivery {inp.delivery_id}", type="NotFound", non_retryable=True
            )
        delivery, endpoint = target.delivery, target.endpoint
        if delivery.state == "delivered":  # a retried activity whose success was recorded
            return DeliveryReport(
                delivery_id=delivery.id, state="delivered", status_code=delivery.last_status_code
            )
        if endpoint.status != "active":
            detail = f"endpoint {endpoint.id} is {endpoint.status}: not sent"
            await asyncio.to_thread(self._set_state, delivery.id, "failed", detail)
            return DeliveryReport(delivery_id=delivery.id, state="failed", detail=detail)

        now = datetime.now(UTC)
        body = body_of(target.payload)
        headers = signature_headers(delivery.id, now, body, self._signing_secrets(target, now))
        result = await send(
            endpoint.url, body.encode(), headers, self._policy, timeout=self._timeout
        )
        WEBHOOK_ATTEMPTS.labels(result.verdict).inc()
        WEBHOOK_ATTEMPT_SECONDS.observe(result.duration_ms / 1000)
        state = _STATE_AFTER[result.verdict]
        number = await asyncio.to_thread(self._record, delivery.id, endpoint.id, now, result)
        log.info(
            "webhook attempt %d of %s: %s %s",
            number,
            delivery.id,
            result.verdict,
            result.status_code or result.error,
            extra={"sweep_id": delivery.sweep_id, "verdict": result.verdict},
        )
        if result.verdict == "retry":
            raise ApplicationError(
                f"attempt {number}: {result.error or f'HTTP {result.status_code}'}",
                type=contract.WEBHOOK_RETRY_ERROR,
            )
        return DeliveryReport(
            delivery_id=delivery.id,
            state=state,
            status_code=result.status_code,
            detail=result.error,
        )

    @activity.defn(name=contract.FINISH_WEBHOOK_DELIVERY)
    async def finish_webhook_delivery(self, inp: FinishDeliveryInput) -> None:
        await asyncio.to_thread(self._set_state, inp.delivery_id, "failed", inp.error)
        WEBHOOK_GIVEN_UP.inc()

    # ---- helpers (run in a thread: the database driver blocks) ------------------------------

    def _load(self, delivery_id: str) -> repo.DeliveryTarget | None:
        with session_scope(self._engine) as session:
            return repo.delivery_target(session, delivery_id)

    def _signing_secrets(self, target: repo.DeliveryTarget, now: datetime) -> list[str]:
        stored = target.secrets
        signing = [self._box.decrypt(stored.current)]
        expires = stored.previous_expires_at
        if stored.previous is not None and expires is not None and expires > now:
            signing.append(self._box.decrypt(stored.previous))
        return signing

    def _record(
        self, delivery_id: str, endpoint_id: str, started: datetime, result: AttemptResult
    ) -> int:
        with session_scope(self._engine) as session:
            number = repo.record_attempt(
                session,
                delivery_id,
                started_at=started,
                duration_ms=result.duration_ms,
                verdict=result.verdict,
                state=_STATE_AFTER[result.verdict],
                status_code=result.status_code,
                response_excerpt=result.response_excerpt,
                error=result.error,
                peer=result.peer,
            )
            if result.verdict == "gone":
                repo.set_endpoint_status(
                    session, endpoint_id, "disabled", "the receiver answered 410 Gone"
                )
            return number

    def _set_state(self, delivery_id: str, state: DeliveryState, error: str) -> None:
        with session_scope(self._engine) as session:
            repo.set_delivery_state(session, delivery_id, state, error)
