"""Hypermedia links of a sweep, for responses."""

from __future__ import annotations

from app.api.schemas import SweepLinks
from app.settings import Settings


def sweep_links(sweep_id: str, settings: Settings) -> SweepLinks:
    base = f"/sweeps/{sweep_id}"
    ui = settings.temporal_ui_url.rstrip("/")
    return SweepLinks(
        status=base,
        leaderboard=f"{base}/leaderboard",
        trials=f"{base}/trials",
        temporal_ui=f"{ui}/namespaces/{settings.temporal_namespace}/workflows/{sweep_id}",
    )
