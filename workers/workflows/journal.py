"""The sweep's event journal: which event a transition gives, appending with a bound, and
the pages the events query answers. Pure functions over SweepState, so the journal is part
of the workflow's durable state (carried over continue-as-new) and its ids replay unchanged.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from app.domain import Ladder, RungSummary, TrialResult, TrialStatus
    from app.domain.request import Direction
    from app.domain.sweep_events import SweepEvent, SweepEventPage
    from app.domain.workflow_io import SweepState
    from app.search import rungs

# An event's fields but id, at and sweep_id (which the engine adds when it appends it).
EventFields = dict[str, Any]

_ENDED_EARLY = frozenset({TrialStatus.FAILED, TrialStatus.CANCELLED})


def append(state: SweepState, size: int, **fields: Any) -> SweepEvent:
    """Add an event with the next id; keep only the newest ``size``."""
    event = SweepEvent(id=state.next_event_id, **fields)
    state.events.append(event)
    state.next_event_id += 1
    if len(state.events) > size:
        del state.events[: len(state.events) - size]
    return event


def ended(state: SweepState) -> bool:
    """sweep.ended is always the last event: nothing follows it."""
    return bool(state.events) and state.events[-1].type == "sweep.ended"


def page(state: SweepState, after: int, limit: int) -> SweepEventPage:
    """Events with id > ``after``, oldest first, at most ``limit``. Retained ids are
    contiguous, so the first one wanted is found by arithmetic."""
    first_id = state.events[0].id if state.events else state.next_event_id
    start = max(0, after + 1 - first_id)
    return SweepEventPage(
        events=state.events[start : start + limit],
        first_id=first_id,
        next_id=state.next_event_id,
        ended=ended(state),
    )


def trial_event(before: TrialResult, after: TrialResult, ladder: Ladder) -> EventFields | None:
    """The event a trial's status change gives; None for bookkeeping (RUNG_DONE -> PENDING,
    COMPLETED or PRUNED is told by rung.completed; an unchanged status by nothing)."""
    if after.status == before.status:
        return None
    trial = {"trial_id": after.trial_id, "rung": after.rung}
    if after.status == TrialStatus.RUNNING:
        return {
            "type": "trial.started",
            **trial,
            "budget": ladder.rungs[after.rung].budget,
            "params": after.params,
            "step": after.checkpoint.step if after.checkpoint else 0,
        }
    if after.status == TrialStatus.PAUSED:
        return {"type": "trial.paused", **trial, "checkpoint": after.checkpoint}
    if after.status == TrialStatus.RUNG_DONE:
        return {
            "type": "trial.finished",
            **trial,
            "status": after.status.value,
            "metrics": after.metrics,
            "objective_value": after.objective_value,
        }
    if after.status in _ENDED_EARLY:
        return {
            "type": "trial.finished",
            **trial,
            "status": after.status.value,
            "error": after.error,
        }
    return None


def rung_event(
    summary: RungSummary, members: list[TrialResult], direction: Direction
) -> EventFields:
    """rung.completed, from the rung's members after the promotion decision: survivors are
    promoted (pending) or, on the last rung, the final winners (completed); both lists best
    first, like the rung's survivors in the sweep's result."""
    ranked = rungs.rank_trials(members, summary.rung, direction)
    place = {t.trial_id: i for i, t in enumerate(ranked)}

    def best_first(statuses: set[TrialStatus]) -> list[str]:
        chosen = [t.trial_id for t in members if t.status in statuses]
        return sorted(chosen, key=lambda trial_id: place.get(trial_id, len(place)))

    survivors = best_first({TrialStatus.PENDING, TrialStatus.COMPLETED})
    pruned = best_first({TrialStatus.PRUNED})
    best = ranked[0] if ranked else None
    return {
        "type": "rung.completed",
        "rung": summary.rung,
        "budget": summary.budget,
        "survivors": survivors,
        "pruned": pruned,
        "best_trial_id": best.trial_id if best else None,
        "best_value": rungs.rung_value(best, summary.rung) if best else None,
    }
