"""The answers access control and the body guard add, documented on every route they apply
to, so the OpenAPI schema is true for every status a client can see (schemathesis checks).

Applied to each router before it is included: ``authenticate`` is a dependency of the
inclusion (``create_app``), so the routes of a protected router do not list it themselves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.datastructures import DefaultPlaceholder
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.api.auth import authenticate, owned_sweep, require_admin, visible_endpoint
from app.api.errors import error_response


def document_access_answers(router: APIRouter, *, protected: bool) -> None:
    """Idempotent: a second app built from the same routers changes nothing."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        calls = set(_calls(route.dependant))
        if protected:
            calls.add(authenticate)
        codes: list[int] = []
        if route.body_field is not None:
            codes.append(413)
        if _has_inputs(route.dependant):
            # Our 422 body (ErrorBody), not FastAPI's default HTTPValidationError.
            codes.append(422)
        if authenticate in calls:
            # 503: the token store (index database) is unreachable; 429: reads and writes
            # are both rate-limited.
            codes += [401, 429, 503]
        if require_admin in calls:
            codes.append(403)
        if owned_sweep in calls or visible_endpoint in calls:
            codes.append(404)
        stream = _media_type(route) != "application/json"
        for code in codes:
            route.responses.setdefault(code, error_response(code, stream=stream))


def _media_type(route: APIRoute) -> str | None:
    response_class = route.response_class
    if isinstance(response_class, DefaultPlaceholder):
        response_class = response_class.value
    media_type: str | None = getattr(response_class, "media_type", None)
    return media_type


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _has_inputs(dependant: Dependant) -> bool:
    if dependant.path_params or dependant.query_params or dependant.header_params:
        return True
    if dependant.body_params or dependant.cookie_params:
        return True
    return any(_has_inputs(sub) for sub in dependant.dependencies)
