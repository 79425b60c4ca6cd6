"""Service configuration from environment variables (prefix SWEEPS_), zero-config defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.domain.limits import RequestLimits
from app.domain.webhooks import WebhookRetrySchedule

# What the embedded stack (`sweeps dev`, `sweeps demo`) allow-lists for webhooks, so that a
# receiver on this machine can be tried out. Never the default of a deployment.
DEVELOPMENT_WEBHOOK_HOSTS = "localhost,127.0.0.1,::1"


class Settings(BaseSettings):
    # An empty variable counts as unset: compose files pass `${VAR:-}` through.
    model_config = SettingsConfigDict(
        env_prefix="SWEEPS_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    temporal_address: str = Field(default="127.0.0.1:7233", description="Temporal frontend.")
    temporal_namespace: str = "default"
    # Temporal Cloud or a TLS-secured cluster. PEM values are a file path or the PEM text
    # itself, so that a secret can be handed over as an environment variable alone.
    temporal_tls: bool | None = Field(
        default=None,
        description="TLS to the Temporal frontend; unset: on when a client certificate, a CA "
        "or an API key is configured.",
    )
    temporal_tls_cert: str | None = Field(
        default=None, description="mTLS client certificate: a PEM file path or PEM text."
    )
    temporal_tls_key: SecretStr | None = Field(
        default=None, description="mTLS client private key: a PEM file path or PEM text."
    )
    temporal_tls_ca: str | None = Field(
        default=None,
        description="CA that signed the server's certificate (a private CA): a PEM file path "
        "or PEM text; default: the system's roots.",
    )
    temporal_tls_server_name: str | None = Field(
        default=None, description="Server name to verify the certificate against (SNI)."
    )
    temporal_api_key: SecretStr | None = Field(
        default=None, description="Temporal Cloud API key (sent as a bearer token over TLS)."
    )
    temporal_ui_url: str = Field(
        default="http://127.0.0.1:8233", description="Temporal Web UI, for links in responses."
    )
    data_dir: Path = Field(default=Path(".sweeps"), description="Embedded-mode state root.")
    artifact_root: str | None = Field(
        default=None,
        description="Checkpoints and dataset snapshots, shared by all training workers: a "
        "path (one machine, or a filesystem every worker mounts) or an object-store URI "
        "(s3://bucket/prefix). Default: <data_dir>/artifacts.",
    )
    scratch_dir: Path | None = Field(
        default=None,
        description="This training worker's local disk for work in progress when the artifact "
        "root is remote (checkpoints before upload, fetched checkpoints and snapshots). "
        "Default: <data_dir>/scratch.",
    )
    training_concurrency: int = Field(
        default=0, ge=0, description="Trials one training worker runs at once; 0 = one per device."
    )
    training_heartbeat_timeout_seconds: float = Field(
        default=45.0, ge=10, description="A training worker silent this long is presumed dead."
    )
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        default="text", description="text: one key=value line per event; json: one JSON object."
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of a worker's Prometheus /metrics (all interfaces); 0: off. A training "
        "host with N GPUs serves on PORT..PORT+N-1, one port per device's process.",
    )
    temporal_metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port of the Temporal SDK's own Prometheus metrics in a worker; 0: off.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="If set, the API's /metrics requires `Authorization: Bearer <token>`; "
        "default: open, like /healthz (it shows counts only, no ids or names).",
    )
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
    public_api_url: str | None = Field(
        default=None,
        description="Base URL clients reach the API at: makes webhook links absolute.",
    )
    webhook_allowed_hosts: str = Field(
        default="",
        description="Comma-separated hosts (localhost) or networks (10.1.0.0/16) webhooks may "
        "reach although they are loopback/private (development only); default: none.",
    )
    webhook_secret_keys: SecretStr | None = Field(
        default=None,
        description="Comma-separated Fernet keys that encrypt webhook secrets at rest (the "
        "first encrypts; all decrypt). Default: a key file <data_dir>/webhook-secret.key.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="Timeout of one webhook request."
    )
    webhook_retry_initial_seconds: float = Field(default=10.0, gt=0)
    webhook_retry_backoff: float = Field(default=3.0, ge=1)
    webhook_retry_maximum_seconds: float = Field(default=8 * 3600.0, gt=0)
    webhook_retry_give_up_seconds: float = Field(
        default=3 * 24 * 3600.0, gt=0, description="Stop retrying a delivery after this long."
    )
    webhook_secret_grace_seconds: float = Field(
        default=24 * 3600.0,
        ge=0,
        description="After a secret rotation, the old secret also signs for this long.",
    )

    auth_enabled: bool = Field(
        default=True,
        validation_alias=AliasChoices("SWEEPS_AUTH_ENABLED", "SWEEPS_AUTH", "auth_enabled"),
        description="Require `Authorization: Bearer <token>` on every endpoint but the health "
        "probes and the docs (SWEEPS_AUTH_ENABLED, or SWEEPS_AUTH=off). Off: every caller is "
        "one implicit admin; for a single user on a trusted machine only.",
    )
    rate_limit_per_minute: float = Field(
        default=60.0,
        ge=0,
        description="Mutating calls (POST, DELETE) per token and minute, in steady state; 0: "
        "no limit. Over it: 429 with Retry-After.",
    )
    rate_limit_burst: int = Field(
        default=20, ge=1, description="Mutating calls a token may make at once before the rate."
    )
    read_rate_limit_per_minute: float = Field(
        default=1200.0,
        ge=0,
        description="Reads (GET) per principal and minute, in steady state (each sweep read "
        "is a Temporal query); 0: no limit. Over it: 429 with Retry-After.",
    )
    read_rate_limit_burst: int = Field(
        default=200, ge=1, description="Reads a principal may make at once before the rate."
    )
    max_event_streams_per_principal: int = Field(
        default=8,
        ge=1,
        description="Event streams (GET /sweeps/{id}/events) one principal may hold open at "
        "once; one more: 429 with Retry-After.",
    )
    event_stream_token_check_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often an open event stream checks that its token is still valid; it "
        "ends once the token is revoked.",
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="Largest request body; larger: 413."
    )
    max_trials_per_sweep: int = Field(
        default=1000, ge=1, description="Trials one sweep may train (ladder.trials + new_trials)."
    )
    max_concurrency: int = Field(
        default=64, ge=1, description="Largest max_concurrency a sweep may ask for."
    )
    max_rungs: int = Field(default=10, ge=1, description="Rungs one ladder may have.")
    max_choices: int = Field(
        default=32, ge=2, description="Choices one categorical parameter may list."
    )

    @model_validator(mode="after")
    def _temporal_tls_is_consistent(self) -> Self:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                "SWEEPS_TEMPORAL_TLS_CERT and SWEEPS_TEMPORAL_TLS_KEY go together (mTLS)"
            )
        if self.temporal_tls is False and (self.temporal_tls_cert or self.temporal_tls_ca):
            raise ValueError(
                "SWEEPS_TEMPORAL_TLS is false but a TLS certificate or CA is configured"
            )
        return self

    @property
    def request_limits(self) -> RequestLimits:
        return RequestLimits(
            trials_per_sweep=self.max_trials_per_sweep,
            concurrency=self.max_concurrency,
            rungs=self.max_rungs,
            choices=self.max_choices,
        )

    @property
    def webhook_retry(self) -> WebhookRetrySchedule:
        return WebhookRetrySchedule(
            initial_seconds=self.webhook_retry_initial_seconds,
            backoff=self.webhook_retry_backoff,
            maximum_seconds=self.webhook_retry_maximum_seconds,
            give_up_seconds=self.webhook_retry_give_up_seconds,
        )

    @property
    def webhook_allow_list(self) -> list[str]:
        return [h.strip() for h in self.webhook_allowed_hosts.split(",") if h.strip()]

    @property
    def artifacts(self) -> str:
        """The artifact root as workers are told it: a URI as given, a path made absolute."""
        root = self.artifact_root
        if root and is_uri(root):
            return root.rstrip("/")
        return str(Path(root or self.data_dir / "artifacts").resolve())

    @property
    def snapshot_root(self) -> str:
        root = self.artifacts
        return f"{root}/snapshots" if is_uri(root) else str(Path(root, "snapshots"))

    @property
    def scratch(self) -> Path:
        return (self.scratch_dir or self.data_dir / "scratch").resolve()

    @property
    def resolved_database_url(self) -> str:
        """The results index URL, with the driver SQLAlchemy should use."""
        if not self.database_url:
            return f"sqlite+pysqlite:///{(self.data_dir / 'index.db').resolve()}"
        return normalise_database_url(self.database_url)


def is_uri(location: str) -> bool:
    """An object-store URI (s3://...) rather than a path: the rule workers.ml.storage uses."""
    return "://" in location


def normalise_database_url(url: str) -> str:
    """Point bare postgres URLs (as Heroku-style hosts hand them out) at psycopg 3."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def offset_metrics_ports(env: dict[str, str], settings: Settings, offset: int) -> dict[str, str]:
    """``env`` with ``settings``' metrics ports moved by ``offset`` (and none where they are
    off): processes on one host (a training worker per GPU, the embedded stack's two workers)
    must not share a port."""
    ports = {
        "SWEEPS_METRICS_PORT": settings.metrics_port,
        "SWEEPS_TEMPORAL_METRICS_PORT": settings.temporal_metrics_port,
    }
    moved = {name: value for name, value in env.items() if name not in ports}
    return moved | {name: str(port + offset) for name, port in ports.items() if port}
