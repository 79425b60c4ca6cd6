"""Webhook secrets encrypted at rest: a copy of the database alone does not reveal them.

Fernet (AES-128-CBC + HMAC-SHA256) from ``cryptography``. Keys come from
SWEEPS_WEBHOOK_SECRET_KEYS (comma-separated; the first encrypts, all decrypt, so keys can be
rotated), else from a key file in the data directory that is created on first use with mode
0600 (zero-config embedded mode: the API and the workers share that directory).
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_FILE_NAME = "webhook-secret.key"


class SecretBoxError(RuntimeError):
    """A stored secret cannot be decrypted with the configured keys."""


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise SecretBoxError(
                "a webhook secret cannot be decrypted: SWEEPS_WEBHOOK_SECRET_KEYS (or the key "
                "file) differs from the key it was stored with"
            ) from None


def secret_box(configured: str | None, data_dir: Path) -> SecretBox:
    if configured:
        return SecretBox([k.strip().encode() for k in configured.split(",") if k.strip()])
    return SecretBox([_key_file(data_dir / KEY_FILE_NAME)])


def _key_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: when the API and a worker start together, exactly one writes the key.
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
    for _ in range(50):  # the other process may be between create and write
        key = path.read_bytes().strip()
        if key:
            return key
        time.sleep(0.02)
    raise SecretBoxError(f"the webhook key file {path} is empty")
