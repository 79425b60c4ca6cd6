"""Ready-made sweeps for `sweeps demo`: real data, bundled offline, sized for a CPU box.
Each is a SweepRequest file beside this module, usable as an example of the format."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml

from app.domain import SweepRequest

PresetName = Literal["default", "tiny"]
PRESET_NAMES: tuple[PresetName, ...] = ("default", "tiny")


def preset_path(name: PresetName) -> Path:
    return Path(__file__).with_name(f"{name}.yaml")


def preset(name: PresetName, seed: int = 0) -> SweepRequest:
    """`default`: pretrained MiniLM-L6 on tweet sentiment; `tiny`: random-init 2-layer BERT."""
    body = yaml.safe_load(preset_path(name).read_text())
    body["seed"] = seed
    return SweepRequest.model_validate(body)
