"""A stand-in for the sweep workflow when one trial trains alone (service_overhead).

The fine-tune activity queries its sweep for pause/cancel/checkpoint requests and signals it
each saved checkpoint; this workflow answers those calls as a sweep with no requests would,
so the activity does all of its real talking to Temporal.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.domain import TrialControl
    from app.domain.jobs import CheckpointSaved
    from app.temporal import contract

FINISH_SIGNAL = "finish"


@workflow.defn(name="BenchSweepStandIn")
class SweepStandIn:
    def __init__(self) -> None:
        self._finished = False
        self._checkpoints_reported = 0

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self._finished)
        return self._checkpoints_reported

    @workflow.query(name=contract.TRIAL_CONTROL_QUERY)
    def trial_control(self, trial_id: str) -> TrialControl:
        return TrialControl()

    @workflow.signal(name=contract.CHECKPOINT_SAVED_SIGNAL)
    def checkpoint_saved(self, report: CheckpointSaved) -> None:
        self._checkpoints_reported += 1

    @workflow.signal(name=FINISH_SIGNAL)
    def finish(self) -> None:
        self._finished = True
