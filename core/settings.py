"""Process settings for the core, read from `L2C_*` environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class CoreSettings(BaseSettings):
    """Where the store lives and how secrets are protected."""

    model_config = SettingsConfigDict(env_prefix="L2C_", extra="ignore")

    data_dir: Path = Field(
        default=Path(".l2c"),
        description="Folder for the embedded SQLite store and generated files.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to the embedded SQLite file in data_dir.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated, newest first, for connection secrets.",
    )
    tenant: str = Field(default="default", description="Tenant slug the CLI acts for.")
    sync_batch_size: int = Field(default=5000, ge=1, le=200_000)
    broker_url: str | None = Field(
        default=None,
        description="Celery broker, e.g. redis://127.0.0.1:6379/0; defaults to the embedded "
        "broker, a SQLite file in data_dir.",
    )
    url_allowlist: list[str] = Field(
        default_factory=list,
        description="Hosts or CIDR ranges that outbound URLs may reach although they are "
        "private, loopback or link-local (admin only), e.g. ['10.1.0.0/16', 'sap.corp'].",
    )
    files_root: str | None = Field(
        default=None,
        description="Folder under which connections configured through the API may read "
        "files; `{tenant}` stands for the tenant's slug (default <data_dir>/files/{tenant}).",
    )
    singer_executables: list[str] = Field(
        default_factory=list,
        description="Singer taps that connections configured through the API may run "
        "(exact commands or absolute paths); none by default, as a tap is a program run "
        "on this server.",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the API accepts."
    )
    log_format: str = Field(default="json", pattern="^(json|console)$")
    log_level: str = Field(default="INFO")

    def resolved_broker_url(self) -> str:
        """The configured broker, or the embedded one: kombu's SQLAlchemy transport over a
        SQLite file of its own (it must not share the store's file)."""
        if self.broker_url:
            return self.broker_url
        return f"sqla+sqlite:///{(self.data_dir / 'broker.db').resolve()}"

    def tenant_files_root(self, tenant_slug: str) -> Path:
        pattern = self.files_root or str(self.data_dir / "files" / "{tenant}")
        return Path(pattern.replace("{tenant}", tenant_slug)).expanduser().resolve()

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'l2c.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> CoreSettings:
    """Settings of this process (cached; tests construct CoreSettings directly)."""
    return CoreSettings()
