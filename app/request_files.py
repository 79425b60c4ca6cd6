"""Reading SweepRequest files (YAML or JSON) with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from app.domain import SweepRequest


class RequestFileError(ValueError):
    """The file is unreadable or not a valid SweepRequest; str() is one line per problem."""


def describe_validation_error(exc: ValidationError) -> list[str]:
    """One 'field.path: message' line per problem, without pydantic's noise."""
    lines = []
    for error in exc.errors(include_url=False):
        location = ".".join(str(part) for part in error["loc"] if part not in _UNION_TAGS)
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{location or '(request)'}: {message}")
    return lines


# Discriminated-union tags pydantic adds to locations (space.lr.float.low -> space.lr.low).
_UNION_TAGS = frozenset({"float", "int", "categorical"})


def load_request(path: Path) -> SweepRequest:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RequestFileError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        body = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise RequestFileError(
            f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {exc}"
        ) from None
    try:
        return SweepRequest.model_validate(body)
    except ValidationError as exc:
        problems = "\n".join(f"  {line}" for line in describe_validation_error(exc))
        raise RequestFileError(f"{path}: invalid sweep request:\n{problems}") from None
