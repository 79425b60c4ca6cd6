"""The REST API: `create_app(settings)` builds it."""

from app.api.app import create_app

__all__ = ["create_app"]
