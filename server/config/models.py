"""One frozen model per config section; field docs double as the reference in config.toml."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SUPPORTED_LOCALES: tuple[str, ...] = (
    "de",
    "en",
    "ar",
    "fa",
    "fa_AF",
    "ps",
    "ru",
    "uk",
    "tr",
    "fr",
    "ku",
    "ti",
)

# A placeholder that is accepted in development only; production refuses it.
DEV_SECRET_PLACEHOLDER = "dev-only-change-me"  # noqa: S105 (refused in production)


WORKERS_NEED_REDIS = (
    "redis.url: server.workers > 1 needs Redis (e.g. redis://127.0.0.1:6379/0), so that "
    "socket.io events reach clients connected to the other processes"
)


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServerConfig(_Section):
    mode: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str = "http://127.0.0.1:8080"
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8080", "http://localhost:8080")
    workers: int = Field(default=1, ge=1, le=64)
    data_dir: str = "var"
    quick_exit_url: str = "https://www.wetter.com/"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    #: Reverse proxies whose `X-Forwarded-For` is believed for per-source limits (addresses
    #: or CIDRs, e.g. ["127.0.0.1", "::1"] behind a local nginx). Empty: the direct peer.
    trusted_proxies: tuple[str, ...] = ()
    #: Allocations between two young-generation garbage collections (Python's default: 700);
    #: with it, what start-up built is frozen out of all collections. 0: Python's defaults.
    #: Larger means far fewer full collections (the long event-loop pauses with thousands of
    #: connections), but each young one takes longer (server/gc_pauses.py, bench/README.md).
    gc_threshold: int = Field(default=50_000, ge=0, le=1_000_000)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        import ipaddress

        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"{entry!r} is not an address or network like 127.0.0.1 or 10.0.0.0/8"
                ) from None
        return value

    @field_validator("public_url", "quick_exit_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// URL")
        return value.rstrip("/") if value.count("/") == 2 else value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise ValueError("expected origins like https://chat.example.org (no path)")
        return value


class DatabaseConfig(_Section):
    url: str = "sqlite+aiosqlite:///var/jmdchat.db"
    pool_size: int = Field(default=10, ge=1, le=200)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _supported(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "expected sqlite+aiosqlite:///PATH or postgresql+asyncpg://USER@HOST/DB"
            )
        return value


class RedisConfig(_Section):
    url: str = ""  # empty: single process, no Redis (required when server.workers > 1)
    # The pub/sub channel the socket.io processes share. Every process of one installation must
    # use the same channel; installations (or parallel test runs) sharing one Redis must not.
    channel: str = Field(
        default="jmdchat", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$"
    )

    @field_validator("url")
    @classmethod
    def _redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://")):
            raise ValueError("expected redis://HOST:PORT/DB or empty")
        return value


class I18nConfig(_Section):
    default_locale: str = "de"
    locales: tuple[str, ...] = SUPPORTED_LOCALES

    @model_validator(mode="after")
    def _known(self) -> I18nConfig:
        unknown = [loc for loc in self.locales if loc not in SUPPORTED_LOCALES]
        if unknown:
            raise ValueError(f"unknown locale(s) {unknown}; expected some of {SUPPORTED_LOCALES}")
        if self.default_locale not in self.locales:
            raise ValueError("default_locale must be one of locales")
        return self


class SecurityConfig(_Section):
    secret_key: str = DEV_SECRET_PLACEHOLDER
    session_ttl_hours: int = Field(default=12, ge=1, le=24 * 30)
    cookie_secure: bool | None = None  # None: derived from server.public_url (https -> Secure)
    password_min_length: int = Field(default=10, ge=8, le=128)
    pbkdf2_min_iterations: int = Field(default=600_000, ge=600_000)
    login_attempts_per_15min: int = Field(default=10, ge=1, le=1000)
    invitation_hours: int = Field(default=72, ge=1, le=24 * 30)
    # The organisation's Ed25519 public key (base64url, 32 bytes) that certifies counsellor and
    # site keys. Empty: not configured yet; in development mode the server then reads the key
    # the demo wrote to `<server.data_dir>/org-public-key`.
    org_public_key: str = ""

    @field_validator("org_public_key")
    @classmethod
    def _org_key(cls, value: str) -> str:
        value = value.strip()
        if value:
            # Imported here: the config package must not pull in the crypto package at import.
            from server.crypto.encoding import b64url_decode
            from server.crypto.errors import InvalidInput

            try:
                b64url_decode(value, length=32)
            except InvalidInput:
                raise ValueError(
                    "expected the base64url public key printed by `jmdchat org-key create`"
                ) from None
        return value


class RetentionConfig(_Section):
    """Deletion rules of `server/services/retention.py` (documented in docs/privacy.md)."""

    closed_conversation_days: int = Field(default=180, ge=1)
    account_without_enquiry_days: int = Field(default=30, ge=1)
    audit_days: int = Field(default=730, ge=1)
    # Chat rounds (issue #9): messages and key shares of a round, this long after it ended.
    round_message_days: int = Field(default=7, ge=1)
    run_every_minutes: int = Field(default=60, ge=1)
    # Rows deleted per transaction: small enough that no batch holds locks for long.
    batch_size: int = Field(default=500, ge=1, le=10_000)


class LimitsConfig(_Section):
    max_http_body_bytes: int = Field(default=256 * 1024, ge=1024)
    max_socket_message_bytes: int = Field(default=96 * 1024, ge=1024)
    max_open_conversations_per_counsellor: int = Field(default=30, ge=1)
    ping_interval_seconds: int = Field(default=20, ge=5)
    ping_timeout_seconds: int = Field(default=20, ge=5)
    # Site directory files uploaded in the admin screens (the CLI has no limit). The upload
    # travels as JSON, so `max_http_body_bytes` must leave room for it as well.
    max_site_import_bytes: int = Field(default=200 * 1024, ge=1024)


class RateLimitsConfig(_Section):
    """Abuse limits (server/services/rate_limit.py; the table in docs/security.md).

    Counted in each process's memory (token buckets: `N per window` allows a burst of N, then
    one more every window/N). Enquiries per day are counted in the database (exact across
    processes). A refusal is a 429 / `rate_limited` ack with `retry_after`; nobody is ever
    disconnected for it. `enabled = false` only for load tests.
    """

    enabled: bool = True
    registrations_per_source_per_hour: int = Field(default=20, ge=1)
    enquiries_per_account_per_day: int = Field(default=8, ge=1)
    messages_per_account_per_minute: int = Field(default=30, ge=1)
    messages_per_connection_per_10s: int = Field(default=12, ge=1)
    # Every socket.io event of a connection (typing, joins, lists, ...) shares this budget.
    events_per_connection_per_10s: int = Field(default=120, ge=1)


class MailConfig(_Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=25, ge=1, le=65535)
    sender: str = "jmdchat@localhost"
    starttls: bool = False
    username: str = ""
    password: str = ""


class HandoverConfig(_Section):
    """Handover of a conversation to another site (issue #6, server/services/handover.py)."""

    # A proposal the young person neither accepted nor declined expires after this long.
    proposal_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)


class AppConfig(_Section):
    server: ServerConfig = ServerConfig()
    database: DatabaseConfig = DatabaseConfig()
    redis: RedisConfig = RedisConfig()
    i18n: I18nConfig = I18nConfig()
    security: SecurityConfig = SecurityConfig()
    retention: RetentionConfig = RetentionConfig()
    limits: LimitsConfig = LimitsConfig()
    rate_limits: RateLimitsConfig = RateLimitsConfig()
    mail: MailConfig = MailConfig()
    handover: HandoverConfig = HandoverConfig()

    @model_validator(mode="after")
    def _production_secrets(self) -> AppConfig:
        if self.server.mode == "production":
            key = self.security.secret_key
            if key == DEV_SECRET_PLACEHOLDER or len(key) < 32:
                raise ValueError(
                    "security.secret_key: production needs a random secret of at least 32 "
                    "characters (python -c 'import secrets;print(secrets.token_urlsafe(48))')"
                )
        return self

    @model_validator(mode="after")
    def _workers_need_redis(self) -> AppConfig:
        # Several processes only see each other's rooms through Redis: without it a message
        # would reach only the clients connected to the sender's process.
        if self.server.workers > 1 and not self.redis.url:
            raise ValueError(WORKERS_NEED_REDIS)
        return self

    @property
    def cookie_secure(self) -> bool:
        if self.security.cookie_secure is not None:
            return self.security.cookie_secure
        return self.server.public_url.startswith("https://")
