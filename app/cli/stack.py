"""The embedded stack from the command line: `sweeps dev` keeps it up, `sweeps demo` runs a
sample sweep on it through the API and prints the leaderboard."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from app.api.schemas import SweepView
from app.cli.app import EXIT_FAILED, STACK_PANEL, DataDir, cli, err, fail, out, settings_for
from app.cli.embedded import EmbeddedStack, EmbeddedStackError
from app.cli.render import print_summary
from app.cli.request_files import RequestFileError, load_request
from app.client import AsyncSweepsClient, Leaderboard, SweepsError
from app.domain import SweepRequest, SweepResult, SweepStatus
from app.logging import configure_logging
from app.presets import preset
from app.settings import DEVELOPMENT_WEBHOOK_HOSTS, Settings

TemporalPort = Annotated[int, typer.Option(help="Port of the embedded Temporal server.")]
UiPort = Annotated[int, typer.Option(help="Port of the Temporal Web UI.")]
ApiPort = Annotated[int, typer.Option(help="Port of the REST API.")]

_AUTH_OFF = (
    "[yellow]authentication is OFF[/yellow] (SWEEPS_AUTH_ENABLED=false): anyone who reaches "
    "the API can start and steer sweeps"
)


def _allow_local_webhooks() -> str:
    """The embedded stack is for trying things out on this machine: webhooks may reach a
    receiver on localhost unless SWEEPS_WEBHOOK_ALLOWED_HOSTS says otherwise. The children
    inherit the environment."""
    allowed = os.environ.setdefault("SWEEPS_WEBHOOK_ALLOWED_HOSTS", DEVELOPMENT_WEBHOOK_HOSTS)
    return f"webhooks may reach {allowed} (development allow-list; SWEEPS_WEBHOOK_ALLOWED_HOSTS)"


@contextlib.contextmanager
def _stop_signals_interrupt() -> Iterator[None]:
    """SIGTERM (docker stop, systemd, `timeout`, CI runners) stops the stack as Ctrl-C does,
    and Ctrl-C works even where the starting shell left SIGINT ignored (a background job of
    a script inherits that): both handlers are installed here rather than inherited."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        # One stop at a time: a second signal must not cut the first stop short.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stack(settings: Settings, temporal_port: int, ui_port: int, api_port: int) -> EmbeddedStack:
    return EmbeddedStack(
        settings,
        temporal_port=temporal_port,
        ui_port=ui_port,
        api_port=api_port,
        die_with_supervisor=True,  # this process starts its children from the main thread
    )


@cli.command(rich_help_panel=STACK_PANEL)
def dev(
    data_dir: DataDir = None,
    temporal_port: TemporalPort = 7233,
    ui_port: UiPort = 8233,
    api_port: ApiPort = 8000,
) -> None:
    """Run the embedded stack (Temporal dev server, both workers) until Ctrl-C or SIGTERM."""
    webhooks_note = _allow_local_webhooks()
    settings = settings_for(data_dir)
    configure_logging(settings.log_level, settings.log_format)
    stack = _stack(settings, temporal_port, ui_port, api_port)
    try:
        with _stop_signals_interrupt(), stack:
            # The banner inside: a signal sent as soon as it reads "Ctrl-C" stops cleanly.
            try:
                _print_banner(stack, webhooks_note)
                while True:
                    stack.check_alive()
                    time.sleep(1)
            except KeyboardInterrupt:
                err.print("stopping the workers and the Temporal server...")
    except EmbeddedStackError as exc:
        fail(str(exc))


@cli.command(rich_help_panel=STACK_PANEL)
def demo(
    preset_name: Annotated[
        str, typer.Option("--preset", help="default (MiniLM on tweets) or tiny (smoke check).")
    ] = "default",
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Run this SweepRequest file (YAML/JSON) instead of a preset."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the final SweepResult as JSON on stdout.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Sweep seed.")] = 0,
    data_dir: DataDir = None,
    temporal_port: TemporalPort = 7233,
    ui_port: UiPort = 8233,
    api_port: ApiPort = 8000,
) -> None:
    """Start the embedded stack, run a sample sweep on bundled data, print the leaderboard."""
    if preset_name not in ("default", "tiny"):
        fail(f"--preset: unknown preset {preset_name!r}; use default or tiny")
    try:
        request = load_request(file) if file else preset(preset_name, seed=seed)  # type: ignore[arg-type]
    except RequestFileError as exc:
        fail(str(exc))  # rejected before anything starts: no server, no workflow
    webhooks_note = _allow_local_webhooks()
    settings = settings_for(data_dir)
    configure_logging("WARNING")
    stack = _stack(settings, temporal_port, ui_port, api_port)
    started = time.monotonic()
    try:
        with _stop_signals_interrupt(), stack:
            err.print(
                f"embedded stack up: API {stack.api_url}/docs, Temporal Web UI {stack.ui_url}"
            )
            err.print(webhooks_note)
            token = stack.create_token("demo") if settings.auth_enabled else None
            err.print(
                "authentication on: the demo acts as principal 'demo' with its own token "
                "(revoked when the demo ends)"
                if token
                else _AUTH_OFF
            )
            view, board, result = asyncio.run(_run_demo(stack, request, token))
    except (EmbeddedStackError, SweepsError) as exc:
        fail(str(exc))
    err.print(
        f"sweep {view.sweep_id} ended {view.status.value} in {time.monotonic() - started:.0f} s"
    )
    if json_output:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        print_summary(out, view, board)
    if view.status != SweepStatus.COMPLETED:
        raise typer.Exit(EXIT_FAILED)


def _print_banner(stack: EmbeddedStack, webhooks_note: str) -> None:
    err.print(f"API at {stack.api_url} (docs: {stack.api_url}/docs)")
    err.print(_auth_note(stack))
    err.print(webhooks_note)
    err.print(f"Temporal at {stack.address}, Web UI at {stack.ui_url}")
    err.print(
        f"use it from another shell: export SWEEPS_API_URL={stack.api_url}"
        + (f" SWEEPS_TOKEN={stack.admin_token}" if stack.admin_token else "")
    )
    err.print(f"logs in {stack.log_dir}; press Ctrl-C (or send SIGTERM) to stop")


def _auth_note(stack: EmbeddedStack) -> str:
    if stack.admin_token is None:
        return _AUTH_OFF
    return (
        f"admin token for this session (revoked on exit): {stack.admin_token}\n"
        "lasting tokens: `sweeps token create --name <you>`"
    )


async def _run_demo(
    stack: EmbeddedStack, request: SweepRequest, token: str | None
) -> tuple[SweepView, Leaderboard, SweepResult]:
    """Submit through the API, follow the sweep's events, read the leaderboard from the
    results index; a worker process that dies stops the demo instead of leaving it waiting."""
    async with AsyncSweepsClient(stack.api_url, token) as client:
        created = await client.submit(request)
        err.print(f"started {created.sweep_id}: {created.links.temporal_ui}")
        for hook in created.webhooks:
            err.print(f"webhook {hook.url} ({', '.join(hook.events)}): secret {hook.secret}")
        waiting = asyncio.create_task(client.wait(created.sweep_id, console=err))
        while not waiting.done():
            try:
                stack.check_alive()
            except EmbeddedStackError:
                waiting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiting
                raise
            await asyncio.wait({waiting}, timeout=2)
        result = waiting.result()
        view = await client.get(created.sweep_id)
        board = await client.leaderboard(created.sweep_id, limit=20)
        return view, board, result
