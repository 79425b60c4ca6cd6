"""The peers of the orchestration benchmark: Optuna and Ray Tune running sleeping trials.

    python -m benchmarks.orchestration.peers {optuna-sqlite,optuna-postgres,optuna-memory,ray}
        --trials N --seconds S --concurrency C

Prints one JSON line: wall seconds (first trial start to last trial end, startup excluded),
trials completed and CPU seconds of the processes doing the work. Each peer runs as its users
would run it in parallel: Optuna with durable storage as ``C`` worker processes sharing one
study (its distributed mode), in memory as ``C`` threads of one process (``n_jobs``); Ray
Tune as a local cluster of ``C`` CPUs, one per trial.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import tempfile
import time
from collections.abc import Callable
from multiprocessing.synchronize import Barrier
from typing import Any

import psutil

PEERS = ("optuna-sqlite", "optuna-postgres", "optuna-memory", "ray")


def sleeping_objective(seconds: float) -> Callable[[Any], float]:
    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        time.sleep(seconds)
        return (x - 0.3) ** 2

    return objective


def _optuna_worker(url: str, study_name: str, trials: int, seconds: float, go: Barrier) -> None:
    import optuna

    study = optuna.load_study(study_name=study_name, storage=_storage(url))
    go.wait()
    study.optimize(sleeping_objective(seconds), n_trials=trials)


def _storage(url: str) -> Any:
    import optuna

    # SQLite under 16 writers: wait for the lock rather than fail the trial.
    kwargs = {"connect_args": {"timeout": 120}} if url.startswith("sqlite") else {}
    return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)


def run_optuna_durable(url: str, trials: int, seconds: float, concurrency: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    name = "bench"
    optuna.create_study(study_name=name, storage=_storage(url))
    # Forked after the imports, so the timed span holds no interpreter start-up.
    context = multiprocessing.get_context("fork")
    go = context.Barrier(concurrency + 1)
    # Each worker runs its share (rounded up): full waves, no overshoot past the total.
    share = -(-trials // concurrency)
    workers = [
        context.Process(target=_optuna_worker, args=(url, name, share, seconds, go))
        for _ in range(concurrency)
    ]
    for worker in workers:
        worker.start()
    go.wait()
    cpu_before = _children_cpu()
    started = time.monotonic()
    for worker in workers:
        worker.join()
    wall = time.monotonic() - started
    study = optuna.load_study(study_name=name, storage=_storage(url))
    done = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    return {"wall": wall, "trials": done, "cpu": _children_cpu() - cpu_before}


def run_optuna_memory(trials: int, seconds: float, concurrency: int) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    cpu, started = time.process_time(), time.monotonic()
    study.optimize(sleeping_objective(seconds), n_trials=trials, n_jobs=concurrency)
    return {
        "wall": time.monotonic() - started,
        "trials": len(study.trials),
        "cpu": time.process_time() - cpu,
    }


def run_ray(trials: int, seconds: float, concurrency: int) -> dict[str, Any]:
    # Under `uv run`, Ray rebuilds the environment for its workers from the project
    # (without the bench group, so without Ray): use this interpreter's as it is.
    os.environ.setdefault("RAY_ENABLE_UV_RUN_RUNTIME_ENV", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import ray
    from ray import tune

    ray.init(num_cpus=concurrency, include_dashboard=False, log_to_driver=False)

    def trainable(config: dict[str, float]) -> dict[str, float]:
        time.sleep(seconds)
        return {"score": (config["x"] - 0.3) ** 2}

    with tempfile.TemporaryDirectory() as storage:
        tuner = tune.Tuner(
            trainable,
            param_space={"x": tune.uniform(0.0, 1.0)},
            tune_config=tune.TuneConfig(
                num_samples=trials, max_concurrent_trials=concurrency, metric="score", mode="min"
            ),
            run_config=tune.RunConfig(storage_path=storage, verbose=0),
        )
        cpu_before = _tree_cpu()
        started = time.monotonic()
        results = tuner.fit()
        wall = time.monotonic() - started
        cpu = _tree_cpu() - cpu_before
    done = sum(1 for result in results if result.error is None)
    ray.shutdown()
    return {"wall": wall, "trials": done, "cpu": cpu}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _tree_cpu() -> float:
    """CPU seconds of this process and every live descendant (Ray's raylet, GCS, workers)."""
    me = psutil.Process(os.getpid())
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("peer", choices=PEERS)
    parser.add_argument("--trials", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--url", help="database URL for optuna-postgres")
    parser.add_argument("--state", help="directory for optuna-sqlite's file")
    args = parser.parse_args(argv)
    if args.peer == "optuna-memory":
        figures = run_optuna_memory(args.trials, args.seconds, args.concurrency)
    elif args.peer == "ray":
        figures = run_ray(args.trials, args.seconds, args.concurrency)
    else:
        url = args.url or f"sqlite:///{args.state}/optuna.db"
        figures = run_optuna_durable(url, args.trials, args.seconds, args.concurrency)
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
