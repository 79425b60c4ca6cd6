"""Registering webhook endpoints: the SSRF check (DNS, so async and outside pydantic), a
fresh secret shown once, stored encrypted. Used by POST /webhooks and POST /sweeps."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from app.db import session_scope
from app.db import webhooks as repo
from app.domain.webhook_targets import WebhookTarget
from app.webhooks.address_policy import AddressPolicy, UrlRefused
from app.webhooks.secret_box import SecretBox
from app.webhooks.signing import new_secret


class WebhookUrlRefused(Exception):
    """A request's webhook URL the address policy refuses: the API answers 422 naming
    ``field``, like a validation error."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Registered:
    endpoint: repo.EndpointRow
    secret: str | None  # None: it existed already (its secret was shown when it was made)


class WebhookRegistry:
    def __init__(self, engine: Engine, box: SecretBox, policy: AddressPolicy) -> None:
        self._engine = engine
        self._box = box
        self._policy = policy

    async def check_url(self, url: str, field: str) -> None:
        try:
            await self._policy.check_url(url)
        except UrlRefused as exc:
            raise WebhookUrlRefused(field, str(exc)) from None

    async def register(self, url: str, events: list[str], description: str | None) -> Registered:
        """A global endpoint (every sweep's events)."""
        await self.check_url(url, "url")
        secret = new_secret()

        def write() -> repo.EndpointRow:
            with session_scope(self._engine) as session:
                return repo.create_endpoint(
                    session,
                    url=url,
                    events=events,
                    secret_encrypted=self._box.encrypt(secret),
                    description=description,
                )

        return Registered(await asyncio.to_thread(write), secret)

    async def check_targets(self, targets: list[WebhookTarget]) -> None:
        """Before a sweep starts: every URL of its request must be reachable by policy."""
        await asyncio.gather(
            *(self.check_url(t.url, f"webhooks.{i}.url") for i, t in enumerate(targets))
        )

    async def register_for_sweep(
        self, sweep_id: str, targets: list[WebhookTarget]
    ) -> list[Registered]:
        """The endpoints a sweep's request names, made once per (sweep, position): a retried
        POST with the same Idempotency-Key finds them (and shows no secret again)."""

        def write() -> list[Registered]:
            with session_scope(self._engine) as session:
                existing = {e.position: e for e in repo.list_endpoints(session, sweep_id=sweep_id)}
                registered = []
                for position, target in enumerate(targets):
                    if position in existing:
                        registered.append(Registered(existing[position], None))
                        continue
                    secret = new_secret()
                    endpoint = repo.create_endpoint(
                        session,
                        url=target.url,
                        events=list(target.events),
                        secret_encrypted=self._box.encrypt(secret),
                        sweep_id=sweep_id,
                        position=position,
                    )
                    registered.append(Registered(endpoint, secret))
                return registered

        try:
            return await asyncio.to_thread(write)
        except IntegrityError:
            # A concurrent retry (same key) made them first; its transaction has committed
            # (the unique index waited for it), so a second pass finds every one of them.
            return await asyncio.to_thread(write)

    async def forget_new(self, registered: list[Registered]) -> None:
        """Undo endpoints made for a sweep that then failed to start (their secrets were
        never shown: a retry would otherwise find them and show none)."""

        def write() -> None:
            with session_scope(self._engine) as session:
                for item in registered:
                    if item.secret is not None:
                        repo.purge_endpoint(session, item.endpoint.id)

        await asyncio.to_thread(write)

    async def rotate(
        self, endpoint_id: str, grace_seconds: float
    ) -> tuple[str, datetime | None] | None:
        """A new secret (returned, shown once); the old one keeps signing beside it for
        ``grace_seconds`` so receivers can switch without losing messages."""
        secret = new_secret()
        until = datetime.now(UTC) + timedelta(seconds=grace_seconds) if grace_seconds else None

        def write() -> bool:
            with session_scope(self._engine) as session:
                return repo.rotate_secret(
                    session, endpoint_id, self._box.encrypt(secret), previous_valid_until=until
                )

        return (secret, until) if await asyncio.to_thread(write) else None
