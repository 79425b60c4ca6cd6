"""Webhook endpoints, deliveries and attempts: every query, no commits (``session_scope``).

Secrets arrive and leave encrypted: this module never sees a plain secret.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import RowMapping, func, select, update
from sqlalchemy.orm import Session

from app.db.models import WEBHOOK_ATTEMPTS, WEBHOOK_DELIVERIES, WEBHOOK_ENDPOINTS
from app.db.session import dialect_insert

EndpointStatus = Literal["active", "disabled", "deleted"]
_ROW = ConfigDict(frozen=True)


class EndpointRow(BaseModel):
    model_config = _ROW

    id: str
    url: str
    events: list[str]
    sweep_id: str | None
    position: int | None
    description: str | None
    status: EndpointStatus
    status_reason: str | None
    created_at: datetime
    updated_at: datetime


class EndpointSecrets(BaseModel):
    """Encrypted secrets that sign a message now (the previous one during rotation grace)."""

    model_config = _ROW

    current: str
    previous: str | None
    previous_expires_at: datetime | None


class AttemptRow(BaseModel):
    model_config = _ROW

    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    response_excerpt: str | None
    error: str | None
    verdict: str
    peer: str | None


class DeliveryRow(BaseModel):
    model_config = _ROW

    id: str
    endpoint_id: str
    sweep_id: str
    event_type: str
    event_key: str
    state: str
    attempt_count: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None


class DeliveryDetail(DeliveryRow):
    url: str
    attempts: list[AttemptRow]


class DeliveryTarget(BaseModel):
    """What the delivery activity needs for one attempt."""

    model_config = _ROW

    delivery: DeliveryRow
    payload: dict[str, Any]
    endpoint: EndpointRow
    secrets: EndpointSecrets


_ENDPOINT_COLUMNS = [
    c for c in WEBHOOK_ENDPOINTS.c if not c.name.endswith(("_encrypted", "_expires_at"))
]
_DELIVERY_COLUMNS = [c for c in WEBHOOK_DELIVERIES.c if c.name != "payload"]


def new_endpoint_id() -> str:
    return f"ep_{secrets.token_hex(12)}"


def message_id(endpoint_id: str, sweep_id: str, event_type: str, event_key: str) -> str:
    """The webhook-id of one event for one endpoint: derived, so a retried preparation
    finds the delivery it made before instead of making a second one."""
    digest = hashlib.sha256(f"{endpoint_id}\n{sweep_id}\n{event_type}\n{event_key}".encode())
    return f"msg_{digest.hexdigest()[:32]}"


# ---- endpoints --------------------------------------------------------------------------------


def create_endpoint(
    session: Session,
    *,
    url: str,
    events: list[str],
    secret_encrypted: str,
    sweep_id: str | None = None,
    position: int | None = None,
    description: str | None = None,
    now: datetime | None = None,
) -> EndpointRow:
    now = now or _utcnow()
    endpoint_id = new_endpoint_id()
    session.execute(
        WEBHOOK_ENDPOINTS.insert().values(
            id=endpoint_id,
            url=url,
            events=list(events),
            sweep_id=sweep_id,
            position=position,
            description=description,
            secret_encrypted=secret_encrypted,
            status="active",
            created_at=now,
            updated_at=now,
        )
    )
    endpoint = get_endpoint(session, endpoint_id, include_deleted=True)
    assert endpoint is not None
    return endpoint


def get_endpoint(
    session: Session, endpoint_id: str, *, include_deleted: bool = False
) -> EndpointRow | None:
    query = select(*_ENDPOINT_COLUMNS).where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)
    if not include_deleted:
        query = query.where(WEBHOOK_ENDPOINTS.c.status != "deleted")
    row = session.execute(query).mappings().one_or_none()
    return EndpointRow.model_validate(dict(row)) if row is not None else None


def list_endpoints(session: Session, *, sweep_id: str | None = None) -> list[EndpointRow]:
    """Global endpoints (sweep_id None), or the endpoints named by one sweep's request."""
    condition = (
        WEBHOOK_ENDPOINTS.c.sweep_id.is_(None)
        if sweep_id is None
        else WEBHOOK_ENDPOINTS.c.sweep_id == sweep_id
    )
    rows = session.execute(
        select(*_ENDPOINT_COLUMNS)
        .where(condition, WEBHOOK_ENDPOINTS.c.status != "deleted")
        .order_by(WEBHOOK_ENDPOINTS.c.position, WEBHOOK_ENDPOINTS.c.created_at)
    ).mappings()
    return [EndpointRow.model_validate(dict(r)) for r in rows]


def set_endpoint_status(
    session: Session,
    endpoint_id: str,
    status: EndpointStatus,
    reason: str | None = None,
    *,
    now: datetime | None = None,
) -> bool:
    done = session.execute(
        update(WEBHOOK_ENDPOINTS)
        .where(WEBHOOK_ENDPOINTS.c.id == endpoint_id, WEBHOOK_ENDPOINTS.c.status != "deleted")
        .values(status=status, status_reason=reason, updated_at=now or _utcnow())
    )
    return bool(getattr(done, "rowcount", 0))


def purge_endpoint(session: Session, endpoint_id: str) -> None:
    """Remove an endpoint and its deliveries outright (one that was never used)."""
    session.execute(WEBHOOK_ENDPOINTS.delete().where(WEBHOOK_ENDPOINTS.c.id == endpoint_id))


def rotate_secret(
    session: Session,
    endpoint_id: str,
    new_secret_encrypted: str,
    *,
    previous_valid_until: datetime | None,
    now: datetime | None = None,
) -> bool:
    """Swap in a new secret; the old one keeps signing (beside it) until the grace ends."""
    current = session.execute(
        select(WEBHOOK_ENDPOINTS.c.secret_encrypted).where(
            WEBHOOK_ENDPOINTS.c.id == endpoint_id, WEBHOOK_ENDPOINTS.c.status != "deleted"
        )
    ).scalar_one_or_none()
    if current is None:
        return False
    session.execute(
        update(WEBHOOK_ENDPOINTS)
        .where(WEBHOOK_ENDPOINTS.c.id == endpoint_id)
        .values(
            secret_encrypted=new_secret_encrypted,
            previous_secret_encrypted=current if previous_valid_until is not None else None,
            previous_secret_expires_at=previous_valid_until,
            updated_at=now or _utcnow(),
        )
    )
    return True


def endpoints_for_event(session: Session, sweep_id: str, event_type: str) -> list[EndpointRow]:
    """Active endpoints that want this event of this sweep: global ones and the sweep's own."""
    rows = session.execute(
        select(*_ENDPOINT_COLUMNS)
        .where(
            WEBHOOK_ENDPOINTS.c.status == "active",
            (WEBHOOK_ENDPOINTS.c.sweep_id.is_(None)) | (WEBHOOK_ENDPOINTS.c.sweep_id == sweep_id),
        )
        .order_by(WEBHOOK_ENDPOINTS.c.id)
    ).mappings()
    # Event lists are JSON; matching them in Python keeps one query for both backends (the
    # table holds endpoints, not events: it stays small).
    endpoints = [EndpointRow.model_validate(dict(r)) for r in rows]
    return [e for e in endpoints if event_type in e.events]


def subscribed_events(session: Session, sweep_id: str) -> set[str]:
    rows = session.execute(
        select(WEBHOOK_ENDPOINTS.c.events).where(
            WEBHOOK_ENDPOINTS.c.status == "active",
            (WEBHOOK_ENDPOINTS.c.sweep_id.is_(None)) | (WEBHOOK_ENDPOINTS.c.sweep_id == sweep_id),
        )
    ).scalars()
    return {event for events in rows for event in events}


# ---- deliveries -------------------------------------------------------------------------------


def create_deliveries(
    session: Session,
    *,
    sweep_id: str,
    event_type: str,
    event_key: str,
    payload: dict[str, Any],
    endpoint_ids: list[str],
    now: datetime | None = None,
) -> list[str]:
    """One delivery per endpoint, created once: a second call returns the same ids."""
    now = now or _utcnow()
    ids = []
    for endpoint_id in sorted(endpoint_ids):
        delivery_id = message_id(endpoint_id, sweep_id, event_type, event_key)
        session.execute(
            dialect_insert(session, WEBHOOK_DELIVERIES)
            .values(
                id=delivery_id,
                endpoint_id=endpoint_id,
                sweep_id=sweep_id,
                event_type=event_type,
                event_key=event_key,
                payload=payload,
                state="pending",
                attempt_count=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing()
        )
        ids.append(delivery_id)
    return ids


def delivery_target(session: Session, delivery_id: str) -> DeliveryTarget | None:
    delivery = (
        session.execute(select(WEBHOOK_DELIVERIES).where(WEBHOOK_DELIVERIES.c.id == delivery_id))
        .mappings()
        .one_or_none()
    )
    if delivery is None:
        return None
    endpoint = (
        session.execute(
            select(WEBHOOK_ENDPOINTS).where(WEBHOOK_ENDPOINTS.c.id == delivery["endpoint_id"])
        )
        .mappings()
        .one()
    )
    return DeliveryTarget(
        delivery=_delivery_row(delivery),
        payload=delivery["payload"],
        endpoint=EndpointRow.model_validate({c.name: endpoint[c.name] for c in _ENDPOINT_COLUMNS}),
        secrets=EndpointSecrets(
            current=endpoint["secret_encrypted"],
            previous=endpoint["previous_secret_encrypted"],
            previous_expires_at=endpoint["previous_secret_expires_at"],
        ),
    )


def record_attempt(
    session: Session,
    delivery_id: str,
    *,
    started_at: datetime,
    duration_ms: float,
    verdict: str,
    state: str,
    status_code: int | None = None,
    response_excerpt: str | None = None,
    error: str | None = None,
    peer: str | None = None,
) -> int:
    """Append an attempt and update the delivery's summary; returns the attempt's number."""
    number = (
        session.execute(
            select(func.count())
            .select_from(WEBHOOK_ATTEMPTS)
            .where(WEBHOOK_ATTEMPTS.c.delivery_id == delivery_id)
        ).scalar_one()
        + 1
    )
    session.execute(
        WEBHOOK_ATTEMPTS.insert().values(
            delivery_id=delivery_id,
            number=number,
            started_at=started_at,
            duration_ms=duration_ms,
            status_code=status_code,
            response_excerpt=response_excerpt,
            error=error,
            verdict=verdict,
            peer=peer,
        )
    )
    now = _utcnow()
    session.execute(
        update(WEBHOOK_DELIVERIES)
        .where(WEBHOOK_DELIVERIES.c.id == delivery_id)
        .values(
            state=state,
            attempt_count=number,
            last_status_code=status_code,
            last_error=error,
            updated_at=now,
            delivered_at=now if state == "delivered" else None,
        )
    )
    return number


def set_delivery_state(
    session: Session, delivery_id: str, state: str, error: str | None = None
) -> bool:
    values: dict[str, Any] = {"state": state, "updated_at": _utcnow()}
    if error is not None:
        values["last_error"] = error
    done = session.execute(
        update(WEBHOOK_DELIVERIES).where(WEBHOOK_DELIVERIES.c.id == delivery_id).values(**values)
    )
    return bool(getattr(done, "rowcount", 0))


def list_deliveries(
    session: Session, sweep_id: str, *, with_global: bool = True
) -> list[DeliveryDetail]:
    """A sweep's deliveries, oldest first, each with every attempt in order. Without
    ``with_global``: only deliveries to the endpoints the sweep's own request named."""
    query = (
        select(*_DELIVERY_COLUMNS, WEBHOOK_ENDPOINTS.c.url)
        .join(WEBHOOK_ENDPOINTS, WEBHOOK_ENDPOINTS.c.id == WEBHOOK_DELIVERIES.c.endpoint_id)
        .where(WEBHOOK_DELIVERIES.c.sweep_id == sweep_id)
    )
    if not with_global:
        query = query.where(WEBHOOK_ENDPOINTS.c.sweep_id == sweep_id)
    deliveries = session.execute(
        query.order_by(WEBHOOK_DELIVERIES.c.created_at, WEBHOOK_DELIVERIES.c.id)
    ).mappings()
    rows = list(deliveries)
    attempts: dict[str, list[AttemptRow]] = {r["id"]: [] for r in rows}
    if rows:
        for a in session.execute(
            select(WEBHOOK_ATTEMPTS)
            .where(WEBHOOK_ATTEMPTS.c.delivery_id.in_(list(attempts)))
            .order_by(WEBHOOK_ATTEMPTS.c.delivery_id, WEBHOOK_ATTEMPTS.c.id)
        ).mappings():
            attempts[a["delivery_id"]].append(AttemptRow.model_validate(dict(a)))
    return [
        DeliveryDetail(**_delivery_row(r).model_dump(), url=r["url"], attempts=attempts[r["id"]])
        for r in rows
    ]


def get_delivery(
    session: Session, sweep_id: str, delivery_id: str, *, with_global: bool = True
) -> DeliveryRow | None:
    """One delivery of a sweep; without ``with_global``, None for one to a global endpoint."""
    query = select(*_DELIVERY_COLUMNS).where(
        WEBHOOK_DELIVERIES.c.id == delivery_id, WEBHOOK_DELIVERIES.c.sweep_id == sweep_id
    )
    if not with_global:
        query = query.join(
            WEBHOOK_ENDPOINTS, WEBHOOK_ENDPOINTS.c.id == WEBHOOK_DELIVERIES.c.endpoint_id
        ).where(WEBHOOK_ENDPOINTS.c.sweep_id == sweep_id)
    row = session.execute(query).mappings().one_or_none()
    return _delivery_row(row) if row is not None else None


def _delivery_row(row: RowMapping) -> DeliveryRow:
    return DeliveryRow.model_validate({c.name: row[c.name] for c in _DELIVERY_COLUMNS})


def _utcnow() -> datetime:
    return datetime.now(UTC)
