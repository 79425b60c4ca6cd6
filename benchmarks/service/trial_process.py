"""One trial's training in a process of its own, through the service or as a bare script.

    python -m benchmarks.service.trial_process {service,bare} JOB_JSON RESULT_JSON [--address HOST:PORT]

``service``: this process is a training worker (the product's worker options and activities,
logging configured as the worker's entry point does); it starts the real training workflow
(run by the orchestration-side worker of the parent, ``service_overhead``) and waits for its
result. ``bare``: the same Trainer configuration (the product's TrainingArguments, model,
tokenised data, seed and save cadence) trained by a plain script, with no service code.

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


def bare_trial(job: TrialJob) -> dict[str, Any]:
    """What a user would write around a Trainer: load, tokenise, train, save every N steps."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer

    from workers.ml.features import quiet_progress_bars, tokenize
    from workers.ml.normalise import TRAIN_SPLIT
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
    done = time.monotonic()
    return {
        "span_seconds": done - started,
        "train_seconds": done - train_started,
        "global_step": result.global_step,
        "checkpoints": sorted(p.name for p in output_dir.glob("checkpoint-*")),
    }


async def service_trial(job: TrialJob, address: str) -> dict[str, Any]:
    """A training worker with the product's activities runs the trial's training workflow."""
    import concurrent.futures

    from temporalio.client import Client
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.worker import Worker

    from app.domain import FineTuneInput, TrainOutcome
    from app.logging import configure_logging
    from app.settings import Settings
    from app.temporal import contract
    from workers.activities.training import TrainingActivities
    from workers.training import worker_options

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    client = await Client.connect(address, data_converter=pydantic_data_converter)
    activities = TrainingActivities(asyncio.get_running_loop(), client)
    workflow_id = f"{job.sweep_workflow_id}.{job.trial.trial_id}.train"
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        worker = Worker(
            client, activities=activities.all(), activity_executor=pool, **worker_options(1)
        )
        async with worker:
            started = time.monotonic()
            outcome: TrainOutcome = await client.execute_workflow(
                contract.TRAINING_WORKFLOW,
                FineTuneInput(
                    job=job,
                    training_workflow_id=workflow_id,
                    control_poll_seconds=contract.CONTROL_POLL_SECONDS,
                ),
                id=workflow_id,
                task_queue=contract.ORCHESTRATION_TASK_QUEUE,
                result_type=TrainOutcome,
            )
            done = time.monotonic()
    output_dir = Path(job.artifact_root) / job.sweep_id / job.trial.trial_id
    return {
        "span_seconds": done - started,
        "train_seconds": outcome.train_seconds,
        "global_step": outcome.global_step,
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
    parser.add_argument("job", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--address", default="127.0.0.1:7233")
    args = parser.parse_args()
    job = TrialJob.model_validate_json(args.job.read_text())
    if args.variant == "bare":
        measured = bare_trial(job)
    else:
        measured = asyncio.run(service_trial(job, args.address))
    measured["process_seconds"] = time.monotonic() - PROCESS_STARTED
    measured["vm_hwm_kib"] = peak_rss_kib()
    args.result.write_text(json.dumps(measured))


if __name__ == "__main__":
    main()
