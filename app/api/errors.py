"""Domain and infrastructure failures mapped to HTTP status codes, in one place."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.schemas import ErrorBody, FieldError
from app.db.errors import IndexUnavailable, SweepNotFound
from app.validation import location_of
from app.webhooks.registry import WebhookUrlRefused

log = logging.getLogger("app.api")

RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def headers(self) -> dict[str, str] | None:
        return None

    @property
    def field_errors(self) -> list[FieldError]:
        return []


class Unauthorized(ApiError):
    """No token, or one that is unknown or revoked (RFC 6750: 401 with WWW-Authenticate)."""

    status_code = 401

    def __init__(self, detail: str, *, invalid_token: bool = False) -> None:
        super().__init__(detail)
        self.invalid_token = invalid_token

    @property
    def headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="bert-sweeps"'
        if self.invalid_token:
            challenge += ', error="invalid_token"'
        return {"WWW-Authenticate": challenge}


class Forbidden(ApiError):
    """A valid token asking for something beyond its scope (admin-only actions)."""

    status_code = 403

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="bert-sweeps", error="insufficient_scope"'}


class TooManyRequests(ApiError):
    status_code = 429

    def __init__(self, detail: str, retry_after: str) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": self.retry_after}


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class Unprocessable(ApiError):
    status_code = 422


class InvalidField(Unprocessable):
    """A well-formed body with a value the service refuses (e.g. a webhook URL whose host
    resolves to a private address): 422 naming the field, like validation errors."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid request: {field}: {message}")
        self.field = field
        self.message = message

    @property
    def field_errors(self) -> list[FieldError]:
        return [FieldError(field=self.field, message=self.message)]


class LimitsExceeded(Unprocessable):
    """A valid request asking for more than this deployment allows (SWEEPS_MAX_*)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        summary = "; ".join(f"{field}: {message}" for field, message in problems)
        super().__init__(f"request exceeds this service's limits: {summary}")
        self.problems = problems

    @property
    def field_errors(self) -> list[FieldError]:
        return [FieldError(field=f, message=m) for f, m in self.problems]


class ServiceUnavailable(ApiError):
    """A backing service (index database, Temporal) is unreachable: retry later."""

    status_code = 503

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(RETRY_AFTER_SECONDS)}


class StartUnconfirmed(ServiceUnavailable):
    """Temporal failed in a way that leaves open whether the workflow started: what was made
    for it (its owner, its webhook endpoints) must stay, since it may be running."""


_MAX_MESSAGE = 500


def printable(text: str, limit: int = _MAX_MESSAGE) -> str:
    """Safe to put in a JSON answer: lone surrogates (valid in a JSON string, not in UTF-8)
    escaped instead of crashing the encoder, and echoed input cut short."""
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_body(
    detail: str, errors: list[FieldError] | None = None, error_id: str | None = None
) -> dict[str, Any]:
    safe = [
        FieldError(field=printable(e.field), message=printable(e.message)) for e in errors or []
    ]
    return ErrorBody(detail=printable(detail, 2000), errors=safe, error_id=error_id).model_dump()


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.detail, exc.field_errors), status_code=exc.status_code, headers=exc.headers
    )


async def _webhook_url_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WebhookUrlRefused)
    return await _api_error(request, InvalidField(exc.field, exc.message))


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    # Starlette's own answers (unknown path 404, 405) in the same shape as every other error.
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(
        error_body(str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


async def _invalid_request(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(
            field=location_of(tuple(error.get("loc", ()))),
            message=str(error.get("msg", "invalid")).removeprefix("Value error, "),
        )
        for error in exc.errors()
    ]
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    return JSONResponse(error_body(f"invalid request: {summary}", errors), status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Never leak internals: the log has the traceback under an id, the client only the id.
    error_id = uuid.uuid4().hex[:16]
    log.error(
        "unhandled error %s in %s %s", error_id, request.method, request.url.path, exc_info=exc
    )
    detail = f"internal error; quote error id {error_id} when reporting it"
    return JSONResponse(error_body(detail, error_id=error_id), status_code=500)


async def _index_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("results index unavailable: %s", exc)
    return await _api_error(_, ServiceUnavailable("the results index is unavailable; retry later"))


async def _sweep_not_indexed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SweepNotFound)
    return await _api_error(_, NotFound(f"no sweep {exc.sweep_id!r} in the results index"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(WebhookUrlRefused, _webhook_url_refused)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IndexUnavailable, _index_unavailable)
    app.add_exception_handler(SweepNotFound, _sweep_not_indexed)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)


# Documented on every route that can answer them (OpenAPI "responses").
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {
        "model": ErrorBody,
        "description": "No bearer token, or an unknown or revoked one.",
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    },
    403: {"model": ErrorBody, "description": "The token lacks the scope (admin) for this call."},
    409: {"model": ErrorBody, "description": "The sweep or trial has already ended."},
    413: {"model": ErrorBody, "description": "The request body is larger than allowed (1 MiB)."},
    429: {
        "model": ErrorBody,
        "description": "Too many calls (reads, writes or open event streams); retry after "
        "Retry-After.",
        "headers": {"Retry-After": {"schema": {"type": "string"}}},
    },
    500: {"model": ErrorBody, "description": "Unexpected error; the body has an error id."},
    404: {"model": ErrorBody, "description": "Unknown sweep, trial, webhook or delivery."},
    422: {"model": ErrorBody, "description": "Invalid request: field paths and messages."},
    503: {"model": ErrorBody, "description": "Index database or Temporal unreachable; retry."},
}


# Other routes' ``model`` entries put ErrorBody in the schema's components.
_ERROR_JSON = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def error_response(code: int, *, stream: bool = False) -> dict[str, Any]:
    """The documented answer ``code``. FastAPI files a ``model`` under the route's own media
    type; a streaming route's errors are JSON all the same, so they say it explicitly."""
    entry = ERROR_RESPONSES[code]
    if not stream:
        return entry
    return {**{k: v for k, v in entry.items() if k != "model"}, "content": _ERROR_JSON}


def responses(*codes: int, stream: bool = False) -> dict[int | str, dict[str, Any]]:
    return {code: error_response(code, stream=stream) for code in codes}
