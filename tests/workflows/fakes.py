"""Same-named stand-ins for the training-queue activities, so workflow tests isolate the
orchestration layer: the real search activity still runs; torch never loads."""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from app.domain import (
    CheckpointInfo,
    DatasetSnapshot,
    EvalInput,
    EvalOutcome,
    FineTuneInput,
    SnapshotInput,
    TrainOutcome,
    TrialControl,
    TrialMetrics,
    TrialResult,
)
from app.domain.results import TrialConfig
from app.domain.webhooks import (
    DeliverInput,
    DeliveryReport,
    FinishDeliveryInput,
    PrepareDeliveriesInput,
    WebhookEvent,
)
from app.domain.workflow_io import CheckpointSaved, MirrorInput, ProposeInput, TrialRunOutcome
from app.temporal import contract
from workers.activities.search import propose_configs
from workers.workflows import ALL_WORKFLOWS


def fake_accuracy(learning_rate: float, step: int) -> float:
    """Best near lr=1e-4, and better with more steps: a landscape with a known optimum."""
    import math

    distance = abs(math.log10(learning_rate) - math.log10(1e-4))
    return round(0.9 - 0.2 * distance - 10.0 / (step + 20), 6)


@dataclass
class FakeTraining:
    """Records what the workflows asked for; answers like the real activities would."""

    fail_model: str | None = None
    crash_first_attempt_of: set[str] = field(default_factory=set)
    step_seconds: float = 0.05
    poll_control: bool = False
    calls: list[FineTuneInput] = field(default_factory=list)
    running: int = 0
    max_running: int = 0
    resumed_from_heartbeat: list[CheckpointInfo] = field(default_factory=list)
    params_by_path: dict[str, dict[str, object]] = field(default_factory=dict)
    mirrored: list[MirrorInput] = field(default_factory=list)

    @activity.defn(name=contract.SNAPSHOT_DATASET)
    async def snapshot_dataset(self, inp: SnapshotInput) -> DatasetSnapshot:
        return DatasetSnapshot(
            snapshot_id="fake0001",
            path=f"{inp.snapshot_root}/fake0001",
            train_rows=320,
            eval_rows=80,
            label_names=["negative", "neutral", "positive"],
            has_text_pair=False,
            source=inp.dataset.source,
        )

    async def _train(self, inp: FineTuneInput) -> TrainOutcome:
        job = inp.job
        if job.model.source == self.fail_model:
            raise ApplicationError(
                f"model path {job.model.source} does not exist",
                type=contract.BAD_INPUT_ERROR,
                non_retryable=True,
            )
        info = activity.info()
        start = job.resume_from.step if job.resume_from else 0
        if info.attempt > 1 and info.heartbeat_details:
            reported = _heartbeat_checkpoint(info.heartbeat_details)
            self.resumed_from_heartbeat.append(reported)
            start = reported.step
        self.calls.append(inp)
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            target = int(job.budget)
            if job.trial_id in self.crash_first_attempt_of and info.attempt == 1:
                half = self._checkpoint(inp, (start + target) // 2, "interval")
                await _report_checkpoint(inp, half)
                activity.heartbeat(half)
                raise RuntimeError("worker lost mid-trial")
            stop = await self._train_or_stop(inp)
            if stop != "none":
                # Like the real activity: save where it is and stop (the step is a midpoint).
                middle = self._checkpoint(inp, (start + target) // 2, stop)
                return TrainOutcome(
                    checkpoint=middle,
                    global_step=middle.step,
                    train_loss=0.5,
                    train_seconds=float(middle.step - start),
                    stopped="paused" if stop == "pause" else "cancelled",
                )
            checkpoint = self._checkpoint(inp, target, "rung_end")
            return TrainOutcome(
                checkpoint=checkpoint,
                global_step=target,
                train_loss=0.5,
                train_seconds=float(target - start),
            )
        finally:
            self.running -= 1

    async def _train_or_stop(self, inp: FineTuneInput) -> str:
        """'Train' for step_seconds, polling the sweep's control query as the real one does."""
        sweep = activity.client().get_workflow_handle(inp.job.sweep_workflow_id)
        deadline = asyncio.get_running_loop().time() + self.step_seconds
        while True:
            # Heartbeats carry the server's cancellation (of the sweep) back, as in the real
            # training loop: a cancelled run stops here with CancelledError.
            activity.heartbeat()
            if self.poll_control:
                control = TrialControl.model_validate(
                    await sweep.query(contract.TRIAL_CONTROL_QUERY, inp.job.trial_id)
                )
                if control.stop != "none":
                    return control.stop
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return "none"
            await asyncio.sleep(min(remaining, 0.05))

    def _checkpoint(self, inp: FineTuneInput, step: int, reason: str) -> CheckpointInfo:
        job = inp.job
        path = f"{job.artifact_root}/{job.sweep_id}/{job.trial_id}/checkpoint-{step}"
        self.params_by_path[path] = dict(job.trial.params)
        return CheckpointInfo.model_validate(
            {"path": path, "step": step, "epoch": step / 20, "rung": job.rung, "reason": reason}
        )

    async def _evaluate(self, inp: EvalInput) -> EvalOutcome:
        params = self.params_by_path[inp.checkpoint.path]
        accuracy = fake_accuracy(float(params["learning_rate"]), inp.checkpoint.step)  # type: ignore[arg-type]
        return EvalOutcome(
            metrics=TrialMetrics(
                accuracy=accuracy,
                f1_macro=accuracy - 0.1,
                eval_loss=1.0 - accuracy,
                num_examples=80,
            ),
            eval_seconds=0.01,
        )

    @activity.defn(name=contract.TRAIN_AND_EVALUATE)
    async def train_and_evaluate(self, inp: FineTuneInput) -> TrialRunOutcome:
        train = await self._train(inp)
        if train.stopped != "budget":
            return TrialRunOutcome.stopped_early(train)
        evaluation = await self._evaluate(inp.job.evaluation_of(train.checkpoint))
        return TrialRunOutcome.evaluated(train, evaluation)

    @activity.defn(name=contract.MIRROR_RESULTS)
    async def mirror_results(self, inp: MirrorInput) -> int:
        self.mirrored.append(inp)
        return len(inp.result.trials)

    def activities(self) -> list[object]:
        return [self.snapshot_dataset, self.train_and_evaluate]

    def mirrored_trials(self) -> dict[str, TrialResult]:
        """The latest mirrored state of every trial, as the index would hold it."""
        latest: dict[str, TrialResult] = {}
        for call in self.mirrored:
            for trial in call.result.trials:
                latest[trial.trial_id] = trial
        return latest


@dataclass
class RecordingProposer:
    """The real search activity, recording what each call was given."""

    calls: list[ProposeInput] = field(default_factory=list)

    @activity.defn(name=contract.PROPOSE_CONFIGS)
    def propose_configs(self, inp: ProposeInput) -> list[TrialConfig]:
        self.calls.append(inp)
        return propose_configs(inp)


@dataclass
class FakeWebhooks:
    """Same-named webhook activities that record events instead of sending them: one
    delivery per event, answered by ``answer`` (delivered, or a retryable failure)."""

    progress_events: list[str] = field(default_factory=list)
    fail_deliveries: bool = False
    events: list[tuple[str, WebhookEvent]] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)
    finished: list[FinishDeliveryInput] = field(default_factory=list)

    @activity.defn(name=contract.WEBHOOK_SUBSCRIPTIONS)
    async def webhook_subscriptions(self, sweep_id: str) -> list[str]:
        return list(self.progress_events)

    @activity.defn(name=contract.PREPARE_WEBHOOK_DELIVERIES)
    async def prepare_webhook_deliveries(self, inp: PrepareDeliveriesInput) -> list[str]:
        delivery_id = f"{inp.sweep_id}/{inp.event_key}"
        if all(key != delivery_id for key, _ in self.events):
            self.events.append((delivery_id, inp.event))
        return [delivery_id]

    @activity.defn(name=contract.DELIVER_WEBHOOK)
    async def deliver_webhook(self, inp: DeliverInput) -> DeliveryReport:
        self.attempts.append(inp.delivery_id)
        if self.fail_deliveries:
            raise ApplicationError("HTTP 503", type=contract.WEBHOOK_RETRY_ERROR)
        return DeliveryReport(delivery_id=inp.delivery_id, state="delivered", status_code=204)

    @activity.defn(name=contract.FINISH_WEBHOOK_DELIVERY)
    async def finish_webhook_delivery(self, inp: FinishDeliveryInput) -> None:
        self.finished.append(inp)

    def activities(self) -> list[object]:
        return [
            self.webhook_subscriptions,
            self.prepare_webhook_deliveries,
            self.deliver_webhook,
            self.finish_webhook_delivery,
        ]

    def of(self, sweep_id: str) -> list[WebhookEvent]:
        """This sweep's events (a dispatch left over from an earlier test may land here too)."""
        return [e for key, e in self.events if key.startswith(f"{sweep_id}/")]

    def types(self, sweep_id: str) -> list[str]:
        return [e.type for e in self.of(sweep_id)]


async def _report_checkpoint(inp: FineTuneInput, checkpoint: CheckpointInfo) -> None:
    """As the real activity does: to the sweep's journal."""
    client = activity.client()
    saved = CheckpointSaved(trial_id=inp.job.trial_id, rung=inp.job.rung, checkpoint=checkpoint)
    await client.get_workflow_handle(inp.job.sweep_workflow_id).signal(
        contract.CHECKPOINT_SAVED_SIGNAL, saved
    )


def _heartbeat_checkpoint(details: object) -> CheckpointInfo:
    """Heartbeat details arrive decoded without type hints: a plain dict."""
    (payload,) = details  # type: ignore[misc]
    return CheckpointInfo.model_validate(payload)


@asynccontextmanager
async def workers(
    env: WorkflowEnvironment,
    fake: FakeTraining,
    mirror: Callable[..., Any] | None = None,
    webhooks: list[object] | None = None,
    proposer: RecordingProposer | None = None,
) -> AsyncIterator[None]:
    """Both task queues served: real workflows and search, fake training; the mirror is the
    fake recorder unless a real one (bound to a results index) is given, and so are the
    webhook activities (a FakeWebhooks recorder unless real ones are given)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        orchestration = Worker(
            env.client,
            task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            workflows=ALL_WORKFLOWS,
            activities=[
                proposer.propose_configs if proposer else propose_configs,
                mirror or fake.mirror_results,
                *(webhooks if webhooks is not None else FakeWebhooks().activities()),
            ],
            activity_executor=pool,
        )
        training = Worker(
            env.client,
            task_queue=contract.TRAINING_TASK_QUEUE,
            activities=fake.activities(),
            max_heartbeat_throttle_interval=contract.HEARTBEAT_THROTTLE,
            default_heartbeat_throttle_interval=contract.HEARTBEAT_THROTTLE,
        )
        async with orchestration, training:
            yield
