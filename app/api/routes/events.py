"""Following a sweep live: its event journal (kept by its workflow) as Server-Sent Events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query
from fastapi.sse import EventSourceResponse, ServerSentEvent

from app.api.auth import OwnedSweepId
from app.api.deps import Gateway
from app.api.errors import ApiError, responses
from app.domain.sweep_events import SWEEP_EVENT_TYPES, SweepEvent, SweepEventPage
from app.temporal import contract

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

# How often a follower's stream asks the workflow for new events.
POLL_SECONDS = 1.0
# What a client waits before it reconnects (sent once, on the first message).
RETRY_MILLISECONDS = 2000

DESCRIPTION = f"""Follow a sweep live: its event journal as
[Server-Sent Events](https://html.spec.whatwg.org/multipage/server-sent-events.html)
(`text/event-stream`), oldest first.

Each message has `id` (the event's id: one more than the last), `event` (its type) and `data`
(the event as JSON: `SweepEvent`, fields per type). Types: {", ".join(SWEEP_EVENT_TYPES)}.
`sweep.ended` is always the last event: the stream ends after it.

Resume where you left off with the `Last-Event-ID` header (a browser's `EventSource` sends it
when it reconnects) or `?after=<id>`; the header wins. The journal keeps the newest
{contract.EVENT_JOURNAL_SIZE} events: asking for older ones gives one `events.skipped`
message first (`skipped`: how many are lost; the leaderboard has every result). New events
are looked for every {POLL_SECONDS:g} s. Should the stream break (Temporal unreachable),
reconnect with `Last-Event-ID`: nothing still kept is missed.

Errors (unknown sweep, invalid resume position, Temporal unreachable) are plain JSON answers,
before any event."""

ResumeHeader = Annotated[
    int | None,
    Header(
        alias="Last-Event-ID",
        ge=0,
        description="Send only events after this id (what EventSource sends on reconnect).",
    ),
]
ResumeQuery = Annotated[
    int | None,
    Query(ge=0, description="Send only events after this id; Last-Event-ID wins."),
]


@dataclass(frozen=True)
class Opening:
    """The first page, read before the stream starts, so that errors are plain answers."""

    sweep_id: str
    after: int
    page: SweepEventPage


async def open_journal(
    sweep_id: OwnedSweepId,
    gateway: Gateway,
    last_event_id: ResumeHeader = None,
    after: ResumeQuery = None,
) -> Opening:
    position = last_event_id if last_event_id is not None else after or 0
    return Opening(sweep_id, position, await gateway.events(sweep_id, position))


@router.get(
    "/{sweep_id}/events",
    response_class=EventSourceResponse,
    summary="Follow a sweep's events (Server-Sent Events)",
    description=DESCRIPTION,
    responses={
        200: {"description": "A stream of events; it ends after `sweep.ended`."},
        **responses(404, 503, stream=True),
    },
)
async def follow_sweep(
    opening: Annotated[Opening, Depends(open_journal)], gateway: Gateway
) -> AsyncIterator[ServerSentEvent]:
    sweep_id, after, page = opening.sweep_id, opening.after, opening.page
    retry: int | None = RETRY_MILLISECONDS
    while True:
        told = _told(sweep_id, page, after)
        if retry is not None and not told:
            yield ServerSentEvent(retry=retry)
        for event in told:
            yield ServerSentEvent(
                id=str(event.id),
                event=event.type,
                # A dict, not the model: FastAPI writes NaN (a diverged trial) as null then.
                data=event.model_dump(mode="json"),
                retry=retry,
            )
            after, retry = event.id, None
        retry = None
        if page.ended and after >= page.next_id - 1:
            return
        if not page.events or page.events[-1].id >= page.next_id - 1:
            await asyncio.sleep(POLL_SECONDS)  # else more pages are waiting: no pause
        try:
            page = await gateway.events(sweep_id, after)
        except ApiError:
            # Temporal unreachable: end the stream rather than hang; the client reconnects
            # with Last-Event-ID and misses nothing still kept.
            return


def _told(sweep_id: str, page: SweepEventPage, after: int) -> list[SweepEvent]:
    """The page's events, after an events.skipped when older ones than it keeps were asked for."""
    lost = page.first_id - 1 - after
    if lost <= 0:
        return page.events
    skipped = SweepEvent(
        id=page.first_id - 1,
        type="events.skipped",
        at=datetime.now(UTC),
        sweep_id=sweep_id,
        skipped=lost,
    )
    return [skipped, *page.events]
