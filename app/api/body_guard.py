"""Hostile bodies stopped before FastAPI parses them: oversized (413), too deeply nested,
NaN/Infinity, NUL characters or lone surrogates (422), and NUL bytes in the query string.

Why here and not in the models: Python's JSON parser recurses, so a 1 MiB body of ``[``
would raise RecursionError (a 500) before any validation; NaN/Infinity are not JSON, yet
``json.loads`` accepts them; a lone surrogate or NUL passes pydantic's ``str`` and then
breaks UTF-8 encoding or Postgres text columns far from the request. Bodies are read into
memory here, so the size limit also bounds what the app ever buffers.
"""

from __future__ import annotations

import email.message
import json
import re
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_body
from app.api.schemas import FieldError

MAX_JSON_DEPTH = 32
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")
_NUL_IN_QUERY = re.compile(rb"%00|\x00", re.IGNORECASE)
_ODD_TEXT = re.compile("[\x00\ud800-\udfff]")


class BodyGuard:
    def __init__(self, app: ASGIApp, max_bytes: int, max_depth: int = MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _NUL_IN_QUERY.search(scope.get("query_string", b"")):
            await _reject(scope, send, 422, "the query string contains a NUL character", "(query)")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, send)
            return
        if declared is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
            return
        body = await self._read(receive)
        if body is None:
            await self._too_large(scope, send)
            return
        problem = json_problem(body, self.max_depth) if _parsed_as_json(headers) else None
        if problem is not None:
            await _reject(scope, send, 422, f"invalid request body: {problem}", "(body)")
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it grows past the limit (a chunked upload
        declares no length)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, scope: Scope, send: Send) -> None:
        limit = self.max_bytes
        readable = f"{limit // 1024 // 1024} MiB" if limit % (1024 * 1024) == 0 else f"{limit} B"
        await _reject(
            scope, send, 413, f"the request body is larger than {readable} ({limit} bytes)"
        )


def json_problem(body: bytes, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why ``body`` is refused as JSON, or None when FastAPI may parse it."""
    if not body.strip():
        return None  # FastAPI reports a missing body itself
    depth = nesting_depth(body, max_depth)
    if depth > max_depth:
        return f"JSON nested deeper than {max_depth} levels"
    try:
        document = json.loads(body, parse_constant=_no_constants)
    except _NotJson as exc:
        return str(exc)
    except json.JSONDecodeError as exc:
        return f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    except UnicodeDecodeError:
        return "not valid UTF-8"
    except (ValueError, RecursionError) as exc:  # e.g. an integer with thousands of digits
        return f"not acceptable JSON: {str(exc).splitlines()[0][:200]}"
    if _has_odd_text(document):
        return "text contains a NUL character or a lone UTF-16 surrogate (\\ud800-\\udfff)"
    return None


def nesting_depth(body: bytes, stop_at: int) -> int:
    """The deepest array/object nesting of a JSON text (strings skipped); stops counting
    past ``stop_at``. Cheap when a body has few brackets, which valid requests do."""
    if body.count(b"[") + body.count(b"{") <= stop_at:
        return 0
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', body)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > stop_at:
                    break
        else:
            depth -= 1
    return deepest


class _NotJson(ValueError):
    pass


def _no_constants(name: str) -> Any:
    raise _NotJson(f"{name} is not a JSON number: send a finite number")


def _has_odd_text(document: Any) -> bool:
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _ODD_TEXT.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _parsed_as_json(headers: dict[str, str]) -> bool:
    """The rule FastAPI uses: no content type, or application/json or application/*+json."""
    content_type = headers.get("content-type")
    if not content_type:
        return True
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application":
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later: the client's disconnect

    return replay


async def _reject(
    scope: Scope, send: Send, status: int, detail: str, field: str | None = None
) -> None:
    errors = [FieldError(field=field, message=detail)] if field else None
    response = JSONResponse(error_body(detail, errors), status_code=status)
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
