"""SweepRequest validation: every invalid request is rejected with a message naming its field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from app.domain import SweepRequest


def valid() -> dict[str, Any]:
    return {
        "name": "demo",
        "model": {"source": "tiny-bert"},
        "dataset": {"source": "tweet-sentiment", "max_train_samples": 256},
        "space": {
            "learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True},
            "per_device_train_batch_size": {"type": "int", "low": 8, "high": 32, "step": 8},
            "lr_scheduler_type": {"type": "categorical", "choices": ["linear", "cosine"]},
            "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
        },
        "objective": {"metric": "f1_macro"},
        "ladder": {
            "unit": "steps",
            "trials": 8,
            "reduction_factor": 2,
            "rungs": [
                {"budget": 20},
                {"budget": 40, "keep": 2, "new_trials": 2},
                {"budget": 80},
            ],
        },
        "strategy": "tpe",
        "max_concurrency": 3,
        "seed": 42,
    }


Mutation = Callable[[dict[str, Any]], None]


def setting(path: str, value: Any) -> Mutation:
    """Set a dotted path ("ladder.rungs.1.keep") of the request dict to ``value``."""

    def mutate(request: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = request
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


INVALID: dict[str, tuple[Mutation, list[str]]] = {
    # case: (mutation, strings the error must contain: the field, and what is wrong)
    "inverted range": (
        setting("space.learning_rate", {"type": "float", "low": 1e-3, "high": 1e-5}),
        ["space.learning_rate", "must be below high"],
    ),
    "inverted int range": (
        setting("space.per_device_train_batch_size", {"type": "int", "low": 32, "high": 8}),
        ["space.per_device_train_batch_size", "must be below high"],
    ),
    "log range with low 0": (
        setting("space.weight_decay", {"type": "float", "low": 0.0, "high": 0.1, "log": True}),
        ["space.weight_decay", "log range needs low > 0"],
    ),
    "log range with negative low": (
        setting("space.learning_rate", {"type": "float", "low": -1, "high": 1e-3, "log": True}),
        ["space.learning_rate", "log range needs low > 0"],
    ),
    "empty categorical": (
        setting("space.lr_scheduler_type", {"type": "categorical", "choices": []}),
        ["space.lr_scheduler_type", "choices"],
    ),
    "categorical value the field rejects": (
        setting(
            "space.lr_scheduler_type", {"type": "categorical", "choices": ["linear", "zigzag"]}
        ),
        ["space.lr_scheduler_type", "'zigzag' is invalid"],
    ),
    "range outside the field's bounds": (
        setting("space.weight_decay", {"type": "float", "low": 0.0, "high": 2.0}),
        ["space.weight_decay", "value 2.0 is invalid"],
    ),
    "unknown objective metric": (
        setting("objective.metric", "perplexity"),
        ["objective.metric", "accuracy"],
    ),
    "unknown direction": (setting("objective.direction", "up"), ["objective.direction"]),
    "budgets that do not increase": (
        setting("ladder.rungs.1.budget", 20),
        ["ladder", "rungs[1].budget", "must be larger than"],
    ),
    "budgets that decrease": (
        setting("ladder.rungs.2.budget", 30),
        ["ladder", "rungs[2].budget", "budgets must increase"],
    ),
    "infinite budget": (setting("ladder.rungs.2.budget", float("inf")), ["ladder.rungs.2.budget"]),
    "fractional steps": (setting("ladder.rungs.0.budget", 20.5), ["rungs[0].budget", "whole"]),
    "zero budget": (setting("ladder.rungs.0.budget", 0), ["ladder.rungs.0.budget"]),
    "keep larger than the rung's entrants": (
        # rung 1 gets 8 / 2 = 4 survivors + 2 new trials = 6 entrants
        setting("ladder.rungs.1.keep", 7),
        ["ladder", "rungs[1].keep (7)", "6 trials"],
    ),
    "keep larger than the first rung's trials": (
        setting("ladder.rungs.0.keep", 9),
        ["rungs[0].keep (9)", "8 trials"],
    ),
    "keep on the last rung": (setting("ladder.rungs.2.keep", 1), ["rungs[2].keep is not allowed"]),
    "new_trials on rung 0": (
        setting("ladder.rungs.0.new_trials", 3),
        ["rungs[0].new_trials is not allowed"],
    ),
    "keep missing without reduction factor": (
        setting("ladder.reduction_factor", None),
        ["rungs[0].keep is required"],
    ),
    "reduction factor of 1": (setting("ladder.reduction_factor", 1), ["ladder.reduction_factor"]),
    "no rungs": (setting("ladder.rungs", []), ["ladder.rungs"]),
    "no trials": (setting("ladder.trials", 0), ["ladder.trials"]),
    "zero concurrency": (setting("max_concurrency", 0), ["max_concurrency", "greater than"]),
    "unknown search parameter name": (
        setting("space.learnin_rate", {"type": "float", "low": 1e-5, "high": 1e-3}),
        ["space.learnin_rate", "not a searchable parameter"],
    ),
    "fixed parameter searched": (
        setting("space.max_length", {"type": "int", "low": 32, "high": 64}),
        ["space.max_length", "not a searchable parameter"],
    ),
    "float param on an int field": (
        setting("space.per_device_train_batch_size", {"type": "float", "low": 8.0, "high": 32.0}),
        ["space.per_device_train_batch_size", "whole numbers"],
    ),
    "empty space": (setting("space", {}), ["space", "at least one parameter"]),
    "unknown param type": (
        setting("space.learning_rate", {"type": "gaussian", "low": 0, "high": 1}),
        ["space.learning_rate"],
    ),
    "unknown top-level field": (setting("budget", 10), ["budget", "Extra inputs"]),
    "unknown strategy": (setting("strategy", "grid"), ["strategy"]),
    "bad name": (setting("name", "has spaces"), ["name"]),
    "negative seed": (setting("seed", -1), ["seed"]),
}


def error_text(exc: ValidationError) -> str:
    """Every error as "loc: msg", so a field named by loc or by message both count."""
    return "\n".join(
        ".".join(str(part) for part in err["loc"]) + ": " + err["msg"] for err in exc.errors()
    )


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_request_is_rejected_naming_the_field(case: str) -> None:
    mutate, expected = INVALID[case]
    request = copy.deepcopy(valid())
    mutate(request)
    with pytest.raises(ValidationError) as info:
        SweepRequest.model_validate(request)
    text = error_text(info.value)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in:\n{text}"


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_request_json_is_rejected_too(case: str) -> None:
    mutate, _ = INVALID[case]
    request = copy.deepcopy(valid())
    mutate(request)
    with pytest.raises(ValidationError):
        # Infinity is not JSON; Python's json writes it anyway and pydantic must refuse it.
        SweepRequest.model_validate_json(json.dumps(request))


def test_valid_request_round_trips_through_json() -> None:
    request = SweepRequest.model_validate(valid())
    again = SweepRequest.model_validate_json(request.model_dump_json())
    assert again == request
    assert again.model_dump() == request.model_dump()
    assert again.ladder.entrants() == [8, 6, 2]
    assert again.objective.resolved_direction == "maximize"
    assert again.space.names() == sorted(valid()["space"])
    # Types survive: int stays int, categorical strings stay strings.
    assert again.space.root["per_device_train_batch_size"].type == "int"


def test_minimal_request_gets_defaults() -> None:
    request = SweepRequest.model_validate(
        {
            "name": "min",
            "model": {"source": "tiny-bert"},
            "dataset": {"source": "tweet-sentiment"},
            "space": {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3}},
            "ladder": {"trials": 4, "rungs": [{"budget": 10, "keep": 2}, {"budget": 20}]},
        }
    )
    assert request.strategy == "tpe"
    assert request.max_concurrency >= 1
    assert request.objective.metric == "accuracy"
    assert request.ladder.entrants() == [4, 2]
