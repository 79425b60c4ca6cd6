"""The mirror activity: writes a sweep's changes into the results index (idempotently)."""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from temporalio import activity

from app.db import IndexUnavailable, mirror_sweep, session_scope
from app.domain.jobs import MirrorInput
from app.temporal import contract

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
            log.warning(
                "results index unavailable: %s", exc, extra={"sweep_id": inp.result.sweep_id}
            )
            raise
        log.debug("mirrored %d trial(s)", written, extra={"sweep_id": inp.result.sweep_id})
        return written
