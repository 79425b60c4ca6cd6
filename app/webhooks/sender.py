"""One webhook attempt: POST the signed body, classify the answer. No retries here (Temporal
retries the activity), no redirects (httpcore never follows them), no proxies from the
environment (the guard must see the address actually dialled)."""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from typing import Literal

import httpcore

from app.webhooks.address_policy import AddressPolicy, HostDoesNotResolve, UrlRefused
from app.webhooks.guarded_backend import GuardedBackend

# delivered: 2xx. retry: 408, 429, 5xx, network errors, timeouts. failed: other answers (the
# receiver refused; retrying will not change that). gone: 410 (the endpoint is disabled).
# refused: the SSRF guard stopped it (the host now resolves somewhere it must not).
Verdict = Literal["delivered", "retry", "failed", "gone", "refused"]

RESPONSE_EXCERPT_BYTES = 1024
USER_AGENT = "bert-sweeps-webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    verdict: Verdict
    duration_ms: float
    status_code: int | None = None
    response_excerpt: str | None = None
    error: str | None = None
    peer: str | None = None


def verdict_for(status: int) -> Verdict:
    if 200 <= status < 300:
        return "delivered"
    if status == 410:
        return "gone"
    if status in (408, 429) or status >= 500:
        return "retry"
    return "failed"  # other 4xx, and 1xx/3xx: redirects are not followed


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()


async def send(
    url: str,
    body: bytes,
    headers: dict[str, str],
    policy: AddressPolicy,
    *,
    timeout: float = 10.0,
) -> AttemptResult:
    """POST once; never raises for network trouble, it is part of the result."""
    backend = GuardedBackend(policy)
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 1)

    request_headers = {
        **headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    try:
        async with (
            asyncio.timeout(timeout),
            httpcore.AsyncConnectionPool(
                ssl_context=_ssl_context(), network_backend=backend, retries=0
            ) as pool,
            pool.stream(
                "POST",
                url,
                headers=list(request_headers.items()),
                content=body,
                extensions={
                    "timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)
                },
            ) as response,
        ):
            excerpt = await _read_excerpt(response)
            status = response.status
    except HostDoesNotResolve as exc:
        return AttemptResult("retry", elapsed(), error=str(exc))
    except UrlRefused as exc:
        return AttemptResult("refused", elapsed(), error=f"refused: {exc}")
    except TimeoutError:
        return AttemptResult(
            "retry", elapsed(), error=f"no answer within {timeout:g} s", peer=backend.connected_to
        )
    except httpcore.TimeoutException as exc:
        return AttemptResult(
            "retry",
            elapsed(),
            error=f"timed out: {exc or type(exc).__name__}",
            peer=backend.connected_to,
        )
    except (httpcore.NetworkError, httpcore.ProtocolError, OSError, ssl.SSLError) as exc:
        return AttemptResult(
            "retry", elapsed(), error=f"{type(exc).__name__}: {exc}", peer=backend.connected_to
        )
    verdict = verdict_for(status)
    error = None
    if 300 <= status < 400:
        location = _header(response, b"location")
        error = f"redirect to {location or '?'} not followed: register the final URL"
    return AttemptResult(
        verdict,
        elapsed(),
        status_code=status,
        response_excerpt=excerpt,
        error=error,
        peer=backend.connected_to,
    )


async def _read_excerpt(response: httpcore.Response) -> str:
    """The start of the body: enough to debug with, never a large download."""
    collected = bytearray()
    async for chunk in response.aiter_stream():
        collected.extend(chunk)
        if len(collected) >= RESPONSE_EXCERPT_BYTES:
            break
    return bytes(collected[:RESPONSE_EXCERPT_BYTES]).decode("utf-8", errors="replace")


def _header(response: httpcore.Response, name: bytes) -> str | None:
    for key, value in response.headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
