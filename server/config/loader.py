"""Read config.toml, apply environment overrides, validate into `AppConfig`."""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from server.config.models import AppConfig

ENV_PREFIX = "JMDCHAT_"


class ConfigError(Exception):
    """A configuration value is wrong; the message is one line naming the key."""


def _describe(annotation: object) -> str:
    text = str(annotation).replace("typing.", "")
    for needle, words in (
        ("tuple", "a list of text values"),
        ("bool", "true or false"),
        ("int", "a whole number"),
        ("float", "a number"),
        ("Literal", "one of " + text.removeprefix("Literal")),
        ("str", "text"),
    ):
        if needle in text:
            return words
    return text


def _expected_form(section: str, key: str) -> str:
    section_model = AppConfig.model_fields.get(section)
    if section_model is None or section_model.annotation is None:
        return "a known section"
    model = section_model.annotation
    if isinstance(model, type) and issubclass(model, BaseModel):
        field = model.model_fields.get(key)
        if field is not None:
            return _describe(field.annotation)
    return "a known key"


def _coerce_env(raw: str) -> Any:
    """Environment values are strings; lists may be JSON or comma-separated."""
    stripped = raw.strip()
    if stripped.startswith("["):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError:
            return raw
    return raw


def _env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    sections = {name: model for name, model in AppConfig.model_fields.items()}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        for section in sections:
            if rest.startswith(section + "_"):
                key = rest[len(section) + 1 :]
                value = _coerce_env(raw)
                annotation = _expected_form(section, key)
                if isinstance(value, str) and annotation == _describe(tuple[str, ...]):
                    value = [item.strip() for item in value.split(",") if item.strip()]
                data.setdefault(section, {})[key] = value
                break
        else:
            raise ConfigError(
                f"config error: {name}: unknown section; expected JMDCHAT_<SECTION>_<KEY>"
            )


def load_config(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Load `path` (if given and present), overlay the environment, validate."""
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if not file.exists():
            raise ConfigError(f"config error: file {file} not found")
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config error: {file}: not valid TOML ({exc})") from None
    _env_overrides(data, os.environ if environ is None else environ)
    try:
        return AppConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(part) for part in first["loc"]]
        key = ".".join(loc) if loc else "config"
        expected = _expected_form(loc[0], loc[1]) if len(loc) >= 2 else ""
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "literal_error":
            message = "not an allowed value"
        elif not loc:
            raise ConfigError(f"config error: {message}") from None
        else:
            message = message.split(",")[0]
        got = first.get("input")
        got_text = "" if isinstance(got, dict) or got is None else f" (got {got!r})"
        hint = f"; expected {expected}" if expected and "expected" not in message else ""
        raise ConfigError(f"config error: {key}: {message}{hint}{got_text}") from None
