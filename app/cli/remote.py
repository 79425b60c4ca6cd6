"""The API from the command line (for CI jobs and shells): submit and follow sweeps, read
their results, steer them. URL and token: --api-url / --token, or SWEEPS_API_URL /
SWEEPS_TOKEN.

Exit codes: 0 done (a completed sweep, above --fail-under when given); 1 the sweep failed,
was cancelled or scored below the threshold, or the sweep's state refused an action (409);
2 invalid input, unknown sweep, refused token, or no service."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, get_args

import typer
from rich.markup import escape
from rich.table import Table

from app.cli.app import API_PANEL, EXIT_FAILED, EXIT_USAGE, cli, err, fail, out
from app.cli.render import leaderboard_table, progress_line
from app.cli.request_files import RequestFileError, load_request
from app.client import Conflict, SweepsClient, SweepsError, describe
from app.client.calls import API_URL_ENV, TOKEN_ENV
from app.domain import SweepResult, SweepStatus
from app.domain.request import MetricName
from app.domain.workflow_io import ControlAck

ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url", envvar=API_URL_ENV, help="API base URL (default http://127.0.0.1:8000)."
    ),
]
Token = Annotated[
    str | None,
    typer.Option("--token", envvar=TOKEN_ENV, help="Bearer token (`sweeps token create`)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout, for scripts.")]
SweepIdArg = Annotated[str, typer.Argument(help="Sweep id (as `sweeps submit` printed it).")]


@contextlib.contextmanager
def _client(api_url: str | None, token: str | None) -> Iterator[SweepsClient]:
    """A client whose errors end the command with one line and the CI exit code."""
    try:
        with SweepsClient(api_url, token) as client:
            yield client
    except Conflict as exc:
        fail(str(exc), EXIT_FAILED)
    except SweepsError as exc:
        fail(str(exc), EXIT_USAGE)


@dataclass(frozen=True)
class Threshold:
    """--fail-under METRIC=VALUE: the best trial must do at least this well (higher for
    accuracy and f1_macro, lower for eval_loss)."""

    metric: MetricName
    value: float

    @classmethod
    def parse(cls, text: str) -> Threshold:
        metric, sep, value = text.partition("=")
        metrics = get_args(MetricName)
        if not sep or metric not in metrics:
            raise ValueError(f"use METRIC=VALUE with METRIC one of {', '.join(metrics)}")
        try:
            return cls(metric, float(value))  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(f"{value!r} is not a number") from None

    def met_by(self, result: SweepResult) -> tuple[bool, float | None]:
        best = result.best
        if best is None or best.metrics is None:
            return False, None
        value = best.metrics.value(self.metric)
        ok = value <= self.value if self.metric == "eval_loss" else value >= self.value
        return ok, value


@cli.command(rich_help_panel=API_PANEL)
def submit(
    file: Annotated[Path, typer.Argument(help="SweepRequest file, YAML or JSON.")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Follow the sweep with live progress until it ends.")
    ] = False,
    fail_under: Annotated[
        str | None,
        typer.Option(
            "--fail-under",
            metavar="METRIC=VALUE",
            help="With --wait: exit 1 unless the best trial reaches this (eval_loss: at most).",
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(help="Retrying with the same key finds the sweep, never starts a second."),
    ] = None,
    json_output: Json = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Submit a sweep; prints its id (stdout) and links. With --wait, follow it to the end."""
    threshold = None
    if fail_under is not None:
        if not wait:
            fail("--fail-under needs --wait (the gate applies to the final result)")
        try:
            threshold = Threshold.parse(fail_under)
        except ValueError as exc:
            fail(f"--fail-under: {exc}")
    try:
        request = load_request(file)
    except RequestFileError as exc:
        fail(str(exc))  # nothing was sent
    with _client(api_url, token) as client:
        created = client.submit(request, idempotency_key=idempotency_key)
        verb = "started" if created.created else "already exists (same idempotency key)"
        err.print(f"sweep {created.sweep_id} {verb}")
        err.print(f"  status:      {client.base_url}{created.links.status}")
        err.print(f"  leaderboard: {client.base_url}{created.links.leaderboard}")
        err.print(f"  Temporal UI: {created.links.temporal_ui}")
        for hook in created.webhooks:
            err.print(f"  webhook {hook.url} ({', '.join(hook.events)}): secret {hook.secret}")
        if not json_output:
            sys.stdout.write(created.sweep_id + "\n")
            sys.stdout.flush()
        if not wait:
            if json_output:
                sys.stdout.write(created.model_dump_json(indent=2) + "\n")
            return
        result = client.wait(created.sweep_id, console=err)
        board = client.leaderboard(created.sweep_id, limit=10)
    if json_output:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        out.print(leaderboard_table(board, f"{result.name} ({result.sweep_id})"))
    _exit_for(result, threshold)


def _exit_for(result: SweepResult, threshold: Threshold | None) -> None:
    if result.status != SweepStatus.COMPLETED:
        reason = f": {result.error}" if result.error else ""
        fail(f"sweep {result.sweep_id} ended {result.status.value}{reason}", EXIT_FAILED)
    if threshold is not None:
        ok, value = threshold.met_by(result)
        shown = "no score" if value is None else f"{threshold.metric}={value:.4f}"
        if not ok:
            fail(
                f"best trial {shown} misses --fail-under {threshold.metric}={threshold.value:g}",
                EXIT_FAILED,
            )
        err.print(f"gate passed: best trial {shown} (--fail-under {threshold.value:g})")


@cli.command(rich_help_panel=API_PANEL)
def status(
    sweep_id: SweepIdArg, json_output: Json = False, api_url: ApiUrl = None, token: Token = None
) -> None:
    """Live state of a sweep, in one line."""
    with _client(api_url, token) as client:
        view = client.get(sweep_id)
    if json_output:
        sys.stdout.write(view.model_dump_json(indent=2) + "\n")
        return
    out.print(f"{view.sweep_id} ({view.name}): {escape(progress_line(view))}", highlight=False)
    if view.error:
        out.print(f"[red]error:[/red] {escape(view.error)}")


@cli.command(rich_help_panel=API_PANEL)
def leaderboard(
    sweep_id: SweepIdArg,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Rows.")] = 20,
    json_output: Json = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Trials ranked by the objective (from the results index)."""
    with _client(api_url, token) as client:
        board = client.leaderboard(sweep_id, limit=limit)
    if json_output:
        sys.stdout.write(board.model_dump_json(indent=2) + "\n")
    else:
        out.print(leaderboard_table(board, sweep_id))


@cli.command("list", rich_help_panel=API_PANEL)
def list_sweeps(
    status: Annotated[
        SweepStatus | None, typer.Option(help="Only sweeps in this state.", case_sensitive=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Rows.")] = 20,
    json_output: Json = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Your sweeps, newest first (every sweep for an admin token)."""
    with _client(api_url, token) as client:
        page = client.list(status=status, limit=limit)
    if json_output:
        sys.stdout.write(page.model_dump_json(indent=2) + "\n")
        return
    table = Table("sweep", "name", "status", "rung", "trials", "best", "created")
    for row in page.items:
        best = (
            f"{row.best_trial_id} {row.metric}={row.best_objective_value:.4f}"
            if row.best_trial_id and row.best_objective_value is not None
            else "-"
        )
        table.add_row(
            row.sweep_id,
            row.name,
            row.status.value,
            str(row.current_rung),
            str(row.trial_count),
            best,
            f"{row.created_at:%Y-%m-%d %H:%M}",
        )
    out.print(table)


def _acknowledged(ack: ControlAck) -> None:
    trials = ", ".join(ack.trial_ids) or "no trial running"
    out.print(f"{ack.action}: {ack.sweep_id} ({trials})", highlight=False)


@cli.command(rich_help_panel=API_PANEL)
def pause(sweep_id: SweepIdArg, api_url: ApiUrl = None, token: Token = None) -> None:
    """Running trials save a checkpoint and stop; nothing new starts until resume."""
    with _client(api_url, token) as client:
        _acknowledged(client.pause(sweep_id))


@cli.command(rich_help_panel=API_PANEL)
def resume(sweep_id: SweepIdArg, api_url: ApiUrl = None, token: Token = None) -> None:
    """Paused trials continue from their checkpoints."""
    with _client(api_url, token) as client:
        _acknowledged(client.resume(sweep_id))


@cli.command(rich_help_panel=API_PANEL)
def checkpoint(
    sweep_id: SweepIdArg,
    trial: Annotated[str | None, typer.Option(help="Only this trial (t0003).")] = None,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Every running trial (or --trial) saves a checkpoint now and keeps training."""
    with _client(api_url, token) as client:
        _acknowledged(client.checkpoint(sweep_id, trial))


@cli.command(rich_help_panel=API_PANEL)
def cancel(sweep_id: SweepIdArg, api_url: ApiUrl = None, token: Token = None) -> None:
    """Stop the whole sweep: trials save a checkpoint and it ends as cancelled."""
    with _client(api_url, token) as client:
        accepted = client.cancel(sweep_id)
    out.print(f"{accepted.sweep_id}: {accepted.status}", highlight=False)


@cli.command("cancel-trial", rich_help_panel=API_PANEL)
def cancel_trial(
    sweep_id: SweepIdArg,
    trial_id: Annotated[str, typer.Argument(help="Trial id (t0003).")],
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """One trial saves a checkpoint and stops for good; another takes its slot."""
    with _client(api_url, token) as client:
        _acknowledged(client.cancel_trial(sweep_id, trial_id))


@cli.command(rich_help_panel=API_PANEL)
def events(
    sweep_id: SweepIdArg,
    after: Annotated[
        int | None, typer.Option(min=0, help="Start after this event id (default: all).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="One JSON object per line (JSON Lines).")
    ] = False,
    api_url: ApiUrl = None,
    token: Token = None,
) -> None:
    """Follow the sweep's event stream until it ends (resumes by itself if cut)."""
    with _client(api_url, token) as client:
        metric = None if json_output else client.get(sweep_id).metric
        for event in client.events(sweep_id, after=after):
            if json_output:
                sys.stdout.write(event.model_dump_json() + "\n")
            else:
                stamp = f"{event.at:%H:%M:%S}"
                out.print(
                    f"{event.id:>5} {stamp} {escape(describe(event, metric))}", highlight=False
                )
            sys.stdout.flush()
