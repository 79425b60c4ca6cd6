"""What the deployment tests share: the repository root, the names of the settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices

from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def setting_variables() -> set[str]:
    """Every environment variable Settings reads (SWEEPS_<FIELD> and the declared aliases)."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"SWEEPS_{name.upper()}")
        if isinstance(field.validation_alias, AliasChoices):
            names.update(c for c in field.validation_alias.choices if isinstance(c, str))
    return {name for name in names if name.isupper()}
