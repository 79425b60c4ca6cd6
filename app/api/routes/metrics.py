"""GET /metrics: the API's Prometheus series (see app/api/metrics.py).

Outside the OpenAPI schema and API tokens, like the health probes: it shows counts only, no
ids or names. ``SWEEPS_METRICS_TOKEN`` makes it ask for that one bearer token, which is
what a Prometheus scrape config can send (``authorization: credentials_file``).
"""

from __future__ import annotations

import asyncio
import hmac

from fastapi import APIRouter, Request, Response
from prometheus_client.exposition import choose_encoder

from app.api.errors import Unauthorized
from app.settings import Settings

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    if settings.metrics_token is not None:
        expected = f"Bearer {settings.metrics_token.get_secret_value()}".encode()
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            raise Unauthorized("/metrics needs 'Authorization: Bearer <SWEEPS_METRICS_TOKEN>'")
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    # Collecting queries the index (blocking driver): off the event loop.
    body = await asyncio.to_thread(encode, request.app.state.metrics.registry)
    return Response(body, media_type=content_type)
