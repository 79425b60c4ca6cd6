"""Python clients of the bert-sweeps API, typed with the API's own pydantic models.

    from app.client import SweepsClient

    with SweepsClient() as sweeps:            # SWEEPS_API_URL, SWEEPS_TOKEN
        created = sweeps.submit(request)      # a SweepRequest or a dict, validated first
        result = sweeps.wait(created.sweep_id)  # live progress in a terminal or notebook
        board = sweeps.leaderboard(created.sweep_id).to_pandas()

``AsyncSweepsClient`` has the same methods, awaitable (``async with``; ``events`` is an
async iterator).
"""

from app.client.asynchronous import AsyncSweepsClient
from app.client.errors import (
    ApiError,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    ServiceUnreachable,
    SweepsError,
    Unauthorized,
)
from app.client.leaderboard import Leaderboard
from app.client.progress import SweepProgress, describe
from app.client.sync import SweepsClient

__all__ = [
    "ApiError",
    "AsyncSweepsClient",
    "Conflict",
    "Forbidden",
    "InvalidRequest",
    "Leaderboard",
    "NotFound",
    "RateLimited",
    "ServiceUnavailable",
    "ServiceUnreachable",
    "SweepProgress",
    "SweepsClient",
    "SweepsError",
    "Unauthorized",
    "describe",
]
