"""Who is calling and what they may touch: bearer tokens, the admin scope, sweep ownership.

Every router but the health probes is included with ``authenticate`` as a dependency (see
``create_app``), so no endpoint can be added unprotected by forgetting a parameter. Routes
that need the caller declare ``Caller``; FastAPI resolves it once per request.

Ownership answers 404, never 403: another principal's sweep is indistinguishable from one
that does not exist, so sweep ids cannot be probed.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine

from app.api.errors import Forbidden, NotFound, TooManyRequests, Unauthorized
from app.api.params import EndpointId, SweepId
from app.auth.principal import ANONYMOUS, Principal
from app.auth.rate_limit import RateLimiter, retry_after_header
from app.auth.tokens import well_formed
from app.db import access as repo
from app.db import session_scope
from app.db import webhooks as webhook_repo
from app.settings import Settings

bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="An API token (`swp_...`) from `sweeps token create` or `POST /tokens`.",
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(bearer_scheme)],
) -> Principal:
    settings: Settings = request.app.state.settings
    if not settings.auth_enabled:
        principal = ANONYMOUS
    elif credentials is None:
        raise Unauthorized(
            "this call needs an API token: send 'Authorization: Bearer <token>' "
            "(an operator makes one with `sweeps token create --name <you>`)"
        )
    else:
        found = None
        if well_formed(credentials.credentials):
            found = await asyncio.to_thread(_principal_for, request, credentials.credentials)
        if found is None:
            raise Unauthorized("the API token is unknown or revoked", invalid_token=True)
        principal = found
    if request.method in SAFE_METHODS:
        _spend_reads(request, principal, settings)
    else:
        _spend_rate(request, principal, settings)
    return principal


Caller = Annotated[Principal, Depends(authenticate)]


def require_admin(caller: Caller) -> Principal:
    if not caller.admin:
        raise Forbidden("this call needs an admin token")
    return caller


Admin = Annotated[Principal, Depends(require_admin)]


async def owned_sweep(sweep_id: SweepId, caller: Caller, request: Request) -> str:
    """The sweep id, if the caller may see that sweep; 404 otherwise (same answer as for
    an unknown sweep)."""
    if caller.admin:
        return sweep_id
    owner = await asyncio.to_thread(_owner_of, _engine(request), sweep_id)
    if owner != caller.name:
        raise NotFound(f"no sweep {sweep_id!r}")
    return sweep_id


OwnedSweepId = Annotated[str, Depends(owned_sweep)]


async def visible_endpoint(endpoint_id: EndpointId, caller: Caller, request: Request) -> str:
    """A webhook endpoint id the caller may manage: admins every one; others the endpoints
    their own sweeps' requests named (global endpoints are an admin matter)."""
    if caller.admin:
        return endpoint_id
    engine = _engine(request)

    def owner() -> str | None:
        with session_scope(engine) as session:
            endpoint = webhook_repo.get_endpoint(session, endpoint_id)
            if endpoint is None or endpoint.sweep_id is None:
                return None
            return repo.owner_of(session, endpoint.sweep_id)

    if await asyncio.to_thread(owner) != caller.name:
        raise NotFound(f"no webhook endpoint {endpoint_id!r}")
    return endpoint_id


VisibleEndpointId = Annotated[str, Depends(visible_endpoint)]


def _spend_rate(request: Request, principal: Principal, settings: Settings) -> None:
    _spend(
        request.app.state.rate_limiter,
        principal.rate_key,
        "too many calls that change something with this token",
        settings.rate_limit_per_minute,
        settings.rate_limit_burst,
    )


def _spend_reads(request: Request, principal: Principal, settings: Settings) -> None:
    # Per principal, not per token: making more tokens must not multiply the reads (each one
    # of a sweep is a Temporal query).
    _spend(
        request.app.state.read_rate_limiter,
        principal.name,
        "too many reads for this principal",
        settings.read_rate_limit_per_minute,
        settings.read_rate_limit_burst,
    )


def _spend(limiter: RateLimiter, key: str, what: str, per_minute: float, burst: int) -> None:
    wait = limiter.acquire(key)
    if wait > 0:
        retry_after = retry_after_header(wait)
        raise TooManyRequests(
            f"{what}: at most {per_minute:g} a minute after a burst of {burst}; "
            f"retry in {retry_after} s",
            retry_after,
        )


def _principal_for(request: Request, token: str) -> Principal | None:
    with session_scope(_engine(request)) as session:
        return repo.principal_for(session, token)


def _owner_of(engine: Engine, sweep_id: str) -> str | None:
    with session_scope(engine) as session:
        return repo.owner_of(session, sweep_id)


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine
