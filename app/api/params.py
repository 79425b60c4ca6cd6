"""Path parameters shared by the routers, with the shapes the service itself makes.

A pattern on every id keeps garbage (NUL bytes, control characters, megabytes of text)
away from Temporal and the database: it is answered 422 before any lookup.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

SWEEP_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"

SweepId = Annotated[
    str, Path(max_length=200, pattern=SWEEP_ID_PATTERN, description="The sweep id.")
]
TrialId = Annotated[str, Path(max_length=50, pattern=r"^t\d{1,9}$", examples=["t0003"])]
EndpointId = Annotated[str, Path(max_length=40, pattern=r"^ep_[0-9a-f]{24}$")]
DeliveryId = Annotated[str, Path(max_length=40, pattern=r"^msg_[0-9a-f]{32}$")]
TokenId = Annotated[str, Path(max_length=40, pattern=r"^tok_[0-9a-f]{16}$")]
