"""The progress line users read while a sweep runs."""

from __future__ import annotations

from app.api.schemas import SweepLinks, SweepView, TrialCounts
from app.cli.render import progress_line
from app.domain import RungSummary, SweepStatus


def test_progress_line_names_the_rung_and_counts() -> None:
    view = SweepView(
        sweep_id="s",
        name="n",
        status=SweepStatus.RUNNING,
        paused=False,
        metric="accuracy",
        direction="maximize",
        current_rung=1,
        rungs=[
            RungSummary(rung=0, budget=25, trial_ids=["t0000", "t0001"], complete=True),
            RungSummary(rung=1, budget=75, trial_ids=["t0001"]),
        ],
        trials=TrialCounts(running=1, rung_done=0, finished=1, total=2),
        best=None,
        started_at=None,
        ended_at=None,
        error=None,
        links=SweepLinks(status="/s", leaderboard="/l", trials="/t", temporal_ui="http://ui"),
    )
    line = progress_line(view)
    assert line.startswith("running | rung 1 (budget 75): 1 trials | running 1, pending 0")
    assert "finished 1/2" in line
