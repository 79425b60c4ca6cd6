"""Human-readable progress lines and leaderboard tables for the terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from app.domain import SweepResult, TrialResult, TrialStatus
from app.domain.request import MetricName

_METRICS: tuple[MetricName, ...] = ("accuracy", "f1_macro", "eval_loss")


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
        f"paused {counts[TrialStatus.PAUSED]}, trained {sum(len(t.rungs) for t in result.trials)}"
    )
    if counts[TrialStatus.FAILED]:
        parts.append(f"failed {counts[TrialStatus.FAILED]}")
    best = result.best
    if best is not None and best.rungs:
        parts.append(
            f"best {best.trial_id} {result.metric}={best.rungs[-1].objective_value:.4f} "
            f"(rung {best.rungs[-1].rung})"
        )
    return " | ".join(parts)


def leaderboard_table(result: SweepResult, limit: int = 20) -> Table:
    table = Table(
        title=f"{result.name} ({result.sweep_id}): {result.status.value}",
        caption=f"* objective: {result.direction} {result.metric}",
    )
    table.add_column("#", justify="right")
    table.add_column("trial")
    table.add_column("status")
    table.add_column("rung", justify="right")
    for metric in _METRICS:
        marker = " *" if metric == result.metric else ""
        table.add_column(metric + marker, justify="right")
    table.add_column("params")
    for rank, trial in enumerate(result.leaderboard()[:limit], start=1):
        table.add_row(str(rank), *_row(trial))
    return table


def _row(trial: TrialResult) -> list[str]:
    metrics = trial.metrics
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(trial.params.items()))
    scored_rung = trial.rungs[-1].rung if trial.rungs else trial.rung
    return [
        trial.trial_id,
        trial.status.value,
        str(scored_rung),
        *(_fmt(metrics.value(m) if metrics else None) for m in _METRICS),
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
