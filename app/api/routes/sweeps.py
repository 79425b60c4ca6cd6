"""Submitting sweeps and reading their live state (from their workflows)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request, Response, status
from sqlalchemy import Engine

from app.api.auth import Caller, OwnedSweepId
from app.api.deps import AppSettings, Gateway
from app.api.errors import ApiError, Conflict, LimitsExceeded, StartUnconfirmed, responses
from app.api.links import sweep_links
from app.api.schemas import SweepCreated, SweepView, SweepWebhook, TrialCounts
from app.db import session_scope
from app.db.access import claim_sweep, release_sweep
from app.domain import SweepRequest, SweepResult, SweepStatus, TrialStatus
from app.domain.limits import limit_violations
from app.domain.results import FINAL_TRIAL_STATUSES
from app.webhooks.registry import Registered, WebhookRegistry

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

# Shown in the docs, and tried by the schema fuzzer (a random body rarely passes the ladder's
# cross-field rules).
SWEEP_EXAMPLES: dict[str, Any] = {
    "tiny": {
        "summary": "A small random-init BERT on the bundled tweets (about a minute on a CPU)",
        "value": {
            "name": "tiny-demo",
            "model": {"source": "tiny-bert"},
            "dataset": {"source": "tweet-sentiment", "max_train_samples": 400},
            "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}},
            "ladder": {"unit": "steps", "trials": 4, "reduction_factor": 2,
                       "rungs": [{"budget": 10}, {"budget": 30}]},
            "max_concurrency": 2,
        },
    }
}  # fmt: skip


@router.post(
    "",
    response_model=SweepCreated,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": SweepCreated, "description": "Idempotency-Key matched: the existing sweep."},
        **responses(409, 422, 503),
    },
)
async def create_sweep(
    request: Annotated[SweepRequest, Body(openapi_examples=SWEEP_EXAMPLES)],
    response: Response,
    gateway: Gateway,
    settings: AppSettings,
    http: Request,
    caller: Caller,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=200,
            description="Retry-safe submission: the same key and body return the same sweep.",
        ),
    ] = None,
) -> SweepCreated:
    """Validate a SweepRequest and start its workflow (LadderSweepWorkflow, or SweepWorkflow
    for the random strategy). Nothing starts when the body is invalid, including a webhook URL
    whose host is not public (422 naming ``webhooks.<i>.url``). Each webhook's signing secret
    is in the answer, once. The sweep belongs to the caller's principal: other principals'
    tokens get 404 for it (admin tokens see every sweep). Limits (SWEEPS_MAX_*) are checked
    first: 422 naming the field. Should Temporal fail in a way that leaves open whether the
    sweep started, it is asked; when it cannot tell, the answer is a 503 that says so and the
    sweep's owner and endpoints are kept (retry with the same Idempotency-Key; an endpoint
    whose secret no answer showed gets one from POST /webhooks/{id}/rotate-secret)."""
    problems = limit_violations(request, settings.request_limits)
    if problems:
        raise LimitsExceeded(problems)
    registry: WebhookRegistry = http.app.state.webhooks
    engine: Engine = http.app.state.engine
    if request.webhooks:
        await registry.check_targets(request.webhooks)
    # Without a key the id is random: made here once, so the endpoints get the sweep's id.
    sweep_id = gateway.sweep_id_for(request, idempotency_key, caller.name)
    # Owned before it starts: the sweep is never visible to anyone else, not even briefly.
    owner, claimed = await asyncio.to_thread(_claim, engine, sweep_id, caller.name)
    if owner != caller.name:
        raise Conflict(f"sweep id {sweep_id} already exists; retry")
    registered: list[Registered] = []
    try:
        if request.webhooks:
            # Before the workflow starts, so its end (however soon) finds its endpoints.
            registered = await registry.register_for_sweep(sweep_id, request.webhooks)
        started = await gateway.start(request, idempotency_key, sweep_id, caller.name)
    except StartUnconfirmed:
        raise  # it may be running: its owner and endpoints stay
    except ApiError:
        await registry.forget_new(registered)
        if claimed:
            await asyncio.to_thread(_release, engine, sweep_id, caller.name)
        raise
    if not started.created:
        response.status_code = status.HTTP_200_OK
    return SweepCreated(
        sweep_id=started.sweep_id,
        name=request.name,
        workflow=started.workflow,
        created=started.created,
        links=sweep_links(started.sweep_id, settings),
        webhooks=[
            SweepWebhook(
                id=r.endpoint.id, url=r.endpoint.url, events=r.endpoint.events, secret=r.secret
            )
            for r in registered
        ],
    )


@router.get("/{sweep_id}", response_model=SweepView, responses=responses(404, 503))
async def get_sweep(sweep_id: OwnedSweepId, gateway: Gateway, settings: AppSettings) -> SweepView:
    """Live state of a sweep, answered by its workflow."""
    result = await gateway.progress(sweep_id)
    return sweep_view(result, settings)


@router.get("/{sweep_id}/result", response_model=SweepResult, responses=responses(404, 503))
async def get_sweep_result(sweep_id: OwnedSweepId, gateway: Gateway) -> SweepResult:
    """The sweep's full state from its workflow: every trial with its per-rung results.
    Final once the sweep has ended; large for large sweeps (prefer the leaderboard)."""
    return await gateway.progress(sweep_id)


def _claim(engine: Engine, sweep_id: str, principal: str) -> tuple[str, bool]:
    with session_scope(engine) as session:
        return claim_sweep(session, sweep_id, principal)


def _release(engine: Engine, sweep_id: str, principal: str) -> None:
    with session_scope(engine) as session:
        release_sweep(session, sweep_id, principal)


def sweep_view(result: SweepResult, settings: AppSettings) -> SweepView:
    counts = TrialCounts(total=len(result.trials))
    for trial in result.trials:
        if trial.status in FINAL_TRIAL_STATUSES:
            counts.finished += 1
        elif trial.status == TrialStatus.RUNNING:
            counts.running += 1
        elif trial.status == TrialStatus.PAUSED:
            counts.paused += 1
        elif trial.status == TrialStatus.RUNG_DONE:
            counts.rung_done += 1
        else:
            counts.pending += 1
    return SweepView(
        sweep_id=result.sweep_id,
        name=result.name,
        status=result.status,
        paused=result.status == SweepStatus.PAUSED,
        metric=result.metric,
        direction=result.direction,
        current_rung=result.current_rung,
        rungs=result.rungs,
        trials=counts,
        best=result.best,
        started_at=result.started_at,
        ended_at=result.ended_at,
        error=result.error,
        links=sweep_links(result.sweep_id, settings),
    )
