"""The REST API: `create_app(settings)` builds it.

Loaded lazily, so that clients importing only the schemas (``app.api.schemas``) do not load
the server's FastAPI and Temporal machinery."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from app.api.app import create_app

        return create_app
    raise AttributeError(f"module 'app.api' has no attribute {name!r}")
