"""Typed exceptions of the Python client, each carrying the API's own message."""

from __future__ import annotations

import httpx
from pydantic import ValidationError

from app.api.schemas import ErrorBody, FieldError
from app.validation import describe_validation_error


class SweepsError(Exception):
    """Base of everything the client raises."""


class ServiceUnreachable(SweepsError):
    """No answer from the API (connection refused, DNS, timeout)."""


class ApiError(SweepsError):
    """The API answered with an error status. ``str()`` is one readable line per problem."""

    def __init__(
        self, status_code: int, detail: str, errors: list[FieldError] | None = None
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.errors = errors or []
        super().__init__(self._describe())

    def _describe(self) -> str:
        if not self.errors:
            return self.detail
        return "; ".join(f"{e.field}: {e.message}" for e in self.errors)


class InvalidRequest(ApiError):
    """400, 413, 415, 422: the request was refused as it is; ``errors`` names the fields."""

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidRequest:
        """Refused locally, before anything was sent (same wording as the API's)."""
        errors = []
        for line in describe_validation_error(exc):
            field, _, message = line.partition(": ")
            errors.append(FieldError(field=field, message=message))
        return cls(422, "invalid sweep request", errors)


class Unauthorized(ApiError):
    """401: no token, or an unknown or revoked one (set SWEEPS_TOKEN)."""


class Forbidden(ApiError):
    """403: the token may not do this (admin-only)."""


class NotFound(ApiError):
    """404: no such sweep or trial, or one that belongs to another principal."""


class Conflict(ApiError):
    """409: the sweep's state does not allow it (it has ended, the trial is not running)."""


class RateLimited(ApiError):
    """429: too many requests; ``retry_after`` seconds until the next is accepted."""

    def __init__(self, detail: str, retry_after: float | None) -> None:
        super().__init__(429, detail)
        self.retry_after = retry_after


class ServiceUnavailable(ApiError):
    """503: the API is up but Temporal or the results index is not reachable."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    503: ServiceUnavailable,
}


def error_of(response: httpx.Response) -> ApiError:
    """The typed exception for an error response (its JSON body, or its text)."""
    try:
        body = ErrorBody.model_validate(response.json())
        detail, errors = body.detail, body.errors
    except (ValueError, ValidationError):
        detail, errors = response.text.strip()[:500] or response.reason_phrase, []
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After")
        return RateLimited(detail, float(retry_after) if retry_after else None)
    kind = _BY_STATUS.get(response.status_code, ApiError)
    return kind(response.status_code, detail, errors)
