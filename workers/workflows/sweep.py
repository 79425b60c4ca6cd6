"""The two sweep workflows. Both run the ladder engine; their names tell users in the
Temporal Web UI which strategy a sweep uses."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.domain import SweepResult
    from app.domain.workflow_io import SweepWorkflowInput
    from app.temporal import contract

from workers.workflows.engine import SweepEngine


@workflow.defn(name=contract.LADDER_SWEEP_WORKFLOW)
class LadderSweepWorkflow(SweepEngine):
    """Successive halving with TPE (or random) proposals fitted per budget."""

    @workflow.run
    async def run(self, inp: SweepWorkflowInput) -> SweepResult:
        return await self._run_sweep(inp)


@workflow.defn(name=contract.SWEEP_WORKFLOW)
class SweepWorkflow(SweepEngine):
    """A plain random sweep: same ladder mechanics, proposals drawn at random."""

    forced_strategy = "random"

    @workflow.run
    async def run(self, inp: SweepWorkflowInput) -> SweepResult:
        return await self._run_sweep(inp)
