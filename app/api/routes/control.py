"""Control of running sweeps: pause, resume, checkpoint-now, cancel a trial, cancel a sweep."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, status

from app.api.auth import OwnedSweepId
from app.api.deps import Gateway
from app.api.errors import responses
from app.api.params import TrialId
from app.api.schemas import CancelAccepted, CheckpointRequest
from app.domain.workflow_io import ControlAck
from app.temporal import contract

router = APIRouter(prefix="/sweeps/{sweep_id}", tags=["control"])

_ERRORS = responses(404, 409, 503)


@router.post("/pause", response_model=ControlAck, responses=_ERRORS)
async def pause_sweep(sweep_id: OwnedSweepId, gateway: Gateway) -> ControlAck:
    """No new trial starts; running trials save a checkpoint and stop until resumed."""
    return await gateway.control(sweep_id, contract.PAUSE_UPDATE)


@router.post("/resume", response_model=ControlAck, responses=_ERRORS)
async def resume_sweep(sweep_id: OwnedSweepId, gateway: Gateway) -> ControlAck:
    """Paused trials continue from their checkpoints and the ladder goes on."""
    return await gateway.control(sweep_id, contract.RESUME_UPDATE)


@router.post("/checkpoint", response_model=ControlAck, responses=_ERRORS)
async def checkpoint_now(
    sweep_id: OwnedSweepId,
    gateway: Gateway,
    body: Annotated[CheckpointRequest | None, Body()] = None,
) -> ControlAck:
    """Every running trial (or the one named) saves a checkpoint and keeps training."""
    trial_id = body.trial_id if body else None
    return await gateway.control(sweep_id, contract.CHECKPOINT_UPDATE, trial_id)


@router.post("/trials/{trial_id}/cancel", response_model=ControlAck, responses=_ERRORS)
async def cancel_trial(sweep_id: OwnedSweepId, trial_id: TrialId, gateway: Gateway) -> ControlAck:
    """The trial saves a checkpoint and stops; it is never promoted, and another takes its slot."""
    return await gateway.control(sweep_id, contract.CANCEL_TRIAL_UPDATE, trial_id)


@router.post(
    "/cancel",
    response_model=CancelAccepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_ERRORS,
)
async def cancel_sweep(sweep_id: OwnedSweepId, gateway: Gateway) -> CancelAccepted:
    """Every trial stops and the sweep ends as cancelled."""
    await gateway.cancel(sweep_id)
    return CancelAccepted(sweep_id=sweep_id, status="cancelling")
