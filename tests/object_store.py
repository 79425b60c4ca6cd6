"""An S3-compatible server for tests: moto's server mode on a free port of this machine.

The AWS variables it sets are the ones a deployment sets for s3fs/botocore
(``AWS_ENDPOINT_URL`` points them at an S3-compatible server); child processes that inherit
the environment (the embedded stack's workers) reach the same server.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import fsspec
import pytest

from app.cli.embedded import free_port


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    env: dict[str, str]

    def filesystem(self) -> Any:
        return fsspec.filesystem("s3", use_listings_cache=False)

    def new_bucket(self) -> str:
        """A fresh, empty bucket; its name."""
        name = f"sweeps-{uuid.uuid4().hex[:12]}"
        self.filesystem().mkdir(name)
        return name

    def keys(self, prefix: str) -> list[str]:
        """Every object under ``prefix`` (``bucket/path``), without the bucket."""
        return sorted(key.split("/", 1)[1] for key in self.filesystem().find(prefix))


@contextmanager
def s3_server() -> Iterator[S3Server]:
    from moto.server import ThreadedMotoServer  # seconds to import: only where it is used

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
                patch.delenv(name, raising=False)
            for name, value in env.items():
                patch.setenv(name, value)
            # fsspec caches filesystem objects, with the endpoint they were made with.
            fsspec.filesystem("s3").clear_instance_cache()
            yield S3Server(endpoint, env)
            fsspec.filesystem("s3").clear_instance_cache()
    finally:
        server.stop()
