"""Small pure parts of webhooks: answer classification, signatures, secrets at rest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.domain.webhooks import WebhookRetrySchedule
from app.webhooks.secret_box import SecretBox, SecretBoxError, secret_box
from app.webhooks.sender import verdict_for
from app.webhooks.signing import new_secret, signature_headers


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, "delivered"), (204, "delivered"), (299, "delivered"),
        (301, "failed"), (307, "failed"),  # redirects are not followed
        (400, "failed"), (401, "failed"), (404, "failed"), (422, "failed"),
        (408, "retry"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"),
        (410, "gone"),
    ],
)  # fmt: skip
def test_verdicts(status: int, verdict: str) -> None:
    assert verdict_for(status) == verdict


def test_signature_verifies_with_the_library_and_only_for_the_same_body() -> None:
    secret, other = new_secret(), new_secret()
    assert secret.startswith("whsec_") and secret != other
    body = '{"type":"sweep.completed"}'
    headers = signature_headers("msg_1", datetime.now(UTC), body, [secret])
    assert Webhook(secret).verify(body, headers) == {"type": "sweep.completed"}
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("completed", "failed"), headers)
    both = signature_headers("msg_1", datetime.now(UTC), body, [other, secret])
    assert Webhook(secret).verify(body, both) and Webhook(other).verify(body, both)


def test_secrets_at_rest_are_encrypted_and_need_the_key(tmp_path: Path) -> None:
    box = secret_box(None, tmp_path)  # the key file is made on first use
    assert (tmp_path / "webhook-secret.key").stat().st_mode & 0o777 == 0o600
    secret = new_secret()
    token = box.encrypt(secret)
    assert secret not in token and secret.removeprefix("whsec_") not in token
    assert secret_box(None, tmp_path).decrypt(token) == secret  # same key file
    with pytest.raises(SecretBoxError):
        secret_box(None, tmp_path / "elsewhere").decrypt(token)
    # Key rotation: a new first key encrypts, the old one still decrypts.
    old_key = (tmp_path / "webhook-secret.key").read_text().strip()
    from cryptography.fernet import Fernet

    rotated = SecretBox([Fernet.generate_key(), old_key.encode()])
    assert rotated.decrypt(token) == secret


def test_default_schedule_is_about_three_days() -> None:
    schedule = WebhookRetrySchedule()
    delays = schedule.delays()
    assert delays[:3] == [10, 30, 90] and max(delays) == 8 * 3600
    assert schedule.attempts == 16
    assert 2.5 * 86400 < sum(delays) <= 3 * 86400
