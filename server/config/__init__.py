"""Configuration: `config.toml` plus `JMDCHAT_<SECTION>_<KEY>` environment overrides.

Loaded once at start into frozen pydantic models. A wrong value raises `ConfigError` whose
message names the key and the expected form, so the server stops with one readable line.
"""

from server.config.loader import ConfigError, load_config
from server.config.models import (
    AppConfig,
    DatabaseConfig,
    I18nConfig,
    LimitsConfig,
    MailConfig,
    RedisConfig,
    RetentionConfig,
    SecurityConfig,
    ServerConfig,
)

__all__ = [
    "AppConfig",
    "ConfigError",
    "DatabaseConfig",
    "I18nConfig",
    "LimitsConfig",
    "MailConfig",
    "RedisConfig",
    "RetentionConfig",
    "SecurityConfig",
    "ServerConfig",
    "load_config",
]
