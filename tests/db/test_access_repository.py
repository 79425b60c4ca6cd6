"""Tokens and sweep owners on SQLite and the real Postgres."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, text

from app.db import session_scope
from app.db.access import (
    claim_sweep,
    create_token,
    list_tokens,
    owner_of,
    principal_for,
    release_sweep,
    revoke_token,
)
from app.db.models import API_TOKENS


def _clean(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM api_tokens"))
        connection.execute(text("DELETE FROM sweep_owners"))


def test_only_the_hash_is_stored_and_lookups_find_the_principal(engine: Engine) -> None:
    _clean(engine)
    with session_scope(engine) as session:
        row, token = create_token(session, "ci", admin=False)
        _, admin_token = create_token(session, "root", admin=True)
    with session_scope(engine) as session:
        stored = [r._asdict() for r in session.execute(select(API_TOKENS))]
        assert all(token not in str(r) and admin_token not in str(r) for r in stored)
        found = principal_for(session, token)
        assert found is not None and (found.name, found.admin, found.token_id) == (
            "ci",
            False,
            row.id,
        )
        root = principal_for(session, admin_token)
        assert root is not None and root.admin
        assert principal_for(session, token + "x") is None
    with session_scope(engine) as session:
        (listed,) = [t for t in list_tokens(session) if t.id == row.id]
        assert listed.last_used_at is not None  # touched by the lookup


def test_revoked_tokens_stop_working(engine: Engine) -> None:
    _clean(engine)
    with session_scope(engine) as session:
        row, token = create_token(session, "ci", admin=False)
        _, leaked = create_token(session, "ci", admin=False)
    with session_scope(engine) as session:
        assert revoke_token(session, row.id)
        assert not revoke_token(session, row.id)  # once
        assert revoke_token(session, leaked)  # by the token itself
        assert not revoke_token(session, "tok_0000000000000000")
    with session_scope(engine) as session:
        assert principal_for(session, token) is None and principal_for(session, leaked) is None
        assert list_tokens(session) == []
        assert len(list_tokens(session, include_revoked=True)) == 2


def test_last_used_is_refreshed_at_most_once_a_minute(engine: Engine) -> None:
    _clean(engine)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with session_scope(engine) as session:
        _, token = create_token(session, "ci", admin=False, now=start)
        principal_for(session, token, now=start)
        principal_for(session, token, now=start + timedelta(seconds=30))
    with session_scope(engine) as session:
        assert list_tokens(session)[0].last_used_at == start
        principal_for(session, token, now=start + timedelta(minutes=2))
    with session_scope(engine) as session:
        assert list_tokens(session)[0].last_used_at == start + timedelta(minutes=2)


def test_a_sweep_is_claimed_once(engine: Engine) -> None:
    _clean(engine)
    with session_scope(engine) as session:
        assert claim_sweep(session, "s-1", "alice") == ("alice", True)
        assert claim_sweep(session, "s-1", "alice") == ("alice", False)  # a retried POST
        assert claim_sweep(session, "s-1", "bob") == ("alice", False)
        assert owner_of(session, "s-1") == "alice" and owner_of(session, "s-2") is None
        release_sweep(session, "s-1", "bob")  # not bob's to release
        assert owner_of(session, "s-1") == "alice"
        release_sweep(session, "s-1", "alice")
        assert owner_of(session, "s-1") is None
