"""The `sweeps` command line: embedded stack (dev, demo) and operations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.orm import Session
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
token_cli = typer.Typer(
    help="API tokens (written straight to the index database: SWEEPS_DATABASE_URL).",
    no_args_is_help=True,
)
cli.add_typer(token_cli, name="token")
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
            err.print(_auth_note(stack))
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
            token = stack.create_token("demo") if settings.auth_enabled else None
            err.print(
                "authentication on: the demo acts as principal 'demo' with its own token "
                "(revoked when the demo ends)"
                if token
                else _AUTH_OFF
            )
            outcome = asyncio.run(_run_demo(stack, request, token))
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


_AUTH_OFF = (
    "[yellow]authentication is OFF[/yellow] (SWEEPS_AUTH_ENABLED=false): anyone who reaches "
    "the API can start and steer sweeps"
)


def _auth_note(stack: EmbeddedStack) -> str:
    if stack.admin_token is None:
        return _AUTH_OFF
    return (
        f"admin token for this session (revoked on exit): {stack.admin_token}\n"
        "lasting tokens: `sweeps token create --name <you>`"
    )


async def _run_demo(
    stack: EmbeddedStack, request: SweepRequest, token: str | None
) -> tuple[SweepView, LeaderboardPage, SweepResult]:
    """Submit through the API, follow the sweep, read the leaderboard from the results index."""
    headers = stack.auth_headers(token) if token else {}
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30, headers=headers) as api:
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


@token_cli.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Principal the token acts for: it owns their sweeps.")],
    admin: Annotated[
        bool, typer.Option("--admin", help="Sees every sweep; manages tokens and global webhooks.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Make a token and print it once (only its SHA-256 is stored)."""
    from app.auth.principal import check_principal_name
    from app.db.access import create_token

    try:
        check_principal_name(name)
    except ValueError as exc:
        err.print(f"[red]error:[/red] --name: {exc}")
        raise typer.Exit(2) from None
    with _index_session(data_dir) as session:
        row, token = create_token(session, name, admin=admin)
    scope = "admin" if admin else "user"
    err.print(f"token {row.id} for {name} ({scope}); shown once, store it now:")
    sys.stdout.write(token + "\n")


@token_cli.command("list")
def token_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Revoked ones too.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Tokens by principal (never the tokens themselves)."""
    from rich.table import Table

    from app.db.access import list_tokens

    with _index_session(data_dir) as session:
        rows = list_tokens(session, include_revoked=include_revoked)
    table = Table("id", "principal", "scope", "created", "last used", "revoked")
    for row in rows:
        table.add_row(
            row.id,
            row.principal,
            "admin" if row.admin else "user",
            f"{row.created_at:%Y-%m-%d %H:%M}",
            f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "-",
            f"{row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "-",
        )
    out.print(table)


@token_cli.command("revoke")
def token_revoke(
    token: Annotated[str, typer.Argument(help="Token id (tok_...), or the token itself.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a token: the API refuses it (401) from its next call on."""
    from app.db.access import revoke_token

    with _index_session(data_dir) as session:
        revoked = revoke_token(session, token)
    if not revoked:
        err.print("[red]error:[/red] no live token matches")
        raise typer.Exit(1)
    err.print("revoked")


@contextlib.contextmanager
def _index_session(data_dir: Path | None) -> Iterator[Session]:
    from app.db import make_engine, session_scope
    from app.db.migrate import upgrade_to_head

    settings = _settings(data_dir)
    try:
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        try:
            with session_scope(engine) as session:
                yield session
        finally:
            engine.dispose()
    except IndexUnavailable as exc:
        err.print(f"[red]error:[/red] the index database is unreachable: {escape(str(exc))}")
        raise typer.Exit(2) from None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
