"""Writes of the results index: idempotent, order-tolerant upserts of sweep progress.

The mirror activity calls ``mirror_sweep`` with the workflow's ``SweepResult`` after each
trial result; it may be retried, run twice, or land after a newer call. Every write is an
``INSERT ... ON CONFLICT DO UPDATE ... WHERE <not older>`` keyed by the natural keys
(sweep), (sweep, trial), (sweep, trial, rung), (sweep, trial, step), so a retried call
never duplicates or loses a row, and the no-regression rule below keeps a late call with
less progress from overwriting a newer state:

- sweep: applied iff ``(final, current_rung, result_count)`` >= the stored one, where
  ``final`` is 1 for completed/failed/cancelled and ``result_count`` the number of rung
  results in the whole sweep (it only grows; pass it with a partial snapshot).
- trial: applied iff ``(rung, scored_rung, checkpoint_step, phase)`` >= the stored one
  (``phase``: 0 pending/running/paused, 1 rung done, 2 completed/pruned/failed/cancelled;
  -1 stands for "none" in scored_rung and checkpoint_step).
- rung result: applied iff its ``global_step`` >= the stored one.
- checkpoint: written once per step (``DO NOTHING`` afterwards: checkpoints are immutable).

Equal keys mean equal progress: the later write wins (pause/resume flip a status without
progress). Rows are written in key order so that concurrent writers take row locks in
the same order. A sweep id reused by a new run needs ``delete_sweep`` first (reindex).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, literal, select, tuple_, update
from sqlalchemy.orm import Session

from app.db.errors import SweepNotFound
from app.db.models import CHECKPOINTS, SWEEPS, TRIAL_RUNGS, TRIALS
from app.db.ranking import FINAL_SWEEP_STATUSES, fingerprint
from app.db.records import SweepRecord, checkpoint_rows_of, rung_row, sweep_row, trial_row
from app.db.session import dialect_insert
from app.domain import SweepRequest, SweepResult, TrialResult
from app.domain.request import Direction

# Re-exported: SweepRecord is part of this module's API.
__all__ = ["SweepRecord", "mirror_sweep", "register_sweep", "upsert_sweep", "upsert_trials"]


def mirror_sweep(
    session: Session,
    result: SweepResult,
    request: SweepRequest | None = None,
    *,
    result_count: int | None = None,
    now: datetime | None = None,
) -> int:
    """Mirror a sweep's progress snapshot: the sweep row, its trials, rungs, checkpoints.

    Cheap to call after every trial result: trials whose content has not changed since
    the last mirror are skipped after one indexed read. A partial snapshot (only the
    trials that changed) is fine: trials are never removed here; pass ``result_count``
    (rung results in the whole sweep, part of the sweep row's no-regression key) with it.
    Returns the trials written.
    """
    now = now or _utcnow()
    record = SweepRecord.from_result(result, request, result_count=result_count)
    upsert_sweep(session, record, now=now)
    return upsert_trials(
        session, result.sweep_id, result.trials, direction=result.direction, now=now
    )


def register_sweep(
    session: Session, sweep_id: str, request: SweepRequest, *, now: datetime | None = None
) -> None:
    """Record a sweep as soon as it starts (before its first progress is mirrored).

    Never overwrites a sweep row that exists, only fills in its request if it lacks one.
    """
    now = now or _utcnow()
    record = SweepRecord.from_request(sweep_id, request, created_at=now)
    stmt = dialect_insert(session, SWEEPS).values(sweep_row(record, now))
    stmt = stmt.on_conflict_do_update(
        index_elements=[SWEEPS.c.id],
        set_={
            "request": func.coalesce(SWEEPS.c.request, stmt.excluded.request),
            "strategy": func.coalesce(SWEEPS.c.strategy, stmt.excluded.strategy),
        },
    )
    session.execute(stmt)


def upsert_sweep(session: Session, record: SweepRecord, *, now: datetime | None = None) -> None:
    """Insert or update the sweep row, unless the stored one shows more progress."""
    now = now or _utcnow()
    stmt = dialect_insert(session, SWEEPS).values(sweep_row(record, now))
    new, old = stmt.excluded, SWEEPS.c
    kept = {"id", "created_at", "trial_count", "request", "strategy", "started_at"}
    changes: dict[str, Any] = {c.name: new[c.name] for c in SWEEPS.c if c.name not in kept}
    changes |= {
        "request": func.coalesce(new.request, old.request),
        "strategy": func.coalesce(new.strategy, old.strategy),
        "started_at": func.coalesce(new.started_at, old.started_at),
    }
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.id],
        set_=changes,
        where=tuple_(_final(new.status), new.current_rung, new.result_count)
        >= tuple_(_final(old.status), old.current_rung, old.result_count),
    )
    session.execute(stmt)


def upsert_trials(
    session: Session,
    sweep_id: str,
    trials: Sequence[TrialResult],
    *,
    direction: Direction | None = None,
    now: datetime | None = None,
) -> int:
    """Insert or update trials with their rung results and checkpoints.

    The sweep row must exist (``upsert_sweep``/``register_sweep``); its direction is read
    from it unless given. Returns how many trials were written (changed ones only).
    """
    if not trials:
        return 0
    now = now or _utcnow()
    if direction is None:
        direction = _sweep_direction(session, sweep_id)
    latest = {t.trial_id: t for t in trials}  # a duplicate in the input: the last one wins
    stored = _stored_fingerprints(session, sweep_id, latest.values())
    changed = [
        (trial, fp)
        for trial in sorted(latest.values(), key=lambda t: t.trial_id)
        if stored.get(trial.trial_id) != (fp := fingerprint(trial))
    ]
    if not changed:
        return 0
    session.execute(
        _trial_upsert(session),
        [trial_row(sweep_id, t, direction, now, fp) for t, fp in changed],
    )
    rung_rows = [
        rung_row(sweep_id, t, r, direction, now)
        for t, _ in changed
        for r in sorted(t.rungs, key=lambda r: r.rung)
    ]
    if rung_rows:
        session.execute(_rung_upsert(session), rung_rows)
    checkpoint_rows = [row for t, _ in changed for row in checkpoint_rows_of(sweep_id, t, now)]
    if checkpoint_rows:
        stmt = dialect_insert(session, CHECKPOINTS).on_conflict_do_nothing()
        session.execute(stmt, checkpoint_rows)
    if any(t.trial_id not in stored for t, _ in changed):
        count = select(func.count()).where(TRIALS.c.sweep_id == sweep_id).scalar_subquery()
        session.execute(update(SWEEPS).where(SWEEPS.c.id == sweep_id).values(trial_count=count))
    return len(changed)


# ---- statements ----------------------------------------------------------------------------


def _trial_upsert(session: Session) -> Any:
    stmt = dialect_insert(session, TRIALS)
    new, old = stmt.excluded, TRIALS.c
    return stmt.on_conflict_do_update(
        index_elements=[old.sweep_id, old.trial_id],
        set_={c.name: new[c.name] for c in TRIALS.c if not c.primary_key},
        where=tuple_(new.rung, new.scored_rung, new.checkpoint_step, new.phase)
        >= tuple_(old.rung, old.scored_rung, old.checkpoint_step, old.phase),
    )


def _rung_upsert(session: Session) -> Any:
    stmt = dialect_insert(session, TRIAL_RUNGS)
    new, old = stmt.excluded, TRIAL_RUNGS.c
    return stmt.on_conflict_do_update(
        index_elements=[old.sweep_id, old.trial_id, old.rung],
        set_={c.name: new[c.name] for c in TRIAL_RUNGS.c if not c.primary_key},
        where=new.global_step >= old.global_step,
    )


def _final(status: ColumnElement[Any]) -> ColumnElement[int]:
    return case((status.in_([s.value for s in FINAL_SWEEP_STATUSES]), literal(1)), else_=literal(0))


def _sweep_direction(session: Session, sweep_id: str) -> Direction:
    direction = session.execute(
        select(SWEEPS.c.direction).where(SWEEPS.c.id == sweep_id)
    ).scalar_one_or_none()
    if direction is None:
        raise SweepNotFound(sweep_id)
    return "maximize" if direction == "maximize" else "minimize"


def _stored_fingerprints(
    session: Session, sweep_id: str, trials: Iterable[TrialResult]
) -> dict[str, int]:
    indexes = [t.trial_index for t in trials]
    rows = session.execute(
        select(TRIALS.c.trial_id, TRIALS.c.fingerprint).where(
            TRIALS.c.sweep_id == sweep_id,
            TRIALS.c.trial_index.between(min(indexes), max(indexes)),
        )
    )
    return {trial_id: fp for trial_id, fp in rows}


def _utcnow() -> datetime:
    return datetime.now(UTC)
