"""A slow DNS server must not stall authentication: webhook lookups run on threads of their
own, so token lookups (and every other blocking call) never queue behind them."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from app.api import create_app
from tests.api.conftest import serve, settings_for

SLOW_HOST = "slow-dns.example.com"
IN_FLIGHT = 40


class BlockingDns:
    """socket.getaddrinfo with one host whose answer waits until the test releases it."""

    def __init__(self) -> None:
        self.real = socket.getaddrinfo
        self.release = threading.Event()
        self.waiting = 0
        self.lock = threading.Lock()

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != SLOW_HOST:
            return self.real(host, port, *args, **kwargs)
        with self.lock:
            self.waiting += 1
        self.release.wait(30)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]


async def test_a_blocked_resolver_leaves_authentication_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dns = BlockingDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    settings = settings_for(tmp_path, temporal_address="127.0.0.1:9", rate_limit_per_minute=0)
    app = create_app(settings)
    async with serve(app) as api:
        registrations = [
            asyncio.create_task(api.post("/webhooks", json={"url": f"http://{SLOW_HOST}/h{i}"}))
            for i in range(IN_FLIGHT)
        ]
        try:
            deadline = time.monotonic() + 10
            while dns.waiting < 6:  # at least as many as asyncio's default pool has threads
                assert time.monotonic() < deadline, f"{dns.waiting} lookups started"
                await asyncio.sleep(0.01)
            started = time.monotonic()
            listed = await asyncio.wait_for(api.get("/webhooks"), timeout=3)
            took = time.monotonic() - started
        finally:
            dns.release.set()
        answers = await asyncio.gather(*registrations)
    assert listed.status_code == 200, listed.text
    assert took < 1.0
    assert [a.status_code for a in answers] == [201] * IN_FLIGHT
