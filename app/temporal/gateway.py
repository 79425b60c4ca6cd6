"""The API's door to Temporal: start sweeps, read their live state, send control updates.
Temporal's errors become the API's (404, 409, 422, 503) here and nowhere else."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from app.api.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    StartUnconfirmed,
    Unprocessable,
)
from app.domain import SweepRequest, SweepResult
from app.domain.sweep_events import SweepEventPage
from app.domain.webhooks import WebhookDispatchInput
from app.domain.workflow_io import ControlAck, SweepWorkflowInput
from app.settings import Settings
from app.temporal import contract
from app.temporal.sweep_state import sweep_events, sweep_state

REQUEST_HASH_MEMO = "request_sha256"
# Failures after which the start request may have reached the server and started the
# workflow anyway (the answer was lost, not the request).
AMBIGUOUS_START = frozenset(
    {
        RPCStatusCode.CANCELLED,
        RPCStatusCode.UNKNOWN,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.INTERNAL,
    }
)


@dataclass(frozen=True)
class Started:
    sweep_id: str
    workflow: str
    created: bool


def workflow_name_for(request: SweepRequest) -> str:
    if request.strategy == "random":
        return contract.SWEEP_WORKFLOW
    return contract.LADDER_SWEEP_WORKFLOW


def request_fingerprint(request: SweepRequest) -> str:
    return hashlib.sha256(request.model_dump_json().encode()).hexdigest()


def sweep_id_for(request: SweepRequest, idempotency_key: str | None, principal: str) -> str:
    """A new id per POST; with an Idempotency-Key, an id derived from the caller and the
    key, so a retried POST finds the sweep its first attempt started, and two principals
    that happen to pick the same key never meet."""
    if idempotency_key is None:
        return f"{request.name}-{uuid.uuid4().hex[:12]}"
    scoped = f"{principal}\n{idempotency_key}".encode("utf-8", "surrogatepass")
    return f"sweep-{hashlib.sha256(scoped).hexdigest()[:24]}"


class SweepGateway:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def sweep_id_for(
        self, request: SweepRequest, idempotency_key: str | None, principal: str
    ) -> str:
        return sweep_id_for(request, idempotency_key, principal)

    async def start(
        self, request: SweepRequest, idempotency_key: str | None, sweep_id: str, owner: str
    ) -> Started:
        workflow = workflow_name_for(request)
        fingerprint = request_fingerprint(request)
        try:
            await self._client.start_workflow(
                workflow,
                SweepWorkflowInput(
                    request=request,
                    artifact_root=str(self._settings.artifacts),
                    snapshot_root=str(self._settings.snapshot_root),
                    training_heartbeat_timeout_seconds=(
                        self._settings.training_heartbeat_timeout_seconds
                    ),
                    webhook_retry=self._settings.webhook_retry,
                ),
                id=sweep_id,
                task_queue=contract.ORCHESTRATION_TASK_QUEUE,
                memo={REQUEST_HASH_MEMO: fingerprint, contract.OWNER_MEMO: owner},
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            )
        except WorkflowAlreadyStartedError:
            if idempotency_key is None:
                raise Conflict(f"sweep id {sweep_id} already exists; retry") from None
            existing = await self._describe_fingerprint(sweep_id)
            if existing != fingerprint:
                raise Unprocessable(
                    "Idempotency-Key was already used with a different request body"
                ) from None
            return Started(sweep_id, workflow, created=False)
        except RPCError as exc:
            if exc.status not in AMBIGUOUS_START:
                raise ServiceUnavailable(f"Temporal is unreachable: {_short(exc)}") from None
            return await self._confirm_start(sweep_id, workflow, fingerprint, exc)
        except RuntimeError as exc:  # no connection: the request never left
            raise ServiceUnavailable(f"Temporal is unreachable: {_short(exc)}") from None
        return Started(sweep_id, workflow, created=True)

    async def _confirm_start(
        self, sweep_id: str, workflow: str, fingerprint: str, failure: RPCError
    ) -> Started:
        """Whether a start that failed ambiguously started the workflow after all: asked of
        Temporal, since the answer decides whether what was made for the sweep may go."""
        try:
            description = await self._client.get_workflow_handle(sweep_id).describe()
            found = await description.memo_value(REQUEST_HASH_MEMO, default=None)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise ServiceUnavailable(f"Temporal is unreachable: {_short(failure)}") from None
            raise self._unconfirmed(sweep_id, failure) from None
        except RuntimeError:
            raise self._unconfirmed(sweep_id, failure) from None
        if found != fingerprint:
            # Another request's workflow under this id (an Idempotency-Key reused).
            raise Unprocessable(
                "Idempotency-Key was already used with a different request body"
            ) from None
        return Started(sweep_id, workflow, created=True)

    @staticmethod
    def _unconfirmed(sweep_id: str, failure: RPCError) -> StartUnconfirmed:
        return StartUnconfirmed(
            f"Temporal failed ({_short(failure)}) and cannot tell yet whether sweep {sweep_id} "
            f"started: GET /sweeps/{sweep_id} will tell, or retry with the same Idempotency-Key"
        )

    async def _describe_fingerprint(self, sweep_id: str) -> str | None:
        try:
            description = await self._client.get_workflow_handle(sweep_id).describe()
            value = await description.memo_value(REQUEST_HASH_MEMO, default=None)
        except (RPCError, RuntimeError) as exc:
            raise ServiceUnavailable(f"Temporal is unreachable: {_short(exc)}") from None
        return str(value) if value is not None else None

    async def redeliver(self, sweep_id: str, delivery_id: str) -> str:
        """Send an existing delivery again (same webhook-id, same body), durably: a
        WebhookDispatchWorkflow of its own, with the configured retry schedule."""
        dispatch_id = f"{sweep_id}.webhooks.redeliver.{delivery_id}.{uuid.uuid4().hex[:8]}"
        try:
            await self._client.start_workflow(
                contract.WEBHOOK_DISPATCH_WORKFLOW,
                WebhookDispatchInput(
                    sweep_id=sweep_id,
                    delivery_ids=[delivery_id],
                    retry=self._settings.webhook_retry,
                ),
                id=dispatch_id,
                task_queue=contract.ORCHESTRATION_TASK_QUEUE,
            )
        except (RPCError, RuntimeError) as exc:
            raise ServiceUnavailable(f"Temporal is unreachable: {_short(exc)}") from None
        return dispatch_id

    async def progress(self, sweep_id: str) -> SweepResult:
        with _reading(sweep_id):
            return await sweep_state(self._handle(sweep_id))

    async def events(self, sweep_id: str, after: int) -> SweepEventPage:
        """The sweep's journal after event ``after`` (see app.temporal.sweep_state)."""
        with _reading(sweep_id):
            return await sweep_events(self._handle(sweep_id), after)

    async def control(self, sweep_id: str, update: str, *args: str | None) -> ControlAck:
        handle = self._handle(sweep_id)
        try:
            ack: ControlAck = await handle.execute_update(
                update, args=list(args), result_type=ControlAck
            )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type == contract.NOT_FOUND_ERROR:
                raise NotFound(cause.message) from None
            if isinstance(cause, ApplicationError) and cause.type == contract.CONFLICT_ERROR:
                raise Conflict(cause.message) from None
            raise Conflict(
                str(cause.message if isinstance(cause, ApplicationError) else exc)
            ) from None
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise await self._ended_or_missing(sweep_id) from None
            raise _translate(exc, sweep_id) from None
        except RuntimeError as exc:
            raise _translate(exc, sweep_id) from None
        return ack

    async def _ended_or_missing(self, sweep_id: str) -> Exception:
        """An update found no running workflow: the sweep has ended (409) or never was (404)."""
        try:
            description = await self._handle(sweep_id).describe()
        except (RPCError, RuntimeError) as exc:
            return _translate(exc, sweep_id)
        state = description.status.name.lower() if description.status else "closed"
        return Conflict(f"the sweep has ended ({state})")

    async def cancel(self, sweep_id: str) -> None:
        # Fails with 404/409 here when the sweep is unknown or has ended.
        await self.progress(sweep_id)
        handle = self._handle(sweep_id)
        try:
            description = await handle.describe()
            if description.status is not None and description.status.name != "RUNNING":
                raise Conflict(
                    f"cannot cancel the sweep: it has ended ({description.status.name.lower()})"
                )
            await handle.cancel()
        except (RPCError, RuntimeError) as exc:
            raise _translate(exc, sweep_id) from None

    def _handle(self, sweep_id: str) -> WorkflowHandle[object, SweepResult]:
        return self._client.get_workflow_handle(sweep_id, result_type=SweepResult)


@contextmanager
def _reading(sweep_id: str) -> Iterator[None]:
    """Errors of a query to a sweep, as the API's."""
    try:
        yield
    except WorkflowQueryFailedError:
        # Not a sweep workflow (no such query), or a workflow that never started to run.
        raise NotFound(f"no sweep {sweep_id!r}") from None
    except RPCError as exc:
        if exc.status == RPCStatusCode.FAILED_PRECONDITION:
            # Closed (terminated) before any worker ran it: it never was a sweep.
            raise NotFound(f"no sweep {sweep_id!r}") from None
        raise _translate(exc, sweep_id) from None
    except RuntimeError as exc:
        raise _translate(exc, sweep_id) from None


def _translate(exc: Exception, sweep_id: str) -> Exception:
    if isinstance(exc, RPCError) and exc.status == RPCStatusCode.NOT_FOUND:
        if "already completed" in exc.message:
            return Conflict("the sweep has ended")
        return NotFound(f"no sweep {sweep_id!r}")
    return ServiceUnavailable(f"Temporal is unreachable: {_short(exc)}")


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
