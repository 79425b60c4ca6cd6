"""The `sweeps` CLI (typer's runner) and both Python clients against a live embedded stack
with real tiny-BERT sweeps: submit, wait with progress, leaderboard, every control call,
every exit code, and the event stream resumed with Last-Event-ID (also across an API
restart)."""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import Result
from rich.console import Console
from typer.testing import CliRunner

from app.cli import cli
from app.cli.embedded import EmbeddedStack
from app.client import AsyncSweepsClient, InvalidRequest, NotFound, SweepsClient
from app.domain import SweepResult, SweepStatus
from app.domain.sweep_events import SweepEvent
from tests.e2e.drills import tiny_sweep

# On the shared stack (tests/e2e/conftest.py, tests/scheduling.py).
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = Path(__file__).parents[2] / "examples"


def sweeps(stack: EmbeddedStack, *args: str, token: str | None = None) -> Result:
    """Run `sweeps ARGS` in-process, configured only by the environment a CI job would set."""
    env = {"SWEEPS_API_URL": stack.api_url, "SWEEPS_TOKEN": token or stack.admin_token or ""}
    return CliRunner().invoke(cli, list(args), env=env)


def sweep_file(tmp_path: Path, name: str, body: dict[str, Any]) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(body))
    return path


def test_submit_wait_and_every_exit_code(stack: EmbeddedStack, tmp_path: Path) -> None:
    tiny = str(EXAMPLES / "tweets-tiny.yaml")
    done = sweeps(stack, "submit", tiny, "--wait", "--fail-under", "accuracy=0", "--idempotency-key", "ci-1")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    sweep_id = done.stdout.splitlines()[0].strip()
    # Live progress, one line per event (a CI log is no terminal), then the leaderboard.
    for line in ("started rung 0", "finished rung 0", "rung 0 complete", "started rung 1",
                 "sweep completed", "gate passed"):  # fmt: skip
        assert line in done.stderr, done.stderr
    assert "accuracy *" in done.stdout and "t000" in done.stdout

    # The same key finds the finished sweep; a gate it misses exits 1, with the JSON result.
    missed = sweeps(stack, "submit", tiny, "--wait", "--json", "--fail-under", "accuracy=1.01", "--idempotency-key", "ci-1")  # fmt: skip
    assert missed.exit_code == 1
    assert "already exists (same idempotency key)" in missed.stderr
    assert "misses --fail-under accuracy=1.01" in missed.stderr
    result = SweepResult.model_validate_json(missed.stdout)
    assert result.sweep_id == sweep_id and result.status == SweepStatus.COMPLETED

    status = sweeps(stack, "status", sweep_id)
    assert status.exit_code == 0 and "completed" in status.stdout
    board = sweeps(stack, "leaderboard", sweep_id, "--limit", "2", "--json")
    assert board.exit_code == 0 and len(json.loads(board.stdout)["items"]) == 2
    listed = sweeps(stack, "list", "--json")
    assert sweep_id in {row["sweep_id"] for row in json.loads(listed.stdout)["items"]}
    journal = sweeps(stack, "events", sweep_id, "--json")
    events = [SweepEvent.model_validate_json(line) for line in journal.stdout.splitlines()]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "sweep.ended" and events[-1].best_trial_id == result.best.trial_id  # type: ignore[union-attr]
    later = sweeps(stack, "events", sweep_id, "--after", "5")
    assert later.exit_code == 0 and later.stdout.split()[0] == "6"

    # 1: the sweep's state refuses the call (it has ended).
    refused = sweeps(stack, "pause", sweep_id)
    assert refused.exit_code == 1 and "ended" in refused.stderr
    # 1: the sweep failed (its dataset does not exist); the error says why.
    missing = tiny_sweep("missing-data", 100, 50, ladder={"trials": 2, "rungs": [{"budget": 5}]})
    missing["dataset"]["source"] = str(tmp_path / "no-such-tweets.csv")
    failed = sweeps(stack, "submit", str(sweep_file(tmp_path, "missing", missing)), "--wait")
    assert failed.exit_code == 1 and "ended failed" in failed.stderr
    assert "no-such-tweets.csv" in failed.stderr

    # 2: invalid input, named by field, and nothing starts.
    before = json.loads(sweeps(stack, "list", "--json").stdout)["total"]
    bad = sweeps(
        stack, "submit", str(sweep_file(tmp_path, "bad", {**missing, "max_concurrency": 0}))
    )
    assert bad.exit_code == 2 and "max_concurrency" in bad.stderr and "Traceback" not in bad.stderr
    assert json.loads(sweeps(stack, "list", "--json").stdout)["total"] == before
    # 2: an unknown sweep, a refused token, no service: one line each.
    unknown = sweeps(stack, "status", "no-such-sweep")
    assert unknown.exit_code == 2 and "no sweep 'no-such-sweep'" in unknown.stderr
    stranger = sweeps(stack, "status", sweep_id, token="not-a-token")
    assert stranger.exit_code == 2 and stranger.stderr.count("\n") == 1
    away = CliRunner().invoke(cli, ["status", sweep_id, "--api-url", "http://127.0.0.1:9"])
    assert away.exit_code == 2 and "no answer from the API at http://127.0.0.1:9" in away.stderr


class Follower(threading.Thread):
    """Follows a sweep's events with the sync client in the background, as `--wait` does."""

    def __init__(self, stack: EmbeddedStack, sweep_id: str) -> None:
        super().__init__(daemon=True)
        self.client = SweepsClient(stack.api_url, stack.admin_token)
        self.sweep_id = sweep_id
        self.events: list[SweepEvent] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.events.extend(self.client.events(self.sweep_id))
        except BaseException as exc:  # reported by the test
            self.error = exc

    def wait_for(self, what: str, predicate: Any, timeout: float = 120) -> SweepEvent:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in list(self.events):
                if predicate(event):
                    return event
            assert self.error is None, self.error
            time.sleep(0.2)
        raise AssertionError(f"no {what} within {timeout} s: {[e.type for e in self.events]}")


def test_control_calls_and_a_stream_that_outlives_an_api_restart(
    stack: EmbeddedStack, tmp_path: Path
) -> None:
    body = tiny_sweep(
        "cli-control", 640, 160,
        ladder={"unit": "steps", "trials": 3, "rungs": [{"budget": 400, "keep": 2}, {"budget": 800}]},
        max_concurrency=2,
    )  # fmt: skip
    submitted = sweeps(stack, "submit", str(sweep_file(tmp_path, "control", body)))
    assert submitted.exit_code == 0, submitted.stderr
    sweep_id = submitted.stdout.strip()
    follower = Follower(stack, sweep_id)
    follower.start()
    started = follower.wait_for("trial start", lambda e: e.type == "trial.started")

    asked = sweeps(stack, "checkpoint", sweep_id, "--trial", started.trial_id or "")
    assert asked.exit_code == 0 and started.trial_id in asked.stdout
    follower.wait_for(
        "requested checkpoint",
        lambda e: (
            e.type == "checkpoint.saved"
            and e.checkpoint is not None
            and e.checkpoint.reason == "requested"
        ),
    )
    # The API goes away mid-stream; the follower reconnects with Last-Event-ID.
    stack.kill("api")
    stack.restart("api")
    paused = sweeps(stack, "pause", sweep_id)
    assert paused.exit_code == 0 and paused.stdout.startswith("pause:")
    follower.wait_for("sweep.paused", lambda e: e.type == "sweep.paused")
    follower.wait_for("trial.paused", lambda e: e.type == "trial.paused")
    assert "paused" in sweeps(stack, "status", sweep_id).stdout
    assert sweeps(stack, "resume", sweep_id).exit_code == 0
    follower.wait_for("sweep.resumed", lambda e: e.type == "sweep.resumed")
    resumed = follower.wait_for(
        "a resumed trial", lambda e: e.type == "trial.started" and bool(e.step)
    )
    cancelled = sweeps(stack, "cancel-trial", sweep_id, resumed.trial_id or "")
    assert cancelled.exit_code == 0, cancelled.stderr
    follower.wait_for(
        "the trial's end",
        lambda e: (
            e.type == "trial.finished"
            and e.trial_id == resumed.trial_id
            and e.status == "cancelled"
        ),
    )
    ended = sweeps(stack, "cancel", sweep_id)
    assert ended.exit_code == 0 and "cancelling" in ended.stdout
    follower.join(timeout=120)
    assert not follower.is_alive() and follower.error is None
    events = follower.events
    # Nothing lost, nothing twice, across the restart.
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "sweep.ended" and events[-1].status == "cancelled"
    follower.client.close()

    # Last-Event-ID on the raw stream: the events after it, and the stream ends.
    headers = {**stack.auth_headers(), "Last-Event-ID": str(len(events) - 2)}
    raw = httpx.get(f"{stack.api_url}/sweeps/{sweep_id}/events", headers=headers, timeout=60)
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/event-stream")
    ids = [line.removeprefix("id: ") for line in raw.text.splitlines() if line.startswith("id: ")]
    assert ids == [str(len(events) - 1), str(len(events))]


def test_async_client_and_the_notebook_example(stack: EmbeddedStack) -> None:
    body = tiny_sweep(
        "async-client", 320, 80,
        ladder={"unit": "steps", "trials": 2, "rungs": [{"budget": 5, "keep": 1}, {"budget": 10}]},
    )  # fmt: skip

    async def scenario() -> tuple[SweepResult, str, list[SweepEvent], list[SweepEvent]]:
        async with AsyncSweepsClient(stack.api_url, stack.admin_token) as client:
            with pytest.raises(InvalidRequest, match="max_concurrency"):
                await client.submit({**body, "max_concurrency": 0})
            with pytest.raises(NotFound):
                await client.get("no-such-sweep")
            created = await client.submit(body)
            sink = io.StringIO()
            result = await client.wait(created.sweep_id, console=Console(file=sink, width=200))
            board = await client.leaderboard(created.sweep_id)
            assert board.items[0].trial_id == result.best.trial_id  # type: ignore[union-attr]
            everything = [e async for e in client.events(created.sweep_id)]
            resumed = [e async for e in client.events(created.sweep_id, after=3)]
            return result, sink.getvalue(), everything, resumed

    result, progress, everything, resumed = asyncio.run(scenario())
    assert result.status == SweepStatus.COMPLETED
    assert "rung 1 complete" in progress and "sweep completed" in progress
    assert [e.id for e in resumed] == [e.id for e in everything][3:]

    # The notebook example runs as it is, configured by the environment.
    env = {**os.environ, "SWEEPS_API_URL": stack.api_url, "SWEEPS_TOKEN": stack.admin_token or ""}
    notebook = subprocess.run(
        [sys.executable, str(EXAMPLES / "notebook_client.py"), str(EXAMPLES / "tweets-tiny.yaml")],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip
    assert notebook.returncode == 0, notebook.stderr[-3000:]
    assert "completed - best: t000" in notebook.stdout
    assert "accuracy" in notebook.stdout and "checkpoint:" in notebook.stdout
