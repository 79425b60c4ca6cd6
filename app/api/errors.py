"""Domain and infrastructure failures mapped to HTTP status codes, in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from app.api.schemas import ErrorBody, FieldError
from app.db.errors import IndexUnavailable, SweepNotFound
from app.validation import location_of

log = logging.getLogger("app.api")

RETRY_AFTER_SECONDS = 5


class ApiError(Exception):
    status_code = 500

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


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


class ServiceUnavailable(ApiError):
    """A backing service (index database, Temporal) is unreachable: retry later."""

    status_code = 503


def _body(detail: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    return ErrorBody(detail=detail, errors=errors or []).model_dump()


async def _api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if exc.status_code == 503 else None
    errors = (
        [FieldError(field=exc.field, message=exc.message)]
        if isinstance(exc, InvalidField)
        else None
    )
    return JSONResponse(_body(exc.detail, errors), status_code=exc.status_code, headers=headers)


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
    return JSONResponse(_body(f"invalid request: {summary}", errors), status_code=422)


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Never leak internals: the log has the traceback, the client a plain message.
    log.exception("unhandled error", exc_info=exc)
    return JSONResponse(_body("internal error"), status_code=500)


async def _index_unavailable(_: Request, exc: Exception) -> JSONResponse:
    log.warning("results index unavailable: %s", exc)
    return await _api_error(_, ServiceUnavailable("the results index is unavailable; retry later"))


async def _sweep_not_indexed(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SweepNotFound)
    return await _api_error(_, NotFound(f"no sweep {exc.sweep_id!r} in the results index"))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(IndexUnavailable, _index_unavailable)
    app.add_exception_handler(SweepNotFound, _sweep_not_indexed)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)


# Documented on every route that can answer them (OpenAPI "responses").
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown sweep, trial, webhook or delivery."},
    409: {"model": ErrorBody, "description": "The sweep or trial has already ended."},
    422: {"model": ErrorBody, "description": "Invalid request: field paths and messages."},
    503: {"model": ErrorBody, "description": "Index database or Temporal unreachable; retry."},
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERROR_RESPONSES[code] for code in codes}
