"""One trial in a process of its own, through the service or as a bare script.

    python -m benchmarks.service.trial_process service SWEEP_JSON RESULT_JSON --address HOST:PORT
    python -m benchmarks.service.trial_process bare JOB_JSON RESULT_JSON

``service``: this process is a training worker (the product's worker options and activities,
logging configured as the worker's entry point does); it starts a one-trial sweep
(LadderSweepWorkflow, one rung, run by the orchestration worker of the parent's embedded
stack), whose run is the ``train_and_evaluate`` activity this worker polls for, and waits
for the sweep's result. ``bare``: the same Trainer configuration (the product's
TrainingArguments, model, tokenised data, seed and save cadence) trained and then evaluated
on the held-out split by a plain script, with no service code.

The result file holds the timed spans (see ``service_overhead``) and this process's peak
resident memory as the kernel counts it (VmHWM).
"""

from __future__ import annotations

import time

PROCESS_STARTED = time.monotonic()  # before the heavy imports: they are part of the cost

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from app.domain import TrialJob  # noqa: E402
from app.domain.workflow_io import SweepWorkflowInput  # noqa: E402


def bare_trial(job: TrialJob) -> dict[str, Any]:
    """What a user would write around a Trainer: load, tokenise, train, save every N steps,
    then score the trained model on the held-out split."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer

    from workers.ml.features import quiet_progress_bars, tokenize
    from workers.ml.normalise import EVAL_SPLIT, TRAIN_SPLIT
    from workers.ml.snapshot import load_snapshot_splits
    from workers.ml.sources import (
        ClassifierOptions,
        load_classifier,
        load_tokenizer,
        resolve_model,
    )
    from workers.ml.trainer_setup import training_arguments

    quiet_progress_bars()
    started = time.monotonic()
    splits = load_snapshot_splits(job.snapshot)
    output_dir = Path(job.artifact_root) / job.sweep_id / job.trial.trial_id
    args = training_arguments(job.training, output_dir, seed=job.trial.seed)
    args.max_steps = int(job.max_budget)
    source = resolve_model(job.model)
    tokenizer = load_tokenizer(source)
    options = ClassifierOptions(
        label_names=tuple(job.snapshot.label_names),
        seed=job.trial.seed,
        hidden_dropout_prob=job.training.hidden_dropout_prob,
        attention_probs_dropout_prob=job.training.attention_probs_dropout_prob,
    )
    trainer = Trainer(
        model=load_classifier(source, tokenizer, options),
        args=args,
        data_collator=DataCollatorWithPadding(tokenizer),
        train_dataset=tokenize(splits[TRAIN_SPLIT], tokenizer, job.training.max_length),
        processing_class=tokenizer,
    )
    trainer.remove_callback(PrinterCallback)  # as the service does: the same console output
    train_started = time.monotonic()
    result = trainer.train()
    eval_started = time.monotonic()
    held_out = trainer.predict(tokenize(splits[EVAL_SPLIT], tokenizer, job.training.max_length))
    logits = held_out.predictions  # one array: the classifier returns logits only
    assert not isinstance(logits, tuple)
    accuracy = float((logits.argmax(-1) == held_out.label_ids).mean())
    done = time.monotonic()
    return {
        "span_seconds": done - started,
        "train_seconds": eval_started - train_started,
        "eval_seconds": done - eval_started,
        "accuracy": accuracy,
        "global_step": result.global_step,
        "checkpoints": sorted(p.name for p in output_dir.glob("checkpoint-*")),
    }


async def service_trial(sweep: SweepWorkflowInput, sweep_id: str, address: str) -> dict[str, Any]:
    """A training worker with the product's activities runs the one-trial sweep's run."""
    import concurrent.futures

    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    from app.domain import SweepResult, SweepStatus
    from app.logging import configure_logging
    from app.settings import Settings
    from app.temporal import contract
    from workers.activities.training_queue import TrainingActivities
    from workers.training import worker_options

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    activities = TrainingActivities(asyncio.get_running_loop(), client)
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        worker = Worker(
            client, activities=activities.all(), activity_executor=pool, **worker_options(1)
        )
        async with worker:
            started = time.monotonic()
            result: SweepResult = await client.execute_workflow(
                contract.LADDER_SWEEP_WORKFLOW,
                sweep,
                id=sweep_id,
                task_queue=contract.ORCHESTRATION_TASK_QUEUE,
                result_type=SweepResult,
            )
            done = time.monotonic()
    if result.status != SweepStatus.COMPLETED or len(result.trials) != 1:
        raise SystemExit(f"the sweep ended {result.status} with {len(result.trials)} trial(s)")
    trial = result.trials[0]
    (run,) = trial.rungs
    output_dir = Path(sweep.artifact_root) / sweep_id / trial.trial_id
    return {
        "span_seconds": done - started,
        "train_seconds": run.train_seconds,
        "eval_seconds": run.eval_seconds,
        "accuracy": run.metrics.accuracy,
        "global_step": run.global_step,
        "checkpoints": sorted(p.name for p in output_dir.glob("checkpoint-*")),
    }


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variant", choices=["service", "bare"])
    parser.add_argument("job", type=Path, help="service: a SweepWorkflowInput; bare: a TrialJob")
    parser.add_argument("result", type=Path)
    parser.add_argument("--address", default="127.0.0.1:7233")
    parser.add_argument("--sweep-id", default="overhead", help="service: the sweep's id")
    args = parser.parse_args()
    if args.variant == "bare":
        measured = bare_trial(TrialJob.model_validate_json(args.job.read_text()))
    else:
        sweep = SweepWorkflowInput.model_validate_json(args.job.read_text())
        measured = asyncio.run(service_trial(sweep, args.sweep_id, args.address))
    measured["process_seconds"] = time.monotonic() - PROCESS_STARTED
    measured["vm_hwm_kib"] = peak_rss_kib()
    args.result.write_text(json.dumps(measured))


if __name__ == "__main__":
    main()
