"""Proposals from Optuna's samplers, fitted per budget (BOHB style) and seeded per trial index.

``propose`` is a pure function of its input: each trial index is sampled by a sampler seeded
with ``derive_seed(sweep_seed, trial_index, "propose")`` over a study rebuilt from the input in
a canonical order, so an activity retry (or a replayed workflow) gets the same configurations.
"""

from __future__ import annotations

import functools
import logging
import math
import warnings
from collections.abc import Iterable, Sequence
from typing import Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.samplers import BaseSampler, RandomSampler, TPESampler
from optuna.trial import TrialState, create_trial

from app.domain.request import Direction
from app.domain.results import TrialConfig
from app.domain.seeds import derive_seed
from app.domain.space import CategoricalParam, FloatParam, IntParam, ParamValue, SweepSpace
from app.domain.workflow_io import Observation, ProposeInput

# TPE needs at least this many observations of one rung (and at least len(space) + 1, as BOHB's
# min_points_in_model) before it models that rung; below that, proposals are random.
DEFAULT_N_STARTUP = 5


class ProposalError(ValueError):
    """The input cannot be turned into proposals (it will not get better on retry)."""


def min_points_for_fit(space: SweepSpace, n_startup: int = DEFAULT_N_STARTUP) -> int:
    """Observations one rung needs before TPE is fitted on it."""
    return max(len(space.root) + 1, n_startup)


def observations_for_fit(
    observations: Iterable[Observation], min_points: int
) -> tuple[int | None, list[Observation]]:
    """The rung TPE is fitted on, and its observations in canonical (trial index) order.

    Budgets are not mixed: the highest rung with at least ``min_points`` observations wins
    (higher budgets predict the final ranking better). ``(None, [])`` when no rung has enough.
    Duplicates of a (trial, rung) are collapsed; conflicting duplicates are an error.
    """
    by_rung: dict[int, dict[int, Observation]] = {}
    for obs in observations:
        seen = by_rung.setdefault(obs.rung, {})
        earlier = seen.get(obs.trial_index)
        if earlier is not None and not _same_observation(earlier, obs):
            raise ProposalError(
                f"trial {obs.trial_index} has two different observations at rung {obs.rung}"
            )
        seen[obs.trial_index] = obs
    for rung in sorted(by_rung, reverse=True):
        if len(by_rung[rung]) >= min_points:
            chosen = by_rung[rung]
            return rung, [chosen[index] for index in sorted(chosen)]
    return None, []


def to_distributions(space: SweepSpace) -> dict[str, BaseDistribution]:
    """Optuna distributions for the space, in name order.

    Categorical parameters are modelled over choice *indices* and mapped back afterwards, so
    choices Optuna would confuse (``1``, ``1.0`` and ``True`` compare equal) stay distinct.
    """
    distributions: dict[str, BaseDistribution] = {}
    for name, param in space.items():
        if isinstance(param, FloatParam):
            distributions[name] = FloatDistribution(param.low, param.high, log=param.log)
        elif isinstance(param, IntParam):
            # Optuna would shrink high onto the step grid with a warning; do it quietly.
            high = param.low + (param.high - param.low) // param.step * param.step
            distributions[name] = IntDistribution(param.low, high, log=param.log, step=param.step)
        else:
            distributions[name] = CategoricalDistribution(list(range(len(param.choices))))
    return distributions


def propose(inp: ProposeInput, *, n_startup: int = DEFAULT_N_STARTUP) -> list[TrialConfig]:
    """One configuration per ``inp.trial_indices``, in ascending trial index order.

    ``random``: each index is drawn independently by a ``RandomSampler`` seeded for it.
    ``tpe``: multivariate TPE with the constant liar, fitted on the observations of one rung
    (see ``observations_for_fit``). ``inp.pending`` and the configurations already proposed in
    this batch enter as RUNNING trials, so a batch spreads out instead of piling on one mode.
    With too few observations TPE falls back to seeded random sampling.

    A proposal depends only on (sweep seed, trial index, observations, pending, the lower
    indices of this batch): not on the order in which observations are listed. Pending configs
    are taken in the order given; pass them in trial index order, and proposing a batch equals
    proposing its indices one by one with the earlier ones passed as pending.
    """
    _quiet_optuna()
    indices = sorted(inp.trial_indices)
    if len(set(indices)) != len(indices):
        raise ProposalError(f"trial_indices has duplicates: {inp.trial_indices}")
    if any(index < 0 for index in indices):
        raise ProposalError(f"trial_indices must be >= 0: {inp.trial_indices}")

    distributions = to_distributions(inp.space)
    fit_rung: int | None = None
    fit: list[Observation] = []
    if inp.strategy == "tpe":
        min_points = min_points_for_fit(inp.space, n_startup)
        fit_rung, fit = observations_for_fit(inp.observations, min_points)

    # The study holds each observation's place in the ranking, best = 0 (see fit_ranks).
    study = optuna.create_study(direction="minimize", sampler=RandomSampler(seed=0))
    if fit_rung is not None:
        for obs, place in zip(fit, fit_ranks(fit, inp.direction), strict=True):
            study.add_trial(
                create_trial(
                    state=TrialState.COMPLETE,
                    value=place,
                    params=_to_internal(
                        inp.space, obs.params, f"observation of trial {obs.trial_index}"
                    ),
                    distributions=distributions,
                )
            )
        for n, config in enumerate(inp.pending):
            study.add_trial(
                create_trial(
                    state=TrialState.RUNNING,
                    params=_to_internal(inp.space, config, f"pending[{n}]"),
                    distributions=distributions,
                )
            )

    configs: list[TrialConfig] = []
    for index in indices:
        seed = derive_seed(inp.sweep_seed, index, "propose")
        study.sampler = _sampler(seed, fit_rung is not None, len(fit))
        # The asked trial stays RUNNING in the study: the constant liar for later indices.
        trial = study.ask(distributions)
        configs.append(
            TrialConfig(
                trial_index=index,
                params=_to_external(inp.space, trial.params),
                seed=derive_seed(inp.sweep_seed, index, "train"),
                born_rung=inp.born_rung,
            )
        )
    return configs


def _sampler(seed: int, fitted: bool, n_fit: int) -> BaseSampler:
    if not fitted:
        return RandomSampler(seed=seed)
    return TPESampler(multivariate=True, constant_liar=True, seed=seed, n_startup_trials=n_fit)


def fit_ranks(observations: Sequence[Observation], direction: Direction) -> list[float]:
    """Each observation's place when ranked best first by value, then by tie-breaker.

    TPE splits the observations into good and bad by their order alone, so places model the
    same as values do, and they let the held-out loss order what the objective ties (as the
    ladder's promotions do; see app.search.rungs). Observations equal on both keys share a
    place. A NaN value (a diverged run) ranks last: it says the config is bad.
    """
    keys = [_rank_key(obs, direction) for obs in observations]
    ordered = sorted(set(keys))
    place = {key: float(n) for n, key in enumerate(ordered)}
    return [place[key] for key in keys]


def _rank_key(obs: Observation, direction: Direction) -> tuple[float, float]:
    if math.isnan(obs.value):
        value = math.inf
    else:
        value = -obs.value if direction == "maximize" else obs.value
    tie = obs.tie_breaker
    return value, tie if tie is not None and not math.isnan(tie) else math.inf


def _same_observation(a: Observation, b: Observation) -> bool:
    same_value = a.value == b.value or (math.isnan(a.value) and math.isnan(b.value))
    return same_value and a.params == b.params


def _to_internal(space: SweepSpace, params: dict[str, ParamValue], what: str) -> dict[str, Any]:
    """Domain params -> the values Optuna's distributions hold (choice indices for categoricals)."""
    if set(params) != set(space.root):
        raise ProposalError(
            f"{what}: params {sorted(params)} do not match the space {space.names()}"
        )
    internal: dict[str, Any] = {}
    for name, param in space.items():
        value = params[name]
        if isinstance(param, CategoricalParam):
            internal[name] = _choice_index(param.choices, value, f"{what}: {name}")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise ProposalError(f"{what}: {name}={value!r} is not a number")
        elif not param.low <= value <= param.high:
            raise ProposalError(f"{what}: {name}={value!r} is outside [{param.low}, {param.high}]")
        elif isinstance(param, IntParam):
            if value != int(value) or (int(value) - param.low) % param.step:
                raise ProposalError(f"{what}: {name}={value!r} is not on the step grid")
            internal[name] = int(value)
        else:
            internal[name] = float(value)
    return internal


def _to_external(space: SweepSpace, internal: dict[str, Any]) -> dict[str, ParamValue]:
    """Optuna's sampled values -> plain Python values of the domain (float, int, str, bool)."""
    params: dict[str, ParamValue] = {}
    for name, param in space.items():
        value = internal[name]
        if isinstance(param, CategoricalParam):
            params[name] = param.choices[int(value)]
        elif isinstance(param, IntParam):
            params[name] = int(value)
        else:
            params[name] = float(value)
    return params


def _choice_index(choices: Sequence[ParamValue], value: ParamValue, what: str) -> int:
    # Same type first, so True does not match a choice 1 (nor 1.0 a choice 1).
    for i, choice in enumerate(choices):
        if type(choice) is type(value) and choice == value:
            return i
    for i, choice in enumerate(choices):
        if choice == value and not isinstance(choice, bool) and not isinstance(value, bool):
            return i
    raise ProposalError(f"{what}={value!r} is not one of the choices {list(choices)}")


@functools.cache
def _quiet_optuna() -> None:
    """Once per process: no INFO line per study/trial, no ExperimentalWarning spam."""
    optuna.logging.set_verbosity(logging.WARNING)
    optuna.logging.disable_default_handler()
    optuna.logging.enable_propagation()
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
