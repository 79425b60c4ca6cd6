"""Task queues, workflow/activity/signal/query names, timeouts and retry policies: one place.

Workflows call activities through the typed references in ``app.temporal.activity_refs``,
which carry these names, so the orchestration worker never imports the torch stack that
implements the training activities.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy

from app.domain.webhooks import WebhookRetrySchedule

# Task queues (names kept from the seed demo).
TRAINING_TASK_QUEUE = "bert-training-task-queue"
ORCHESTRATION_TASK_QUEUE = "bert-eval-task-queue"

# Workflows.
LADDER_SWEEP_WORKFLOW = "LadderSweepWorkflow"
SWEEP_WORKFLOW = "SweepWorkflow"
# Fans one webhook event out to its endpoints; started detached (ParentClosePolicy.ABANDON) so
# that days of retries never hold a sweep open.
WEBHOOK_DISPATCH_WORKFLOW = "WebhookDispatchWorkflow"

# Activities on the training queue (torch stack).
SNAPSHOT_DATASET = "snapshot_dataset"
# One (trial, rung) run: train to the rung's budget, then evaluate, in one attempt.
TRAIN_AND_EVALUATE = "train_and_evaluate"

# Light activities on the orchestration queue.
PROPOSE_CONFIGS = "propose_configs"
MIRROR_RESULTS = "mirror_results"
WEBHOOK_SUBSCRIPTIONS = "webhook_subscriptions"  # which progress events anyone wants
PREPARE_WEBHOOK_DELIVERIES = "prepare_webhook_deliveries"  # one delivery row per endpoint
DELIVER_WEBHOOK = "deliver_webhook"  # one signed HTTP attempt, recorded
FINISH_WEBHOOK_DELIVERY = "finish_webhook_delivery"  # mark a delivery failed after giving up

# Signals and queries.
# Training activity -> sweep workflow (arg: CheckpointSaved): journalled as checkpoint.saved.
CHECKPOINT_SAVED_SIGNAL = "checkpoint_saved"
TRIAL_CONTROL_QUERY = "trial_control"  # training activity -> sweep workflow (arg: trial id)
PROGRESS_QUERY = "progress"  # on the sweep workflows: SweepResult so far
# Sweep workflow memo: the principal that made the sweep (written by the API when it starts
# the sweep; `sweeps reindex` restores the index's sweep_owners table from it).
OWNER_MEMO = "owner"
REQUEST_QUERY = "request"  # on the sweep workflows: the SweepRequest (for reindexing)
# On the sweep workflows (arg: after, an event id): SweepEventPage of the journal's newer events.
EVENTS_QUERY = "events"
# The journal keeps the newest events only, so that the state carried over continue-as-new
# stays far below payload limits (an event is about 400 bytes at most: 80 KB in all);
# SweepWorkflowInput may set fewer.
EVENT_JOURNAL_SIZE = 200
EVENTS_PAGE_LIMIT = 200  # events in one answer to the events query
SWEEP_WORKFLOW_TYPES = (LADDER_SWEEP_WORKFLOW, SWEEP_WORKFLOW)

# Control updates on the sweep workflows (the caller learns whether they took effect).
PAUSE_UPDATE = "pause"
RESUME_UPDATE = "resume"
CHECKPOINT_UPDATE = "checkpoint"  # arg: trial id or None for every running trial
CANCEL_TRIAL_UPDATE = "cancel_trial"  # arg: trial id

# Non-retryable error types raised by activities for input that will not fix itself.
BAD_INPUT_ERROR = "BadInput"
# A webhook attempt that should be tried again later (408, 429, 5xx, network trouble).
WEBHOOK_RETRY_ERROR = "WebhookRetry"
# Rejections of control updates, mapped to 404 and 409 by the API.
NOT_FOUND_ERROR = "NotFound"
CONFLICT_ERROR = "Conflict"
# Retryable: a worker shutdown or server-side timeout interrupted training after a checkpoint
# was saved; the next attempt resumes from it.
INTERRUPTED_ERROR = "TrainingInterrupted"

# Timeouts and retries.
SNAPSHOT_TIMEOUT = timedelta(hours=2)
SNAPSHOT_HEARTBEAT = timedelta(minutes=2)
# Two days of training plus two hours of evaluation. A dead training worker is noticed much
# sooner, by its heartbeat timeout (SweepWorkflowInput.training_heartbeat_timeout_seconds).
TRAIN_AND_EVALUATE_TIMEOUT = timedelta(days=2, hours=2)
PROPOSE_TIMEOUT = timedelta(minutes=2)
MIRROR_TIMEOUT = timedelta(seconds=30)
# When changes arrived while a write ran (a busy sweep), the next write waits this long for
# more: about one write a second instead of one per trial event, each write an activity.
MIRROR_COALESCE = timedelta(seconds=1)
# The index may be down for a while (a database restart): keep retrying for this long, then
# give up on that write (the sweep goes on; `sweeps reindex` rebuilds the index from Temporal).
MIRROR_GIVE_UP = timedelta(hours=1)

# Webhooks: the HTTP request itself is bounded by the delivery activity's own timeout
# (SWEEPS_WEBHOOK_TIMEOUT_SECONDS, 10 s); an attempt also resolves DNS and writes its record.
WEBHOOK_ATTEMPT_TIMEOUT = timedelta(seconds=45)
WEBHOOK_BOOKKEEPING_TIMEOUT = timedelta(seconds=30)
# Looking up subscriptions must never hold up a sweep's start for long.
WEBHOOK_SUBSCRIPTIONS_GIVE_UP = timedelta(minutes=1)
# Default delivery schedule: retries after 10 s, 30 s, 90 s, 4.5 min, 13.5 min, 40 min, 2 h, 6 h,
# then every 8 h while within 3 days of the first attempt: 16 attempts, the last at ~65 h.
# SWEEPS_WEBHOOK_RETRY_* override it.
DEFAULT_WEBHOOK_RETRY = WebhookRetrySchedule()
# Recording deliveries needs the index database: retry while it is down (within the
# delivery schedule's give-up time), backing off to a few minutes.
WEBHOOK_BOOKKEEPING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
    maximum_attempts=0,
)


def webhook_retry_policy(schedule: WebhookRetrySchedule) -> RetryPolicy:
    """Increasing delays, as many attempts as start within the schedule's give-up time."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=schedule.initial_seconds),
        backoff_coefficient=schedule.backoff,
        maximum_interval=timedelta(seconds=max(schedule.maximum_seconds, schedule.initial_seconds)),
        maximum_attempts=schedule.attempts,
    )


def webhook_give_up(schedule: WebhookRetrySchedule) -> timedelta:
    """Schedule-to-close of a delivery: the last attempt may start at the give-up time."""
    return timedelta(seconds=schedule.give_up_seconds) + WEBHOOK_ATTEMPT_TIMEOUT


TRAINING_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=10,
    non_retryable_error_types=[BAD_INPUT_ERROR],
)
MIRROR_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=0,  # bounded by MIRROR_GIVE_UP instead
)
LIGHT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=20,
    non_retryable_error_types=[BAD_INPUT_ERROR],
)

# How often a training activity asks its sweep for control requests (one light query).
CONTROL_POLL_SECONDS = 3.0
# How often a training worker passes a trial's heartbeat on to the server. The server's
# answer carries cancellation (of the sweep, or of a trial's run), so this bounds how long a
# cancelled trial goes on training; the SDK's default (up to 0.8 x the heartbeat timeout)
# would let it train for half a minute more.
HEARTBEAT_THROTTLE = timedelta(seconds=5)
