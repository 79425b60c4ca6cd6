"""Medians and ranges of repeated measurements, and the A,B,A,B order they are taken in."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    median: float
    low: float
    high: float
    count: int

    def describe(self, unit: str = "", digits: int = 1) -> str:
        return (
            f"{self.median:.{digits}f}{unit} (range {self.low:.{digits}f}-"
            f"{self.high:.{digits}f}{unit}, n={self.count})"
        )


def spread(values: Sequence[float]) -> Spread:
    if not values:
        raise ValueError("no values")
    return Spread(statistics.median(values), min(values), max(values), len(values))


def interleaved(variants: Sequence[str], runs: int) -> list[str]:
    """A, B, A, B ...: machine noise (other jobs, thermal state) hits every variant alike."""
    return [variant for _ in range(runs) for variant in variants]


def median_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Ratio of the medians (not the median of pairwise ratios: runs are not paired)."""
    below = statistics.median(denominators)
    return statistics.median(numerators) / below if below else float("nan")
