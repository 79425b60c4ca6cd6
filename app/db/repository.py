"""Reads of the results index (sweeps and trials) and deletion for reindexing.

Functions take the caller's Session and never commit: ``session_scope`` does.
The leaderboard lives in ``app/db/leaderboard.py``.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from app.db.errors import SweepNotFound
from app.db.models import CHECKPOINTS, SWEEP_OWNERS, SWEEPS, TRIAL_RUNGS, TRIALS
from app.db.rowmap import (
    SWEEP_COLUMNS,
    TRIAL_COLUMNS,
    nan_if_null,
    to_sweep_detail,
    to_sweep_row,
    to_trial_row,
    trial_fields,
)
from app.domain import CheckpointInfo, RungResult, SweepStatus, TrialMetrics, TrialStatus
from app.domain.rows import Page, SweepDetail, SweepRow, TrialDetail, TrialRow


def get_sweep(session: Session, sweep_id: str) -> SweepDetail | None:
    row = (
        session.execute(select(*SWEEP_COLUMNS, SWEEPS.c.request).where(SWEEPS.c.id == sweep_id))
        .mappings()
        .one_or_none()
    )
    return to_sweep_detail(row) if row is not None else None


def list_sweeps(
    session: Session,
    *,
    status: SweepStatus | str | None = None,
    name: str | None = None,
    owner: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> Page[SweepRow]:
    """Sweeps newest first (ties by id), with the total count matching the filters;
    ``owner``: only the sweeps that principal made."""
    check_page(limit, offset)
    conditions: list[ColumnElement[bool]] = []
    if owner is not None:
        owned = select(SWEEP_OWNERS.c.sweep_id).where(SWEEP_OWNERS.c.principal == owner)
        conditions.append(SWEEPS.c.id.in_(owned))
    if status is not None:
        conditions.append(SWEEPS.c.status == SweepStatus(status).value)
    if name is not None:
        conditions.append(SWEEPS.c.name == name)
    total = session.execute(
        select(func.count()).select_from(SWEEPS).where(*conditions)
    ).scalar_one()
    rows = session.execute(
        select(*SWEEP_COLUMNS)
        .where(*conditions)
        .order_by(SWEEPS.c.created_at.desc(), SWEEPS.c.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return Page[SweepRow](
        items=[to_sweep_row(r) for r in rows], total=total, limit=limit, offset=offset
    )


def list_trials(
    session: Session,
    sweep_id: str,
    *,
    status: TrialStatus | Iterable[TrialStatus] | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[TrialRow]:
    """A sweep's trials by trial index; raises SweepNotFound for an unknown sweep."""
    if limit is not None:
        check_page(limit, offset)
    require_sweep(session, sweep_id)
    query = (
        select(*TRIAL_COLUMNS)
        .where(TRIALS.c.sweep_id == sweep_id, *status_condition(TRIALS.c.status, status))
        .order_by(TRIALS.c.trial_index)
        .limit(limit)
        .offset(offset)
    )
    return [to_trial_row(r) for r in session.execute(query).mappings()]


def get_trial(session: Session, sweep_id: str, trial_id: str) -> TrialDetail | None:
    """A trial with its per-rung results and every mirrored checkpoint."""
    row = (
        session.execute(
            select(*TRIAL_COLUMNS).where(
                TRIALS.c.sweep_id == sweep_id, TRIALS.c.trial_id == trial_id
            )
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    checkpoints = [
        CheckpointInfo(path=c.path, step=c.step, epoch=c.epoch, rung=c.rung, reason=c.reason)
        for c in session.execute(
            select(CHECKPOINTS)
            .where(CHECKPOINTS.c.sweep_id == sweep_id, CHECKPOINTS.c.trial_id == trial_id)
            .order_by(CHECKPOINTS.c.step)
        )
    ]
    by_step = {c.step: c for c in checkpoints}
    rungs = [
        RungResult(
            rung=r.rung,
            budget=r.budget,
            global_step=r.global_step,
            metrics=TrialMetrics(
                accuracy=nan_if_null(r.accuracy),
                f1_macro=nan_if_null(r.f1_macro),
                eval_loss=nan_if_null(r.eval_loss),
                num_examples=r.num_examples,
            ),
            objective_value=nan_if_null(r.objective_value),
            checkpoint=by_step.get(r.checkpoint_step)
            or CheckpointInfo(
                path=r.checkpoint_path,
                step=r.checkpoint_step,
                epoch=0.0,
                rung=r.rung,
                reason="rung_end",
            ),
            train_seconds=r.train_seconds,
            eval_seconds=r.eval_seconds,
        )
        for r in session.execute(
            select(TRIAL_RUNGS)
            .where(TRIAL_RUNGS.c.sweep_id == sweep_id, TRIAL_RUNGS.c.trial_id == trial_id)
            .order_by(TRIAL_RUNGS.c.rung)
        )
    ]
    return TrialDetail(**trial_fields(row), rungs=rungs, checkpoints=checkpoints)


def delete_sweep(session: Session, sweep_id: str) -> bool:
    """Remove a sweep and everything under it (before a reindex); False if it was absent."""
    for table in (CHECKPOINTS, TRIAL_RUNGS, TRIALS):
        session.execute(delete(table).where(table.c.sweep_id == sweep_id))
    deleted = session.execute(delete(SWEEPS).where(SWEEPS.c.id == sweep_id))
    return bool(getattr(deleted, "rowcount", 0))


# ---- shared helpers --------------------------------------------------------------------------


def require_sweep(session: Session, sweep_id: str) -> None:
    if session.execute(select(SWEEPS.c.id).where(SWEEPS.c.id == sweep_id)).first() is None:
        raise SweepNotFound(sweep_id)


def status_condition(
    column: ColumnElement[str], status: TrialStatus | Iterable[TrialStatus] | None
) -> list[ColumnElement[bool]]:
    if status is None:
        return []
    if isinstance(status, str):
        return [column == TrialStatus(status).value]
    return [column.in_([TrialStatus(s).value for s in status])]


def check_page(limit: int, offset: int) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must not be negative, got {offset}")
