"""Operations on the results index and Temporal: migrate, reindex, API tokens."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session
from temporalio.service import RPCError

from app.cli.app import (
    EXIT_FAILED,
    OPS_PANEL,
    DataDir,
    cli,
    err,
    fail,
    out,
    settings_for,
    token_cli,
)
from app.db.errors import IndexUnavailable
from app.temporal.client import connect


@cli.command(rich_help_panel=OPS_PANEL)
def migrate(data_dir: DataDir = None) -> None:
    """Apply the results-index migrations (SWEEPS_DATABASE_URL, or the embedded SQLite file)."""
    from app.db.migrate import upgrade_to_head

    settings = settings_for(data_dir)
    try:
        upgrade_to_head(settings.resolved_database_url)
    except IndexUnavailable as exc:
        fail(f"the index database is unreachable: {exc}")
    err.print(f"results index at head: {_redacted(settings.resolved_database_url)}")


@cli.command(rich_help_panel=OPS_PANEL)
def reindex(
    sweep_id: Annotated[
        str | None, typer.Argument(help="Only this sweep; every sweep Temporal knows if omitted.")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Rebuild the results index from Temporal (the source of truth)."""
    from app.db import make_engine
    from app.db.migrate import upgrade_to_head
    from app.db.reindex import reindex as rebuild

    settings = settings_for(data_dir)

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
        fail(f"the index database is unreachable: {exc}")
    except (RuntimeError, RPCError) as exc:
        fail(f"Temporal is unreachable at {settings.temporal_address}: {exc}")
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
        fail(f"--name: {exc}")
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
        fail("no live token matches", EXIT_FAILED)
    err.print("revoked")


@contextlib.contextmanager
def _index_session(data_dir: Path | None) -> Iterator[Session]:
    from app.db import make_engine, session_scope
    from app.db.migrate import upgrade_to_head

    settings = settings_for(data_dir)
    try:
        upgrade_to_head(settings.resolved_database_url)
        engine = make_engine(settings.resolved_database_url)
        try:
            with session_scope(engine) as session:
                yield session
        finally:
            engine.dispose()
    except IndexUnavailable as exc:
        fail(f"the index database is unreachable: {exc}")


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
