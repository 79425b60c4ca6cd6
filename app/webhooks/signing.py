"""Standard Webhooks signatures (https://www.standardwebhooks.com), via ``standardwebhooks``.

Every attempt of one message carries the same ``webhook-id`` (receivers deduplicate on it)
and a fresh ``webhook-timestamp`` (receivers reject stale ones, which stops replays), signed
together with the exact body bytes. During a secret rotation's grace period the message is
signed with the new and the previous secret (space-separated signatures, as the spec allows),
so receivers can switch secrets without losing a message.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh ``whsec_``-prefixed secret (base64 of 32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature_headers(
    message_id: str, timestamp: datetime, body: str, signing_secrets: Sequence[str]
) -> dict[str, str]:
    if not signing_secrets:
        raise ValueError("at least one secret is needed to sign")
    when = timestamp.astimezone(UTC)
    signatures = [Webhook(secret).sign(message_id, when, body) for secret in signing_secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
