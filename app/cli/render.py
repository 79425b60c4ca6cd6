"""Human-readable progress lines and leaderboard tables for the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from app.api.schemas import SweepView
from app.domain.request import MetricName
from app.domain.rows import LeaderboardPage, LeaderboardRow

_METRICS: tuple[MetricName, ...] = ("accuracy", "f1_macro", "eval_loss")


def progress_line(view: SweepView) -> str:
    parts = [view.status.value]
    if view.current_rung < len(view.rungs):
        rung = view.rungs[view.current_rung]
        parts.append(f"rung {rung.rung} (budget {rung.budget:g}): {len(rung.trial_ids)} trials")
    counts = view.trials
    parts.append(
        f"running {counts.running}, pending {counts.pending}, paused {counts.paused}, "
        f"done with rung {counts.rung_done}, finished {counts.finished}/{counts.total}"
    )
    best = view.best
    if best is not None and best.rungs:
        parts.append(
            f"best {best.trial_id} {view.metric}={best.rungs[-1].objective_value:.4f} "
            f"(rung {best.rungs[-1].rung})"
        )
    return " | ".join(parts)


def leaderboard_table(board: LeaderboardPage, title: str) -> Table:
    table = Table(title=title, caption=f"* objective: {board.direction} {board.metric}")
    table.add_column("#", justify="right")
    table.add_column("trial")
    table.add_column("status")
    table.add_column("rung", justify="right")
    for metric in _METRICS:
        marker = " *" if metric == board.metric else ""
        table.add_column(metric + marker, justify="right")
    table.add_column("train s", justify="right")
    table.add_column("params")
    for row in board.items:
        table.add_row(str(row.rank), *_row(row))
    return table


def _row(row: LeaderboardRow) -> list[str]:
    metrics = row.metrics
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(row.params.items()))
    return [
        row.trial_id,
        row.status.value,
        "-" if row.scored_rung is None else str(row.scored_rung),
        *(_fmt(metrics.value(m) if metrics else None) for m in _METRICS),
        f"{row.train_seconds:.0f}",
        params,
    ]


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)


def print_summary(console: Console, view: SweepView, board: LeaderboardPage) -> None:
    console.print(leaderboard_table(board, f"{view.name} ({view.sweep_id}): {view.status.value}"))
    if board.items and board.items[0].checkpoint is not None:
        console.print(f"best checkpoint: {board.items[0].checkpoint.path}")
    if view.error:
        console.print(f"[red]error:[/red] {view.error}")
