"""ASGI entry point: `uvicorn app.api.asgi:app --factory` builds the app from environment
settings (SWEEPS_*)."""

from __future__ import annotations

from fastapi import FastAPI

from app.api.app import create_app
from app.logging import configure_logging
from app.settings import Settings


def app() -> FastAPI:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
