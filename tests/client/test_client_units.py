"""The client's parts that need no server: error mapping, the --fail-under gate, event lines,
progress rendering, the reconnect policy, local validation, the leaderboard's DataFrame."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent
from rich.console import Console

from app.api.schemas import SweepLinks, SweepView, TrialCounts
from app.cli.remote import Threshold
from app.client import (
    ApiError,
    Conflict,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ServiceUnreachable,
    SweepProgress,
    SweepsClient,
    Unauthorized,
    describe,
)
from app.client.errors import error_of
from app.client.follow import EventFollower
from app.client.leaderboard import Leaderboard
from app.domain import (
    CheckpointInfo,
    RungSummary,
    SweepResult,
    SweepStatus,
    TrialMetrics,
    TrialResult,
    TrialStatus,
)
from app.domain.sweep_events import SWEEP_EVENT_TYPES, SweepEvent

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
METRICS = TrialMetrics(accuracy=0.61, f1_macro=0.55, eval_loss=0.9, num_examples=200)


def event(id: int, type: str, **fields: Any) -> SweepEvent:
    return SweepEvent.model_validate({"id": id, "type": type, "at": NOW, "sweep_id": "s", **fields})


def view(rungs: list[RungSummary], status: SweepStatus = SweepStatus.RUNNING) -> SweepView:
    return SweepView(
        sweep_id="s",
        name="n",
        status=status,
        paused=False,
        metric="accuracy",
        direction="maximize",
        current_rung=len(rungs) - 1,
        rungs=rungs,
        trials=TrialCounts(),
        best=None,
        started_at=NOW,
        ended_at=None,
        error=None,
        links=SweepLinks(status="/s", leaderboard="/l", trials="/t", temporal_ui="http://ui"),
    )


# ---- errors -------------------------------------------------------------------------------------


def answer(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_api_errors_become_typed_exceptions_with_the_api_message() -> None:
    invalid = error_of(
        answer(422, {"detail": "invalid", "errors": [{"field": "ladder.trials", "message": "x"}]})
    )
    assert isinstance(invalid, InvalidRequest) and str(invalid) == "ladder.trials: x"
    assert invalid.errors[0].field == "ladder.trials" and invalid.status_code == 422
    assert isinstance(error_of(answer(404, {"detail": "no sweep 'a'"})), NotFound)
    assert str(error_of(answer(404, {"detail": "no sweep 'a'"}))) == "no sweep 'a'"
    assert isinstance(error_of(answer(401, {"detail": "no token"})), Unauthorized)
    assert isinstance(error_of(answer(409, {"detail": "ended"})), Conflict)
    assert isinstance(error_of(answer(503, {"detail": "down"})), ServiceUnavailable)
    limited = error_of(answer(429, {"detail": "slow down"}, **{"Retry-After": "7"}))
    assert isinstance(limited, RateLimited) and limited.retry_after == 7.0
    # A proxy's HTML error page still gives one readable line.
    odd = error_of(httpx.Response(502, text="<html>Bad Gateway</html>"))
    assert type(odd) is ApiError and odd.status_code == 502 and "Bad Gateway" in str(odd)


def test_a_bad_request_is_refused_before_anything_is_sent() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(500)

    client = SweepsClient("http://api", transport=httpx.MockTransport(record))
    with client, pytest.raises(InvalidRequest) as refused:
        client.submit({"name": "x", "ladder": {"trials": 0}})
    assert sent == []
    fields = {e.field for e in refused.value.errors}
    assert "ladder.trials" in fields and "space" in fields


def test_no_answer_is_service_unreachable_naming_the_url() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = SweepsClient("http://api:9", transport=httpx.MockTransport(refuse))
    with client, pytest.raises(ServiceUnreachable, match=r"http://api:9.*connection refused"):
        client.get("s")


# ---- the CI gate --------------------------------------------------------------------------------


def finished(best_metrics: TrialMetrics | None) -> SweepResult:
    best = TrialResult(
        trial_id="t0001",
        trial_index=1,
        params={},
        seed=1,
        status=TrialStatus.COMPLETED,
        rung=1,
        metrics=best_metrics,
    )
    return SweepResult(
        sweep_id="s",
        name="n",
        status=SweepStatus.COMPLETED,
        metric="accuracy",
        direction="maximize",
        current_rung=1,
        trials=[best],
        rungs=[],
        best=best,
    )


def test_fail_under_reads_the_metric_in_its_own_direction() -> None:
    result = finished(METRICS)
    assert Threshold.parse("accuracy=0.6").met_by(result) == (True, 0.61)
    assert Threshold.parse("accuracy=0.7").met_by(result) == (False, 0.61)
    assert Threshold.parse("eval_loss=1.0").met_by(result) == (True, 0.9)  # lower is better
    assert Threshold.parse("eval_loss=0.5").met_by(result)[0] is False
    assert Threshold.parse("f1_macro=0.5").met_by(finished(None)) == (False, None)
    for bad in ("accuracy", "acc=0.6", "accuracy=high"):
        with pytest.raises(ValueError):
            Threshold.parse(bad)


# ---- event lines and progress -------------------------------------------------------------------

CHECKPOINT = CheckpointInfo(path="/c", step=20, epoch=0.5, rung=0, reason="requested")
STORY = [
    event(1, "trial.started", trial_id="t0000", rung=0, budget=10, step=0, params={"lr": 0.001}),
    event(2, "trial.started", trial_id="t0001", rung=0, budget=10, step=0, params={"lr": 0.01}),
    event(3, "checkpoint.saved", trial_id="t0000", rung=0, step=20, checkpoint=CHECKPOINT),
    event(4, "sweep.paused"),
    event(5, "trial.paused", trial_id="t0000", rung=0, checkpoint=CHECKPOINT),
    event(6, "sweep.resumed"),
    event(
        7,
        "trial.finished",
        trial_id="t0000",
        rung=0,
        status="rung_done",
        metrics=METRICS,
        objective_value=0.61,
    ),
    event(8, "trial.finished", trial_id="t0001", rung=0, status="failed", error="diverged"),
    event(
        9,
        "rung.completed",
        rung=0,
        budget=10,
        survivors=["t0000"],
        pruned=[],
        best_trial_id="t0000",
        best_value=0.61,
    ),
    event(10, "trial.started", trial_id="t0000", rung=1, budget=30, step=10, params={}),
    event(11, "sweep.ended", status="completed", best_trial_id="t0000", best_value=0.61),
]


def test_every_event_type_reads_as_one_line() -> None:
    lines = [describe(e, "accuracy") for e in STORY]
    assert lines[0] == "t0000 started rung 0 (budget 10): lr=0.001"
    assert lines[2] == "t0000 saved a checkpoint at step 20 (requested)"
    assert lines[6] == "t0000 finished rung 0: accuracy=0.6100"
    assert lines[7] == "t0001 failed at rung 0: diverged"
    assert lines[8] == "rung 0 complete: kept t0000; best t0000 accuracy=0.6100"
    assert lines[9] == "t0000 started rung 1 (budget 30) from step 10: "
    assert lines[10] == "sweep completed, best t0000 accuracy=0.6100"
    assert describe(event(0, "events.skipped", skipped=4)) == "(4 older events are no longer kept)"
    covered = {e.type for e in STORY} | {"events.skipped"}
    assert covered == set(SWEEP_EVENT_TYPES)
    assert all("\n" not in line for line in lines)


def test_progress_prints_a_line_per_event_where_nothing_can_be_redrawn() -> None:
    sink = io.StringIO()
    console = Console(file=sink, force_terminal=False, force_jupyter=False, width=200)
    rung0 = RungSummary(rung=0, budget=10, trial_ids=["t0000", "t0001"])
    with SweepProgress(view([rung0]), console) as progress:
        for e in STORY[:10]:
            progress.update(e)
        # rung 1 was not in the view: the caller is asked for a fresh one.
        assert progress.needs_view
        progress.refresh(view([rung0, RungSummary(rung=1, budget=30, trial_ids=["t0000"])]))
        assert not progress.needs_view
        progress.update(STORY[10])
    text = sink.getvalue()
    for e in STORY:
        assert describe(e, "accuracy") in text
    last = text.strip().splitlines()[-1]
    assert last.startswith("completed | running 1, finished 2 trial runs")
    assert last.endswith("best t0000 accuracy=0.6100 (rung 0)")


def test_progress_draws_bars_in_a_terminal() -> None:
    sink = io.StringIO()
    console = Console(file=sink, force_terminal=True, width=120)
    rung0 = RungSummary(rung=0, budget=10, trial_ids=["t0000", "t0001"])
    with SweepProgress(view([rung0]), console) as progress:
        for e in STORY[:9]:
            progress.update(e)
        assert progress.status_line().startswith("running | running 0, finished 2")
    text = sink.getvalue()
    assert "rung 0 (budget 10)" in text and "2/2" in text and "kept 1" in text
    assert "saved a checkpoint" not in text  # bars, not a log


# ---- following ----------------------------------------------------------------------------------


def test_the_follower_resumes_after_the_last_event_and_stops_at_the_end() -> None:
    follower = EventFollower(after=None, reconnect_for=60)
    assert follower.headers() == {}
    assert follower.accept(ServerSentEvent(data="", retry=2000)) is None  # keep-alive / hint
    got = follower.accept(ServerSentEvent(event="trial.started", data=STORY[0].model_dump_json()))
    assert got == STORY[0] and follower.headers() == {"last-event-id": "1"}
    assert follower.broken(ServiceUnavailable(503, "down")) == 2.0  # the server's retry hint
    follower.accept(ServerSentEvent(data=STORY[-1].model_dump_json()))
    assert follower.ended and follower.last_id == 11


def test_the_follower_gives_up_after_failing_for_too_long() -> None:
    follower = EventFollower(after=3, reconnect_for=0)
    assert follower.headers() == {"last-event-id": "3"}
    follower.broken(ServiceUnavailable(503, "down"))  # the first failure starts the clock
    with pytest.raises(ServiceUnavailable):
        follower.broken(ServiceUnavailable(503, "still down"))


# ---- leaderboard --------------------------------------------------------------------------------


def test_the_leaderboard_becomes_a_dataframe() -> None:
    row = {
        "trial_id": "t0001",
        "trial_index": 1,
        "status": "completed",
        "params": {"lr": 0.01},
        "seed": 1,
        "rung": 1,
        "scored_rung": 1,
        "objective_value": 0.61,
        "metrics": METRICS.model_dump(),
        "train_seconds": 3.0,
        "checkpoint": CHECKPOINT.model_dump(),
        "error": None,
        "updated_at": NOW,
        "rank": 1,
    }
    board = Leaderboard.model_validate(
        {
            "items": [row],
            "total": 1,
            "limit": 20,
            "offset": 0,
            "sweep_id": "s",
            "metric": "accuracy",
            "direction": "maximize",
            "rung": None,
        }
    )
    frame = board.to_pandas()
    assert list(frame.index) == [1]
    assert frame.loc[1, "trial_id"] == "t0001" and frame.loc[1, "param.lr"] == 0.01
    assert frame.loc[1, "accuracy"] == 0.61 and frame.loc[1, "checkpoint"] == "/c"
    empty = Leaderboard.model_validate({**board.model_dump(), "items": [], "total": 0})
    assert empty.to_pandas().empty


def test_a_diverged_trial_s_null_metrics_read_back_as_nan() -> None:
    follower = EventFollower(after=None)
    wire = STORY[6].model_dump(mode="json")
    wire["metrics"]["eval_loss"] = None  # what the stream writes for NaN
    wire["objective_value"] = None
    got = follower.accept(ServerSentEvent(data=json.dumps(wire)))
    assert got is not None and got.metrics is not None
    assert math.isnan(got.metrics.eval_loss) and math.isnan(got.objective_value or 0.0)
    assert got.metrics.accuracy == 0.61
    failed = follower.accept(ServerSentEvent(data=STORY[7].model_dump_json()))
    assert failed is not None and failed.objective_value is None  # no score, not NaN
