"""Live progress of one sweep from its events: a bar per rung, trials running and finished,
the best so far. Bars in a terminal or a notebook (rich renders in both); one line per event
where nothing can be redrawn (CI logs, files)."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text

from app.api.schemas import SweepView
from app.domain.sweep_events import SweepEvent


def describe(event: SweepEvent, metric: str | None = None) -> str:
    """One plain line per event (the CLI's `sweeps events` and CI logs)."""
    trial = event.trial_id
    match event.type:
        case "trial.started":
            params = ", ".join(f"{k}={_value(v)}" for k, v in sorted((event.params or {}).items()))
            start = f" from step {event.step}" if event.step else ""
            return f"{trial} started rung {event.rung} (budget {event.budget:g}){start}: {params}"
        case "checkpoint.saved":
            why = event.checkpoint.reason if event.checkpoint else "interval"
            return f"{trial} saved a checkpoint at step {event.step} ({why})"
        case "trial.paused":
            step = event.checkpoint.step if event.checkpoint else 0
            return f"{trial} paused at step {step}"
        case "trial.finished" if event.status == "rung_done":
            return f"{trial} finished rung {event.rung}: {_score(metric, event.objective_value)}"
        case "trial.finished":
            reason = f": {event.error}" if event.error else ""
            return f"{trial} {event.status} at rung {event.rung}{reason}"
        case "rung.completed":
            kept = ", ".join(event.survivors or []) or "none"
            best = f"; best {event.best_trial_id} " if event.best_trial_id else ""
            score = _score(metric, event.best_value) if event.best_trial_id else ""
            return f"rung {event.rung} complete: kept {kept}{best}{score}"
        case "sweep.paused" | "sweep.resumed":
            return f"sweep {event.type.removeprefix('sweep.')}"
        case "sweep.ended":
            best = f", best {event.best_trial_id} " if event.best_trial_id else ""
            score = _score(metric, event.best_value) if event.best_trial_id else ""
            error = f": {event.error}" if event.error else ""
            return f"sweep {event.status}{best}{score}{error}"
        case "events.skipped":
            return f"({event.skipped} older events are no longer kept)"
    return event.type  # pragma: no cover - every type is matched above


class SweepProgress:
    """Feed it the sweep's view, then its events in order (from the first); it renders.

    ``needs_view`` turns true when an event names a rung the view did not list yet (a new
    rung starts): the caller fetches the view again and passes it to ``refresh``."""

    def __init__(self, view: SweepView, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._metric = view.metric
        self._sign = 1.0 if view.direction == "maximize" else -1.0
        self._live_bars = self._console.is_terminal or self._console.is_jupyter
        self._bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            console=self._console,
        )
        self._tasks: dict[int, TaskID] = {}
        self._running: set[str] = set()
        self._finished = 0
        self._best: tuple[int, float, str] | None = None  # (rung, value, trial)
        self._state = view.status.value
        self._live: Live | None = None
        self.needs_view = False
        self.refresh(view)

    # ---- feeding -----------------------------------------------------------------------------

    def refresh(self, view: SweepView) -> None:
        for rung in view.rungs:
            if rung.rung not in self._tasks:
                self._tasks[rung.rung] = self._bars.add_task(
                    f"rung {rung.rung} (budget {rung.budget:g})",
                    total=len(rung.trial_ids),
                    note="",
                )
        self.needs_view = False

    def update(self, event: SweepEvent) -> None:
        if not self._live_bars:
            stamp = time.strftime("%H:%M:%S")
            self._console.print(f"[dim]{stamp}[/dim] {escape(describe(event, self._metric))}")
        rung, trial = event.rung, event.trial_id
        if rung is not None and rung not in self._tasks and event.type != "events.skipped":
            self.needs_view = True
        match event.type:
            case "trial.started" if trial:
                self._running.add(trial)
            case "trial.paused" if trial:
                self._running.discard(trial)
            case "trial.finished" if trial:
                self._running.discard(trial)
                self._finished += 1
                if rung in self._tasks:
                    self._bars.advance(self._tasks[rung])
                if event.objective_value is not None and rung is not None:
                    self._consider(rung, event.objective_value, trial)
            case "rung.completed" if rung in self._tasks:
                task = self._tasks[rung]
                self._bars.update(
                    task,
                    completed=self._bars.tasks[task].total,
                    note=f"kept {len(event.survivors or [])}",
                )
            case "sweep.paused":
                self._state = "paused"
            case "sweep.resumed":
                self._state = "running"
            case "sweep.ended":
                self._state = event.status or "ended"
        if self._live is not None:
            self._live.update(self._renderable())

    def _consider(self, rung: int, value: float, trial: str) -> None:
        """Best so far: the best score at the highest rung reached (as the leaderboard ranks)."""
        best = self._best
        if (
            best is None
            or rung > best[0]
            or (rung == best[0] and self._sign * (value - best[1]) > 0)
        ):
            self._best = (rung, value, trial)

    # ---- rendering ---------------------------------------------------------------------------

    def status_line(self) -> str:
        best = (
            f"best {self._best[2]} {_score(self._metric, self._best[1])} (rung {self._best[0]})"
            if self._best
            else "no result yet"
        )
        return (
            f"{self._state} | running {len(self._running)}, finished {self._finished} trial runs"
            f" | {best}"
        )

    def _renderable(self) -> RenderableType:
        return Group(self._bars.get_renderable(), Text(self.status_line()))

    def __enter__(self) -> SweepProgress:
        if self._live_bars:
            self._live = Live(self._renderable(), console=self._console, refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._renderable())
            self._live.__exit__(kind, error, trace)
            self._live = None
        else:
            self._console.print(self.status_line())


def _score(metric: str | None, value: float | None) -> str:
    if value is None:
        return ""
    return f"{metric or 'objective'}={value:.4f}"


def _value(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
