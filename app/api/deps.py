"""FastAPI dependencies: the Temporal gateway and settings, built once in the lifespan."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db import session_scope
from app.settings import Settings
from app.temporal.gateway import SweepGateway


def get_gateway(request: Request) -> SweepGateway:
    gateway: SweepGateway = request.app.state.gateway
    return gateway


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Gateway = Annotated[SweepGateway, Depends(get_gateway)]
AppSettings = Annotated[Settings, Depends(get_settings)]


def get_index_session(request: Request) -> Iterator[Session]:
    """A unit of work on the results index: commits when the handler succeeds."""
    engine: Engine = request.app.state.engine
    with session_scope(engine) as session:
        yield session


IndexSession = Annotated[Session, Depends(get_index_session)]
