"""An httpcore network backend that connects only to addresses the AddressPolicy allows.

httpcore hands the backend the URL's host name; this backend resolves it itself, refuses the
whole host if any answer is forbidden, dials the vetted address, and then checks the peer of
the connected socket as well. TLS still verifies the certificate against the host name
(httpcore starts TLS on the returned stream with ``server_hostname`` = the URL's host).
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore

from app.webhooks.address_policy import AddressPolicy, UrlRefused


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(
        self, policy: AddressPolicy, inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self._policy = policy
        self._inner = inner or httpcore.AnyIOBackend()
        self.connected_to: str | None = None

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._policy.addresses(host, port)
        failure: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            peer = _peer_address(stream)
            reason = self._policy.address_reason(host, peer) if peer else "of an unknown peer"
            if reason is not None:
                await stream.aclose()
                raise UrlRefused(f"connected to {peer or '?'} for {host!r}, which is {reason}")
            self.connected_to = peer
            return stream
        assert failure is not None  # addresses() never returns an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise UrlRefused("webhooks never connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def _peer_address(stream: httpcore.AsyncNetworkStream) -> str | None:
    sock = stream.get_extra_info("socket")
    if sock is None:
        return None
    peer = sock.getpeername()
    return str(peer[0]) if peer else None
