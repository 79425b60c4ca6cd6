"""The leaderboard as the clients return it: typed rows, and a DataFrame when pandas is there."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from app.domain.rows import LeaderboardPage

if TYPE_CHECKING:
    import pandas


class Leaderboard(LeaderboardPage):
    """Trials ranked by the sweep's objective, best first (``items``)."""

    def to_pandas(self) -> pandas.DataFrame:
        """One row per trial: rank, trial, status, rung, metrics, one column per
        hyperparameter (``param.<name>``), training seconds and checkpoint path."""
        try:
            import pandas
        except ImportError:  # pragma: no cover - pandas ships with `datasets` here
            raise ImportError("Leaderboard.to_pandas() needs pandas: pip install pandas") from None
        records: list[dict[str, Any]] = []
        for row in self.items:
            metrics = row.metrics.model_dump() if row.metrics else {}
            records.append(
                {
                    "rank": row.rank,
                    "trial_id": row.trial_id,
                    "status": row.status.value,
                    "rung": row.scored_rung,
                    "objective": row.objective_value,
                    **metrics,
                    **{f"param.{name}": value for name, value in sorted(row.params.items())},
                    "train_seconds": row.train_seconds,
                    "checkpoint": row.checkpoint.path if row.checkpoint else None,
                }
            )
        return (
            pandas.DataFrame.from_records(records).set_index("rank")
            if records
            else (pandas.DataFrame(columns=["trial_id", "status", "rung", "objective"]))
        )
