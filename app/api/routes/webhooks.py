"""Webhook endpoints (global: every sweep's events), their secrets, and the delivery log.

Endpoints named in a SweepRequest are made by POST /sweeps; they are listed with the sweep's
deliveries and can be rotated or deleted here like global ones."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.auth import Admin, Caller, OwnedSweepId, VisibleEndpointId
from app.api.deps import AppSettings, Gateway, IndexSession
from app.api.errors import Conflict, NotFound, responses
from app.api.params import DeliveryId
from app.db import session_scope
from app.db import webhooks as repo
from app.db.repository import require_sweep
from app.domain.webhook_targets import (
    MAX_URL_LENGTH,
    SWEEP_END_EVENTS,
    WebhookEventType,
    check_webhook_url,
)
from app.webhooks.registry import WebhookRegistry

router = APIRouter(tags=["webhooks"])


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1, max_length=MAX_URL_LENGTH, examples=["https://ci.example.com/hooks"]
    )
    events: list[WebhookEventType] = Field(
        default_factory=lambda: list(SWEEP_END_EVENTS), min_length=1
    )
    description: str | None = Field(default=None, max_length=200)

    _url = field_validator("url")(check_webhook_url)


class EndpointCreated(repo.EndpointRow):
    secret: str = Field(description="whsec_... signing secret: shown this once, store it.")


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new whsec_... secret: shown this once.")
    previous_secret_valid_until: datetime | None = Field(
        description="Until then, messages are signed with both secrets."
    )


class RedeliveryStarted(BaseModel):
    delivery_id: str
    dispatch_id: str = Field(description="The WebhookDispatchWorkflow sending it again.")


def registry(request: Request) -> WebhookRegistry:
    found: WebhookRegistry = request.app.state.webhooks
    return found


@router.post(
    "/webhooks",
    response_model=EndpointCreated,
    status_code=status.HTTP_201_CREATED,
    responses=responses(403, 422, 503),
)
async def create_webhook(body: EndpointCreate, request: Request, _: Admin) -> EndpointCreated:
    """Register an endpoint for every sweep's events (whoever made the sweep, so this needs
    an admin token: 403 otherwise). The URL must be http(s) and its host must resolve to
    public addresses only (422 otherwise). The secret is shown once."""
    registered = await registry(request).register(body.url, list(body.events), body.description)
    assert registered.secret is not None
    return EndpointCreated(**registered.endpoint.model_dump(), secret=registered.secret)


@router.get("/webhooks", response_model=list[repo.EndpointRow], responses=responses(403, 503))
def list_webhooks(session: IndexSession, _: Admin) -> list[repo.EndpointRow]:
    """Global endpoints (secrets are never shown again); admin tokens only."""
    return repo.list_endpoints(session)


@router.get(
    "/webhooks/{endpoint_id}", response_model=repo.EndpointRow, responses=responses(404, 503)
)
def get_webhook(endpoint_id: VisibleEndpointId, session: IndexSession) -> repo.EndpointRow:
    endpoint = repo.get_endpoint(session, endpoint_id)
    if endpoint is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    return endpoint


@router.delete(
    "/webhooks/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT, responses=responses(404, 503)
)
def delete_webhook(endpoint_id: VisibleEndpointId, session: IndexSession) -> Response:
    """Stop sending to it (pending retries stop at their next attempt); its delivery log stays."""
    if not repo.set_endpoint_status(session, endpoint_id, "deleted", "deleted through the API"):
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/webhooks/{endpoint_id}/enable", response_model=repo.EndpointRow, responses=responses(404, 503)
)
def enable_webhook(endpoint_id: VisibleEndpointId, session: IndexSession) -> repo.EndpointRow:
    """Send to it again after it was disabled (a 410 Gone answer disables an endpoint)."""
    if not repo.set_endpoint_status(session, endpoint_id, "active", None):
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    endpoint = repo.get_endpoint(session, endpoint_id)
    assert endpoint is not None
    return endpoint


@router.post(
    "/webhooks/{endpoint_id}/rotate-secret",
    response_model=SecretRotated,
    responses=responses(404, 503),
)
async def rotate_webhook_secret(
    endpoint_id: VisibleEndpointId, request: Request, settings: AppSettings
) -> SecretRotated:
    """A new secret, shown once; the old one also signs for SWEEPS_WEBHOOK_SECRET_GRACE_SECONDS
    (24 h by default), so receivers can switch without losing a message."""
    rotated = await registry(request).rotate(endpoint_id, settings.webhook_secret_grace_seconds)
    if rotated is None:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    secret, until = rotated
    return SecretRotated(id=endpoint_id, secret=secret, previous_secret_valid_until=until)


@router.get(
    "/sweeps/{sweep_id}/webhook-deliveries",
    response_model=list[repo.DeliveryDetail],
    responses=responses(404, 503),
)
def list_deliveries(
    sweep_id: OwnedSweepId, session: IndexSession, caller: Caller
) -> list[repo.DeliveryDetail]:
    """Every delivery of the sweep's events, each with every attempt: status code, duration,
    the start of the response, the error. Deliveries to global endpoints (an admin's) are
    listed for admin tokens only: their URLs and answers are not the sweep owner's to read."""
    deliveries = repo.list_deliveries(session, sweep_id, with_global=caller.admin)
    if not deliveries:
        require_sweep(session, sweep_id)  # 404 for an unknown sweep, [] for a quiet one
    return deliveries


@router.post(
    "/sweeps/{sweep_id}/webhook-deliveries/{delivery_id}/redeliver",
    response_model=RedeliveryStarted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=responses(404, 409, 503),
)
async def redeliver(
    sweep_id: OwnedSweepId,
    delivery_id: DeliveryId,
    request: Request,
    gateway: Gateway,
    caller: Caller,
) -> RedeliveryStarted:
    """Send the delivery again: same webhook-id and body, a fresh timestamp and signature,
    with the usual retry schedule. The new attempts join its log. A delivery to a global
    endpoint is an admin's to resend (404 for other tokens, as it is not listed for them)."""
    engine = request.app.state.engine

    def reopen() -> None:
        with session_scope(engine) as session:
            delivery = repo.get_delivery(session, sweep_id, delivery_id, with_global=caller.admin)
            if delivery is None:
                raise NotFound(f"sweep {sweep_id!r} has no webhook delivery {delivery_id!r}")
            target = repo.delivery_target(session, delivery_id)
            assert target is not None
            if target.endpoint.status != "active":
                raise Conflict(
                    f"endpoint {target.endpoint.id} is {target.endpoint.status}: enable it first"
                )
            repo.set_delivery_state(session, delivery_id, "pending")

    await asyncio.to_thread(reopen)
    dispatch_id = await gateway.redeliver(sweep_id, delivery_id)
    return RedeliveryStarted(delivery_id=delivery_id, dispatch_id=dispatch_id)
