"""One settings model: explicit arguments > IOC_* environment > TOML file > defaults."""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ioc.retention import (
    DEFAULT_RETENTION,
    DEFAULT_RETENTION_INTERVAL_S,
    RetentionPolicy,
    parse_retention,
)

DEFAULT_DATA_DIR = Path(".ioc-data")
DEFAULT_CONFIG_FILE = Path("ioc.toml")
EMBEDDED_BROKER = "embedded"


class ConfigError(Exception):
    """Settings could not be loaded; the message says which and why."""


def _config_file() -> Path | None:
    explicit = os.environ.get("IOC_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"IOC_CONFIG points to {path}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


class Settings(BaseSettings):
    """Runtime configuration of every IOC process."""

    model_config = SettingsConfigDict(env_prefix="IOC_", extra="forbid", validate_default=True)

    data_dir: Path = Field(
        DEFAULT_DATA_DIR, description="Directory for the SQLite store, snapshots, broker data."
    )
    snapshot_dir: Path | None = Field(
        None,
        description="Snapshot store served to signed-in users (JPEGs only). "
        "Empty: data_dir/snapshots. Must not contain data_dir or any secret.",
    )
    db_url: str = Field(
        "",
        description="Store URL: sqlite:///path or postgresql://user@host/db. "
        "Empty means a SQLite file in data_dir.",
    )
    # web-perf (issue 15): dashboard reads from a streaming replica; writes stay on db_url.
    db_read_url: str = Field(
        "",
        description="Optional read-only store URL (a PostgreSQL streaming replica) for "
        "dashboard reads; its replication lag is shown in the freshness badge. Empty: db_url.",
    )
    mqtt_url: str = Field(
        EMBEDDED_BROKER,
        description="Broker URL mqtt://host:port, or 'embedded' to start one in-process.",
    )
    topic_prefix: str = Field("ioc/v1", description="Root of the topic scheme.")
    http_host: str = Field("127.0.0.1", description="Address the Dash app listens on.")
    http_port: int = Field(8050, ge=1, le=65535, description="Port of the Dash app.")
    secret_key: str = Field(
        "",
        description="Flask session secret. Empty: generated once into data_dir/secret_key.",
    )
    timezone: str = Field("Asia/Ho_Chi_Minh", description="Display time zone.")
    language: str = Field("vi", pattern="^(vi|en)$", description="Default UI language.")
    max_payload_bytes: int = Field(
        64 * 1024, ge=256, description="Larger MQTT payloads are dead-lettered."
    )
    max_event_age_days: int = Field(
        400, ge=1, description="Events older than this are rejected as absurd timestamps."
    )
    max_event_future_s: int = Field(
        600, ge=0, description="Events further in the future than this are rejected."
    )
    ingest_batch_size: int = Field(2000, ge=1, description="Events per committed batch.")
    ingest_batch_ms: int = Field(200, ge=1, description="Longest wait before a batch commits.")
    ingest_queue_max: int = Field(
        20000, ge=10, description="Messages held in memory per worker before it stops reading."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="Prometheus metrics port of ingest (0: disabled)."
    )
    session_idle_minutes: int = Field(
        60, ge=1, description="A web session unused this long ends (minutes)."
    )
    session_max_hours: int = Field(
        12, ge=1, description="A web session ends this long after login, used or not (hours)."
    )
    login_free_failures: int = Field(
        5, ge=1, description="Failed logins per user or address before backoff starts."
    )
    login_backoff_max_s: int = Field(
        900, ge=1, description="Longest wait a login backoff imposes (seconds)."
    )
    allowed_hosts: str = Field(
        "",
        description=(
            "Comma-separated host names the web app may put in absolute URLs (besides "
            "localhost and http_host); a request with any other Host header gets relative ones."
        ),
    )
    retention: str = Field(
        DEFAULT_RETENTION,
        description="Days of events kept per kind, 'kind=30d,...,default=3650d' "
        "(docs/scale-out.md, Storage and retention). KPI state, alarms and audit are never dropped.",
    )
    retention_interval_s: int = Field(
        DEFAULT_RETENTION_INTERVAL_S,
        ge=0,
        description="Seconds between retention runs in ingest worker 1 (0: never; "
        "`ioc db retention --apply` runs it by hand).",
    )
    population_url: str = Field(
        "",
        pattern=r"^(https?://\S+)?$",
        description="Base URL of a remote population service (docs/population-api.md); "
        "empty: the synthetic sample registry.",
    )
    population_token: SecretStr = Field(
        SecretStr(""), description="Bearer token for the population service (never printed)."
    )
    population_timeout_s: float = Field(
        5.0, gt=0, le=120, description="Timeout of one population service request."
    )
    population_retries: int = Field(
        2, ge=0, le=10, description="Retries of a failed population service request."
    )

    @field_validator("db_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value and not value.startswith(("sqlite://", "postgresql://", "postgres://")):
            raise ValueError("must start with sqlite:// or postgresql://")
        return value

    @field_validator("db_read_url")
    @classmethod
    def _replica_scheme(cls, value: str) -> str:
        # web-perf (issue 15): a replica is a PostgreSQL standby; SQLite has none.
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// (a streaming replica)")
        return value

    @field_validator("retention")
    @classmethod
    def _valid_retention(cls, value: str) -> str:
        parse_retention(value)
        return value

    @field_validator("mqtt_url")
    @classmethod
    def _known_broker(cls, value: str) -> str:
        if value != EMBEDDED_BROKER and not value.startswith(
            ("mqtt://", "tcp://", "mqtts://", "ssl://")
        ):
            raise ValueError("must be 'embedded', mqtt://host:port or mqtts://host:port")
        return value

    @model_validator(mode="after")
    def _default_db(self) -> Settings:
        if not self.db_url:
            self.db_url = f"sqlite:///{(self.data_dir / 'ioc.db').as_posix()}"
        return self

    @model_validator(mode="after")
    def _snapshot_root_holds_no_secret(self) -> Settings:
        # The snapshot root is served over HTTP: the store, the session secret and
        # generated credentials in data_dir must never lie under it.
        if self.snapshot_dir is None:
            return self
        root = self.snapshot_dir.resolve()
        if self.data_dir.resolve().is_relative_to(root):
            raise ValueError("snapshot_dir must not contain data_dir (it would serve secrets)")
        if self.db_url.startswith("sqlite:///"):
            db_file = Path(self.db_url.removeprefix("sqlite:///")).resolve()
            if db_file.is_relative_to(root):
                raise ValueError("snapshot_dir must not contain the SQLite store")
        return self

    @property
    def retention_policy(self) -> RetentionPolicy:
        """IOC_RETENTION parsed."""
        return parse_retention(self.retention)

    @property
    def archive_dir(self) -> Path:
        """Where retention archives dropped events as Parquet."""
        return self.data_dir / "archive"

    @property
    def snapshot_root(self) -> Path:
        """Where snapshot JPEGs live; the only directory whose files the web app serves."""
        return (self.snapshot_dir or self.data_dir / "snapshots").resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _config_file()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    def trusted_hosts(self) -> list[str]:
        """Host names (werkzeug syntax, '.example.vn' for subdomains) trusted in a Host header."""
        extra = [h.strip() for h in self.allowed_hosts.split(",") if h.strip()]
        own = [] if self.http_host in ("0.0.0.0", "::", "") else [self.http_host]
        return ["localhost", "127.0.0.1", "::1", *own, *extra]

    def session_secret(self) -> str:
        """The configured secret, or one generated once and kept in data_dir (never in the repo)."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: when several web workers start at once, exactly one secret wins.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "w") as f:
                    f.write(secrets.token_hex(32))
        for _ in range(100):  # the winning worker may still be writing it
            secret = path.read_text().strip()
            if secret:
                return secret
            time.sleep(0.01)
        raise ConfigError(f"{path} is empty; delete it or set IOC_SECRET_KEY")


def safe_url(url: str) -> str:
    """A store, broker or camera URL as it may be shown in logs, reports and errors:
    its password masked (scheme://user:***@host...); a URL without one is unchanged."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in creds:
        return url
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"


def _redacted(field: str, value: Any) -> Any:
    """A rejected value as it may be shown: no password of a URL, no secret key."""
    if field == "secret_key":
        return "***"
    return safe_url(value) if isinstance(value, str) else value


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigError."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            lines.append(f"  {field}: {err['msg']} (got {_redacted(field, err.get('input'))!r})")
        raise ConfigError("invalid configuration:\n" + "\n".join(lines)) from None
    except (OSError, ValueError) as exc:  # unreadable or malformed TOML
        raise ConfigError(f"cannot read configuration: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings from environment and config file."""
    return load_settings()
