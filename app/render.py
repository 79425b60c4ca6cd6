"""Human-readable progress lines and leaderboard tables for the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from app.domain import SweepResult, TrialResult, TrialStatus


def progress_line(result: SweepResult) -> str:
    counts = {status: 0 for status in TrialStatus}
    for trial in result.trials:
        counts[trial.status] += 1
    rung = result.rungs[result.current_rung] if result.current_rung < len(result.rungs) else None
    parts = [f"{result.status.value}"]
    if rung is not None:
        parts.append(f"rung {rung.rung} (budget {rung.budget:g}): {len(rung.trial_ids)} trials")
    parts.append(
        f"running {counts[TrialStatus.RUNNING]}, pending {counts[TrialStatus.PENDING]}, "
        f"paused {counts[TrialStatus.PAUSED]}, done {sum(len(t.rungs) for t in result.trials)} runs"
    )
    if counts[TrialStatus.FAILED]:
        parts.append(f"failed {counts[TrialStatus.FAILED]}")
    if result.best is not None and result.best.objective_value is not None:
        parts.append(
            f"best {result.best.trial_id} {result.metric}={result.best.objective_value:.4f} "
            f"(rung {result.best.rung})"
        )
    return " | ".join(parts)


def leaderboard_table(result: SweepResult, limit: int = 20) -> Table:
    table = Table(title=f"{result.name} ({result.sweep_id}): {result.status.value}")
    table.add_column("#", justify="right")
    table.add_column("trial")
    table.add_column("status")
    table.add_column("rung", justify="right")
    table.add_column(result.metric, justify="right")
    table.add_column("accuracy", justify="right")
    table.add_column("f1_macro", justify="right")
    table.add_column("eval_loss", justify="right")
    table.add_column("params")
    for rank, trial in enumerate(result.leaderboard()[:limit], start=1):
        table.add_row(str(rank), *_row(trial))
    return table


def _row(trial: TrialResult) -> list[str]:
    metrics = trial.metrics
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(trial.params.items()))
    return [
        trial.trial_id,
        trial.status.value,
        str(trial.rung),
        _fmt(trial.objective_value),
        _fmt(metrics.accuracy if metrics else None),
        _fmt(metrics.f1_macro if metrics else None),
        _fmt(metrics.eval_loss if metrics else None),
        params,
    ]


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e-3 or abs(value) >= 1e4 else f"{value:.4f}"
    return str(value)


def print_summary(console: Console, result: SweepResult) -> None:
    console.print(leaderboard_table(result))
    if result.best is not None and result.best.checkpoint is not None:
        console.print(f"best checkpoint: {result.best.checkpoint.path}")
    if result.error:
        console.print(f"[red]error:[/red] {result.error}")
