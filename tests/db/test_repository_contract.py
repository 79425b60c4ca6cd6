"""The results-index contract, run against SQLite and the real Postgres (see conftest)."""

from __future__ import annotations

import math
import random
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text, update

from app.db import (
    SweepNotFound,
    delete_sweep,
    get_sweep,
    get_trial,
    leaderboard,
    list_sweeps,
    list_trials,
    mirror_sweep,
    register_sweep,
    session_scope,
    upsert_trials,
)
from app.db.models import Trial
from app.domain import (
    DatasetSpec,
    Ladder,
    ModelSpec,
    Rung,
    SweepRequest,
    SweepResult,
    SweepSpace,
    SweepStatus,
    TrialMetrics,
    TrialResult,
)
from app.domain import TrialStatus as S
from app.search import best_trial
from tests.db.factories import T0, checkpoint, sweep, trial

NAN = math.nan
TABLES = ("sweeps", "trials", "trial_rungs", "checkpoints")


def mirror(engine: Engine, result: SweepResult, request: SweepRequest | None = None) -> int:
    with session_scope(engine) as session:
        return mirror_sweep(session, result, request)


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, without the write timestamps."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as connection:
        for table in TABLES:
            rows = connection.execute(text(f"SELECT * FROM {table}")).mappings()
            out[table] = sorted(
                tuple((k, repr(v)) for k, v in r.items() if k not in ("updated_at", "created_at"))
                for r in rows
            )
    return out


def board_ids(engine: Engine, sweep_id: str, **filters: Any) -> list[str]:
    with session_scope(engine) as session:
        return [row.trial_id for row in leaderboard(session, sweep_id, **filters).items]


def same_trial(a: TrialResult, b: TrialResult) -> bool:
    return a.model_dump_json() == b.model_dump_json()  # NaN-safe


def a_request(name: str = "demo") -> SweepRequest:
    return SweepRequest(
        name=name,
        model=ModelSpec(source="tiny-bert"),
        dataset=DatasetSpec(source="tweet-sentiment"),
        space=SweepSpace.model_validate(
            {"learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}}
        ),
        ladder=Ladder(trials=4, rungs=[Rung(budget=10, keep=2), Rung(budget=20)]),
        strategy="random",
    )


def finished_ladder(sweep_id: str = "sw-max") -> SweepResult:
    """A maximize sweep after its last rung, with every kind of trial.

    Expected order: t0002 (0.9 @ rung 1), t0000 (0.8 @ 1), t0001 / t0006 (0.7 @ 0, tie by
    index), t0003 (0.5), then failed t0004 (0.95: ranks after every usable trial), then
    no usable value: t0005 (NaN @ rung 0), t0007 (cancelled, unscored), t0008 (pending).
    """
    trials = [
        trial(0, S.COMPLETED, [0.6, 0.8]),
        trial(1, S.PRUNED, [0.7]),
        trial(2, S.COMPLETED, [0.6, 0.9]),
        trial(3, S.PRUNED, [0.5]),
        trial(4, S.FAILED, [0.95], rung=1, error="CUDA out of memory"),
        trial(5, S.PRUNED, [NAN]),
        trial(6, S.PRUNED, [0.7]),
        trial(7, S.CANCELLED),
        trial(8, S.PENDING),
    ]
    return sweep(sweep_id, trials, status=SweepStatus.COMPLETED, current_rung=1, best=trials[2])


MAX_ORDER = ["t0002", "t0000", "t0001", "t0006", "t0003", "t0004", "t0005", "t0007", "t0008"]


class TestResultsIndexContract:
    # ---- mirroring ------------------------------------------------------------------------

    def test_mirror_round_trips_sweep_and_trials(self, engine: Engine) -> None:
        result = finished_ladder()
        assert mirror(engine, result, a_request()) == len(result.trials)
        with session_scope(engine) as session:
            detail = get_sweep(session, "sw-max")
            trials = list_trials(session, "sw-max")
            details = [get_trial(session, "sw-max", t.trial_id) for t in result.trials]
        assert detail is not None
        assert (detail.name, detail.status, detail.metric, detail.direction) == (
            "demo",
            SweepStatus.COMPLETED,
            "accuracy",
            "maximize",
        )
        assert (detail.current_rung, detail.best_trial_id, detail.best_objective_value) == (
            1,
            "t0002",
            0.9,
        )
        assert detail.trial_count == 9 and detail.strategy == "random"
        assert detail.started_at == T0 and detail.ended_at == T0 + timedelta(hours=1)
        assert detail.request == a_request().model_dump(mode="json")
        assert [t.trial_index for t in trials] == list(range(9))
        for original, stored in zip(result.trials, details, strict=True):
            assert stored is not None
            assert same_trial(stored.to_trial_result(), original), original.trial_id

    def test_mirroring_the_same_snapshot_twice_changes_nothing(self, engine: Engine) -> None:
        result = finished_ladder()
        mirror(engine, result)
        before = dump(engine)
        assert mirror(engine, result) == 0  # every trial unchanged: nothing written
        assert dump(engine) == before
        with session_scope(engine) as session:
            # Defeat the unchanged-trial shortcut: the upserts themselves are idempotent too.
            session.execute(update(Trial).values(fingerprint=0))
            assert upsert_trials(session, "sw-max", result.trials) == 9
            assert upsert_trials(session, "sw-max", result.trials) == 0
        assert dump(engine) == before

    def test_a_stale_retry_never_regresses(self, engine: Engine) -> None:
        early = sweep("sw", [trial(0, S.RUNNING), trial(1, S.PENDING)])
        middle = sweep("sw", [trial(0, S.RUNG_DONE, [0.7]), trial(1, S.RUNNING)])
        final_trials = [trial(0, S.PRUNED, [0.7]), trial(1, S.COMPLETED, [0.8])]
        final = sweep("sw", final_trials, status=SweepStatus.COMPLETED, best=final_trials[1])
        mirror(engine, final)
        expected = dump(engine)
        mirror(engine, middle)
        mirror(engine, early)
        assert dump(engine) == expected
        with session_scope(engine) as session:
            detail = get_sweep(session, "sw")
            t0 = get_trial(session, "sw", "t0000")
        assert detail is not None and detail.status == SweepStatus.COMPLETED
        assert detail.best_trial_id == "t0001"
        assert t0 is not None and t0.status == S.PRUNED

    def test_progress_through_promotion_and_pause(self, engine: Engine) -> None:
        pause_at = checkpoint(0, 15, 1, reason="pause")
        steps = [
            trial(0, S.RUNG_DONE, [0.7]),
            trial(0, S.PENDING, [0.7], rung=1),  # promoted
            trial(0, S.RUNNING, [0.7], rung=1),
            trial(0, S.PAUSED, [0.7], rung=1, latest=pause_at),
            trial(0, S.RUNNING, [0.7], rung=1, latest=pause_at),  # resumed: same progress
        ]
        for state in steps:
            mirror(engine, sweep("sw", [state]))
        mirror(engine, sweep("sw", [steps[0]]))  # a late retry from before the promotion
        with session_scope(engine) as session:
            stored = get_trial(session, "sw", "t0000")
        assert stored is not None
        assert same_trial(stored.to_trial_result(), steps[-1])
        assert [c.step for c in stored.checkpoints] == [10, 15]
        assert stored.checkpoints[1].reason == "pause"

        done = trial(0, S.COMPLETED, [0.7, 0.75])
        mirror(engine, sweep("sw", [done], status=SweepStatus.COMPLETED, current_rung=1))
        with session_scope(engine) as session:
            stored = get_trial(session, "sw", "t0000")
        assert stored is not None
        assert [c.step for c in stored.checkpoints] == [10, 15, 20]
        assert [(r.rung, r.objective_value) for r in stored.rungs] == [(0, 0.7), (1, 0.75)]
        assert (stored.scored_rung, stored.objective_value) == (1, 0.75)

    def test_partial_snapshots_add_trials_and_keep_the_count(self, engine: Engine) -> None:
        mirror(engine, sweep("sw", [trial(i, S.RUNG_DONE, [0.5]) for i in range(5)]))
        # The workflow sends only the trials that changed, with the sweep-wide result count.
        changed = sweep("sw", [trial(5, S.RUNNING), trial(2, S.PRUNED, [0.5])])
        paused = changed.model_copy(update={"status": SweepStatus.PAUSED})
        with session_scope(engine) as session:
            mirror_sweep(session, paused, result_count=5)
        with session_scope(engine) as session:
            detail = get_sweep(session, "sw")
            rows = list_trials(session, "sw")
        assert detail is not None and detail.trial_count == 6
        assert detail.status == SweepStatus.PAUSED
        assert [r.status for r in rows] == [S.RUNG_DONE] * 2 + [S.PRUNED] + [S.RUNG_DONE] * 2 + [
            S.RUNNING
        ]

    def test_register_then_mirror(self, engine: Engine) -> None:
        request = a_request("registered")
        with session_scope(engine) as session:
            register_sweep(session, "sw", request)
            detail = get_sweep(session, "sw")
        assert detail is not None and detail.status == SweepStatus.RUNNING
        assert detail.trial_count == 0 and detail.request is not None
        mirror(engine, sweep("sw", [trial(0, S.RUNNING)], status=SweepStatus.PAUSED))
        with session_scope(engine) as session:
            register_sweep(session, "sw", request)  # a retried registration changes nothing
            detail = get_sweep(session, "sw")
        assert detail is not None and detail.status == SweepStatus.PAUSED
        assert detail.request == request.model_dump(mode="json")
        assert detail.trial_count == 1

    def test_trials_of_an_unknown_sweep_are_refused(self, engine: Engine) -> None:
        with pytest.raises(SweepNotFound), session_scope(engine) as session:
            upsert_trials(session, "nope", [trial(0, S.PENDING)])
        with pytest.raises(SweepNotFound), session_scope(engine) as session:
            list_trials(session, "nope")

    def test_concurrent_mirrors_end_in_the_newest_state(self, engine: Engine) -> None:
        snapshots = []
        for step in range(12):
            trials = [
                trial(i, S.RUNG_DONE, [0.1 * i]) if i < step else trial(i, S.RUNNING)
                for i in range(10)
            ]
            snapshots.append(sweep("sw", trials, current_rung=0))
        final = snapshots[-1]
        order = snapshots * 2
        random.Random(7).shuffle(order)
        errors: list[BaseException] = []

        def work(chunk: list[SweepResult]) -> None:
            try:
                for snapshot in chunk:
                    mirror(engine, snapshot)
            except BaseException as err:  # surfaced below
                errors.append(err)

        threads = [threading.Thread(target=work, args=(order[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        with session_scope(engine) as session:
            rows = list_trials(session, "sw")
        assert [r.status for r in rows] == [t.status for t in final.trials]

    # ---- leaderboard ----------------------------------------------------------------------

    def test_leaderboard_maximize(self, engine: Engine) -> None:
        mirror(engine, finished_ladder())
        with session_scope(engine) as session:
            page = leaderboard(session, "sw-max")
        assert [r.trial_id for r in page.items] == MAX_ORDER
        assert [r.rank for r in page.items] == list(range(1, 10))
        assert (page.total, page.metric, page.direction, page.rung) == (
            9,
            "accuracy",
            "maximize",
            None,
        )
        top = page.items[0]
        assert (top.scored_rung, top.rung, top.objective_value, top.status) == (
            1,
            1,
            0.9,
            S.COMPLETED,
        )
        assert top.metrics is not None and top.metrics.accuracy == 0.9
        assert top.checkpoint is not None and top.checkpoint.step == 20
        assert top.params == {"learning_rate": 1e-4 * 3, "batch_size": 16, "warmup": True}
        nan_row = page.items[6]
        assert nan_row.objective_value is not None and math.isnan(nan_row.objective_value)
        assert page.items[7].scored_rung is None and page.items[7].objective_value is None

    def test_leaderboard_orders_ties_by_held_out_loss_as_the_sweep_does(
        self, engine: Engine
    ) -> None:
        """Accuracy ties (every model at the majority class): the lower loss ranks first, as
        the sweep's promotions and its best do (app.search.rungs); equal losses by index."""
        losses = {0: 1.09, 1: 1.02, 2: 1.02, 3: math.nan}
        trials = []
        for index, loss in losses.items():
            tied = trial(index, S.COMPLETED, [0.415])
            tied_metrics = TrialMetrics(
                accuracy=0.415, f1_macro=0.2, eval_loss=loss, num_examples=100
            )
            rungs = [tied.rungs[0].model_copy(update={"metrics": tied_metrics})]
            trials.append(tied.model_copy(update={"metrics": tied_metrics, "rungs": rungs}))
        result = sweep("sw-ties", trials, status=SweepStatus.COMPLETED)
        mirror(engine, result)
        expected = ["t0001", "t0002", "t0000", "t0003"]
        best = best_trial(result.trials, "maximize")
        assert best is not None and best.trial_id == expected[0]
        assert board_ids(engine, "sw-ties") == expected
        assert board_ids(engine, "sw-ties", rung=0) == expected
        assert board_ids(engine, "sw-ties", status=[S.COMPLETED, S.FAILED]) == expected

    def test_leaderboard_minimize(self, engine: Engine) -> None:
        trials = [
            trial(0, S.PRUNED, [0.9], metric="eval_loss"),
            trial(1, S.COMPLETED, [0.5, 0.4], metric="eval_loss"),
            trial(2, S.PRUNED, [0.3], metric="eval_loss"),
            trial(3, S.COMPLETED, [0.6, 0.2], metric="eval_loss"),
            trial(4, S.PRUNED, [0.3], metric="eval_loss"),
            trial(5, S.PRUNED, [math.inf], metric="eval_loss"),
            trial(6, S.CANCELLED, [0.1], rung=1, metric="eval_loss"),
        ]
        mirror(engine, sweep("sw-min", trials, direction="minimize", metric="eval_loss"))
        assert board_ids(engine, "sw-min") == [
            "t0003", "t0001", "t0002", "t0004", "t0000", "t0006", "t0005",
        ]  # fmt: skip
        assert board_ids(engine, "sw-min", rung=0) == [
            "t0006", "t0002", "t0004", "t0001", "t0003", "t0000", "t0005",
        ]  # fmt: skip

    def test_leaderboard_at_a_rung(self, engine: Engine) -> None:
        mirror(engine, finished_ladder())
        with session_scope(engine) as session:
            page = leaderboard(session, "sw-max", rung=0)
        assert [r.trial_id for r in page.items] == [
            "t0004", "t0001", "t0006", "t0000", "t0002", "t0003", "t0005",
        ]  # fmt: skip
        assert page.total == 7 and page.rung == 0
        t0 = page.items[3]
        assert (t0.scored_rung, t0.objective_value, t0.rung) == (0, 0.6, 1)
        assert t0.metrics is not None and t0.metrics.accuracy == 0.6
        assert board_ids(engine, "sw-max", rung=1) == ["t0002", "t0000"]
        assert board_ids(engine, "sw-max", rung=2) == []

    def test_leaderboard_status_filters(self, engine: Engine) -> None:
        mirror(engine, finished_ladder())
        with session_scope(engine) as session:
            pruned = leaderboard(session, "sw-max", status=S.PRUNED)
            several = leaderboard(session, "sw-max", status=[S.COMPLETED, S.FAILED])
            both = leaderboard(session, "sw-max", rung=0, status=S.COMPLETED)
            paged = leaderboard(session, "sw-max", status={S.PRUNED, S.FAILED}, limit=2, offset=2)
        assert [r.trial_id for r in pruned.items] == ["t0001", "t0006", "t0003", "t0005"]
        assert pruned.total == 4
        assert [r.trial_id for r in several.items] == ["t0002", "t0000", "t0004"]
        assert several.total == 3
        assert [r.trial_id for r in both.items] == ["t0000", "t0002"]
        assert both.total == 2
        # pruned and failed: t0001, t0006, t0003, then failed t0004, then NaN t0005
        assert [(r.rank, r.trial_id) for r in paged.items] == [(3, "t0003"), (4, "t0004")]
        assert paged.total == 5

    def test_leaderboard_pagination(self, engine: Engine) -> None:
        mirror(engine, finished_ladder())
        with session_scope(engine) as session:
            pages = [leaderboard(session, "sw-max", limit=4, offset=o) for o in (0, 4, 8, 12)]
            untotalled = leaderboard(session, "sw-max", limit=2, with_total=False)
            with pytest.raises(ValueError):
                leaderboard(session, "sw-max", limit=0)
            with pytest.raises(ValueError):
                leaderboard(session, "sw-max", offset=-1)
        assert [r.trial_id for p in pages for r in p.items] == MAX_ORDER
        assert [r.rank for p in pages for r in p.items] == list(range(1, 10))
        assert [len(p.items) for p in pages] == [4, 4, 1, 0]
        assert {p.total for p in pages} == {9}
        assert untotalled.total is None and len(untotalled.items) == 2

    def test_leaderboard_of_an_unknown_sweep(self, engine: Engine) -> None:
        with pytest.raises(SweepNotFound), session_scope(engine) as session:
            leaderboard(session, "nope")

    # ---- sweeps, trials, deletion ---------------------------------------------------------

    def test_list_sweeps_filters_and_pages(self, engine: Engine) -> None:
        for i, (name, status) in enumerate(
            [
                ("alpha", SweepStatus.COMPLETED),
                ("beta", SweepStatus.RUNNING),
                ("alpha", SweepStatus.FAILED),
                ("alpha", SweepStatus.RUNNING),
                ("gamma", SweepStatus.COMPLETED),
            ]
        ):
            started = T0 + timedelta(minutes=i)
            mirror(
                engine,
                sweep(
                    f"sw-{i}", [trial(0, S.PENDING)], status=status, name=name, started_at=started
                ),
            )
        with session_scope(engine) as session:
            everything = list_sweeps(session)
            alphas = list_sweeps(session, name="alpha")
            running = list_sweeps(session, status=SweepStatus.RUNNING)
            alpha_done = list_sweeps(session, name="alpha", status="completed")
            pages = [list_sweeps(session, limit=2, offset=o) for o in (0, 2, 4)]
            nothing = list_sweeps(session, name="zeta")
        assert [s.sweep_id for s in everything.items] == ["sw-4", "sw-3", "sw-2", "sw-1", "sw-0"]
        assert everything.total == 5
        assert [s.sweep_id for s in alphas.items] == ["sw-3", "sw-2", "sw-0"]
        assert [s.sweep_id for s in running.items] == ["sw-3", "sw-1"] and running.total == 2
        assert [s.sweep_id for s in alpha_done.items] == ["sw-0"]
        assert [s.sweep_id for p in pages for s in p.items] == [
            s.sweep_id for s in everything.items
        ]
        assert {p.total for p in pages} == {5}
        assert nothing.total == 0 and nothing.items == []
        assert everything.items[0].created_at == T0 + timedelta(minutes=4)

    def test_get_trial_detail(self, engine: Engine) -> None:
        mirror(engine, finished_ladder())
        with session_scope(engine) as session:
            detail = get_trial(session, "sw-max", "t0002")
            missing = get_trial(session, "sw-max", "t9999")
            elsewhere = get_trial(session, "other", "t0002")
        assert detail is not None and missing is None and elsewhere is None
        assert [(r.rung, r.budget, r.global_step, r.objective_value) for r in detail.rungs] == [
            (0, 10.0, 10, 0.6),
            (1, 20.0, 20, 0.9),
        ]
        assert [c.path for c in detail.checkpoints] == [
            "/artifacts/s/t0002/checkpoint-10",
            "/artifacts/s/t0002/checkpoint-20",
        ]
        assert detail.rungs[1].checkpoint == detail.checkpoints[1] == detail.checkpoint

    def test_delete_sweep_then_reindex(self, engine: Engine) -> None:
        mirror(engine, finished_ladder("keep"))
        kept = dump(engine)
        mirror(engine, finished_ladder("gone"))
        with session_scope(engine) as session:
            assert delete_sweep(session, "gone") is True
        with session_scope(engine) as session:
            assert delete_sweep(session, "gone") is False
            assert get_sweep(session, "gone") is None
            with pytest.raises(SweepNotFound):
                leaderboard(session, "gone")
        assert dump(engine) == kept
        mirror(engine, finished_ladder("gone"))  # rebuilt from Temporal
        assert board_ids(engine, "gone") == MAX_ORDER
