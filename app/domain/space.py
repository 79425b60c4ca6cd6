"""The search space: named hyperparameters and the distributions they are drawn from."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

# Hard caps, whatever the deployment allows (SWEEPS_MAX_CHOICES is usually lower): they keep
# a request, its workflow history and the sampler's state small.
MAX_SEARCH_PARAMS = 16
MAX_CHOICES = 256
MAX_CHOICE_LENGTH = 200

ChoiceText = Annotated[str, Field(max_length=MAX_CHOICE_LENGTH)]
ParamValue = float | int | ChoiceText | bool


class _Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatParam(_Param):
    """A real-valued parameter, uniform on [low, high] or log-uniform when ``log``."""

    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False

    @model_validator(mode="after")
    def _check_range(self) -> FloatParam:
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        return self


class IntParam(_Param):
    """An integer parameter on [low, high] (inclusive), optionally log-spaced."""

    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _check_range(self) -> IntParam:
        if self.low >= self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got low={self.low}")
        if self.log and self.step != 1:
            raise ValueError("step must be 1 for a log range")
        return self


class CategoricalParam(_Param):
    """A choice among listed values (numbers, strings or booleans)."""

    type: Literal["categorical"] = "categorical"
    choices: list[ParamValue] = Field(min_length=1, max_length=MAX_CHOICES)

    @model_validator(mode="after")
    def _check_choices(self) -> CategoricalParam:
        if len(set(map(repr, self.choices))) != len(self.choices):
            raise ValueError("choices must be distinct")
        return self


Param = Annotated[FloatParam | IntParam | CategoricalParam, Field(discriminator="type")]


class SweepSpace(RootModel[dict[str, Param]]):
    """Hyperparameter name -> distribution. Names are fields of ``TrainingParams``."""

    model_config = ConfigDict(frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _not_too_many(cls, value: object) -> object:
        # Before the parameters are validated one by one: a huge mapping fails fast.
        if isinstance(value, dict) and len(value) > MAX_SEARCH_PARAMS:
            raise ValueError(
                f"at most {MAX_SEARCH_PARAMS} parameters can be searched, got {len(value)}"
            )
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> SweepSpace:
        if not self.root:
            raise ValueError("the search space needs at least one parameter")
        return self

    def items(self) -> list[tuple[str, FloatParam | IntParam | CategoricalParam]]:
        return sorted(self.root.items())

    def names(self) -> list[str]:
        return sorted(self.root)
