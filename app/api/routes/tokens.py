"""API tokens over the API (admin tokens only) and the caller's own identity.

The CLI (`sweeps token create|list|revoke`) does the same against the database directly:
that is how the first admin token is made.
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.api.auth import Admin, Caller
from app.api.deps import IndexSession
from app.api.errors import NotFound, responses
from app.api.params import TokenId
from app.auth.principal import PRINCIPAL_NAME_PATTERN, check_principal_name
from app.db import access as repo

router = APIRouter(tags=["access"])


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=64,
        pattern=PRINCIPAL_NAME_PATTERN,
        description="The principal the token acts for (its sweeps are theirs); made if new.",
        examples=["ci"],
    )
    admin: bool = Field(default=False, description="Sees every sweep; manages tokens.")

    _name = field_validator("name")(check_principal_name)


class TokenCreated(repo.TokenRow):
    token: str = Field(description="swp_... bearer token: shown this once, store it.")


class Identity(BaseModel):
    principal: str
    admin: bool
    token_id: str | None = Field(description="null when authentication is off.")
    authentication: bool = Field(description="False: SWEEPS_AUTH_ENABLED is off.")


@router.get("/me", response_model=Identity)
def whoami(caller: Caller) -> Identity:
    """The principal the presented token acts for."""
    return Identity(
        principal=caller.name,
        admin=caller.admin,
        token_id=caller.token_id,
        authentication=caller.token_id is not None,
    )


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=responses(403, 422, 503),
)
def create_token(body: TokenCreate, session: IndexSession, _: Admin) -> TokenCreated:
    """A new token for a principal (admin tokens only). The token is in this answer only;
    the service keeps its SHA-256."""
    row, token = repo.create_token(session, body.name, admin=body.admin)
    return TokenCreated(**row.model_dump(), token=token)


@router.get("/tokens", response_model=list[repo.TokenRow], responses=responses(403, 503))
def list_tokens(
    session: IndexSession, _: Admin, include_revoked: bool = False
) -> list[repo.TokenRow]:
    """Tokens by principal (never the tokens themselves); admin tokens only."""
    return repo.list_tokens(session, include_revoked=include_revoked)


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=responses(403, 404, 503),
)
def revoke_token(token_id: TokenId, session: IndexSession, _: Admin) -> Response:
    """Revoke a token: it is refused (401) from the next call on. Admin tokens only."""
    if not repo.revoke_token(session, token_id):
        raise NotFound(f"no live token {token_id!r}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
