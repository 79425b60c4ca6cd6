"""The sampler as an activity: proposals land in the sweep's history, so replays reuse them."""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from app.domain.results import TrialConfig
from app.domain.workflow_io import ProposeInput
from app.search.sampler import (
    ProposalError,
    min_points_for_fit,
    observations_for_fit,
    propose,
)
from app.temporal import contract


@activity.defn(name=contract.PROPOSE_CONFIGS)
def propose_configs(inp: ProposeInput) -> list[TrialConfig]:
    """Configurations for ``inp.trial_indices`` (synchronous: run it in a thread pool)."""
    try:
        configs = propose(inp)
    except ProposalError as exc:
        raise ApplicationError(str(exc), type=contract.BAD_INPUT_ERROR, non_retryable=True) from exc
    fit_rung = None
    if inp.strategy == "tpe":
        fit_rung, _ = observations_for_fit(inp.observations, min_points_for_fit(inp.space))
    activity.logger.info(
        "proposed configs",
        extra={
            "strategy": inp.strategy,
            "trial_indices": inp.trial_indices,
            "born_rung": inp.born_rung,
            "observations": len(inp.observations),
            "fit_rung": fit_rung,
        },
    )
    return configs
