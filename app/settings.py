"""Service configuration from environment variables (prefix SWEEPS_), zero-config defaults."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SWEEPS_", env_file=".env", extra="ignore")

    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend.")
    temporal_namespace: str = "default"
    temporal_ui_port: int = 8233
    data_dir: Path = Field(default=Path(".sweeps"), description="Embedded-mode state root.")
    artifact_root: Path | None = Field(
        default=None, description="Checkpoints and snapshots; must be shared by training workers."
    )
    training_concurrency: int = Field(
        default=0, ge=0, description="Trials one training worker runs at once; 0 = one per device."
    )
    log_level: str = "INFO"

    @property
    def artifacts(self) -> Path:
        return (self.artifact_root or self.data_dir / "artifacts").resolve()

    @property
    def snapshot_root(self) -> Path:
        return self.artifacts / "snapshots"
