"""FastAPI dependencies: the Temporal gateway and settings, built once in the lifespan."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.api.gateway import SweepGateway
from app.settings import Settings


def get_gateway(request: Request) -> SweepGateway:
    gateway: SweepGateway = request.app.state.gateway
    return gateway


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Gateway = Annotated[SweepGateway, Depends(get_gateway)]
AppSettings = Annotated[Settings, Depends(get_settings)]
