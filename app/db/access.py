"""API tokens and sweep owners: every query, no commits (``session_scope`` commits).

Tokens arrive here already hashed or are made here and returned once: no plain token is
ever written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict
from sqlalchemy import RowMapping, or_, select, update
from sqlalchemy.orm import Session

from app.auth.principal import Principal
from app.auth.tokens import new_token, new_token_id, token_hash
from app.db.models import API_TOKENS, SWEEP_OWNERS
from app.db.session import dialect_insert

# last_used_at is a hint for operators, not an audit log: refreshing it at most this often
# keeps reads from turning into a write per request.
_TOUCH_EVERY = timedelta(minutes=1)


class TokenRow(BaseModel):
    """A token as listed: never the token itself (it is shown once, when made)."""

    model_config = ConfigDict(frozen=True)

    id: str
    principal: str
    admin: bool
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def create_token(
    session: Session, principal: str, *, admin: bool, now: datetime | None = None
) -> tuple[TokenRow, str]:
    """A new token for ``principal`` (made if new: principals are just names). Returns the
    row and the token; the caller shows the token once."""
    now = now or _utcnow()
    token = new_token()
    row = {
        "id": new_token_id(),
        "principal": principal,
        "token_hash": token_hash(token),
        "admin": admin,
        "created_at": now,
        "last_used_at": None,
        "revoked_at": None,
    }
    session.execute(API_TOKENS.insert().values(row))
    return _token_row(row), token


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[TokenRow]:
    query = select(*_TOKEN_COLUMNS).order_by(API_TOKENS.c.principal, API_TOKENS.c.created_at)
    if not include_revoked:
        query = query.where(API_TOKENS.c.revoked_at.is_(None))
    return [_token_row(r) for r in session.execute(query).mappings()]


def revoke_token(session: Session, id_or_token: str, *, now: datetime | None = None) -> bool:
    """Revoke by token id, or by the token itself (a leaked one). False if none matched
    or it was revoked already."""
    now = now or _utcnow()
    matched = session.execute(
        update(API_TOKENS)
        .where(
            or_(API_TOKENS.c.id == id_or_token, API_TOKENS.c.token_hash == token_hash(id_or_token)),
            API_TOKENS.c.revoked_at.is_(None),
        )
        .values(revoked_at=now)
    )
    return bool(getattr(matched, "rowcount", 0))


def principal_for(session: Session, token: str, *, now: datetime | None = None) -> Principal | None:
    """The principal a live token belongs to, or None (unknown or revoked)."""
    now = now or _utcnow()
    row = (
        session.execute(
            select(
                API_TOKENS.c.id,
                API_TOKENS.c.principal,
                API_TOKENS.c.admin,
                API_TOKENS.c.last_used_at,
            ).where(API_TOKENS.c.token_hash == token_hash(token), API_TOKENS.c.revoked_at.is_(None))
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    if row["last_used_at"] is None or now - row["last_used_at"] >= _TOUCH_EVERY:
        session.execute(
            update(API_TOKENS).where(API_TOKENS.c.id == row["id"]).values(last_used_at=now)
        )
    return Principal(name=row["principal"], admin=bool(row["admin"]), token_id=row["id"])


def token_active(session: Session, token_id: str) -> bool:
    """Whether the token with this id still exists and is not revoked."""
    found = session.execute(
        select(API_TOKENS.c.id).where(
            API_TOKENS.c.id == token_id, API_TOKENS.c.revoked_at.is_(None)
        )
    ).first()
    return found is not None


# ---- sweep owners -----------------------------------------------------------------------------


def claim_sweep(
    session: Session, sweep_id: str, principal: str, *, now: datetime | None = None
) -> tuple[str, bool]:
    """Record ``principal`` as the owner of ``sweep_id`` unless it has one. Returns the
    owner now stored and whether this call made the row."""
    now = now or _utcnow()
    stmt = dialect_insert(session, SWEEP_OWNERS).values(
        sweep_id=sweep_id, principal=principal, created_at=now
    )
    # RETURNING, not rowcount: drivers disagree on rowcount after ON CONFLICT DO NOTHING.
    made = session.execute(stmt.on_conflict_do_nothing().returning(SWEEP_OWNERS.c.sweep_id)).first()
    owner = owner_of(session, sweep_id)
    assert owner is not None
    return owner, made is not None


def owner_of(session: Session, sweep_id: str) -> str | None:
    owner: str | None = session.execute(
        select(SWEEP_OWNERS.c.principal).where(SWEEP_OWNERS.c.sweep_id == sweep_id)
    ).scalar_one_or_none()
    return owner


def release_sweep(session: Session, sweep_id: str, principal: str) -> None:
    """Undo a claim whose sweep then failed to start."""
    session.execute(
        SWEEP_OWNERS.delete().where(
            SWEEP_OWNERS.c.sweep_id == sweep_id, SWEEP_OWNERS.c.principal == principal
        )
    )


_TOKEN_COLUMNS = (
    API_TOKENS.c.id,
    API_TOKENS.c.principal,
    API_TOKENS.c.admin,
    API_TOKENS.c.created_at,
    API_TOKENS.c.last_used_at,
    API_TOKENS.c.revoked_at,
)


def _token_row(row: RowMapping | dict[str, object]) -> TokenRow:
    return TokenRow.model_validate({c.name: row[c.name] for c in _TOKEN_COLUMNS})


def _utcnow() -> datetime:
    return datetime.now(UTC)
