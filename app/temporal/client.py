"""Connecting to Temporal with the pydantic data converter (the one converter everywhere)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from app.settings import Settings


async def connect_lazily(settings: Settings) -> Client:
    """A client that connects on first use: the API starts (and answers 503) without Temporal."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        lazy=True,
    )


async def connect(settings: Settings, *, wait_seconds: float = 0.0) -> Client:
    """Connect to the configured Temporal frontend, retrying for up to ``wait_seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await Client.connect(
                settings.temporal_address,
                namespace=settings.temporal_namespace,
                data_converter=pydantic_data_converter,
            )
        except (RuntimeError, RPCError, OSError):
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.5)
