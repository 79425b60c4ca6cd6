"""The API's operations as plain descriptions (method, path, body, how to read the answer),
shared by the sync and async clients so that each only says how to send them."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from app.api.schemas import CancelAccepted, SweepCreated, SweepView
from app.client.errors import InvalidRequest, ServiceUnreachable, error_of
from app.client.leaderboard import Leaderboard
from app.domain import SweepRequest, SweepResult, SweepStatus
from app.domain.rows import Page, SweepRow, TrialDetail
from app.domain.workflow_io import ControlAck

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_URL_ENV = "SWEEPS_API_URL"
TOKEN_ENV = "SWEEPS_TOKEN"


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def answer(self, response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_of(response)
        return self.read(response)


def connection(
    base_url: str | None, token: str | None, timeout: float
) -> tuple[str, dict[str, str], httpx.Timeout]:
    """Base URL, headers and timeouts from the arguments, else SWEEPS_API_URL / SWEEPS_TOKEN."""
    url = (base_url or os.environ.get(API_URL_ENV) or DEFAULT_API_URL).rstrip("/")
    token = token or os.environ.get(TOKEN_ENV) or None
    headers = {"user-agent": "bert-sweeps-client"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    return url, headers, httpx.Timeout(timeout, connect=min(timeout, 10.0))


def unreachable(base_url: str, exc: httpx.TransportError) -> ServiceUnreachable:
    reason = str(exc) or type(exc).__name__
    return ServiceUnreachable(f"no answer from the API at {base_url}: {reason}")


def _model(kind: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: kind.model_validate(response.json())


def as_request(request: SweepRequest | Mapping[str, Any]) -> SweepRequest:
    """Validate locally first: a bad request is refused with the field named, before any
    network call (the API would refuse it the same way)."""
    if isinstance(request, SweepRequest):
        return request
    try:
        return SweepRequest.model_validate(request)
    except ValidationError as exc:
        raise InvalidRequest.from_validation(exc) from None


def submit(
    request: SweepRequest | Mapping[str, Any], idempotency_key: str | None
) -> Call[SweepCreated]:
    headers = {"content-type": "application/json"}
    if idempotency_key:
        headers["idempotency-key"] = idempotency_key
    return Call(
        "POST",
        "/sweeps",
        _model(SweepCreated),
        content=as_request(request).model_dump_json(),
        headers=headers,
    )


def get(sweep_id: str) -> Call[SweepView]:
    return Call("GET", f"/sweeps/{sweep_id}", _model(SweepView))


def result(sweep_id: str) -> Call[SweepResult]:
    return Call("GET", f"/sweeps/{sweep_id}/result", _model(SweepResult))


def list_sweeps(
    status: SweepStatus | str | None, name: str | None, limit: int, offset: int
) -> Call[Page[SweepRow]]:
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if status is not None:
        params["status"] = SweepStatus(status).value
    if name is not None:
        params["name"] = name
    return Call("GET", "/sweeps", _model(Page[SweepRow]), params=params)


def leaderboard(sweep_id: str, limit: int, rung: int | None) -> Call[Leaderboard]:
    params: dict[str, Any] = {"limit": limit}
    if rung is not None:
        params["rung"] = rung
    return Call("GET", f"/sweeps/{sweep_id}/leaderboard", _model(Leaderboard), params=params)


def trial(sweep_id: str, trial_id: str) -> Call[TrialDetail]:
    return Call("GET", f"/sweeps/{sweep_id}/trials/{trial_id}", _model(TrialDetail))


def control(sweep_id: str, action: str) -> Call[ControlAck]:
    """pause, resume or checkpoint (every running trial)."""
    return Call("POST", f"/sweeps/{sweep_id}/{action}", _model(ControlAck))


def checkpoint_trial(sweep_id: str, trial_id: str) -> Call[ControlAck]:
    return Call(
        "POST",
        f"/sweeps/{sweep_id}/checkpoint",
        _model(ControlAck),
        content=json.dumps({"trial_id": trial_id}),
        headers={"content-type": "application/json"},
    )


def cancel_trial(sweep_id: str, trial_id: str) -> Call[ControlAck]:
    return Call("POST", f"/sweeps/{sweep_id}/trials/{trial_id}/cancel", _model(ControlAck))


def cancel(sweep_id: str) -> Call[CancelAccepted]:
    return Call("POST", f"/sweeps/{sweep_id}/cancel", _model(CancelAccepted))
