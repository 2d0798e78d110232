"""Settings: `tidegate.toml` and `TIDEGATE_*` environment variables (DESIGN.md, Configuration).

Built once by the entry points and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tidegate.security.allowlist import DOCKERHUB_CALLBACK_HOSTS
from tidegate.security.roles import ROLES


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything a Tidegate process needs to know about its surroundings."""

    model_config = SettingsConfigDict(
        env_prefix="TIDEGATE_", toml_file="tidegate.toml", extra="ignore"
    )

    data_dir: Path = Path(".tidegate")
    database_url: str = ""  # empty: SQLite in data_dir
    workflows: Path = Path("workflows")
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = ""  # empty: http://host:port
    callback_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DOCKERHUB_CALLBACK_HOSTS)
    )
    notify_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = 1024 * 1024
    # API requests (webhooks excepted): bodies are comments, hooks and workflow texts.
    max_api_body_bytes: int = 64 * 1024
    max_api_json_depth: int = 32
    # Container steps: the Docker Engine API (Docker, or Podman's `podman system service`).
    # Empty: DOCKER_HOST, else the usual Docker and Podman sockets that exist.
    docker_host: str = ""
    # Which executor (executors/__init__.py) runs container steps and services. With the
    # default, container work needs a docker_host; without one it fails, saying so.
    container_executor: str = "docker"
    default_network: str = "none"  # for containers whose step names none: none | host
    # Limits for containers whose step sets none (empty: the engine's own defaults).
    default_memory: str = ""  # e.g. "1g"
    default_cpus: float | None = None
    default_pids: int | None = None
    # Registry credentials: a docker config.json (empty: $DOCKER_CONFIG/config.json, else
    # ~/.docker/config.json), and per-registry logins that take precedence over it.
    docker_config: Path | None = None
    registry_logins: dict[str, SecretStr] = Field(default_factory=dict)  # host: "user:password"
    # Registries Tidegate itself may contact (digest pinning, promotion); the container
    # engine's own pulls are not Tidegate's requests.
    registry_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["*"])
    # Registries spoken to over plain HTTP besides loopback ones (host[:port]).
    insecure_registries: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Step defaults
    step_timeout: float = 3600.0
    kill_grace: float = 5.0
    callback_attempts: int = 5
    callback_backoff: float = 1.0
    outbound_timeout: float = 10.0
    # Secrets exposed to workflows as `secrets.NAME`: TIDEGATE_SECRET_<NAME> variables.
    secrets: dict[str, SecretStr] = Field(default_factory=dict)
    # Approver groups: `group:NAME` in an approval's `approvers` means these users.
    groups: dict[str, list[str]] = Field(default_factory=dict)
    # Engine
    executor_id: str = "local"
    max_threads: int = 32
    # Runs this process starts that may run at once (0: no bound); the rest stay queued.
    max_running_runs: int = Field(default=16, ge=0)
    # How often a waiting run or approval looks at the database on its own. Changes made
    # in this process wake it at once; this bounds the delay for other processes' changes.
    wake_interval: float = 30.0
    run_engine: bool = True  # `serve` with false answers HTTP only, for scale-out
    # The server's log on stderr: readable lines, or JSON lines for log shippers.
    log_format: Literal["text", "json"] = "text"
    # Web UI: how long a sign-in lasts.
    session_hours: float = 12.0
    # Web UI sign-in through an OpenID Connect provider (docs/signin.md): offered when
    # the issuer, the client id and the client secret are all set.
    oidc_issuer: str = ""  # e.g. https://sso.example.com/realms/acme
    oidc_client_id: str = ""
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid profile email groups"
    oidc_user_claim: str = "preferred_username"  # without it in the token: `sub`
    oidc_groups_claim: str = "groups"
    # Group -> role; a person's highest mapped role wins, else `oidc_default_role`
    # ("none": people in no mapped group may not sign in).
    oidc_roles: dict[str, str] = Field(default_factory=dict)
    oidc_default_role: str = "viewer"
    oidc_name: str = ""  # the button's "Sign in with …" (empty: the issuer's host)
    # The `gar` source's Pub/Sub push OIDC token (docs/sources.md), checked when the
    # audience is set: against the keys of a JWKS file the operator keeps (Tidegate
    # fetches no keys), and the subscription's service account if given.
    gar_oidc_audience: str = ""
    gar_oidc_jwks: Path | None = None
    gar_oidc_email: str = ""
    # Retention (docs/operations.md, Retention): 0 keeps forever. Runs queued, running or
    # waiting are never pruned. Finished runs lose their log, steps and deliveries past
    # `retention_days` or past the newest `retention_runs_per_workflow` of their workflow.
    retention_days: float = Field(default=30.0, ge=0)
    retention_runs_per_workflow: int = Field(default=10_000, ge=0)
    # Promotions, approvals and their decisions (with the run row they belong to), and
    # the audit trail: the record of who let what through.
    retention_audit_days: float = Field(default=365.0, ge=0)
    # Events with no run (left none, or whose runs were pruned), by when they came in.
    retention_events_days: float = Field(default=30.0, ge=0)
    # A run's workspace goes when it succeeds (or after `workspace_keep_succeeded_hours`);
    # after any other end it stays `workspace_keep_failed_hours`.
    workspace_keep_succeeded_hours: float = Field(default=0.0, ge=0)
    workspace_keep_failed_hours: float = Field(default=24.0, ge=0)
    prune_interval: float = Field(default=3600.0, ge=0)  # seconds; 0: no scheduled prune
    # CLI client
    url: str = "http://127.0.0.1:8080"
    token: SecretStr | None = None

    @field_validator(
        "callback_allowed_hosts",
        "notify_allowed_hosts",
        "registry_allowed_hosts",
        "insecure_registries",
        mode="before",
    )
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("oidc_roles")
    @classmethod
    def _oidc_roles(cls, value: dict[str, str]) -> dict[str, str]:
        for group, role in value.items():
            if role not in ROLES:
                raise ValueError(f"group {group!r}: role must be one of {', '.join(ROLES)}")
        return value

    @field_validator("oidc_default_role")
    @classmethod
    def _oidc_default_role(cls, value: str) -> str:
        if value not in (*ROLES, "none"):
            raise ValueError(f"must be one of {', '.join(ROLES)} or none")
        return value

    @field_validator("oidc_issuer")
    @classmethod
    def _oidc_issuer(cls, value: str) -> str:
        # The issuer's keys vouch for who people are: plain HTTP only on this machine.
        if not value:
            return value
        parts = urlsplit(value)
        loopback = parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
        if not (parts.scheme == "https" and parts.hostname) and not loopback:
            raise ValueError("must be an https:// URL")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or a fragment")
        return value

    @model_validator(mode="after")
    def _gar_oidc(self) -> Settings:
        if bool(self.gar_oidc_audience) != (self.gar_oidc_jwks is not None):
            raise ValueError("gar_oidc_audience and gar_oidc_jwks go together: set both")
        if self.gar_oidc_email and not self.gar_oidc_audience:
            raise ValueError("gar_oidc_email needs gar_oidc_audience and gar_oidc_jwks")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    def logins(self) -> dict[str, tuple[str, str]]:
        """`registry_logins` ("user:password" per host) as (user, password) pairs."""
        pairs = {}
        for host, login in self.registry_logins.items():
            user, _, password = login.get_secret_value().partition(":")
            pairs[host] = (user, password)
        return pairs

    @property
    def db_url(self) -> str:
        """Tidegate's own tables."""
        if self.database_url:
            return _sqlalchemy_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'tidegate.db').resolve()}"

    @property
    def system_db_url(self) -> str:
        """DBOS's tables: the same Postgres database, or a second SQLite file.

        SQLite allows one writer at a time; keeping DBOS's checkpoints in their own file
        stops them queueing behind webhook intake.
        """
        if self.database_url:
            return _sqlalchemy_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'dbos.db').resolve()}"

    @property
    def sqlite_files(self) -> list[Path]:
        """The SQLite database files (none on PostgreSQL)."""
        urls = (self.db_url, self.system_db_url)
        return [Path(u.removeprefix("sqlite:///")) for u in urls if u.startswith("sqlite:///")]

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id and self.oidc_client_secret)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")


def _sqlalchemy_url(url: str) -> str:
    # Users write postgresql://; SQLAlchemy needs the psycopg 3 driver named.
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def server_environment() -> dict[str, str]:
    """The server's whole environment, for the engine to pick what host steps inherit
    (engine/context.py `host_environment`)."""
    return dict(os.environ)


def load_settings(**overrides: Any) -> Settings:
    """Read settings, collecting `TIDEGATE_SECRET_*` variables into `secrets`.

    The one place that reads the environment.
    """
    secrets = {
        key.removeprefix("TIDEGATE_SECRET_"): SecretStr(value)
        for key, value in os.environ.items()
        if key.startswith("TIDEGATE_SECRET_")
    }
    settings = Settings(**overrides)
    if secrets and not overrides.get("secrets"):
        settings.secrets = {**secrets, **settings.secrets}
    if settings.docker_config is None:
        base = os.environ.get("DOCKER_CONFIG") or str(Path.home() / ".docker")
        settings.docker_config = Path(base) / "config.json"
    if not settings.docker_host:
        settings.docker_host = os.environ.get("DOCKER_HOST", "") or _existing_socket()
    return settings


SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")


def _existing_socket() -> str:
    return next((f"unix://{path}" for path in SOCKETS if Path(path).exists()), "")
