"""Driving a live embedded stack through its API for the control and fault drills.

The drills run in two sizes: the reduced one in `make test`, and the full one in
`make faults` (SWEEPS_DRILLS=full), which trains longer and holds outages as long as the
issue's drills ask for."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli.embedded import EmbeddedStack, WorkerProcess
from app.domain import CheckpointInfo, SweepResult
from app.settings import Settings
from app.temporal.client import connect
from app.temporal.sweep_state import latest_checkpoint

FULL = os.environ.get("SWEEPS_DRILLS", "reduced") == "full"
ACTIVE = ("running", "paused")


def scaled(reduced: float, full: float) -> float:
    return full if FULL else reduced


CHECKPOINT_EVERY = 20


def tiny_sweep(name: str, train_samples: int, eval_samples: int, **fields: Any) -> dict[str, Any]:
    """A sweep of the tiny BERT on the bundled tweets, one learning rate searched; ``fields``
    (ladder, training, concurrency, seed, ...) complete or replace the request's fields."""
    samples = {"max_train_samples": train_samples, "max_eval_samples": eval_samples}
    return {
        "name": name,
        "model": {"source": "tiny-bert"},
        "dataset": {"source": "tweet-sentiment", **samples},
        "space": {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-3, "log": True}},
        "training": {"max_length": 48, "checkpoint_every_steps": CHECKPOINT_EVERY},
        **fields,
    }


@contextmanager
def embedded_stack(
    data_dir: Path,
    workers: tuple[str | WorkerProcess, ...] | None = None,
    child_env: dict[str, str] | None = None,
    **settings: Any,
) -> Iterator[EmbeddedStack]:
    """A stack on free ports; ``child_env`` is added to the environment its children start
    with (and restart with), not to this process's."""
    temporal_port, ui_port, api_port = free_ports(3)
    stack = EmbeddedStack(
        Settings(data_dir=data_dir, **settings),
        temporal_port=temporal_port,
        ui_port=ui_port,
        api_port=api_port,
        **({"workers": workers} if workers is not None else {}),
    )
    with ExitStack() as running:
        with pytest.MonkeyPatch.context() as environment:
            for name, value in (child_env or {}).items():
                environment.setenv(name, value)
            running.enter_context(stack)
        yield stack


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: each one's socket stays bound until all are chosen, so
    the kernel cannot hand out one twice (``free_port`` called ``count`` times can)."""
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]


class Driver:
    """One API client for a stack; tolerant of the API being down while a drill restarts it."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
        # The stack's admin token: drills act as an operator (auth stays on, as deployed).
        self.api = httpx.Client(base_url=stack.api_url, timeout=30, headers=stack.auth_headers())

    def __enter__(self) -> Driver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.api.close()

    def submit(self, body: dict[str, Any]) -> str:
        created = self.api.post("/sweeps", json=body)
        assert created.status_code == 201, created.text
        sweep_id: str = created.json()["sweep_id"]
        return sweep_id

    def post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.api.post(path, **kwargs)
        assert answer.status_code in (200, 202), answer.text
        body: dict[str, Any] = answer.json()
        return body

    def view(self, sweep_id: str) -> dict[str, Any]:
        """The live view, or {} while the API (or the server behind it) is away."""
        try:
            answer = self.api.get(f"/sweeps/{sweep_id}")
        except httpx.TransportError:
            return {}
        return answer.json() if answer.status_code == 200 else {}

    def wait_for(
        self,
        sweep_id: str,
        ready: Callable[[dict[str, Any]], bool],
        what: str,
        timeout: float = scaled(300, 900),
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self.stack.check_alive()
            view = self.view(sweep_id)
            if view and ready(view):
                return view
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; last view: {view}")

    def wait_until_ended(self, sweep_id: str, timeout: float = scaled(300, 900)) -> dict[str, Any]:
        return self.wait_for(
            sweep_id, lambda v: v["status"] not in ACTIVE, "the sweep to end", timeout
        )

    def result(self, sweep_id: str) -> dict[str, Any]:
        answer = self.api.get(f"/sweeps/{sweep_id}/result")
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def run(self, body: dict[str, Any], timeout: float = scaled(300, 900)) -> dict[str, Any]:
        """Submit, wait until it ends, return the final result (asserting it completed)."""
        sweep_id = self.submit(body)
        view = self.wait_until_ended(sweep_id, timeout)
        assert view["status"] == "completed", view
        return self.result(sweep_id)


def training_log(stack: EmbeddedStack, name: str = "training") -> str:
    return (stack.log_dir / f"{name}.log").read_text()


def wait_for_checkpoint(
    stack: EmbeddedStack,
    sweep_id: str,
    trial_id: str,
    rung: int,
    step: int = 1,
    accept: Callable[[CheckpointInfo], bool] = lambda _: True,
    timeout: float = 180,
) -> CheckpointInfo:
    """The trial's latest checkpoint at ``rung`` the sweep has heard of, once it reaches
    ``step`` and ``accept`` takes it."""
    return asyncio.run(_wait_for_checkpoint(stack, sweep_id, trial_id, rung, step, accept, timeout))


async def _wait_for_checkpoint(
    stack: EmbeddedStack,
    sweep_id: str,
    trial_id: str,
    rung: int,
    step: int,
    accept: Callable[[CheckpointInfo], bool],
    timeout: float,
) -> CheckpointInfo:
    client = await connect(stack.child_settings(), wait_seconds=10)
    handle = client.get_workflow_handle(sweep_id, result_type=SweepResult)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            latest = await latest_checkpoint(handle, trial_id, rung)
        except Exception:  # not started yet, or the server is away for a drill
            latest = None
        if latest is not None and latest.step >= step and accept(latest):
            return latest
        await asyncio.sleep(0.25)
    raise AssertionError(f"{sweep_id} {trial_id}: no checkpoint at step {step} or later in time")


def leaderboard_of(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What must not change between two runs of one sweep: each trial's configuration, how
    far it went, and the metrics at each rung."""
    rows = []
    for trial in result["trials"]:
        rungs = [
            (
                r["rung"],
                r["global_step"],
                round(r["metrics"]["accuracy"], 6),
                round(r["metrics"]["f1_macro"], 6),
                round(r["metrics"]["eval_loss"], 6),
            )
            for r in trial["rungs"]
        ]
        rows.append((trial["trial_id"], trial["params"], trial["status"], trial["rung"], rungs))
    return rows
