"""TrainingParams reach the Trainer: torch.compile is off unless a sweep asks for it."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from app.domain import TrainingParams
from workers.ml.trainer_setup import training_arguments


def test_torch_compile_is_off_by_default(tmp_path: Path) -> None:
    args = training_arguments(TrainingParams(), tmp_path, seed=0)
    assert args.torch_compile is False


def test_torch_compile_is_passed_to_the_trainer(tmp_path: Path) -> None:
    args = training_arguments(TrainingParams(torch_compile=True), tmp_path, seed=0)
    assert args.torch_compile is True


def test_torch_compile_is_a_fixed_setting_not_a_string() -> None:
    with pytest.raises(ValidationError, match="torch_compile"):
        TrainingParams.model_validate({"torch_compile": "sometimes"})
