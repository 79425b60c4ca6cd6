"""The `sweeps` Typer application, its consoles and the options its commands share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from app.settings import Settings

cli = typer.Typer(
    help="Durable hyperparameter sweeps for fine-tuning transformers.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
token_cli = typer.Typer(
    help="API tokens (written straight to the index database: SWEEPS_DATABASE_URL).",
    no_args_is_help=True,
)
STACK_PANEL = "Embedded stack (this machine)"
API_PANEL = "Sweeps, through the API (SWEEPS_API_URL, SWEEPS_TOKEN)"
OPS_PANEL = "Operations (index database, Temporal)"
cli.add_typer(token_cli, name="token", rich_help_panel=OPS_PANEL)

# Wide enough for tables when output goes to a file or a CI log (no terminal width).
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)
out = Console(width=None if sys.stdout.isatty() else 160)

# Exit codes that CI jobs can rely on.
EXIT_OK = 0
EXIT_FAILED = 1  # the sweep failed, was cancelled or scored below --fail-under
EXIT_USAGE = 2  # invalid input, or the service could not be reached

DataDir = Annotated[Path | None, typer.Option(help="State directory (default .sweeps).")]


def settings_for(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One readable error line on stderr (never a traceback), then exit."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False)
    raise typer.Exit(code)
