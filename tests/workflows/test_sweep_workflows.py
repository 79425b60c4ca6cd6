"""Sweep workflows under the time-skipping test server, with fake training activities."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from app.domain import CheckpointInfo, SweepRequest, SweepResult, SweepStatus, TrialStatus
from app.domain.sweep_events import SweepEvent, SweepEventPage
from app.domain.workflow_io import CheckpointSaved, ControlAck, SweepWorkflowInput
from app.temporal import contract
from tests.workflows.fakes import FakeTraining, RecordingProposer, workers

HISTORIES = Path(__file__).parent.parent / "histories"


async def record_history(env: WorkflowEnvironment, sweep_id: str) -> None:
    """With RECORD_HISTORIES=1, keep this sweep's history for test_replay, replacing the one
    recorded before by the same test (named ``<kind>-<suffix>``). Every history there comes
    from today's workflow code: see "Changing a workflow" in docs/architecture.md."""
    if not os.environ.get("RECORD_HISTORIES"):
        return
    kind = sweep_id.rsplit("-", 1)[0]
    for old in HISTORIES.glob(f"{kind}-*.json"):
        old.unlink()
    history = await env.client.get_workflow_handle(sweep_id).fetch_history()
    # Named after the workflow id: replay rebuilds the ids of child workflows from it.
    (HISTORIES / f"{sweep_id}.json").write_text(history.to_json())


def make_request(**overrides: Any) -> SweepRequest:
    body: dict[str, Any] = {
        "name": "wf-test",
        "model": {"source": "tiny-bert"},
        "dataset": {"source": "tweet-sentiment"},
        "space": {
            "learning_rate": {"type": "float", "low": 1e-6, "high": 1e-2, "log": True},
            "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
        },
        "ladder": {
            "unit": "steps",
            "trials": 6,
            "rungs": [
                {"budget": 10, "keep": 3},
                {"budget": 30, "keep": 1, "new_trials": 1},
                {"budget": 90},
            ],
        },
        "max_concurrency": 2,
        "seed": 7,
    }
    body.update(overrides)
    return SweepRequest.model_validate(body)


async def run_sweep(
    env: WorkflowEnvironment,
    request: SweepRequest,
    workflow: str = contract.LADDER_SWEEP_WORKFLOW,
    **options: Any,
) -> tuple[str, SweepResult]:
    sweep_id = f"{request.name}-{uuid.uuid4().hex[:6]}"
    result = await env.client.execute_workflow(
        workflow,
        SweepWorkflowInput(
            request=request, artifact_root="/artifacts", snapshot_root="/snapshots", **options
        ),
        id=sweep_id,
        task_queue=contract.ORCHESTRATION_TASK_QUEUE,
        result_type=SweepResult,
    )
    return sweep_id, result


async def test_ladder_sweep_promotes_top_k_from_checkpoints(env: WorkflowEnvironment) -> None:
    fake = FakeTraining()
    request = make_request()
    async with workers(env, fake):
        sweep_id, result = await run_sweep(env, request)

    assert result.status == SweepStatus.COMPLETED
    # 6 trials at rung 0; top 3 promoted + 1 new at rung 1; top 1 at rung 2.
    assert [len(r.trial_ids) for r in result.rungs] == request.ladder.entrants() == [6, 4, 1]
    assert len(fake.calls) == 11
    assert fake.max_running <= request.max_concurrency

    by_id = {t.trial_id: t for t in result.trials}
    rung0 = sorted(
        (t for t in result.trials if t.rungs and t.rungs[0].rung == 0),
        key=lambda t: (-t.rungs[0].objective_value, t.trial_index),
    )
    assert result.rungs[0].survivors == [t.trial_id for t in rung0[:3]]
    # Promotions continue from the previous rung's checkpoint; new trials start from scratch.
    for call in fake.calls:
        job = call.job
        if job.rung == 0 or job.trial.born_rung == job.rung:
            assert job.resume_from is None
        else:
            previous = by_id[job.trial_id].rungs[job.rung - 1].checkpoint
            assert job.resume_from == previous
        assert job.max_budget == 90
    winner = result.rungs[2].trial_ids[0]
    assert result.best is not None and result.best.trial_id == winner
    assert by_id[winner].status == TrialStatus.COMPLETED and by_id[winner].rung == 2
    pruned = [t for t in result.trials if t.status == TrialStatus.PRUNED]
    assert len(pruned) == len(result.trials) - 1 == 6  # everyone but the winner
    # The results index was told everything: the last write is the final state.
    assert fake.mirrored_trials() == {t.trial_id: t for t in result.trials}
    final = fake.mirrored[-1]
    assert final.result.status == SweepStatus.COMPLETED and final.result_count == 11
    assert all(len(call.result.trials) <= 7 for call in fake.mirrored)
    # Each write says when its oldest change happened (the mirror lag is measured from it);
    # a write only carries changes made after the previous one was taken.
    stamps = [call.changed_since for call in fake.mirrored]
    assert None not in stamps and stamps == sorted(stamps)  # type: ignore[type-var]
    await record_history(env, sweep_id)


async def events_page(env: WorkflowEnvironment, sweep_id: str, after: int = 0) -> SweepEventPage:
    handle = env.client.get_workflow_handle(sweep_id)
    return await handle.query(contract.EVENTS_QUERY, after, result_type=SweepEventPage)


async def journal(env: WorkflowEnvironment, sweep_id: str) -> list[SweepEvent]:
    """Every retained event, page by page."""
    events: list[SweepEvent] = []
    while True:
        page = await events_page(env, sweep_id, events[-1].id if events else 0)
        events += page.events
        if not page.events:
            return events


def of_type(events: list[SweepEvent], kind: str) -> list[SweepEvent]:
    return [e for e in events if e.type == kind]


async def test_journal_tells_the_sweep_in_order(env: WorkflowEnvironment) -> None:
    request = make_request()
    async with workers(env, FakeTraining()):
        sweep_id, result = await run_sweep(env, request)
        events = await journal(env, sweep_id)
        later = await events_page(env, sweep_id, after=20)

    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert {e.sweep_id for e in events} == {sweep_id}
    runs = [(t, r.rung) for r in result.rungs for t in r.trial_ids]
    started = [(e.trial_id, e.rung) for e in of_type(events, "trial.started")]
    finished = [(e.trial_id, e.rung) for e in of_type(events, "trial.finished")]
    assert sorted(started) == sorted(finished) == sorted(runs)  # one of each per run
    position = {(e.type, e.trial_id, e.rung): i for i, e in enumerate(events)}
    for trial_id, rung in runs:
        assert (
            position["trial.started", trial_id, rung] < position["trial.finished", trial_id, rung]
        )
    by_id = {t.trial_id: t for t in result.trials}
    for event in of_type(events, "trial.started"):
        assert event.trial_id is not None and event.rung is not None
        trial = by_id[event.trial_id]
        assert event.budget == request.ladder.rungs[event.rung].budget
        assert event.params == trial.params
        # A promoted trial continues from its last rung's checkpoint; a new one from scratch.
        previous = [r.global_step for r in trial.rungs if r.rung == event.rung - 1]
        assert event.step == (previous[0] if previous else 0)
    for event in of_type(events, "trial.finished"):
        assert event.trial_id is not None
        (rung_result,) = [r for r in by_id[event.trial_id].rungs if r.rung == event.rung]
        assert event.status == "rung_done" and event.metrics == rung_result.metrics
        assert event.objective_value == rung_result.objective_value

    rung_events = of_type(events, "rung.completed")
    assert [e.rung for e in rung_events] == [0, 1, 2]
    for event, summary in zip(rung_events, result.rungs, strict=True):
        winners = summary.survivors or summary.trial_ids  # the last rung's: the winner
        assert event.survivors == winners and event.budget == summary.budget
        assert sorted([*event.survivors, *(event.pruned or [])]) == sorted(summary.trial_ids)
        assert event.best_trial_id == winners[0]
    assert of_type(events, "checkpoint.saved") == []  # this fake reports none

    end = events[-1]
    assert of_type(events, "sweep.ended") == [end]
    assert result.best is not None
    assert (end.status, end.best_trial_id, end.best_value, end.error) == (
        "completed",
        result.best.trial_id,
        result.best.objective_value,
        None,
    )
    assert [e.id for e in later.events] == list(range(21, len(events) + 1))
    assert (later.first_id, later.next_id, later.ended) == (1, len(events) + 1, True)


async def test_journal_keeps_only_the_newest_events(env: WorkflowEnvironment) -> None:
    request = make_request(ladder={"unit": "steps", "trials": 3, "rungs": [{"budget": 10}]})
    async with workers(env, FakeTraining()):
        sweep_id, _ = await run_sweep(env, request, event_journal_size=5)
        page = await events_page(env, sweep_id)
        newest = await events_page(env, sweep_id, after=7)
    # 3 started, 3 finished, rung.completed, sweep.ended: the newest 5 of 8 are kept.
    assert [e.id for e in page.events] == [4, 5, 6, 7, 8]
    assert (page.first_id, page.next_id, page.ended) == (4, 9, True)
    assert [e.type for e in page.events[-2:]] == ["rung.completed", "sweep.ended"]
    assert newest.events == page.events[-1:]


async def test_tpe_proposes_a_rung_in_waves_of_max_concurrency(env: WorkflowEnvironment) -> None:
    proposer = RecordingProposer()
    request = make_request()  # 6 trials, 2 at once: rung 0 runs in waves {0,1}, {2,3}, {4,5}
    async with workers(env, FakeTraining(), proposer=proposer):
        _, result = await run_sweep(env, request)
    assert result.status == SweepStatus.COMPLETED
    calls = proposer.calls
    # Rung 0: one call per wave. Rung 1 (3 survivors, then t0006): t0006 is in wave 1.
    assert [(c.born_rung, c.trial_indices) for c in calls] == [
        (0, [0, 1]),
        (0, [2, 3]),
        (0, [4, 5]),
        (1, [6]),
    ]
    params = {t.trial_index: t.params for t in result.trials}
    # Waves 0 and 1 see nothing of their rung; wave 1 lies about wave 0's fresh trials.
    assert calls[0].observations == calls[1].observations == []
    assert (calls[0].pending, calls[1].pending) == ([], [params[0], params[1]])
    # Wave 2 sees wave 0's results (not waves 1 and 2), with wave 1 pending.
    assert sorted((o.trial_index, o.rung) for o in calls[2].observations) == [(0, 0), (1, 0)]
    assert calls[2].pending == [params[2], params[3]]
    # Rung 1's wave 1 sees rung 0 only; survivors are never pending.
    assert {o.rung for o in calls[3].observations} == {0} and len(calls[3].observations) == 6
    assert calls[3].pending == []


async def test_random_proposes_once_per_rung(env: WorkflowEnvironment) -> None:
    proposer = RecordingProposer()
    async with workers(env, FakeTraining(), proposer=proposer):
        await run_sweep(env, make_request(strategy="random"))
    assert [c.trial_indices for c in proposer.calls] == [[0, 1, 2, 3, 4, 5], [6]]


async def test_same_seed_same_sweep(env: WorkflowEnvironment) -> None:
    results = []
    for _ in range(2):
        async with workers(env, FakeTraining()):
            results.append((await run_sweep(env, make_request()))[1])
    assert outcome(results[0]) == outcome(results[1])


async def chain_length(env: WorkflowEnvironment, workflow_id: str) -> int:
    """Number of runs in a continue-as-new chain, following each run back to its parent."""
    run_id: str | None = None
    runs = 0
    while True:
        history = await env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs += 1
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return runs
        run_id = started.continued_execution_run_id


async def test_continue_as_new_at_rung_boundaries_changes_nothing(
    env: WorkflowEnvironment,
) -> None:
    """Long sweeps continue as new (carrying their state) before history grows too large."""
    async with workers(env, FakeTraining()):
        _, straight = await run_sweep(env, make_request())
        sweep_id, chained = await run_sweep(env, make_request(), continue_as_new_after_events=1)
        runs = await chain_length(env, sweep_id)
        chained_events = await journal(env, sweep_id)
        straight_events = await journal(env, straight.sweep_id)
    assert runs == 3  # one run per rung: two continue-as-new hops
    assert outcome(chained) == outcome(straight)
    assert chained.status == SweepStatus.COMPLETED
    # The journal went over with the state: the same events, ids contiguous across the runs.
    assert [e.id for e in chained_events] == list(range(1, len(chained_events) + 1))
    # (Concurrent trials may finish in another order: compare what was said, not when.)
    assert sorted(map(told, chained_events)) == sorted(map(told, straight_events))
    assert told(chained_events[-1]) == told(straight_events[-1])


async def test_continue_as_new_in_the_middle_of_a_rung_changes_nothing(
    env: WorkflowEnvironment,
) -> None:
    """A long rung: the sweep stops starting trials, lets the running ones end, continues as
    new and starts the rest there; every run makes progress, the outcome is the same."""
    request = make_request(
        name="wf-chained", ladder={"unit": "steps", "trials": 6, "rungs": [{"budget": 10}]}
    )
    async with workers(env, FakeTraining()):
        _, straight = await run_sweep(env, request)
        sweep_id, chained = await run_sweep(env, request, continue_as_new_mid_rung_after_events=1)
        runs = await chain_length(env, sweep_id)
        chained_events = await journal(env, sweep_id)
        await record_history(env, sweep_id)  # the last run: it starts from carried state
    # Two trials at once: each run starts its first trial, then the other slot drains.
    assert 3 <= runs <= 6
    assert outcome(chained) == outcome(straight)
    assert chained.status == SweepStatus.COMPLETED
    assert len(of_type(chained_events, "trial.started")) == 6  # no trial ran twice
    assert [e.id for e in chained_events] == list(range(1, len(chained_events) + 1))


def told(event: SweepEvent) -> str:
    """What an event says, without its place, time and sweep."""
    return event.model_dump_json(exclude={"id", "at", "sweep_id", "checkpoint"})


def outcome(result: SweepResult) -> list[tuple[Any, ...]]:
    """What a sweep decided and measured, without ids and paths that name the sweep."""
    return [
        (
            t.trial_id,
            t.params,
            t.status,
            [(r.rung, r.global_step, r.objective_value) for r in t.rungs],
        )
        for t in result.trials
    ] + [(r.rung, r.trial_ids, r.survivors) for r in result.rungs]


async def test_random_sweep_workflow(env: WorkflowEnvironment) -> None:
    fake = FakeTraining()
    request = make_request(
        name="wf-random",
        strategy="random",
        ladder={"unit": "steps", "trials": 5, "rungs": [{"budget": 20}]},
        max_concurrency=3,
    )
    async with workers(env, fake):
        sweep_id, result = await run_sweep(env, request, contract.SWEEP_WORKFLOW)
        await record_history(env, sweep_id)
    assert result.status == SweepStatus.COMPLETED
    assert len(result.trials) == 5
    assert all(t.status == TrialStatus.COMPLETED for t in result.trials)
    assert fake.max_running <= 3
    assert len({json.dumps(t.params, sort_keys=True) for t in result.trials}) == 5


async def test_retried_training_resumes_from_reported_checkpoint(env: WorkflowEnvironment) -> None:
    fake = FakeTraining(crash_first_attempt_of={"t0000"})
    request = make_request(ladder={"unit": "steps", "trials": 2, "rungs": [{"budget": 40}]})
    async with workers(env, fake):
        sweep_id, result = await run_sweep(env, request)
        events = await journal(env, sweep_id)
    assert result.status == SweepStatus.COMPLETED
    assert [c.step for c in fake.resumed_from_heartbeat] == [20]
    trial = result.trials[0]
    assert trial.checkpoint is not None and trial.checkpoint.step == 40
    retried = [c for c in fake.calls if c.job.trial_id == "t0000"]
    assert len(retried) == 2  # the crashed attempt and the resumed one
    (saved,) = of_type(events, "checkpoint.saved")
    assert (saved.trial_id, saved.rung, saved.step) == ("t0000", 0, 20)
    assert saved.checkpoint is not None and saved.checkpoint.reason == "interval"
    # Still one run of the trial: the retry is the same run, resumed.
    assert sorted(e.trial_id for e in of_type(events, "trial.started")) == ["t0000", "t0001"]


async def test_bad_model_fails_every_trial_and_the_sweep(env: WorkflowEnvironment) -> None:
    fake = FakeTraining(fail_model="./no/such/model")
    request = make_request(
        model={"source": "./no/such/model"},
        ladder={"unit": "steps", "trials": 3, "rungs": [{"budget": 10}]},
    )
    async with workers(env, fake):
        with pytest.raises(WorkflowFailureError) as failure:
            await run_sweep(env, request)
    message = str(failure.value.cause)
    assert "./no/such/model does not exist" in message
    assert len(fake.calls) == 0  # non-retryable: no attempt after the first failure


Check = Callable[[SweepResult], None]


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_paused_and_resumed_sweep_is_the_same_sweep(
    dev_client: WorkflowEnvironment,
) -> None:
    """Pausing holds back the trials and the waves' proposals; it changes no configuration."""
    env = dev_client
    request = make_request(ladder={"unit": "steps", "trials": 6, "rungs": [{"budget": 20}]})
    async with workers(env, FakeTraining(step_seconds=0.2, poll_control=True)):
        _, straight = await run_sweep(env, request)
    fake = FakeTraining(step_seconds=0.2, poll_control=True)
    async with workers(env, fake):
        handle = await env.client.start_workflow(
            contract.LADDER_SWEEP_WORKFLOW,
            SweepWorkflowInput(request=request, artifact_root="/artifacts", snapshot_root="/s"),
            id=f"paused-{uuid.uuid4().hex[:6]}",
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            result_type=SweepResult,
        )

        async def progress() -> SweepResult:
            return await handle.query(contract.PROGRESS_QUERY, result_type=SweepResult)

        async def nothing_running() -> bool:  # the running trials paused (or just ended)
            return all(t.status != TrialStatus.RUNNING for t in (await progress()).trials)

        async def training_started() -> bool:
            return bool(fake.calls)

        await wait_for(training_started)
        await handle.execute_update(contract.PAUSE_UPDATE, result_type=ControlAck)
        await wait_for(nothing_running)
        await handle.execute_update(contract.RESUME_UPDATE, result_type=ControlAck)
        paused = await handle.result()
        await record_history(env, handle.id)
    assert paused.status == SweepStatus.COMPLETED
    assert outcome(paused) == outcome(straight)


async def test_pause_resume_and_cancel_trial_updates(dev_client: WorkflowEnvironment) -> None:
    env = dev_client
    fake = FakeTraining(step_seconds=0.6, poll_control=True)
    request = make_request(
        ladder={"unit": "steps", "trials": 4, "rungs": [{"budget": 20}]}, max_concurrency=1
    )
    sweep_id = f"control-{uuid.uuid4().hex[:6]}"
    async with workers(env, fake):
        handle = await env.client.start_workflow(
            contract.LADDER_SWEEP_WORKFLOW,
            SweepWorkflowInput(request=request, artifact_root="/a", snapshot_root="/s"),
            id=sweep_id,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            result_type=SweepResult,
        )

        async def progress() -> SweepResult:
            return await handle.query(contract.PROGRESS_QUERY, result_type=SweepResult)

        async def first_trial_running() -> bool:
            trials = (await progress()).trials
            return bool(trials) and trials[0].status == TrialStatus.RUNNING and bool(fake.calls)

        await wait_for(first_trial_running)
        ack = await handle.execute_update(contract.PAUSE_UPDATE, result_type=ControlAck)
        assert ack.paused and ack.trial_ids == ["t0000"]
        again = await handle.execute_update(contract.PAUSE_UPDATE, result_type=ControlAck)
        assert again.paused  # already paused: no second sweep.paused
        # A checkpoint report naming no trial of this sweep is news of nothing.
        stray = CheckpointInfo(path="/elsewhere", step=3, epoch=0.1, rung=0)
        await handle.signal(
            contract.CHECKPOINT_SAVED_SIGNAL,
            CheckpointSaved(trial_id="t0042", rung=0, checkpoint=stray),
        )

        async def first_trial_paused() -> bool:
            return (await progress()).trials[0].status == TrialStatus.PAUSED

        await wait_for(first_trial_paused)
        paused = await progress()
        assert paused.status == SweepStatus.PAUSED
        assert paused.trials[0].checkpoint is not None and paused.trials[0].checkpoint.step == 10
        assert len(fake.calls) == 1  # nothing new starts while paused

        # A waiting trial can be cancelled; it never trains. (t0001 is wave 1: proposed at
        # once, pause or not; t0003 is wave 3, proposed once t0000 and t0001 have ended: not
        # yet a trial.)
        async def second_trial_proposed() -> bool:
            return len((await progress()).trials) == 2

        await wait_for(second_trial_proposed)
        cancelled = await handle.execute_update(
            contract.CANCEL_TRIAL_UPDATE, "t0001", result_type=ControlAck
        )
        assert cancelled.trial_ids == ["t0001"]
        for unknown_id in ("t0042", "t0003"):
            with pytest.raises(WorkflowUpdateFailedError) as unknown:
                await handle.execute_update(contract.CANCEL_TRIAL_UPDATE, unknown_id)
            assert isinstance(unknown.value.cause, ApplicationError)
            assert unknown.value.cause.type == contract.NOT_FOUND_ERROR
        assert [t.trial_id for t in (await progress()).trials] == ["t0000", "t0001"]

        resumed = await handle.execute_update(contract.RESUME_UPDATE, result_type=ControlAck)
        assert not resumed.paused and resumed.trial_ids == ["t0000"]
        result = await handle.result()

        with pytest.raises(RPCError, match="already completed"):  # the sweep has ended
            await handle.execute_update(contract.PAUSE_UPDATE)
        events = await journal(env, sweep_id)

    assert result.status == SweepStatus.COMPLETED
    statuses = {t.trial_id: t.status for t in result.trials}
    assert statuses == {
        "t0000": TrialStatus.COMPLETED,
        "t0001": TrialStatus.CANCELLED,
        "t0002": TrialStatus.COMPLETED,
        "t0003": TrialStatus.COMPLETED,
    }
    # The paused trial went on from its pause checkpoint, not from scratch.
    t0 = [c.job for c in fake.calls if c.job.trial_id == "t0000"]
    assert [j.resume_from.step if j.resume_from else None for j in t0] == [None, 10]
    assert "t0001" not in {c.job.trial_id for c in fake.calls}

    said = [(e.type, e.trial_id, e.status or e.step) for e in events]
    paused_at = said.index(("sweep.paused", None, None))
    resumed_at = said.index(("sweep.resumed", None, None))
    assert said[:2] == [("trial.started", "t0000", 0), ("sweep.paused", None, None)]
    assert said.count(("sweep.paused", None, None)) == 1
    assert ("trial.paused", "t0000", None) in said[paused_at:resumed_at]
    # The cancelled trial never started: it ends when its turn for a slot comes.
    assert [t for t in said if t[1] == "t0001"] == [("trial.finished", "t0001", "cancelled")]
    assert said[resumed_at + 1] == ("trial.started", "t0000", 10)  # from its pause checkpoint
    assert "t0042" not in {e.trial_id for e in events}
    (trial_paused,) = of_type(events, "trial.paused")
    assert trial_paused.checkpoint is not None and trial_paused.checkpoint.step == 10
    assert of_type(events, "sweep.ended")[0] is events[-1]
