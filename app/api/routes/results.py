"""Reads from the results index (never from Temporal): sweep list, leaderboard, trials.

Sync handlers on purpose: FastAPI runs them in its thread pool, so blocking database I/O
never stalls the event loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.auth import Caller, OwnedSweepId
from app.api.deps import IndexSession
from app.api.errors import NotFound, responses
from app.api.params import TrialId
from app.db import LeaderboardPage, Page, SweepRow, TrialDetail, TrialRow
from app.db import get_trial as fetch_trial
from app.db import leaderboard as fetch_leaderboard
from app.db import list_sweeps as fetch_sweeps
from app.db import list_trials as fetch_trials
from app.db.repository import require_sweep
from app.domain import SweepStatus, TrialStatus

router = APIRouter(prefix="/sweeps", tags=["results"])

Limit = Annotated[int, Query(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")]


@router.get("", response_model=Page[SweepRow], responses=responses(422, 503))
def list_sweeps(
    session: IndexSession,
    caller: Caller,
    status: Annotated[SweepStatus | None, Query(description="Only sweeps in this phase.")] = None,
    name: Annotated[str | None, Query(max_length=100, description="Exact sweep name.")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[SweepRow]:
    """Sweeps, newest first, from the results index: the caller's own (every sweep for an
    admin token)."""
    owner = None if caller.admin else caller.name
    return fetch_sweeps(session, status=status, name=name, owner=owner, limit=limit, offset=offset)


@router.get(
    "/{sweep_id}/leaderboard", response_model=LeaderboardPage, responses=responses(404, 422, 503)
)
def leaderboard(
    sweep_id: OwnedSweepId,
    session: IndexSession,
    rung: Annotated[
        int | None, Query(ge=0, le=1000, description="Rank by the results at this rung.")
    ] = None,
    status: Annotated[TrialStatus | None, Query(description="Only trials in this state.")] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> LeaderboardPage:
    """Trials ranked by the objective in its direction: the highest rung reached first (a
    successive-halving ladder compares trials at equal budgets), ties by held-out loss (as the
    sweep's promotions break them), then by trial index."""
    return fetch_leaderboard(
        session, sweep_id, rung=rung, status=status, limit=limit, offset=offset
    )


@router.get("/{sweep_id}/trials", response_model=list[TrialRow], responses=responses(404, 422, 503))
def list_trials(
    sweep_id: OwnedSweepId,
    session: IndexSession,
    status: Annotated[TrialStatus | None, Query(description="Only trials in this state.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[TrialRow]:
    """Trials by index, with their latest result and checkpoint."""
    require_sweep(session, sweep_id)
    return fetch_trials(session, sweep_id, status=status, limit=limit, offset=offset)


@router.get(
    "/{sweep_id}/trials/{trial_id}",
    response_model=TrialDetail,
    responses=responses(404, 422, 503),
)
def get_trial(sweep_id: OwnedSweepId, trial_id: TrialId, session: IndexSession) -> TrialDetail:
    """One trial with its per-rung metrics and every mirrored checkpoint."""
    require_sweep(session, sweep_id)
    trial = fetch_trial(session, sweep_id, trial_id)
    if trial is None:
        raise NotFound(f"sweep {sweep_id!r} has no trial {trial_id!r}")
    return trial
