"""Counts for the API's /metrics: sweeps and trials by status, one GROUP BY each."""

from __future__ import annotations

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from app.db.models import SWEEPS, TRIALS
from app.domain import SweepStatus, TrialStatus


def sweeps_by_status(session: Session) -> dict[str, int]:
    """Every status, zero where no sweep has it (a series that vanishes looks like an error)."""
    return _by_status(session, SWEEPS, [s.value for s in SweepStatus])


def trials_by_status(session: Session) -> dict[str, int]:
    return _by_status(session, TRIALS, [s.value for s in TrialStatus])


def _by_status(session: Session, table: Table, statuses: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(statuses, 0)
    rows = session.execute(select(table.c.status, func.count()).group_by(table.c.status))
    for status, count in rows:
        counts[status] = int(count)
    return counts
