"""Reading SweepRequest files (YAML or JSON) with errors that name the field."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from pydantic import ValidationError

from app.domain import SweepRequest
from app.validation import describe_validation_error


class RequestFileError(ValueError):
    """The file is unreadable or not a valid SweepRequest; str() is one line per problem."""


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
