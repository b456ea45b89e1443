"""Config: TOML + environment overrides, and one clear line for a wrong value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from server.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_toml_loads_with_the_documented_defaults() -> None:
    config = load_config(ROOT / "config.toml", environ={})
    assert config.server.port == 8080
    assert config.database.url == "sqlite+aiosqlite:///var/jmdchat.db"
    assert config.i18n.default_locale == "de"
    assert len(config.i18n.locales) == 12
    assert config.security.pbkdf2_min_iterations >= 600_000


def test_environment_overrides_every_section() -> None:
    config = load_config(
        ROOT / "config.toml",
        environ={
            "JMDCHAT_SERVER_PORT": "9001",
            "JMDCHAT_DATABASE_URL": "postgresql+asyncpg://u@db/jmd",
            "JMDCHAT_REDIS_URL": "redis://127.0.0.1:6379/2",
            "JMDCHAT_SERVER_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "JMDCHAT_RETENTION_CLOSED_CONVERSATION_DAYS": "90",
            "JMDCHAT_MAIL_ENABLED": "true",
        },
    )
    assert config.server.port == 9001
    assert config.database.url == "postgresql+asyncpg://u@db/jmd"
    assert config.redis.url == "redis://127.0.0.1:6379/2"
    assert config.server.allowed_origins == ("https://a.example", "https://b.example")
    assert config.retention.closed_conversation_days == 90
    assert config.mail.enabled is True


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"JMDCHAT_SERVER_PORT": "eighty"}, "server.port"),
        ({"JMDCHAT_SERVER_PORT": "70000"}, "server.port"),
        ({"JMDCHAT_DATABASE_URL": "mysql://x"}, "database.url"),
        ({"JMDCHAT_I18N_DEFAULT_LOCALE": "xx"}, "i18n"),
        ({"JMDCHAT_SERVER_LOG_LEVEL": "LOUD"}, "server.log_level"),
        ({"JMDCHAT_SERVER_NO_SUCH_KEY": "1"}, "server.no_such_key"),
        ({"JMDCHAT_NOSECTION_KEY": "1"}, "JMDCHAT_NOSECTION_KEY"),
    ],
)
def test_a_wrong_value_names_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "config.toml", environ=environ)
    message = str(info.value)
    assert key in message
    assert "\n" not in message


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ConfigError, match=r"security\.secret_key"):
        load_config(None, environ={"JMDCHAT_SERVER_MODE": "production"})
    config = load_config(
        None,
        environ={"JMDCHAT_SERVER_MODE": "production", "JMDCHAT_SECURITY_SECRET_KEY": "k" * 40},
    )
    assert config.server.mode == "production"


def test_cookie_secure_follows_the_public_url() -> None:
    assert load_config(None, environ={}).cookie_secure is False
    https = load_config(None, environ={"JMDCHAT_SERVER_PUBLIC_URL": "https://chat.example.org"})
    assert https.cookie_secure is True


def test_bad_toml_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("[server]\nport = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})


def test_server_stops_with_one_line_naming_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text('[server]\nport = "not-a-port"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "server", "--config", str(bad), "serve"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "server.port" in lines[0]
    assert "whole number" in lines[0]
