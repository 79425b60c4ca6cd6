"""Pydantic validation errors as one 'field.path: message' line each, for CLI and API."""

from __future__ import annotations

from pydantic import ValidationError


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One 'field.path: message' line per problem, without pydantic's noise."""
    lines = []
    for error in exc.errors(include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{location_of(error['loc'])}: {message}")
    return lines


def location_of(loc: tuple[int | str, ...]) -> str:
    """'space.learning_rate.low' from pydantic's location tuple (union tags and the FastAPI
    'body' prefix dropped)."""
    parts = [str(part) for part in loc if part not in _UNION_TAGS]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "(request)"


# Discriminated-union tags pydantic adds to locations (space.lr.float.low -> space.lr.low).
_UNION_TAGS = frozenset({"float", "int", "categorical"})
