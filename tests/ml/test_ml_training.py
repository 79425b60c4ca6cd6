"""Fine-tuning with real tiny-bert runs: promotion and crash recovery are exact, control works."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from ml_helpers import (
    MAX_STEPS,
    Evaluate,
    JobFactory,
    Reference,
    ScriptedControl,
    SimulatedCrash,
    assert_same_metrics,
)
from safetensors.torch import load_file

from app.domain import CheckpointInfo, ModelSpec, TrialControl
from workers.ml.checkpoints import (
    MARKER_FILE,
    complete_checkpoints,
    is_complete,
    mark_complete,
    prune,
    trial_output_dir,
)
from workers.ml.errors import BadInputError
from workers.ml.hooks import TrainingHooks
from workers.ml.sources import ClassifierOptions, load_classifier, load_tokenizer, resolve_model
from workers.ml.train import fine_tune
from workers.ml.trainer_setup import budget_to_steps, plan_steps

pytestmark = pytest.mark.slow


def weights(checkpoint: CheckpointInfo) -> dict[str, torch.Tensor]:
    return load_file(str(Path(checkpoint.path) / "model.safetensors"))


def assert_same_weights(a: CheckpointInfo, b: CheckpointInfo) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name], wb[name], rtol=0, atol=1e-6, msg=name)


def test_reference_run_prunes_to_keep_checkpoints(reference: Reference) -> None:
    assert reference.outcome.global_step == MAX_STEPS
    assert reference.outcome.stopped == "budget"
    assert reference.outcome.checkpoint.reason == "rung_end"
    assert reference.outcome.checkpoint.epoch > 1  # the ladder crossed an epoch boundary
    assert [c.step for c in reference.reported] == [5, 10, 15, 20, 25, 30]
    kept = complete_checkpoints(reference.output_dir)
    assert [c.step for c in kept] == [25, 30]  # keep_checkpoints=2
    assert sorted(p.name for p in reference.output_dir.iterdir()) == [
        "checkpoint-25",
        "checkpoint-30",
    ]


def test_promotion_equals_straight_run(
    tmp_path: Path, make_job: JobFactory, evaluate: Evaluate, reference: Reference
) -> None:
    rung0 = fine_tune(make_job(tmp_path, budget=12, rung=0))
    assert (rung0.global_step, rung0.checkpoint.rung, rung0.checkpoint.reason) == (
        12,
        0,
        "rung_end",
    )
    assert rung0.checkpoint.epoch < 1

    promoted = fine_tune(make_job(tmp_path, rung=1, resume_from=rung0.checkpoint))
    assert promoted.global_step == MAX_STEPS
    assert promoted.checkpoint.rung == 1
    assert_same_metrics(evaluate(promoted.checkpoint), reference.metrics)
    assert_same_weights(promoted.checkpoint, reference.outcome.checkpoint)


def test_crash_then_rerun_resumes_from_latest_complete_checkpoint(
    tmp_path: Path, make_job: JobFactory, evaluate: Evaluate, reference: Reference
) -> None:
    job = make_job(tmp_path, rung=1)
    crash = ScriptedControl(crash_after_step=17)
    with pytest.raises(SimulatedCrash):
        fine_tune(job, TrainingHooks(poll_control=crash, control_poll_seconds=0))
    out = trial_output_dir(job)
    assert [c.step for c in complete_checkpoints(out)] == [10, 15]
    # A worker that died while saving leaves a directory without the completion marker.
    half_written = out / "checkpoint-17"
    half_written.mkdir()
    (half_written / "model.safetensors").write_bytes(b"truncated")

    seen: list[CheckpointInfo] = []
    resumed = fine_tune(job, TrainingHooks(on_checkpoint=seen.append))
    assert [c.step for c in seen] == [20, 25, 30]  # picked up at 15, not from scratch or 17
    assert not half_written.exists()
    assert resumed.global_step == MAX_STEPS
    assert_same_metrics(evaluate(resumed.checkpoint), reference.metrics)


def test_pause_returns_a_checkpoint_that_resumes_exactly(
    tmp_path: Path, make_job: JobFactory, evaluate: Evaluate, reference: Reference
) -> None:
    job = make_job(tmp_path, rung=1)
    pause_after_step_8 = ScriptedControl({9: TrialControl(stop="pause")})
    paused = fine_tune(job, TrainingHooks(poll_control=pause_after_step_8, control_poll_seconds=0))
    assert paused.stopped == "paused"
    assert (paused.global_step, paused.checkpoint.step, paused.checkpoint.reason) == (
        8,
        8,
        "pause",
    )
    assert is_complete(paused.checkpoint.path)

    resumed = fine_tune(job.model_copy(update={"resume_from": paused.checkpoint}))
    assert resumed.stopped == "budget"
    assert_same_metrics(evaluate(resumed.checkpoint), reference.metrics)


def test_cancel_request_stops_with_a_cancel_checkpoint(
    tmp_path: Path, make_job: JobFactory
) -> None:
    control = ScriptedControl({4: TrialControl(stop="cancel")})
    outcome = fine_tune(
        make_job(tmp_path), TrainingHooks(poll_control=control, control_poll_seconds=0)
    )
    assert outcome.stopped == "cancelled"
    assert (outcome.global_step, outcome.checkpoint.reason) == (3, "cancel")
    assert is_complete(outcome.checkpoint.path)


def test_checkpoint_now_saves_at_the_next_step_and_keeps_training(
    tmp_path: Path, make_job: JobFactory
) -> None:
    # The sweep started this trial at generation 2: only a later bump asks for a save.
    control = ScriptedControl(
        {1: TrialControl(checkpoint_generation=2), 8: TrialControl(checkpoint_generation=3)}
    )
    seen: list[CheckpointInfo] = []
    hooks = TrainingHooks(on_checkpoint=seen.append, poll_control=control, control_poll_seconds=0)
    job = make_job(tmp_path, budget=12, keep_checkpoints=10, checkpoint_generation=2)
    outcome = fine_tune(job, hooks)
    assert [(c.step, c.reason) for c in seen] == [
        (5, "interval"),
        (7, "requested"),
        (10, "interval"),
        (12, "rung_end"),
    ]
    assert outcome.stopped == "budget"
    assert outcome.global_step == 12
    assert all(is_complete(c.path) for c in seen)


def test_checkpoint_now_asked_before_training_began_is_honoured(
    tmp_path: Path, make_job: JobFactory
) -> None:
    # Started at generation 1; a request (generation 2) came while it waited for a worker.
    control = ScriptedControl({1: TrialControl(checkpoint_generation=2)})
    seen: list[CheckpointInfo] = []
    hooks = TrainingHooks(on_checkpoint=seen.append, poll_control=control, control_poll_seconds=0)
    job = make_job(tmp_path, budget=6, keep_checkpoints=10, checkpoint_generation=1)
    fine_tune(job, hooks)
    assert [(c.step, c.reason) for c in seen] == [
        (1, "requested"),
        (5, "interval"),
        (6, "rung_end"),
    ]


def test_control_is_polled_by_time_not_every_step(tmp_path: Path, make_job: JobFactory) -> None:
    control = ScriptedControl()
    frozen_clock = TrainingHooks(poll_control=control, clock=lambda: 100.0)
    fine_tune(make_job(tmp_path, budget=6), frozen_clock)
    assert control.calls == 1  # only the poll before training: no time passed, so no polls


def test_resume_point_at_target_returns_without_training(
    tmp_path: Path, make_job: JobFactory
) -> None:
    first = fine_tune(make_job(tmp_path, budget=5, rung=0))
    again = fine_tune(make_job(tmp_path, budget=5, rung=2, resume_from=first.checkpoint))
    assert again.checkpoint.path == first.checkpoint.path
    assert again.checkpoint.rung == 2
    assert again.train_loss is None
    assert again.global_step == 5


def test_incomplete_resume_from_is_bad_input(tmp_path: Path, make_job: JobFactory) -> None:
    first = fine_tune(make_job(tmp_path, budget=5))
    (Path(first.checkpoint.path) / MARKER_FILE).unlink()
    with pytest.raises(BadInputError, match="incomplete"):
        fine_tune(make_job(tmp_path / "other", budget=10, resume_from=first.checkpoint))


def test_prune_never_removes_the_protected_or_incomplete(tmp_path: Path) -> None:
    infos = []
    for step in (5, 10, 15, 20):
        path = tmp_path / f"checkpoint-{step}"
        path.mkdir()
        info = CheckpointInfo(path=str(path), step=step, epoch=0.1, rung=0)
        if step != 20:
            mark_complete(info)
        infos.append(info)
    removed = prune(tmp_path, keep=1, protect=infos[0])
    assert sorted(Path(p).name for p in removed) == ["checkpoint-10"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-15",
        "checkpoint-20",
        "checkpoint-5",
    ]


def test_budget_units_convert_to_optimizer_steps(make_job: JobFactory, tmp_path: Path) -> None:
    assert budget_to_steps(12, "steps", 25) == 12
    assert budget_to_steps(0.3, "epochs", 10) == 3  # not 4, despite 0.3 * 10 > 3 in floats
    assert budget_to_steps(1.2, "epochs", 25) == 30
    job = make_job(tmp_path).model_copy(update={"unit": "epochs", "budget": 0.5, "max_budget": 2})
    plan = plan_steps(job, train_rows=200, train_batch_size=8)
    assert (plan.target_step, plan.max_steps) == (13, 50)
    accumulating = job.model_copy(
        update={"training": job.training.model_copy(update={"gradient_accumulation_steps": 3})}
    )
    plan = plan_steps(accumulating, train_rows=200, train_batch_size=8)
    assert (plan.target_step, plan.max_steps) == (5, 18)  # 25 batches -> 9 updates per epoch


def test_tiny_bert_init_depends_only_on_the_seed() -> None:
    source = resolve_model(ModelSpec(source="tiny-bert"))
    tokenizer = load_tokenizer(source)

    def first_weight(seed: int) -> torch.Tensor:
        options = ClassifierOptions(label_names=("a", "b"), seed=seed, hidden_dropout_prob=0.2)
        model = load_classifier(source, tokenizer, options)
        assert model.config.hidden_dropout_prob == 0.2
        return next(model.parameters()).detach().clone()

    torch.manual_seed(0)
    a = first_weight(7)
    torch.manual_seed(99)  # the global RNG must not matter
    assert torch.equal(a, first_weight(7))
    assert not torch.equal(a, first_weight(8))
