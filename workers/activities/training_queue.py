"""Training-queue activities: thin Temporal adapters over ``workers.ml``.

They run synchronously in the training worker's thread pool (torch releases the GIL, the
event loop stays responsive). Talking back to workflows (checkpoint reports, control queries)
goes through the worker's client on its event loop; those calls are best effort: a lost
report or query must never kill hours of training.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError, CancelledError

from app.domain import (
    CheckpointInfo,
    DatasetSnapshot,
    EvalInput,
    EvalOutcome,
    FineTuneInput,
    SnapshotInput,
    TrainOutcome,
    TrialControl,
    TrialJob,
)
from app.domain.workflow_io import CheckpointSaved, TrialRunOutcome
from app.temporal import contract
from workers.ml.checkpoints import is_complete
from workers.ml.errors import BadInputError
from workers.ml.evaluate import evaluate_checkpoint
from workers.ml.hooks import StopRequest, TrainingHooks, TrainingProgress
from workers.ml.log_events import log_event, log_warning
from workers.ml.metrics import TRAINING_RUNS, TRIALS_RUNNING
from workers.ml.snapshot import create_snapshot
from workers.ml.train import fine_tune

log = logging.getLogger(__name__)

T = TypeVar("T")

# Heartbeats while a slow step runs between progress reports (a model or dataset download,
# tokenising, loading weights): well inside the contract's heartbeat timeouts.
KEEPALIVE_SECONDS = 10.0
# How long a training step waits for the sweep's answer to a control query before it goes on
# (and reads the answer at the next poll).
CONTROL_ANSWER_WAIT_SECONDS = 0.5


class TrainingActivities:
    """The torch-stack activities, bound to the worker's event loop and Temporal client.

    Build it in the training worker's ``main`` (inside the running loop)::

        acts = TrainingActivities(asyncio.get_running_loop(), client)
        Worker(client, task_queue=contract.TRAINING_TASK_QUEUE, activities=acts.all(),
               activity_executor=ThreadPoolExecutor(...), graceful_shutdown_timeout=...)

    ``client`` may be None (tests, CLI): checkpoint reports and control queries are skipped.
    ``scratch_dir`` is this worker's local working directory, used when the artifact root is
    remote (``s3://...``): checkpoints are saved there, uploaded, and fetched back to resume.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        client: Client | None,
        *,
        rpc_timeout_seconds: float = 10.0,
        heartbeat_seconds: float = 5.0,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
        scratch_dir: Path | None = None,
    ) -> None:
        self._loop = loop
        self._scratch = scratch_dir
        self._client = client
        self._rpc_timeout = rpc_timeout_seconds
        self._heartbeat_seconds = heartbeat_seconds
        self._keepalive_seconds = keepalive_seconds

    def all(self) -> list[Callable[..., Any]]:
        return [self.snapshot_dataset, self.train_and_evaluate]

    @activity.defn(name=contract.SNAPSHOT_DATASET)
    def snapshot_dataset(self, inp: SnapshotInput) -> DatasetSnapshot:
        stage = ["starting"]
        with _bad_input_is_final(), _keepalive(lambda: (stage[0],), self._keepalive_every()):
            return create_snapshot(
                inp.dataset,
                inp.snapshot_root,
                progress=lambda now: stage.__setitem__(0, now),
                scratch=self._scratch,
            )

    # Cancellation must not arrive as an exception in the middle of a torch op: the training
    # loop reads activity.is_cancelled() each step and stops with a checkpoint instead.
    @activity.defn(name=contract.TRAIN_AND_EVALUATE, no_thread_cancel_exception=True)
    def train_and_evaluate(self, inp: FineTuneInput) -> TrialRunOutcome:
        """One run of a trial: train to the rung's budget, then evaluate that checkpoint in
        the same attempt, with no round trip through the sweep in between. The evaluation's
        heartbeats still name the checkpoint, so a retry after training finished resumes at
        the budget and only evaluates."""
        train = self._counted_fine_tune(inp)
        if train.stopped != "budget":
            return TrialRunOutcome.stopped_early(train)
        resume_point = train.checkpoint.model_dump(mode="json")
        evaluation = self._evaluate(
            inp.job.evaluation_of(train.checkpoint),
            lambda progress: (resume_point, {"evaluating": progress}),
        )
        return TrialRunOutcome.evaluated(train, evaluation)

    def _counted_fine_tune(self, inp: FineTuneInput) -> TrainOutcome:
        with TRIALS_RUNNING.track_inprogress():
            try:
                outcome = self._fine_tune(inp)
            except BaseException as exc:
                TRAINING_RUNS.labels(_run_outcome(exc)).inc()
                raise
        TRAINING_RUNS.labels(outcome.stopped).inc()
        return outcome

    def _fine_tune(self, inp: FineTuneInput) -> TrainOutcome:
        info = activity.info()
        job = resume_from_heartbeat(inp.job, info.attempt, info.heartbeat_details)
        fields = _fields(job)
        log_event(
            log,
            "activity.fine_tune.start",
            **fields,
            attempt=info.attempt,
            budget=job.budget,
            resume_step=job.resume_from.step if job.resume_from else 0,
        )
        session = _FineTuneSession(self, inp, job)
        # The keepalive covers loading (possibly downloading) the model and tokenising; once
        # steps run, the training loop's own heartbeats take over, so a hung loop still times out.
        with (
            _bad_input_is_final(),
            _keepalive(session.last_details, self._keepalive_every(), until=session.is_training),
        ):
            try:
                outcome = fine_tune(job, session.hooks(), self._scratch)
            finally:
                session.drain(self._rpc_timeout)
        if outcome.stopped == "paused" and session.interrupted_by is not None:
            # Not a user pause: the worker is going away or the server gave up on this attempt.
            raise ApplicationError(
                f"training interrupted ({session.interrupted_by}) at step {outcome.global_step}; "
                f"resume from {outcome.checkpoint.path}",
                outcome.checkpoint.model_dump(mode="json"),
                type=contract.INTERRUPTED_ERROR,
            )
        if outcome.stopped == "cancelled" and activity.is_cancelled():
            # The server cancelled this run (the sweep is being cancelled): acknowledge it, so
            # that the run ends as cancelled, now that the checkpoint is saved.
            log_event(log, "activity.fine_tune.cancelled", **fields, step=outcome.global_step)
            raise CancelledError(f"cancelled at step {outcome.global_step}")
        log_event(
            log,
            "activity.fine_tune.done",
            **fields,
            step=outcome.global_step,
            stopped=outcome.stopped,
            checkpoint=outcome.checkpoint.path,
        )
        return outcome

    def _evaluate(
        self, inp: EvalInput, details: Callable[[dict[str, int]], tuple[Any, ...]]
    ) -> EvalOutcome:
        """Evaluate, heartbeating ``details(progress)`` meanwhile."""
        progress = {"done": 0, "total": inp.snapshot.eval_rows}
        with _bad_input_is_final(), _keepalive(lambda: details(progress), self._keepalive_every()):
            return evaluate_checkpoint(
                inp,
                progress=lambda done, total: progress.update(done=done, total=total),
                scratch=self._scratch,
            )

    def _keepalive_every(self) -> float:
        return _within_timeout(self._keepalive_seconds)

    def start_workflow_call(
        self, what: str, make: Callable[[Client], Coroutine[Any, Any, T]]
    ) -> concurrent.futures.Future[T | None] | None:
        """Start ``make(client)`` on the worker's loop from this activity thread, without
        waiting for it: training never stalls on Temporal (a query waits for a workflow
        worker, which may be restarting). The future gives None on failure (logged)."""
        if self._client is None:
            return None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            # Waiting on our own loop would deadlock it.
            log_event(log, "workflow_call.skipped", what=what, reason="on_event_loop_thread")
            return None
        return asyncio.run_coroutine_threadsafe(self._call(what, make(self._client)), self._loop)

    async def _call(self, what: str, call: Coroutine[Any, Any, T]) -> T | None:
        try:
            return await asyncio.wait_for(call, self._rpc_timeout)
        except Exception as exc:
            log_warning(log, "workflow_call.failed", what=what, error=repr(exc))
            return None


class _FineTuneSession:
    """The hooks of one training attempt: heartbeats, checkpoint reports, control polling."""

    def __init__(self, owner: TrainingActivities, inp: FineTuneInput, job: TrialJob) -> None:
        self.owner = owner
        self.inp = inp
        self.job = job
        self.control = TrialControl()
        self.interrupted_by: str | None = None
        start = job.resume_from.model_dump(mode="json") if job.resume_from else None
        self._details: tuple[Any, ...] = (
            start,
            {"step": job.resume_from.step if job.resume_from else 0},
        )
        self._start_step: int | None = None
        self._training = threading.Event()
        self._control_query: concurrent.futures.Future[TrialControl | None] | None = None
        self._reports: list[concurrent.futures.Future[Any]] = []

    def last_details(self) -> tuple[Any, ...]:
        return self._details

    def is_training(self) -> bool:
        return self._training.is_set()

    def hooks(self) -> TrainingHooks:
        return TrainingHooks(
            on_checkpoint=self.report_checkpoint,
            heartbeat=self.heartbeat,
            poll_control=self.poll_control,
            interrupt=self.interrupt,
            control_poll_seconds=self.inp.control_poll_seconds,
            heartbeat_seconds=_within_timeout(self.owner._heartbeat_seconds),
        )

    def heartbeat(self, progress: TrainingProgress) -> None:
        # Details[0] is what a retry resumes from; details[1] is for humans (Web UI).
        checkpoint = progress.checkpoint.model_dump(mode="json") if progress.checkpoint else None
        self._details = (
            checkpoint,
            {
                "step": progress.step,
                "target_step": progress.target_step,
                "max_steps": progress.max_steps,
                "epoch": round(progress.epoch, 4),
            },
        )
        if self._start_step is None:
            self._start_step = progress.step
        elif progress.step > self._start_step:
            self._training.set()
        activity.heartbeat(*self._details)

    def report_checkpoint(self, info: CheckpointInfo) -> None:
        """Tell the sweep (its event journal's checkpoint.saved), without waiting."""
        job = self.job
        saved = CheckpointSaved(trial_id=job.trial_id, rung=job.rung, checkpoint=info)

        async def to_sweep(client: Client) -> None:
            handle = client.get_workflow_handle(job.sweep_workflow_id)
            await handle.signal(contract.CHECKPOINT_SAVED_SIGNAL, saved)

        report = self.owner.start_workflow_call("checkpoint_saved", to_sweep)
        self._reports = [r for r in self._reports if not r.done()]
        if report is not None:
            self._reports.append(report)

    def poll_control(self) -> TrialControl:
        """The sweep's latest answer to the control query. A new query starts once the last
        one has answered; it is given a moment (a healthy answer takes milliseconds) and is
        otherwise read at the next poll."""

        async def query(client: Client) -> TrialControl:
            handle = client.get_workflow_handle(self.job.sweep_workflow_id)
            answer = await handle.query(
                contract.TRIAL_CONTROL_QUERY, self.job.trial_id, result_type=TrialControl
            )
            return TrialControl.model_validate(answer)

        fresh = self._control_query is None
        if fresh:
            self._control_query = self.owner.start_workflow_call("trial_control", query)
        pending = self._control_query
        # Only a fresh query is waited for: one still unanswered from an earlier poll (the
        # sweep's worker is away) must not slow every step down.
        if pending is not None and (fresh or pending.done()):
            with contextlib.suppress(concurrent.futures.TimeoutError):
                answer = pending.result(timeout=CONTROL_ANSWER_WAIT_SECONDS)
                if answer is not None:
                    self.control = answer
                self._control_query = None
        return self.control

    def drain(self, timeout: float) -> None:
        """Let the last checkpoint reports reach the server before the attempt ends; a control
        query still in flight is of no use any more."""
        if self._control_query is not None:
            self._control_query.cancel()
        concurrent.futures.wait(self._reports, timeout=timeout)

    def interrupt(self) -> StopRequest | None:
        if activity.is_cancelled():
            details = activity.cancellation_details()
            if details is None or details.cancel_requested:
                return "cancel"
            self.interrupted_by = _describe(details)
            return "pause"
        if activity.is_worker_shutdown():
            self.interrupted_by = "worker_shutdown"
            return "pause"
        return None


def resume_from_heartbeat(job: TrialJob, attempt: int, details: Sequence[Any]) -> TrialJob:
    """On a retry, resume from the last checkpoint the previous attempt heartbeated, when it
    is newer than the job's own starting point and still complete in the artifact root
    (heartbeats name durable checkpoints only, so a retry on another machine finds it)."""
    if attempt <= 1 or not details or details[0] is None:
        return job
    try:
        last = CheckpointInfo.model_validate(details[0])
    except ValueError:
        log_warning(log, "heartbeat.unreadable", **_fields(job))
        return job
    if not is_complete(last.path):
        log_warning(log, "heartbeat.checkpoint_gone", **_fields(job), path=last.path)
        return job
    if job.resume_from is not None and job.resume_from.step >= last.step:
        return job
    return job.model_copy(update={"resume_from": last})


@contextmanager
def _keepalive(
    details: Callable[[], tuple[Any, ...]],
    every: float = KEEPALIVE_SECONDS,
    until: Callable[[], bool] = lambda: False,
) -> Iterator[None]:
    """Heartbeat ``details()`` from a helper thread every ``every`` seconds until ``until()``.

    The thread runs in a copy of this activity's context, which is what activity.heartbeat
    needs; the SDK forwards the heartbeat to the worker's event loop thread-safely.
    """
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every) and not until():
            activity.heartbeat(*details())

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(beat,), name="keepalive", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


@contextmanager
def _bad_input_is_final() -> Iterator[None]:
    try:
        yield
    except BadInputError as exc:
        raise ApplicationError(str(exc), type=contract.BAD_INPUT_ERROR, non_retryable=True) from exc


def _within_timeout(every: float) -> float:
    """A heartbeat cadence that fits the activity's heartbeat timeout three times over, so a
    short timeout (a fault drill's) is not missed between two heartbeats."""
    timeout = activity.info().heartbeat_timeout
    return min(every, timeout.total_seconds() / 3) if timeout else every


def _describe(details: activity.ActivityCancellationDetails) -> str:
    reasons = [name for name, value in vars(details).items() if value is True]
    return ",".join(reasons) or "cancelled"


def _run_outcome(exc: BaseException) -> str:
    """How a fine_tune attempt that raised ended, as sweeps_training_runs_total counts it."""
    if isinstance(exc, CancelledError):
        return "cancelled"
    if isinstance(exc, ApplicationError):
        if exc.type == contract.INTERRUPTED_ERROR:
            return "interrupted"
        if exc.type == contract.BAD_INPUT_ERROR:
            return "bad_input"
    return "failed"


def _fields(job: TrialJob) -> dict[str, object]:
    return {"sweep_id": job.sweep_id, "trial_id": job.trial_id, "rung": job.rung}
