"""Ready-made sweeps for `sweeps demo`: real data, bundled offline, sized for a CPU box."""

from __future__ import annotations

from typing import Literal

from app.domain import SweepRequest

PresetName = Literal["default", "tiny"]


def preset(name: PresetName, seed: int = 0) -> SweepRequest:
    """`default` fine-tunes pretrained MiniLM-L6 on tweet sentiment in a few minutes on 2 CPU
    cores; `tiny` runs the same pipeline with a random-init 2-layer BERT in about a minute."""
    if name == "default":
        return SweepRequest.model_validate(
            {
                "name": "demo-tweets-minilm",
                "model": {"source": "minilm-l6"},
                "dataset": {
                    "source": "tweet-sentiment",
                    "max_train_samples": 8000,
                    "max_eval_samples": 600,
                },
                "space": {
                    "learning_rate": {"type": "float", "low": 1e-5, "high": 3e-4, "log": True},
                    "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
                    "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
                },
                "training": {
                    "per_device_train_batch_size": 16,
                    "max_length": 64,
                    "checkpoint_every_steps": 25,
                },
                "objective": {"metric": "accuracy"},
                "ladder": {
                    "unit": "steps",
                    "trials": 6,
                    "rungs": [
                        {"budget": 25, "keep": 2},
                        {"budget": 75, "keep": 1},
                        {"budget": 150},
                    ],
                },
                "strategy": "tpe",
                "max_concurrency": 2,
                "seed": seed,
            }
        )
    return SweepRequest.model_validate(
        {
            "name": "demo-tiny",
            "model": {"source": "tiny-bert"},
            "dataset": {
                "source": "tweet-sentiment",
                "max_train_samples": 800,
                "max_eval_samples": 200,
            },
            "space": {
                "learning_rate": {"type": "float", "low": 1e-4, "high": 3e-3, "log": True},
                "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
            },
            "training": {
                "per_device_train_batch_size": 16,
                "max_length": 48,
                "checkpoint_every_steps": 10,
            },
            "objective": {"metric": "accuracy"},
            "ladder": {
                "unit": "steps",
                "trials": 4,
                "rungs": [{"budget": 10, "keep": 2}, {"budget": 30}],
            },
            "strategy": "tpe",
            "max_concurrency": 2,
            "seed": seed,
        }
    )
