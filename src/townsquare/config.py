"""Typed settings, read from the environment with the ``TOWNSQUARE_`` prefix.

Unsafe production settings fail fast: ``Settings()`` raises with a message that says what to fix,
so a misconfigured server never starts.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "development-secret-key-change-me-in-production-please"

#: Every reaction Townsquare knows, and the default of ``reaction_types``; a deployment allows
#: a subset (TOWNSQUARE_REACTION_TYPES).
DEFAULT_REACTION_TYPES = (
    "like",
    "love",
    "laugh",
    "sad",
    "angry",
    "inspired",
    "grateful",
    "curious",
    "excited",
    "thoughtful",
)


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class MailBackend(StrEnum):
    CONSOLE = "console"
    SMTP = "smtp"


class UnsafeProductionSettings(Exception):
    """Raised when TOWNSQUARE_ENV=production is combined with development-only settings.

    Not a ``ValueError``: pydantic would wrap that in a ``ValidationError`` and lose the type.
    """


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="TOWNSQUARE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    # --- runtime
    env: Environment = Environment.DEVELOPMENT
    debug: bool = False
    secret_key: str = DEVELOPMENT_SECRET_KEY
    public_url: str = "http://127.0.0.1:8000"
    log_level: str = "INFO"
    log_json: bool = True

    # --- storage
    database_url: str = "sqlite+aiosqlite:///./townsquare.db"
    database_pool_size: int = Field(default=10, ge=1)
    database_max_overflow: int = Field(default=10, ge=0)
    database_pool_timeout_seconds: float = Field(default=10.0, gt=0)
    #: PostgreSQL: a pooled connection idle for longer is pinged before reuse (see kit.db).
    database_ping_after_idle_seconds: float = Field(default=1.0, ge=0)
    #: PostgreSQL: longest wait to open a connection (an unreachable server answers 503).
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0)
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0)
    redis_url: str | None = None
    redis_key_prefix: str = "ts:"

    # --- HTTP
    #: On SIGTERM/SIGINT, ``serve`` waits this long for open requests and sockets, then cancels.
    shutdown_grace_seconds: int = Field(default=30, ge=1)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    #: Peers (IPs or CIDR networks) whose X-Forwarded-For / X-Forwarded-Proto are believed;
    #: nobody's by default, so a client cannot pick the address its per-IP limits count against.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: /metrics answers a request with ``Authorization: Bearer <token>``…
    metrics_token: SecretStr | None = None
    #: …or from one of these client addresses (IPs or CIDR networks). With neither set, metrics
    #: are open in development and not served at all in production.
    metrics_allowed_ips: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- accounts
    access_token_ttl_minutes: int = Field(default=15, ge=1)
    refresh_token_ttl_days: int = Field(default=30, ge=1)
    email_verification_ttl_hours: int = Field(default=48, ge=1)
    password_reset_ttl_minutes: int = Field(default=60, ge=5)
    allow_unverified_posting: bool = True
    deletion_grace_days: int = Field(default=30, ge=0)
    password_argon2_time_cost: int = Field(default=3, ge=1)
    password_argon2_memory_kib: int = Field(default=65536, ge=1024)
    reserved_usernames: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "admin",
            "administrator",
            "api",
            "root",
            "me",
            "mod",
            "moderator",
            "support",
            "help",
            "settings",
            "system",
            "townsquare",
            "www",
            "mail",
            "security",
            "staff",
            "official",
            "null",
            "undefined",
            "anonymous",
            "everyone",
            "login",
            "logout",
            "register",
            "signup",
            "about",
            "docs",
            "status",
            "static",
            "media",
        ]
    )

    # --- content
    post_max_length: int = Field(default=5000, ge=1, le=100_000)
    comment_max_length: int = Field(default=2000, ge=1, le=100_000)
    reaction_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_REACTION_TYPES)
    )
    trending_interval_seconds: float = Field(default=600.0, gt=0)
    scheduled_publish_interval_seconds: float = Field(default=30.0, gt=0)
    #: A post's view by the same viewer (an account, or an anonymous network source) counts once
    #: per this many seconds.
    post_view_window_seconds: int = Field(default=3600, ge=1)

    # --- feeds (production: Redis sorted sets; embedded: read from the database)
    feed_max_items: int = Field(default=800, ge=50)
    feed_ttl_seconds: int = Field(default=900, ge=60)
    feed_fanout_batch_size: int = Field(default=1000, ge=10)
    feed_fanout_audience_limit: int = Field(default=50_000, ge=0)
    feed_ranked_window: int = Field(default=300, ge=20, le=1000)

    # --- cache TTLs (seed 000's key layout)
    cache_profile_ttl_seconds: int = Field(default=3600, ge=1)
    cache_post_ttl_seconds: int = Field(default=1800, ge=1)
    cache_friends_ttl_seconds: int = Field(default=3600, ge=1)
    cache_session_ttl_seconds: int = Field(default=86400, ge=1)

    # --- rate limits (limits' notation: "N/period"; several joined with ";")
    rate_limit_enabled: bool = True
    rate_limit_register_per_ip: str = "10/hour"
    rate_limit_login_per_ip: str = "30/minute"
    #: Failed logins of one account from one client IP: past it, that IP may not try that account.
    rate_limit_login_failures_per_source: str = "10/15 minutes"
    #: Failed logins of one account from all IPs: past it, IPs that failed on it are refused and
    #: failures answered at the longest delay; an IP with no failures may still log in.
    rate_limit_login_failures_per_account: str = "100/15 minutes"
    rate_limit_password_per_ip: str = "10/hour"
    rate_limit_password_per_account: str = "5/hour"
    # Per account, on what creates content or reaches other people: a heavy user never meets
    # them, a script does (Mastodon allows 300 posts per 3 hours and 400 follows a day).
    rate_limit_posts: str = "30/minute;300/3 hours"
    rate_limit_shares: str = "30/minute;300/3 hours"
    rate_limit_comments: str = "30/minute;500/hour"
    rate_limit_reactions: str = "120/minute;1500/hour"
    rate_limit_messages: str = "60/minute;1000/hour"
    rate_limit_friend_requests: str = "50/hour;400/day"
    rate_limit_follows: str = "100/hour;400/day"
    rate_limit_bookmarks: str = "120/minute;2000/hour"
    login_failure_delay_ms: int = Field(default=250, ge=0)
    login_failure_delay_max_ms: int = Field(default=4000, ge=0)

    # --- mail
    mail_backend: MailBackend = MailBackend.CONSOLE
    mail_from: str = "Townsquare <no-reply@townsquare.localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = False
    smtp_timeout_seconds: float = 10.0
    #: How often queued mail that failed (or whose sender died) is tried again.
    mail_retry_interval_seconds: float = Field(default=30.0, gt=0)

    # --- background work
    run_periodic_jobs: bool = True
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_retention_days: int = Field(default=7, ge=1)
    purge_interval_seconds: float = Field(default=3600.0, gt=0)
    job_broker_url: str | None = None
    job_lease_seconds: float = Field(default=60.0, gt=0)
    job_retry_base_seconds: float = Field(default=2.0, gt=0)
    job_concurrency: int = Field(default=20, ge=1)

    # --- messaging
    message_max_length: int = Field(default=4000, ge=1, le=100_000)
    conversation_max_members: int = Field(default=250, ge=2)
    disappearing_purge_interval_seconds: float = Field(default=30.0, gt=0)

    # --- notifications
    notification_digest_interval_seconds: float = Field(default=300.0, gt=0)
    message_email_delay_seconds: float = Field(default=300.0, ge=0)
    cache_unread_ttl_seconds: int = Field(default=300, ge=1)

    # --- real time (WebSocket stream)
    stream_heartbeat_seconds: float = Field(default=25.0, gt=0)
    stream_send_queue_size: int = Field(default=256, ge=8)
    stream_replay_limit: int = Field(default=1000, ge=10)
    stream_retention_hours: int = Field(default=72, ge=1)
    presence_ttl_seconds: int = Field(default=60, ge=5)

    @model_validator(mode="before")
    @classmethod
    def _split_lists(cls, data: object) -> object:
        """Comma-separated env values for list settings (``a,b,c``)."""
        if isinstance(data, dict):
            for key in (
                "cors_origins",
                "reserved_usernames",
                "reaction_types",
                "trusted_proxies",
                "metrics_allowed_ips",
            ):
                value = data.get(key)
                if isinstance(value, str):
                    data[key] = [item.strip() for item in value.split(",") if item.strip()]
        return data

    @field_validator("trusted_proxies", "metrics_allowed_ips")
    @classmethod
    def _check_networks(cls, values: list[str]) -> list[str]:
        """Every entry an IP address or a CIDR network (``10.0.0.0/8``); anything else (a host
        name, ``*``) is refused rather than silently matching nothing or everything."""
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address or CIDR network") from None
        return values

    @field_validator("metrics_token")
    @classmethod
    def _empty_token_is_none(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Self:
        if self.env is not Environment.PRODUCTION:
            return self
        problems = []
        if self.secret_key == DEVELOPMENT_SECRET_KEY:
            problems.append("TOWNSQUARE_SECRET_KEY is the development key; set a random secret")
        elif len(self.secret_key) < 32:
            problems.append("TOWNSQUARE_SECRET_KEY must be at least 32 characters")
        if self.debug:
            problems.append("TOWNSQUARE_DEBUG must be false")
        if self.metrics_token is not None and len(self.metrics_token.get_secret_value()) < 16:
            problems.append("TOWNSQUARE_METRICS_TOKEN must be at least 16 characters")
        if problems:
            raise UnsafeProductionSettings(
                "refusing to start in production: " + "; ".join(problems)
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def metrics_restricted(self) -> bool:
        return self.metrics_token is not None or bool(self.metrics_allowed_ips)


@lru_cache
def get_settings() -> Settings:
    return Settings()
