"""Webhook records on SQLite and the real Postgres: endpoints, idempotent deliveries,
attempts in order, and secrets that only ever arrive encrypted."""

from __future__ import annotations

import uuid

from sqlalchemy import Engine, text

from app.db import session_scope
from app.db import webhooks as repo
from tests.db.factories import T0


def test_deliveries_attempts_and_endpoint_state(engine: Engine) -> None:
    sweep_id = f"sweep-{uuid.uuid4().hex[:8]}"
    with session_scope(engine) as session:
        mine = repo.create_endpoint(
            session,
            url="https://a.example.com/h",
            events=["sweep.completed"],
            secret_encrypted="token-a",
            sweep_id=sweep_id,
            position=0,
        )
        glob = repo.create_endpoint(
            session,
            url="https://b.example.com/h",
            events=["sweep.completed", "trial.completed"],
            secret_encrypted="token-b",
        )
        other = repo.create_endpoint(
            session,
            url="https://c.example.com/h",
            events=["sweep.completed"],
            secret_encrypted="token-c",
            sweep_id="another-sweep",
            position=0,
        )
    with session_scope(engine) as session:
        wanted = {e.id for e in repo.endpoints_for_event(session, sweep_id, "sweep.completed")}
        assert {mine.id, glob.id} <= wanted and other.id not in wanted
        assert "trial.completed" in repo.subscribed_events(session, sweep_id)
        ids = repo.create_deliveries(
            session,
            sweep_id=sweep_id,
            event_type="sweep.completed",
            event_key="sweep",
            payload={"type": "sweep.completed", "data": {"x": 1}},
            endpoint_ids=[mine.id, glob.id],
        )
    with session_scope(engine) as session:  # a retried preparation makes nothing new
        again = repo.create_deliveries(
            session,
            sweep_id=sweep_id,
            event_type="sweep.completed",
            event_key="sweep",
            payload={"type": "sweep.completed", "data": {"x": 2}},
            endpoint_ids=[glob.id, mine.id],
        )
    assert sorted(again) == sorted(ids) and len(set(ids)) == 2
    delivery = repo.message_id(mine.id, sweep_id, "sweep.completed", "sweep")
    with session_scope(engine) as session:
        for status, verdict, state in ((500, "retry", "pending"), (200, "delivered", "delivered")):
            repo.record_attempt(
                session,
                delivery,
                started_at=T0,
                duration_ms=12.5,
                verdict=verdict,
                state=state,
                status_code=status,
                response_excerpt="ok",
            )
        target = repo.delivery_target(session, delivery)
    assert target is not None and target.payload["data"] == {"x": 1}  # the first payload
    assert target.secrets.current == "token-a"
    with session_scope(engine) as session:
        log = {d.id: d for d in repo.list_deliveries(session, sweep_id)}
        assert repo.set_endpoint_status(session, glob.id, "disabled", "410")
        assert repo.get_endpoint(session, glob.id).status == "disabled"  # type: ignore[union-attr]
        assert repo.set_endpoint_status(session, glob.id, "deleted")
        assert glob.id not in {e.id for e in repo.list_endpoints(session)}
    mine_log = log[delivery]
    assert mine_log.state == "delivered" and mine_log.delivered_at is not None
    assert [(a.number, a.status_code) for a in mine_log.attempts] == [(1, 500), (2, 200)]
    assert log[repo.message_id(glob.id, sweep_id, "sweep.completed", "sweep")].attempts == []
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT secret_encrypted FROM webhook_endpoints WHERE id = :id"), {"id": mine.id}
        ).scalar_one()
    assert stored == "token-a"  # whatever the caller encrypted, nothing else
