"""The mirror activity: writes a sweep's changes into the results index (idempotently)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import Engine
from temporalio import activity

from app.db import IndexUnavailable, mirror_sweep, session_scope
from app.domain.workflow_io import MirrorInput
from app.temporal import contract
from workers.activities.metrics import MIRROR_LAG, MIRROR_TRIALS, MIRROR_WRITES

log = logging.getLogger(__name__)


class MirrorActivities:
    """Bound to the orchestration worker's index engine (built in the worker's main)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @activity.defn(name=contract.MIRROR_RESULTS)
    def mirror_results(self, inp: MirrorInput) -> int:
        """Upsert the sweep row and the changed trials; returns the trials written.

        Safe to retry or to run late: every write is keyed and never regresses progress.
        An unreachable database raises, and Temporal retries with backoff.
        """
        try:
            with session_scope(self._engine) as session:
                written = mirror_sweep(
                    session, inp.result, inp.request, result_count=inp.result_count
                )
        except IndexUnavailable as exc:
            MIRROR_WRITES.labels("unavailable").inc()
            log.warning(
                "results index unavailable: %s", exc, extra={"sweep_id": inp.result.sweep_id}
            )
            raise
        except Exception:
            MIRROR_WRITES.labels("error").inc()
            raise
        MIRROR_WRITES.labels("ok").inc()
        MIRROR_TRIALS.inc(written)
        if inp.changed_since is not None:  # None: scheduled by a worker older than the field
            MIRROR_LAG.observe(lag_seconds(inp.changed_since))
        log.debug("mirrored %d trial(s)", written, extra={"sweep_id": inp.result.sweep_id})
        return written


def lag_seconds(changed_since: datetime, now: datetime | None = None) -> float:
    """Seconds since ``changed_since``; never negative (this worker's clock and the Temporal
    server's, which stamped the change, may disagree a little)."""
    if changed_since.tzinfo is None:
        changed_since = changed_since.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - changed_since).total_seconds())
