"""What a sweep tells webhooks, built from its state (pure, deterministic), and the detached
start of the WebhookDispatchWorkflow that delivers it."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from app.domain import RungSummary, SweepRequest, SweepResult, TrialResult, TrialStatus
    from app.domain.webhook_targets import WebhookEventType
    from app.domain.webhooks import (
        RungEventData,
        SweepEventData,
        TrialEventData,
        WebhookCounts,
        WebhookDispatchInput,
        WebhookEvent,
        WebhookLinks,
        WebhookRetrySchedule,
        WebhookTimings,
        WebhookTrial,
    )
    from app.search import rungs

from workers.workflows.webhook_dispatch import WebhookDispatchWorkflow

LEADERBOARD_SIZE = 5


def sweep_event(
    event_type: WebhookEventType, result: SweepResult, request: SweepRequest
) -> WebhookEvent:
    trials = result.trials
    top = rungs.highest_scored_rung(trials)
    board = (
        rungs.rank_trials(trials, top, result.direction)[:LEADERBOARD_SIZE]
        if top is not None
        else []
    )
    counts = {status: 0 for status in TrialStatus}
    for trial in trials:
        counts[trial.status] += 1
    started, ended = result.started_at, result.ended_at
    return WebhookEvent(
        type=event_type,
        timestamp=workflow.now(),
        data=SweepEventData(
            sweep_id=result.sweep_id,
            name=result.name,
            status=result.status,
            objective={"metric": result.metric, "direction": result.direction},
            best=_trial(result.best) if result.best else None,
            leaderboard=[_trial(t) for t in board],
            counts=WebhookCounts(
                trials=len(trials),
                completed=counts[TrialStatus.COMPLETED],
                pruned=counts[TrialStatus.PRUNED],
                failed=counts[TrialStatus.FAILED],
                cancelled=counts[TrialStatus.CANCELLED],
                rungs_done=sum(1 for r in result.rungs if r.complete),
                rungs_total=len(request.ladder.rungs),
            ),
            timings=WebhookTimings(
                started_at=started,
                ended_at=ended,
                duration_seconds=(ended - started).total_seconds() if started and ended else None,
                train_seconds=round(sum(t.train_seconds for t in trials), 3),
            ),
            error=result.error,
            links=links(result.sweep_id),
        ),
    )


def trial_event(sweep_id: str, request: SweepRequest, trial: TrialResult) -> WebhookEvent:
    return WebhookEvent(
        type="trial.completed",
        timestamp=workflow.now(),
        data=TrialEventData(
            sweep_id=sweep_id, name=request.name, trial=_trial(trial), links=links(sweep_id)
        ),
    )


def rung_event(
    sweep_id: str, request: SweepRequest, summary: RungSummary, trials: list[TrialResult]
) -> WebhookEvent:
    members = [t for t in trials if t.trial_id in set(summary.trial_ids)]
    board = rungs.rank_trials(members, summary.rung, request.objective.resolved_direction)
    return WebhookEvent(
        type="rung.completed",
        timestamp=workflow.now(),
        data=RungEventData(
            sweep_id=sweep_id,
            name=request.name,
            rung=summary.rung,
            budget=summary.budget,
            survivors=summary.survivors,
            leaderboard=[_trial(t) for t in board[:LEADERBOARD_SIZE]],
            links=links(sweep_id),
        ),
    )


def links(sweep_id: str) -> WebhookLinks:
    """API paths; the delivery activity prefixes SWEEPS_PUBLIC_API_URL when it is set."""
    base = f"/sweeps/{sweep_id}"
    return WebhookLinks(
        sweep=base,
        result=f"{base}/result",
        leaderboard=f"{base}/leaderboard",
        trials=f"{base}/trials",
        deliveries=f"{base}/webhook-deliveries",
    )


def _trial(trial: TrialResult) -> WebhookTrial:
    return WebhookTrial(
        trial_id=trial.trial_id,
        status=trial.status,
        rung=trial.rung,
        params=trial.params,
        objective_value=trial.objective_value,
        metrics=trial.metrics,
        checkpoint=trial.checkpoint,
        error=trial.error,
    )


async def start_dispatch(
    sweep_id: str,
    event: WebhookEvent,
    event_key: str,
    retry: WebhookRetrySchedule,
    task_queue: str,
) -> None:
    """Start the delivery of ``event`` and return once it has started, never waiting for it.

    ABANDON: the dispatch outlives the sweep (the sweep ends now; deliveries may retry for
    days). The id is derived from the occurrence, so a second start of the same event is
    refused by the server rather than sending twice."""
    dispatch_id = f"{sweep_id}.webhooks.{event_key.replace(':', '.')}"
    try:
        await workflow.start_child_workflow(
            WebhookDispatchWorkflow.run,
            WebhookDispatchInput(sweep_id=sweep_id, event=event, event_key=event_key, retry=retry),
            id=dispatch_id,
            task_queue=task_queue,
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
        )
    except WorkflowAlreadyStartedError:
        workflow.logger.info(
            "webhook dispatch %s already started", dispatch_id, extra={"sweep_id": sweep_id}
        )
