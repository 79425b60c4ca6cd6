"""The `sweeps` command line: embedded stack (dev, demo) and operations."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from temporalio.service import RPCError

from app.api.schemas import SweepCreated, SweepView
from app.db.errors import IndexUnavailable
from app.db.rows import LeaderboardPage
from app.domain import SweepRequest, SweepResult, SweepStatus
from app.embedded import EmbeddedStack, EmbeddedStackError
from app.logging import configure_logging
from app.presets import preset
from app.render import print_summary, progress_line
from app.request_files import RequestFileError, load_request
from app.settings import DEVELOPMENT_WEBHOOK_HOSTS, Settings
from app.temporal.client import connect

cli = typer.Typer(
    help="Durable hyperparameter sweeps for fine-tuning transformers.", no_args_is_help=True
)
# Wide enough for the leaderboard when output goes to a file or a CI log (no terminal width).
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)

DataDir = Annotated[Path | None, typer.Option(help="State directory (default .sweeps).")]
TemporalPort = Annotated[int, typer.Option(help="Port of the embedded Temporal server.")]
UiPort = Annotated[int, typer.Option(help="Port of the Temporal Web UI.")]
ApiPort = Annotated[int, typer.Option(help="Port of the REST API.")]


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def _allow_local_webhooks() -> str:
    """The embedded stack is for trying things out on this machine: webhooks may reach a
    receiver on localhost unless SWEEPS_WEBHOOK_ALLOWED_HOSTS says otherwise. The children
    inherit the environment."""
    allowed = os.environ.setdefault("SWEEPS_WEBHOOK_ALLOWED_HOSTS", DEVELOPMENT_WEBHOOK_HOSTS)
    return f"webhooks may reach {allowed} (development allow-list; SWEEPS_WEBHOOK_ALLOWED_HOSTS)"


@cli.command()
def dev(
    data_dir: DataDir = None,
    temporal_port: TemporalPort = 7233,
    ui_port: UiPort = 8233,
    api_port: ApiPort = 8000,
) -> None:
    """Run the embedded stack (Temporal dev server, both workers) until Ctrl-C."""
    webhooks_note = _allow_local_webhooks()
    settings = _settings(data_dir)
    configure_logging(settings.log_level)
    stack = EmbeddedStack(settings, temporal_port=temporal_port, ui_port=ui_port, api_port=api_port)
    try:
        with stack:
            err.print(f"API at {stack.api_url} (docs: {stack.api_url}/docs)")
            err.print(webhooks_note)
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
    webhooks_note = _allow_local_webhooks()
    settings = _settings(data_dir)
    configure_logging("WARNING")
    stack = EmbeddedStack(settings, temporal_port=temporal_port, ui_port=ui_port, api_port=api_port)
    started = time.monotonic()
    try:
        with stack:
            err.print(
                f"embedded stack up: API {stack.api_url}/docs, Temporal Web UI {stack.ui_url}"
            )
            err.print(webhooks_note)
            outcome = asyncio.run(_run_demo(stack, request))
    except (EmbeddedStackError, DemoError) as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    view, board, result = outcome
    err.print(
        f"sweep {view.sweep_id} ended {view.status.value} in {time.monotonic() - started:.0f} s"
    )
    if json_output:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        print_summary(out, view, board)
    if view.status != SweepStatus.COMPLETED:
        raise typer.Exit(1)


class DemoError(RuntimeError):
    """The API refused the sweep or stopped answering."""


async def _run_demo(
    stack: EmbeddedStack, request: SweepRequest
) -> tuple[SweepView, LeaderboardPage, SweepResult]:
    """Submit through the API, follow the sweep, read the leaderboard from the results index."""
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        response = await api.post(
            "/sweeps",
            content=request.model_dump_json(),
            headers={"content-type": "application/json"},
        )
        if response.status_code not in (200, 201):
            raise DemoError(f"POST /sweeps answered {response.status_code}: {response.text}")
        created = SweepCreated.model_validate(response.json())
        err.print(f"started {created.sweep_id}: {created.links.temporal_ui}")
        for hook in created.webhooks:
            err.print(f"webhook {hook.url} ({', '.join(hook.events)}): secret {hook.secret}")
        last = ""
        while True:
            stack.check_alive()
            view = SweepView.model_validate((await _get(api, created.links.status)).json())
            line = progress_line(view)
            if line != last:
                err.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {line}")
                last = line
            if view.status not in (SweepStatus.RUNNING, SweepStatus.PAUSED):
                break
            await asyncio.sleep(2)
        board = LeaderboardPage.model_validate(
            (await _get(api, f"{created.links.leaderboard}?limit=20")).json()
        )
        result = SweepResult.model_validate(
            (await _get(api, f"{created.links.status}/result")).json()
        )
        return view, board, result


async def _get(api: httpx.AsyncClient, path: str) -> httpx.Response:
    """GET with a few retries: the index can briefly lag or be busy right after a write."""
    for attempt in range(10):
        response = await api.get(path)
        if response.status_code == 200:
            return response
        if response.status_code not in (503, 404) or attempt == 9:
            break
        await asyncio.sleep(1)
    raise DemoError(f"GET {path} answered {response.status_code}: {response.text}")


@cli.command()
def migrate(data_dir: DataDir = None) -> None:
    """Apply the results-index migrations (SWEEPS_DATABASE_URL, or the embedded SQLite file)."""
    from app.db.migrate import upgrade_to_head

    settings = _settings(data_dir)
    try:
        upgrade_to_head(settings.resolved_database_url)
    except IndexUnavailable as exc:
        err.print(f"[red]error:[/red] the index database is unreachable: {escape(str(exc))}")
        raise typer.Exit(2) from None
    err.print(f"results index at head: {_redacted(settings.resolved_database_url)}")


@cli.command()
def reindex(
    sweep_id: Annotated[
        str | None, typer.Argument(help="Only this sweep; every sweep Temporal knows if omitted.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Rebuild the results index from Temporal (the source of truth)."""
    from app.db import make_engine
    from app.db.migrate import upgrade_to_head
    from app.reindex import reindex as rebuild

    settings = _settings(data_dir)

    async def run() -> list[str]:
        client = await connect(settings, wait_seconds=5)
        engine = make_engine(settings.resolved_database_url)
        try:
            return await rebuild(
                client,
                engine,
                sweep_id,
                progress=lambda sid, n: err.print(f"reindexed {sid}: {n} trials"),
            )
        finally:
            engine.dispose()

    try:
        upgrade_to_head(settings.resolved_database_url)
        done = asyncio.run(run())
    except IndexUnavailable as exc:
        err.print(f"[red]error:[/red] the index database is unreachable: {escape(str(exc))}")
        raise typer.Exit(2) from None
    except (RuntimeError, RPCError) as exc:
        err.print(
            f"[red]error:[/red] Temporal is unreachable at {settings.temporal_address}: {exc}"
        )
        raise typer.Exit(2) from None
    err.print(f"{len(done)} sweep(s) reindexed")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
