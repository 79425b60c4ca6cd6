"""A deployment's limits on what one sweep may ask for (settings: SWEEPS_MAX_*).

``SweepRequest`` itself only refuses what is nonsense anywhere; how many trials, rungs or
concurrent trainings a service accepts is its operator's choice, checked here before any
workflow starts, with the field named as in validation errors.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from app.domain.request import SweepRequest
from app.domain.space import CategoricalParam


class RequestLimits(BaseModel):
    model_config = ConfigDict(frozen=True)

    trials_per_sweep: int = 1000
    concurrency: int = 64
    rungs: int = 10
    choices: int = 32


def limit_violations(request: SweepRequest, limits: RequestLimits) -> list[tuple[str, str]]:
    """(field, message) for every limit the request exceeds; empty when it fits."""
    problems: list[tuple[str, str]] = []
    total = request.ladder.total_trials
    if total > limits.trials_per_sweep:
        field = "ladder.trials" if request.ladder.trials > limits.trials_per_sweep else "ladder"
        problems.append(
            (
                field,
                f"the sweep would train {total} trials (ladder.trials plus every rung's "
                f"new_trials); this service allows at most {limits.trials_per_sweep}",
            )
        )
    if len(request.ladder.rungs) > limits.rungs:
        problems.append(
            (
                "ladder.rungs",
                f"{len(request.ladder.rungs)} rungs; this service allows at most {limits.rungs}",
            )
        )
    if request.max_concurrency > limits.concurrency:
        problems.append(
            (
                "max_concurrency",
                f"{request.max_concurrency} trials at once; this service allows at most "
                f"{limits.concurrency}",
            )
        )
    for name, param in request.space.items():
        if isinstance(param, CategoricalParam) and len(param.choices) > limits.choices:
            problems.append(
                (
                    f"space.{name}.choices",
                    f"{len(param.choices)} choices; this service allows at most {limits.choices}",
                )
            )
    return problems
