"""The `sweeps` command line: embedded stack (dev, demo) and operations."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from temporalio.client import WorkflowFailureError

from app.domain import SweepRequest, SweepResult, SweepStatus
from app.embedded import EmbeddedStack, EmbeddedStackError
from app.logging import configure_logging
from app.presets import preset
from app.render import print_summary, progress_line
from app.request_files import RequestFileError, load_request
from app.settings import Settings
from app.temporal import contract
from app.temporal.client import connect
from app.temporal.starter import follow, start_sweep

cli = typer.Typer(
    help="Durable hyperparameter sweeps for fine-tuning transformers.", no_args_is_help=True
)
# Wide enough for the leaderboard when output goes to a file or a CI log (no terminal width).
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)

DataDir = Annotated[Path | None, typer.Option(help="State directory (default .sweeps).")]
TemporalPort = Annotated[int, typer.Option(help="Port of the embedded Temporal server.")]
UiPort = Annotated[int, typer.Option(help="Port of the Temporal Web UI.")]


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


@cli.command()
def dev(
    data_dir: DataDir = None,
    temporal_port: TemporalPort = 7233,
    ui_port: UiPort = 8233,
) -> None:
    """Run the embedded stack (Temporal dev server, both workers) until Ctrl-C."""
    settings = _settings(data_dir)
    configure_logging(settings.log_level)
    stack = EmbeddedStack(settings, temporal_port=temporal_port, ui_port=ui_port)
    try:
        with stack:
            err.print(f"Temporal at {stack.address}, Web UI at {stack.ui_url}")
            err.print(f"logs in {stack.log_dir}; press Ctrl-C to stop")
            try:
                while True:
                    stack.check_alive()
                    time.sleep(1)
            except KeyboardInterrupt:
                err.print("stopping the workers and the Temporal server...")
    except EmbeddedStackError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@cli.command()
def demo(
    preset_name: Annotated[
        str, typer.Option("--preset", help="default (MiniLM on tweets) or tiny (smoke check).")
    ] = "default",
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Run this SweepRequest file (YAML/JSON) instead of a preset."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the SweepResult as JSON.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Sweep seed.")] = 0,
    data_dir: DataDir = None,
    temporal_port: TemporalPort = 7233,
    ui_port: UiPort = 8233,
) -> None:
    """Start the embedded stack, run a sample sweep on bundled data, print the leaderboard."""
    if preset_name not in ("default", "tiny"):
        err.print(
            f"[red]error:[/red] --preset: unknown preset {preset_name!r}; use default or tiny"
        )
        raise typer.Exit(2)
    try:
        request = load_request(file) if file else preset(preset_name, seed=seed)  # type: ignore[arg-type]
    except RequestFileError as exc:
        # Rejected before anything starts: no server, no workflow.
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    settings = _settings(data_dir)
    configure_logging("WARNING")
    stack = EmbeddedStack(settings, temporal_port=temporal_port, ui_port=ui_port)
    started = time.monotonic()
    try:
        with stack:
            err.print(f"embedded stack up: Temporal {stack.address}, Web UI {stack.ui_url}")
            result = asyncio.run(_run_demo(stack, request))
    except EmbeddedStackError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    err.print(
        f"sweep {result.sweep_id} ended {result.status.value} in {time.monotonic() - started:.0f} s"
    )
    if json_output:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        print_summary(out, result)
    if result.status != SweepStatus.COMPLETED:
        raise typer.Exit(1)


async def _run_demo(stack: EmbeddedStack, request: SweepRequest) -> SweepResult:
    settings = stack.child_settings()
    client = await connect(settings, wait_seconds=30)
    handle = await start_sweep(client, request, settings)
    err.print(f"started {handle.id}: {stack.ui_url}/namespaces/default/workflows/{handle.id}")
    last = ""

    def show(progress: SweepResult) -> None:
        nonlocal last
        stack.check_alive()
        line = progress_line(progress)
        if line != last:
            err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")
            last = line

    try:
        return await follow(handle, show)
    except WorkflowFailureError:
        # The sweep failed (say, every trial hit bad input): its last state carries the reason.
        final: SweepResult = await handle.query(contract.PROGRESS_QUERY, result_type=SweepResult)
        return final


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
