"""The `sweeps` command line: the embedded stack (dev, demo), the API's client commands
(submit, status, leaderboard, control, events) and operations (migrate, reindex, token)."""

from app.cli.app import cli

# Imported for their commands, in the order `sweeps --help` lists them.
# isort: off
from app.cli import stack, remote, admin
# isort: on

__all__ = ["admin", "cli", "main", "remote", "stack"]


def main() -> None:
    cli()
