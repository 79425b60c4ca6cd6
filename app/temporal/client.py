"""Connecting to Temporal with the pydantic data converter (the one converter everywhere).

Self-hosted without TLS, a TLS or mTLS cluster, and Temporal Cloud (mTLS or an API key) are
all configured through Settings (SWEEPS_TEMPORAL_*); `connection_options` turns them into
the arguments of `Client.connect`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, TLSConfig

from app.settings import Settings


class TemporalConfigError(ValueError):
    """A Temporal connection setting cannot be used (e.g. a certificate file is missing)."""


@dataclass(frozen=True)
class ConnectionOptions:
    target_host: str
    namespace: str
    tls: bool | TLSConfig
    api_key: str | None


def connection_options(settings: Settings) -> ConnectionOptions:
    """What `Client.connect` is given for these settings (reads PEM files; no network)."""
    api_key = settings.temporal_api_key.get_secret_value() if settings.temporal_api_key else None
    key = settings.temporal_tls_key.get_secret_value() if settings.temporal_tls_key else None
    client_cert = _pem(settings.temporal_tls_cert, "SWEEPS_TEMPORAL_TLS_CERT")
    client_key = _pem(key, "SWEEPS_TEMPORAL_TLS_KEY")
    server_ca = _pem(settings.temporal_tls_ca, "SWEEPS_TEMPORAL_TLS_CA")
    custom = client_cert or server_ca or settings.temporal_tls_server_name
    wanted = settings.temporal_tls
    if wanted is None:  # on when anything calls for it: Temporal Cloud needs TLS for API keys
        wanted = bool(api_key or custom)
    tls: bool | TLSConfig = wanted
    if wanted and custom:
        tls = TLSConfig(
            server_root_ca_cert=server_ca,
            domain=settings.temporal_tls_server_name,
            client_cert=client_cert,
            client_private_key=client_key,
        )
    return ConnectionOptions(
        target_host=settings.temporal_address,
        namespace=settings.temporal_namespace,
        tls=tls,
        api_key=api_key,
    )


def _pem(value: str | None, variable: str) -> bytes | None:
    """PEM text as given, or the contents of the file the value names."""
    if value is None:
        return None
    if "-----BEGIN" in value:
        return value.encode()
    try:
        return Path(value).expanduser().read_bytes()
    except OSError as err:
        raise TemporalConfigError(f"{variable}: cannot read {value!r}: {err.strerror}") from err


async def _connect(settings: Settings, *, lazy: bool) -> Client:
    options = connection_options(settings)
    return await Client.connect(
        options.target_host,
        namespace=options.namespace,
        api_key=options.api_key,
        tls=options.tls,
        data_converter=pydantic_data_converter,
        lazy=lazy,
    )


async def connect_lazily(settings: Settings) -> Client:
    """A client that connects on first use: the API starts (and answers 503) without Temporal."""
    return await _connect(settings, lazy=True)


async def connect(settings: Settings, *, wait_seconds: float = 0.0) -> Client:
    """Connect to the configured Temporal frontend, retrying for up to ``wait_seconds``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while True:
        try:
            return await _connect(settings, lazy=False)
        except (RuntimeError, RPCError, OSError):
            if loop.time() >= deadline:
                raise
            await asyncio.sleep(0.5)
