"""Account key material made the way a browser makes it (Python protocol implementation, real
PBKDF2 with 600 000 iterations: the server refuses fewer), cached per process so that each test
module derives every password only once. Plus small helpers to create sites and counsellors
for tests of the accounts area."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from server.crypto.encoding import b64url_encode
from server.crypto.keys import (
    DEFAULT_PBKDF2_ITERATIONS,
    KeyPairs,
    derive_password_keys,
    derive_recovery_keys,
    generate_identity,
    generate_recovery_code,
    new_kdf_params,
    wrap_identity,
)
from server.storage.db import Sessions
from server.storage.models import Site

b64 = b64url_encode


@dataclass(frozen=True)
class Material:
    password: str
    salt: bytes
    iterations: int
    auth_key: bytes = field(repr=False)
    wrap_key: bytes = field(repr=False)
    identity: KeyPairs
    key_blob: bytes
    recovery_code: str
    recovery_auth_key: bytes = field(repr=False)
    recovery_wrap_key: bytes = field(repr=False)
    recovery_blob: bytes

    def password_fields(self) -> dict[str, Any]:
        return {
            "salt": b64(self.salt),
            "iterations": self.iterations,
            "auth_key": b64(self.auth_key),
            "key_blob": b64(self.key_blob),
        }

    def identity_fields(self, nickname: str, locale: str = "de") -> dict[str, Any]:
        return {
            "nickname": nickname,
            **self.password_fields(),
            "recovery_blob": b64(self.recovery_blob),
            "recovery_auth_key": b64(self.recovery_auth_key),
            "x25519_public": b64(self.identity.x25519_public),
            "ed25519_public": b64(self.identity.ed25519_public),
            "locale": locale,
        }

    def register_body(self, nickname: str, locale: str = "de",
                      age_group: str | None = "15-17") -> dict[str, Any]:
        return {**self.identity_fields(nickname, locale), "age_group": age_group}

    def accept_body(self, nickname: str, display_name: str = "") -> dict[str, Any]:
        return {**self.identity_fields(nickname), "display_name": display_name}


@cache
def material(name: str) -> Material:
    """Fresh identity + password + recovery code for `name` (derived once per process)."""
    password = f"Grüne Wiese {name} über dem Fluss"
    params = new_kdf_params()
    keys = derive_password_keys(password, params.salt, params.iterations)
    identity = generate_identity()
    code, formatted = generate_recovery_code()
    recovery = derive_recovery_keys(code)
    return Material(
        password=password,
        salt=params.salt,
        iterations=params.iterations,
        auth_key=keys.auth_key,
        wrap_key=keys.wrap_key,
        identity=identity,
        key_blob=wrap_identity(identity, keys.wrap_key, "password"),
        recovery_code=formatted,
        recovery_auth_key=recovery.auth_key,
        recovery_wrap_key=recovery.wrap_key,
        recovery_blob=wrap_identity(identity, recovery.wrap_key, "recovery"),
    )


@cache
def new_password_for(name: str, new_password: str) -> Material:
    """The same identity as `material(name)` under another password (password change)."""
    old = material(name)
    params = new_kdf_params()
    keys = derive_password_keys(new_password, params.salt, DEFAULT_PBKDF2_ITERATIONS)
    return Material(
        password=new_password,
        salt=params.salt,
        iterations=params.iterations,
        auth_key=keys.auth_key,
        wrap_key=keys.wrap_key,
        identity=old.identity,
        key_blob=wrap_identity(old.identity, keys.wrap_key, "password"),
        recovery_code=old.recovery_code,
        recovery_auth_key=old.recovery_auth_key,
        recovery_wrap_key=old.recovery_wrap_key,
        recovery_blob=old.recovery_blob,
    )


async def add_site(sessions: Sessions, slug: str, name: str | None = None,
                   online: bool = False) -> str:
    """A minimal site row (the sites area owns sites; accounts tests only need one to exist)."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with sessions.begin() as db:
        site = Site(
            slug=slug, name=name or slug.replace("-", " ").title(), provider="", street="",
            postcode="", city="", state="", latitude=None, longitude=None, languages=["de"],
            topics=[], opening_hours={}, runs_quartier=False, takes_online=True,
            is_online_team=online, phone="", email="", website="", active=True,
            created_at=now, updated_at=now,
        )
        db.add(site)
        await db.flush()
        return site.id
