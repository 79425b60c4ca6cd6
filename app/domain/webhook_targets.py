"""Webhook endpoints as a SweepRequest gives them, and the event types.

Only what pydantic can check without I/O lives here (scheme, host, events). Whether a host
may be called at all (SSRF: loopback, private, metadata addresses) depends on DNS and on the
deployment's allow-list, so the API checks it at registration and the delivery activity
again at connect time (``app.webhooks.address_policy``). These models are also decoded inside
workflows, where no DNS lookup may ever happen.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

WebhookEventType = Literal[
    "sweep.completed", "sweep.failed", "sweep.cancelled", "trial.completed", "rung.completed"
]
SWEEP_END_EVENTS: tuple[WebhookEventType, ...] = (
    "sweep.completed",
    "sweep.failed",
    "sweep.cancelled",
)
# Sent while a sweep runs, only when some endpoint subscribes to them.
PROGRESS_EVENTS: tuple[WebhookEventType, ...] = ("trial.completed", "rung.completed")
ALL_EVENTS: tuple[WebhookEventType, ...] = SWEEP_END_EVENTS + PROGRESS_EVENTS

MAX_URL_LENGTH = 2000


def check_webhook_url(url: str) -> str:
    """The URL if it is an absolute http(s) URL with a host; ValueError saying why not.

    Credentials in the URL are refused: they would be stored and logged in plain text.
    """
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"scheme {parts.scheme or '(none)'!r} is not allowed: use http or https")
    if not parts.hostname:
        raise ValueError("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("credentials in the URL are not allowed; verify the signature instead")
    if port == 0:
        raise ValueError("port 0 is not a valid destination")
    if any(ch.isspace() for ch in url):
        raise ValueError("the URL contains whitespace")
    return url


def _unique_events(events: list[WebhookEventType]) -> list[WebhookEventType]:
    if len(set(events)) != len(events):
        raise ValueError("events are listed more than once")
    return events


class WebhookTarget(BaseModel):
    """An endpoint for one sweep's events, given in the SweepRequest.

    Its signing secret is made by the service when the sweep is submitted and shown once in
    the response: it never travels through Temporal or appears in the request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(
        min_length=1,
        max_length=MAX_URL_LENGTH,
        description="http(s) URL; hosts on loopback, private, link-local or metadata "
        "addresses are refused unless allow-listed (SWEEPS_WEBHOOK_ALLOWED_HOSTS).",
        examples=["https://ci.example.com/hooks/sweeps"],
    )
    events: list[WebhookEventType] = Field(
        default_factory=lambda: list(SWEEP_END_EVENTS),
        min_length=1,
        description="Events to send; default: the sweep's end (completed, failed, cancelled).",
    )

    _url = field_validator("url")(check_webhook_url)
    _events = field_validator("events")(_unique_events)
