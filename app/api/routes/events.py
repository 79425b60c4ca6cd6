"""Following a sweep live: its event journal (kept by its workflow) as Server-Sent Events."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import Engine

from app.api.auth import Caller, OwnedSweepId
from app.api.deps import AppSettings, Gateway
from app.api.errors import ApiError, TooManyRequests, responses
from app.auth.principal import Principal
from app.auth.rate_limit import retry_after_header
from app.auth.stream_slots import StreamSlots
from app.db import IndexUnavailable, session_scope
from app.db.access import token_active
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

A principal holds at most SWEEPS_MAX_EVENT_STREAMS_PER_PRINCIPAL streams open at once (one
more: 429 with Retry-After). An open stream checks its token every
SWEEPS_EVENT_STREAM_TOKEN_CHECK_SECONDS and ends once the token is revoked.

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


async def stream_slot(request: Request, caller: Caller) -> AsyncIterator[Principal]:
    """One of the caller's open streams, held until the response has ended."""
    slots: StreamSlots = request.app.state.event_streams
    if not slots.take(caller.name):
        raise TooManyRequests(
            f"this principal has {slots.per_key} event streams open already (the most "
            "allowed): close one first",
            retry_after_header(RETRY_MILLISECONDS / 1000),
        )
    try:
        yield caller
    finally:
        slots.give_back(caller.name)


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
    holder: Annotated[Principal, Depends(stream_slot)],
    opening: Annotated[Opening, Depends(open_journal)],
    gateway: Gateway,
    settings: AppSettings,
    request: Request,
) -> AsyncIterator[ServerSentEvent]:
    sweep_id, after, page = opening.sweep_id, opening.after, opening.page
    retry: int | None = RETRY_MILLISECONDS
    token = TokenWatch(request.app.state.engine, holder, settings.event_stream_token_check_seconds)
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
        if not await token.still_valid():
            return  # revoked: a reconnect with it gets 401
        try:
            page = await gateway.events(sweep_id, after)
        except ApiError:
            # Temporal unreachable: end the stream rather than hang; the client reconnects
            # with Last-Event-ID and misses nothing still kept.
            return


class TokenWatch:
    """Whether the token that opened a stream is still valid, asked of the index at most
    every ``every`` seconds (a stream outlives the request that checked it)."""

    def __init__(self, engine: Engine, holder: Principal, every: float) -> None:
        self._engine = engine
        self._token_id = holder.token_id
        self._every = every
        self._checked = time.monotonic()

    async def still_valid(self) -> bool:
        if self._token_id is None:  # authentication off: nothing to revoke
            return True
        if time.monotonic() - self._checked < self._every:
            return True
        try:
            valid = await asyncio.to_thread(self._ask, self._token_id)
        except IndexUnavailable:
            return False  # cannot tell: end it, as a new request would be refused (503)
        self._checked = time.monotonic()
        return valid

    def _ask(self, token_id: str) -> bool:
        with session_scope(self._engine) as session:
            return token_active(session, token_id)


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
