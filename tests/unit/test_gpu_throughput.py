"""The GPU throughput script's timing arithmetic (pure; no GPU, no training)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import report
from benchmarks.finetune import gpu_throughput
from benchmarks.finetune.gpu_throughput import Plan, Variant, step_clock, window_rates
from workers.ml.hooks import TrainingProgress


def progress(step: int) -> TrainingProgress:
    return TrainingProgress(step=step, target_step=10, max_steps=10, epoch=0.0, checkpoint=None)


def test_boundaries_start_after_warmup_and_end_at_the_last_step() -> None:
    plan = Plan(batch_size=8, max_length=128, warmup=4, window_steps=3, windows=2, variants=())
    assert plan.boundaries() == [4, 7, 10]
    assert plan.total_steps == 10


def test_window_rates_are_samples_per_second_between_marks() -> None:
    marks = {4: 10.0, 7: 11.0, 10: 13.0}
    assert window_rates(marks, [4, 7, 10], batch_size=8) == [24.0, 12.0]


def test_step_clock_marks_each_boundary_once_after_syncing() -> None:
    synced: list[int] = []
    marks, heartbeat = step_clock([2, 4], lambda: synced.append(len(synced)))
    for step in (0, 1, 2, 3, 4, 4):  # the final step is reported again after its checkpoint
        heartbeat(progress(step))
    assert sorted(marks) == [2, 4]
    assert len(synced) == 2
    assert marks[2] <= marks[4]


def test_variant_labels_name_precision_and_compilation() -> None:
    assert Variant("bf16", compile=True).label == "bf16 + torch.compile"
    assert Variant("fp32", compile=False).label == "fp32"
    with pytest.raises(AttributeError):
        Variant("fp32", compile=False).precision = "bf16"  # type: ignore[misc]


def test_a_measured_run_drops_the_pending_section(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    benchmarks = tmp_path / "benchmarks-history.md"
    monkeypatch.setattr(gpu_throughput, "HISTORY", benchmarks)
    monkeypatch.setattr(report, "HISTORY", benchmarks)
    report.prepend_section("## Older figures\n\nkept")
    report.prepend_section(gpu_throughput.pending_section())
    gpu_throughput.drop_pending_section()
    text = benchmarks.read_text()
    assert "(pending)" not in text
    assert text == report.HEADER + "## Older figures\n\nkept\n\n"
