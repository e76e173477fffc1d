"""All configuration, declared once. Environment only, prefix ``TUSLOG_``.

The README's settings table is checked against this class by a test, so every field
here needs a description; the description is what the table shows.
"""

import re
from datetime import timedelta
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tuslog.units import parse_duration, parse_size

Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Network = IPv4Network | IPv6Network


_DATABASE_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def _split_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TUSLOG_", extra="ignore", frozen=True)

    database_url: str = Field(
        "sqlite+aiosqlite:///data/tuslog.sqlite3",
        description="SQLAlchemy URL: `sqlite+aiosqlite:///path` or `postgresql+asyncpg://…`",
    )
    storage_dir: Path = Field(Path("data/uploads"), description="Directory for upload data")
    host: str = Field("127.0.0.1", description="Address `tuslog serve` listens on")
    port: int = Field(8080, ge=1, le=65535, description="Port `tuslog serve` listens on")
    workers: int = Field(1, ge=1, le=64, description="Worker processes sharing the port")
    public_url: str | None = Field(
        None, description="External base URL (`https://logs.example.com`) for absolute links"
    )
    trusted_proxies: Annotated[list[Network], NoDecode, BeforeValidator(_split_list)] = Field(
        default_factory=list,
        description="CIDRs whose `X-Forwarded-*` headers are believed (comma-separated)",
    )
    max_upload_size: Size = Field(
        parse_size("100G"), ge=1, description="Largest upload accepted (`Tus-Max-Size`)"
    )
    min_free_space: Size = Field(
        parse_size("1G"), description="Disk space never handed out to uploads"
    )
    upload_expiry: Duration = Field(
        parse_duration("7d"), description="Inactivity after which an unfinished upload expires"
    )
    token_ttl: Duration = Field(parse_duration("7d"), description="Default lifetime of new tokens")
    token_uploads: int = Field(1, ge=1, description="Default number of uploads per new token")
    cors_origins: Annotated[list[str], NoDecode, BeforeValidator(_split_list)] = Field(
        default_factory=list,
        description="Browser origins allowed to upload (comma-separated, `*` for any)",
    )
    read_timeout: Duration = Field(
        parse_duration(60), description="Idle time per body read before a PATCH is cut"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as `text` or `json` (one object per line)"
    )
    listen_backlog: int = Field(
        2048, ge=16, le=65535, description="Connections the kernel queues before `serve` accepts"
    )
    metrics_networks: Annotated[list[Network], NoDecode, BeforeValidator(_split_list)] = Field(
        default_factory=lambda: [ip_network("127.0.0.0/8"), ip_network("::1/128")],
        description="CIDRs (real client address) that may read `/metrics` (comma-separated)",
    )
    metrics_token: SecretStr | None = Field(
        None, description="Bearer token that may read `/metrics` from any address"
    )
    retention_days: int = Field(
        0,
        ge=0,
        description="Delete the archives of tickets resolved this many days ago (0: never)",
    )
    janitor_interval: Duration = Field(
        parse_duration(60), description="How often the janitor looks for expired uploads"
    )
    checkpoint_bytes: Size = Field(
        parse_size("64M"), description="Durable offset checkpoint during a PATCH, in bytes…"
    )
    checkpoint_seconds: float = Field(
        2.0,
        gt=0,
        description="…or in seconds once 64 KiB have arrived (slower clients: once a minute)",
    )
    lock_release_timeout: float = Field(
        2.0, gt=0, description="How long a new request waits for a stale PATCH to let go"
    )
    max_connections: int = Field(
        0,
        ge=0,
        description=(
            "Requests one worker takes at once, above which new ones get 503 + Retry-After "
            "(0: what its open-files limit allows, a third of it)"
        ),
    )
    auth_failure_limit: int = Field(
        20,
        ge=1,
        description=(
            "Failed token attempts per client IP and window before 429, all workers together"
        ),
    )
    auth_failure_window: Duration = Field(
        parse_duration(300), description="Window of the failed-token rate limit"
    )
    session_idle_timeout: Duration = Field(
        parse_duration("30m"),
        gt=timedelta(0),
        description="A portal session ends after this long without a request",
    )
    session_lifetime: Duration = Field(
        parse_duration("12h"),
        gt=timedelta(0),
        description="A portal session ends this long after sign-in, however active",
    )
    signin_failure_limit: int = Field(
        10,
        ge=1,
        description="Failed passwords per account (email) and window before sign-in is refused",
    )
    second_factor_failure_limit: int = Field(
        5,
        ge=1,
        description="Failed authenticator or recovery codes per account and window",
    )
    signin_ip_failure_limit: int = Field(
        50,
        ge=1,
        description="Failed passwords and codes per client IP (IPv6: per /64) and window",
    )
    signin_failure_window: Duration = Field(
        parse_duration("15m"),
        gt=timedelta(0),
        description="Window of the sign-in failure limits, counted from the first failure",
    )
    totp_issuer: str = Field(
        "tuslog",
        min_length=1,
        max_length=64,
        description="Name authenticator apps show beside the account",
    )
    storage_warning_percent: int = Field(
        80,
        ge=1,
        le=100,
        description="Storage use (bytes used plus promised) at which the portal warns",
    )
    storage_danger_percent: int = Field(
        90,
        ge=1,
        le=100,
        description="Storage use at which the portal shows danger",
    )
    totp_keys: Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_list)] = Field(
        default_factory=list,
        description=(
            "Keys that encrypt TOTP secrets in the database (comma-separated, the first "
            "encrypts; 32+ characters each, e.g. `openssl rand -hex 32`); unset: unencrypted"
        ),
    )
    api_auth_failure_limit: int = Field(
        20,
        ge=1,
        description=(
            "Failed API key attempts per client IP (IPv6: per /64) within "
            "`TUSLOG_SIGNIN_FAILURE_WINDOW` before the API answers 429"
        ),
    )
    storage_low_space: Size = Field(
        parse_size("10G"),
        description=(
            "Storage status is `low` (and a `storage.low` webhook fires) when less than "
            "this is left for new uploads"
        ),
    )
    webhook_timeout: Duration = Field(
        parse_duration(10),
        gt=timedelta(0),
        description="How long one webhook delivery may take (connect to last response byte)",
    )
    webhook_retry_base: Duration = Field(
        parse_duration(10),
        gt=timedelta(0),
        description="Wait before a webhook's first retry; it doubles each time, up to 1h",
    )
    webhook_retry_for: Duration = Field(
        parse_duration("24h"),
        gt=timedelta(0),
        description="A webhook delivery that has not succeeded this long after the event fails",
    )
    webhook_allowed_networks: Annotated[list[Network], NoDecode, BeforeValidator(_split_list)] = (
        Field(
            default_factory=list,
            description=(
                "CIDRs that webhooks may reach although private, loopback or link-local "
                "(comma-separated; e.g. `10.1.2.0/24` for an on-premises help desk)"
            ),
        )
    )

    # Looking inside archives (tuslog.archives, tuslog.uploads.inspection): caps per job.
    archive_jobs: int = Field(
        1, ge=1, le=8, description="Archive manifests built at once, per worker process"
    )
    archive_max_entries: int = Field(
        100_000,
        ge=1,
        le=1_000_000,
        description="Entries listed in a manifest; past it they are only counted",
    )
    archive_max_bytes: Size = Field(
        parse_size("64G"),
        ge=1,
        description="Bytes one manifest, preview or entry download may decompress",
    )
    archive_max_ratio: int = Field(
        200,
        ge=2,
        description="Expansion (decompressed : compressed) at which a stream counts as a bomb",
    )
    archive_max_path_length: int = Field(
        4096, ge=64, description="Characters of an entry name kept; longer names are cut"
    )
    archive_time_budget: Duration = Field(
        parse_duration("10m"),
        gt=timedelta(0),
        description="Time one manifest may take before it stops with what it listed",
    )
    archive_preview_time_budget: Duration = Field(
        parse_duration("20s"), gt=timedelta(0), description="Time one preview or page may take"
    )
    archive_search_time_budget: Duration = Field(
        parse_duration("60s"), gt=timedelta(0), description="Time one search may take"
    )
    archive_search_max_bytes: Size = Field(
        parse_size("16G"), ge=1, description="Bytes one search may decompress"
    )
    archive_max_decoder_memory: Size = Field(
        parse_size("128M"),
        ge=parse_size("1M"),
        description="Memory an xz or zstd stream may ask for to be decoded (`xz -9` needs 64M)",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        try:
            driver = make_url(value).drivername
        except ArgumentError:
            driver = None
        if driver not in _DATABASE_DRIVERS:
            raise ValueError(
                "use sqlite+aiosqlite:///path/to/file.sqlite3 or "
                "postgresql+asyncpg://user:password@host:5432/database"
            )
        return value

    @field_validator("storage_dir")
    @classmethod
    def _check_storage_dir(cls, value: Path) -> Path:
        if str(value).strip() in ("", "."):
            raise ValueError("name a directory of its own for the uploads")
        return value

    @field_validator("cors_origins", mode="after")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin[:60]!r} is not an origin: use scheme://host[:port], or *"
                )
        return value

    @field_validator("totp_keys", mode="after")
    @classmethod
    def _check_totp_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < 32 for key in value):
            raise ValueError("each key needs at least 32 characters (e.g. openssl rand -hex 32)")
        return value

    @field_validator("metrics_token", mode="after")
    @classmethod
    def _check_metrics_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < 24:
            raise ValueError("use at least 24 characters (e.g. openssl rand -hex 24)")
        return value

    @model_validator(mode="after")
    def _check_storage_thresholds(self) -> "Settings":
        if self.storage_warning_percent > self.storage_danger_percent:
            raise ValueError(
                "TUSLOG_STORAGE_WARNING_PERCENT must not be above TUSLOG_STORAGE_DANGER_PERCENT"
            )
        return self

    @field_validator(
        "trusted_proxies", "metrics_networks", "webhook_allowed_networks", mode="after"
    )
    @classmethod
    def _normalise_networks(cls, value: list[Any]) -> list[Network]:
        return [ip_network(str(item), strict=False) for item in value]


class SettingsError(Exception):
    """Raised with a one-line message naming the bad environment variable(s)."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a check across fields: its message names them
                problems.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            field = str(error["loc"][0])
            name = f"TUSLOG_{field.upper()}"
            if field in overrides:  # given on the command line (serve --port ...)
                name += f" (--{field.replace('_', '-')})"
            problems.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid configuration: " + "; ".join(problems)) from None
