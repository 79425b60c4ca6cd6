"""The exact JSON a webhook carries: links made absolute, non-finite numbers as null.

The stored payload is what every attempt (and a redelivery) sends, byte for byte the same
body, so a receiver that deduplicates on webhook-id never sees two versions of a message."""

from __future__ import annotations

import json
import math
from typing import Any

from app.domain.webhooks import WebhookEvent


def finalise(
    event: WebhookEvent,
    *,
    public_api_url: str | None,
    temporal_ui_url: str | None,
    namespace: str,
) -> dict[str, Any]:
    payload: dict[str, Any] = _finite(event.model_dump(mode="json"))
    links = payload["data"].get("links")
    if links is not None:
        if public_api_url:
            base = public_api_url.rstrip("/")
            for name, path in list(links.items()):
                if isinstance(path, str) and path.startswith("/"):
                    links[name] = base + path
        if temporal_ui_url:
            sweep_id = payload["data"]["sweep_id"]
            links["temporal_ui"] = (
                f"{temporal_ui_url.rstrip('/')}/namespaces/{namespace}/workflows/{sweep_id}"
            )
    return payload


def body_of(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    """NaN/inf (a diverged trial's metrics) become null: most JSON parsers reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
