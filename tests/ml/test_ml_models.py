"""Model sources: the bundled pretrained MiniLM works offline; bad sources fail clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
from ml_helpers import JobFactory

from app.domain import DatasetSnapshot, DatasetSpec, EvalInput, ModelSpec
from workers.ml.errors import BadInputError
from workers.ml.evaluate import evaluate_checkpoint
from workers.ml.snapshot import create_snapshot
from workers.ml.sources import bundled_minilm_dir, resolve_model
from workers.ml.train import fine_tune


@pytest.mark.slow
def test_minilm_loads_offline_and_trains_one_step(
    tmp_path: Path, snapshot_root: Path, make_job: JobFactory
) -> None:
    snapshot = create_snapshot(
        DatasetSpec(source="tweet-sentiment", max_train_samples=8, max_eval_samples=8),
        snapshot_root,
    )
    job = make_job(
        tmp_path,
        model="minilm-l6",
        snapshot=snapshot,
        budget=1,
        max_budget=1,
        per_device_train_batch_size=4,
        max_length=32,
    )
    outcome = fine_tune(job)
    assert outcome.global_step == 1
    assert outcome.train_loss is not None and outcome.train_loss > 0
    result = evaluate_checkpoint(
        EvalInput(checkpoint=outcome.checkpoint, snapshot=snapshot, batch_size=8, max_length=32)
    )
    assert result.metrics.num_examples == 8


def test_model_sources_resolve() -> None:
    assert resolve_model(ModelSpec(source="minilm-l6")).location == str(bundled_minilm_dir())
    assert resolve_model(ModelSpec(source="tiny-bert")).kind == "tiny"
    local = resolve_model(ModelSpec(source=str(bundled_minilm_dir())))
    assert local.kind == "local"
    hub = resolve_model(ModelSpec(source="bert-base-uncased", revision="v1"))
    assert (hub.kind, hub.location, hub.revision) == ("hub", "bert-base-uncased", "v1")
    for missing in ("/no/such/model", "./nope", "../nope", "~/nope-model"):
        with pytest.raises(BadInputError, match="no such directory"):
            resolve_model(ModelSpec(source=missing))


def test_unloadable_hub_model_is_bad_input(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_job: JobFactory,
    tweet_snapshot: DatasetSnapshot,
) -> None:
    import huggingface_hub.constants

    # Offline mode makes the failure immediate instead of several seconds of DNS retries.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    job = make_job(tmp_path, model="no-such-org/no-such-model", snapshot=tweet_snapshot)
    with pytest.raises(BadInputError, match=r"no-such-org/no-such-model.*Hugging Face Hub"):
        fine_tune(job)
