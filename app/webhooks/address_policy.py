"""Which addresses a webhook may reach (SSRF guard).

A webhook URL is chosen by whoever calls the API, and the service sends requests from inside
its own network: without a guard, ``http://169.254.169.254/`` or ``http://10.0.0.7:5432/``
would turn it into a proxy into that network. So every address a host resolves to must be
publicly routable. The check runs at registration (clear 422) and again when connecting
(``app.webhooks.guarded_backend``), on the addresses actually dialled, so a DNS answer that
changes after registration (DNS rebinding) is refused too.

Development escape hatch: ``allowed`` names hosts (``localhost``, ``hooks.internal``) or
networks (``127.0.0.1``, ``10.1.0.0/16``) that are reachable whatever they resolve to.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Instance-metadata and platform endpoints that are not always inside the ranges below
# (Alibaba's 100.100.100.200 is in CGNAT space, Azure's wireserver is a public address).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "168.63.129.16",
    )
)


class UrlRefused(ValueError):
    """The URL may not be called: its message says why (shown to API clients and in logs)."""


class HostDoesNotResolve(UrlRefused):
    """No address for the host (now): refused at registration, retried at delivery."""


def forbidden_reason(address: IPAddress) -> str | None:
    """Why a webhook may not connect to ``address``; None if it is publicly routable."""
    inner = _embedded_ipv4(address)
    if inner is not None:
        return forbidden_reason(inner)
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for reason, test in (
        ("a loopback address", address.is_loopback),
        ("an unspecified address", address.is_unspecified),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a private address", address.is_private),
        ("a reserved address", address.is_reserved),
    ):
        if test:
            return reason
    if not address.is_global:  # CGNAT 100.64/10, benchmarking ranges, ...
        return "not a public address"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address inside an IPv4-mapped, 6to4 or Teredo IPv6 address."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


# Threads for webhook DNS lookups. Their own, not asyncio's default pool: that one also runs
# token lookups (asyncio.to_thread), so hosts behind a slow DNS server, which anyone with a
# token can name, would otherwise stall authentication for everyone. Bounded: at most this
# many lookups wait on DNS at once; the rest queue here (each caller still times out).
DNS_THREADS = 8


@functools.cache
def _dns_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=DNS_THREADS, thread_name_prefix="webhook-dns")


def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def system_resolver(host: str, port: int) -> list[str]:
    return await asyncio.get_running_loop().run_in_executor(_dns_pool(), _getaddrinfo, host, port)


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


class AddressPolicy:
    """Decides, per host and address, whether a webhook may connect."""

    def __init__(
        self,
        allowed: Iterable[str] = (),
        *,
        resolver: Resolver = system_resolver,
        resolve_timeout: float = 5.0,
    ) -> None:
        self._hosts: set[str] = set()
        self._networks: list[IPNetwork] = []
        for entry in (e.strip().lower() for e in allowed):
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self._hosts.add(entry.rstrip("."))
        self._resolver = resolver
        self._resolve_timeout = resolve_timeout

    @property
    def allow_list(self) -> list[str]:
        return sorted(self._hosts) + [str(n) for n in self._networks]

    def host_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self._hosts

    def address_reason(self, host: str, address: str) -> str | None:
        """Why connecting to ``address`` for ``host`` is refused; None when it is fine."""
        if self.host_allowed(host):
            return None
        ip = _literal_address(address)
        if ip is None:
            return f"{address!r} is not an IP address"
        if any(ip in network for network in self._networks):
            return None
        return forbidden_reason(ip)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``; UrlRefused if any of them is forbidden
        (a host that mixes public and private answers is refused as a whole)."""
        literal = _literal_address(host)
        if literal is not None:
            found = [str(literal)]
        else:
            try:
                found = await asyncio.wait_for(
                    self._resolver(host, port), timeout=self._resolve_timeout
                )
            except (OSError, TimeoutError) as exc:
                why = str(exc) or "timed out"
                raise HostDoesNotResolve(f"host {host!r} does not resolve: {why}") from None
            if not found:
                raise HostDoesNotResolve(f"host {host!r} does not resolve")
        for address in found:
            reason = self.address_reason(host, address)
            if reason is not None:
                subject = host if literal is not None else f"{host!r} resolves to {address}, which"
                raise UrlRefused(
                    f"{subject} is {reason}; webhooks only reach public addresses "
                    "(allow-list development hosts with SWEEPS_WEBHOOK_ALLOWED_HOSTS)"
                )
        return found

    async def check_url(self, url: str) -> None:
        """Refuse (UrlRefused) a URL whose host resolves to a forbidden address.

        Syntax (http/https, host present) is the domain model's job; this adds DNS."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UrlRefused("only http and https URLs with a host are allowed")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        await self.addresses(parts.hostname, port)
