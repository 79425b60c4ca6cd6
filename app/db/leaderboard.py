"""The leaderboard query: successive-halving order, served by index range scans.

Order: usable trials first (rank_group), the highest scored rung first, then the best
value in the sweep's direction (rank_value ascending), ties by held-out loss (rank_tie) as
the sweep's promotions break them, then by trial index. With ``rung``, trials that have a
result at that rung, ranked by their value there (what the promotion
decision saw), NaN last. ``rank`` counts from 1 in the filtered order.

Index use (Postgres plans checked by ``benchmarks/leaderboard.py``): the whole sweep and
one status read ``limit + offset`` index entries; several statuses merge one such scan per
status; a rung reads its own index and joins each row to its trial. Only a rung combined
with a status filter walks the rung's results until the page is full.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select, union_all
from sqlalchemy.orm import Session

from app.db.errors import SweepNotFound
from app.db.models import SWEEPS, TRIAL_RUNGS, TRIALS
from app.db.repository import check_page
from app.db.rowmap import SCORE_COLUMNS, TRIAL_COLUMNS, trial_fields
from app.domain import TrialStatus
from app.domain.rows import LeaderboardPage, LeaderboardRow


def leaderboard(
    session: Session,
    sweep_id: str,
    *,
    rung: int | None = None,
    status: TrialStatus | Iterable[TrialStatus] | None = None,
    limit: int = 20,
    offset: int = 0,
    with_total: bool = True,
) -> LeaderboardPage:
    """One page of a sweep's leaderboard; raises SweepNotFound for an unknown sweep.

    ``status``: one status or several. ``total`` (when ``with_total``) counts the rows
    matching the filters: free for the whole sweep (kept on the sweep row), otherwise a
    COUNT over an index (about 20 ms per 100,000 rows counted on Postgres; pass
    ``with_total=False`` where that matters).
    """
    check_page(limit, offset)
    sweep = session.execute(
        select(SWEEPS.c.metric, SWEEPS.c.direction, SWEEPS.c.trial_count).where(
            SWEEPS.c.id == sweep_id
        )
    ).one_or_none()
    if sweep is None:
        raise SweepNotFound(sweep_id)
    wanted = _status_values(status)
    if rung is not None:
        page = _rung_query(sweep_id, rung, wanted).limit(limit).offset(offset)
    elif wanted is not None and len(wanted) > 1:
        page = _merged_query(sweep_id, wanted, limit, offset)
    else:
        page = _query(sweep_id, wanted).limit(limit).offset(offset)
    rows = session.execute(page).mappings()
    items = [LeaderboardRow(rank=offset + i + 1, **trial_fields(row)) for i, row in enumerate(rows)]
    total = _count(session, sweep_id, rung, wanted, sweep.trial_count) if with_total else None
    return LeaderboardPage(
        items=items,
        total=total,
        limit=limit,
        offset=offset,
        sweep_id=sweep_id,
        metric=sweep.metric,
        direction=sweep.direction,
        rung=rung,
    )


def _status_values(status: TrialStatus | Iterable[TrialStatus] | None) -> list[str] | None:
    if status is None:
        return None
    if isinstance(status, str):
        return [TrialStatus(status).value]
    return sorted({TrialStatus(s).value for s in status})


def _status_filter(wanted: list[str] | None) -> list[ColumnElement[bool]]:
    if wanted is None:
        return []
    return [TRIALS.c.status == wanted[0] if len(wanted) == 1 else TRIALS.c.status.in_(wanted)]


def _order() -> tuple[ColumnElement[Any], ...]:
    t = TRIALS.c
    return (t.rank_group, t.scored_rung.desc(), t.rank_value, t.rank_tie, t.trial_index)


def _query(sweep_id: str, wanted: list[str] | None) -> Select[Any]:
    return (
        select(*TRIAL_COLUMNS)
        .where(TRIALS.c.sweep_id == sweep_id, *_status_filter(wanted))
        .order_by(*_order())
    )


def _merged_query(sweep_id: str, wanted: list[str], limit: int, offset: int) -> Select[Any]:
    """Several statuses: the top ``offset + limit`` of each (one index scan each), merged.

    A plain ``status IN (...)`` would walk the sweep's order filtering out other statuses,
    which reads most of a large sweep when the wanted ones are rare (failed, cancelled).
    """
    t = TRIALS.c
    parts = [
        select(*TRIAL_COLUMNS, t.rank_group, t.rank_value, t.rank_tie)
        .where(t.sweep_id == sweep_id, t.status == value)
        .order_by(*_order())
        .limit(offset + limit)
        .subquery()
        for value in wanted
    ]
    merged = union_all(*(select(*part.c) for part in parts)).subquery()
    m = merged.c
    return (
        select(*(m[c.name] for c in TRIAL_COLUMNS))
        .order_by(m.rank_group, m.scored_rung.desc(), m.rank_value, m.rank_tie, m.trial_index)
        .limit(limit)
        .offset(offset)
    )


def _rung_query(sweep_id: str, rung: int, wanted: list[str] | None) -> Select[Any]:
    r = TRIAL_RUNGS.c
    # The rung's own result under the labels of the trial's latest one.
    score = {name: (r.rung if name == "scored_rung" else r[name]) for name in SCORE_COLUMNS}
    columns = [score[c.name].label(c.name) if c.name in score else c for c in TRIAL_COLUMNS]
    return (
        select(*columns)
        .select_from(
            TRIAL_RUNGS.join(
                TRIALS, and_(TRIALS.c.sweep_id == r.sweep_id, TRIALS.c.trial_id == r.trial_id)
            )
        )
        .where(r.sweep_id == sweep_id, r.rung == rung, *_status_filter(wanted))
        .order_by(r.rank_group, r.rank_value, r.rank_tie, r.trial_index)
    )


def _count(
    session: Session, sweep_id: str, rung: int | None, wanted: list[str] | None, trials: int
) -> int:
    if rung is None and wanted is None:
        return trials
    if rung is None:
        query = select(func.count()).where(TRIALS.c.sweep_id == sweep_id, *_status_filter(wanted))
    elif wanted is None:  # no join needed: an index-only count of the rung's results
        query = select(func.count()).where(
            TRIAL_RUNGS.c.sweep_id == sweep_id, TRIAL_RUNGS.c.rung == rung
        )
    else:
        query = _rung_query(sweep_id, rung, wanted).with_only_columns(func.count()).order_by(None)
    return int(session.execute(query).scalar_one())
