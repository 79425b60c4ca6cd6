"""Service configuration from environment variables (prefix SWEEPS_), zero-config defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWEEPS_", env_file=".env", extra="ignore")

    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend.")
    temporal_namespace: str = "default"
    temporal_ui_url: str = Field(
        default="http://127.0.0.1:8233", description="Temporal Web UI, for links in responses."
    )
    data_dir: Path = Field(default=Path(".sweeps"), description="Embedded-mode state root.")
    artifact_root: Path | None = Field(
        default=None, description="Checkpoints and snapshots; must be shared by training workers."
    )
    training_concurrency: int = Field(
        default=0, ge=0, description="Trials one training worker runs at once; 0 = one per device."
    )
    training_heartbeat_timeout_seconds: float = Field(
        default=45.0, ge=10, description="A training worker silent this long is presumed dead."
    )
    log_level: str = "INFO"
    auto_migrate: bool = Field(
        default=True,
        description="Apply results-index migrations when the API or orchestration worker "
        "starts (zero-config embedded mode); turn off where `sweeps migrate` runs at deploy.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SWEEPS_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="Results index (SWEEPS_DATABASE_URL, or DATABASE_URL); "
        "default: SQLite at <data_dir>/index.db.",
    )

    @property
    def artifacts(self) -> Path:
        return (self.artifact_root or self.data_dir / "artifacts").resolve()

    @property
    def snapshot_root(self) -> Path:
        return self.artifacts / "snapshots"

    @property
    def resolved_database_url(self) -> str:
        """The results index URL, with the driver SQLAlchemy should use."""
        if not self.database_url:
            return f"sqlite+pysqlite:///{(self.data_dir / 'index.db').resolve()}"
        return normalise_database_url(self.database_url)


def normalise_database_url(url: str) -> str:
    """Point bare postgres URLs (as Heroku-style hosts hand them out) at psycopg 3."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url
