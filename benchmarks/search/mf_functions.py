"""Multi-fidelity test functions with known optima, for the search-quality simulator.

Both are the "augmented" forms used across the multi-fidelity Bayesian optimisation
literature (Kandasamy et al., "Multi-fidelity Bayesian Optimisation with Continuous
Approximations", ICML 2017; the same forms are BoTorch's ``AugmentedBranin`` and
``AugmentedHartmann``). A fidelity ``s`` in [0, 1] perturbs one coefficient; ``s = 1`` is
the classic function, so the optimum at full fidelity is the well-known one. Both are
minimised.

Augmented Branin, x1 in [-5, 10], x2 in [0, 15]:

    B(x, s) = (x2 - (5.1 / (4 pi^2) - 0.1 (1 - s)) x1^2 + 5 x1 / pi - 6)^2
              + 10 (1 - 1 / (8 pi)) cos(x1) + 10

    min over x of B(x, 1) = 0.397887... (at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)).
    At s < 1 the minimum value is the same but sits at other x2: a cheap evaluation points
    to the wrong place, which is what makes the fidelity matter.

Augmented Hartmann-6, x in [0, 1]^6, with the usual constants alpha, A, P:

    H(x, s) = -(alpha_1 - 0.1 (1 - s)) exp(-sum_j A_1j (x_j - P_1j)^2)
              - sum_{i=2..4} alpha_i exp(-sum_j A_ij (x_j - P_ij)^2)

    min over x of H(x, 1) = -3.32237 at (0.20169, 0.150011, 0.476874, 0.275332, 0.311652,
    0.6573).

The sweep's budget maps to fidelity linearly: ``s = budget / max_budget``. Evaluations are
noise-free (a deterministic function of the configuration and the budget), so continuing a
trial from its checkpoint and retraining it from scratch give the same value, as they do in
the product (see DESIGN.md: "rung 1, promote, rung 2" equals a straight run exactly).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from app.domain.space import FloatParam, ParamValue, SweepSpace

BRANIN_OPTIMUM = 0.39788735772973816
BRANIN_MINIMISERS = ((-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475))

HARTMANN6_OPTIMUM = -3.322368011415515
HARTMANN6_MINIMISER = (0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054)

_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = (
    (10.0, 3.0, 17.0, 3.5, 1.7, 8.0),
    (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
    (3.0, 3.5, 1.7, 10.0, 17.0, 8.0),
    (17.0, 8.0, 0.05, 10.0, 0.1, 14.0),
)
_H6_P = (
    (0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886),
    (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
    (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650),
    (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381),
)


def augmented_branin(x1: float, x2: float, fidelity: float) -> float:
    b = 5.1 / (4 * math.pi**2) - 0.1 * (1 - fidelity)
    t1 = x2 - b * x1**2 + 5 * x1 / math.pi - 6
    return t1**2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def augmented_hartmann6(x: tuple[float, ...], fidelity: float) -> float:
    total = 0.0
    for i in range(4):
        alpha = _H6_ALPHA[i] - (0.1 * (1 - fidelity) if i == 0 else 0.0)
        exponent = sum(a * (xj - p) ** 2 for a, xj, p in zip(_H6_A[i], x, _H6_P[i], strict=True))
        total -= alpha * math.exp(-exponent)
    return total


@dataclass(frozen=True)
class MFFunction:
    """A test problem as the sweep sees it: a space, and a value per (params, fidelity)."""

    name: str
    title: str
    space: SweepSpace
    optimum: float
    evaluate: Callable[[Mapping[str, ParamValue], float], float]

    def regret(self, params: Mapping[str, ParamValue]) -> float:
        """Simple regret of a configuration: its full-fidelity value minus the optimum."""
        return self.evaluate(params, 1.0) - self.optimum


def _branin(params: Mapping[str, ParamValue], fidelity: float) -> float:
    return augmented_branin(float(params["x1"]), float(params["x2"]), fidelity)


def _hartmann6(params: Mapping[str, ParamValue], fidelity: float) -> float:
    return augmented_hartmann6(tuple(float(params[f"x{j}"]) for j in range(1, 7)), fidelity)


def _unit_box(names: list[str]) -> SweepSpace:
    return SweepSpace.model_validate({n: FloatParam(low=0.0, high=1.0) for n in names})


BRANIN = MFFunction(
    name="branin",
    title="Augmented Branin (2-d)",
    space=SweepSpace.model_validate(
        {"x1": FloatParam(low=-5.0, high=10.0), "x2": FloatParam(low=0.0, high=15.0)}
    ),
    optimum=BRANIN_OPTIMUM,
    evaluate=_branin,
)

HARTMANN6 = MFFunction(
    name="hartmann6",
    title="Augmented Hartmann-6 (6-d)",
    space=_unit_box([f"x{j}" for j in range(1, 7)]),
    optimum=HARTMANN6_OPTIMUM,
    evaluate=_hartmann6,
)

FUNCTIONS: dict[str, MFFunction] = {f.name: f for f in (HARTMANN6, BRANIN)}
