"""A new recovery code for a logged-in account (`POST /api/auth/recovery/renew`, issue #3):
the session AND the current password's auth key are needed, the old code stops working, the
new one opens the same keys; wrong passwords count against the login limits. Real aiohttp app,
SQLite and PostgreSQL, key material from the Python protocol implementation."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from functools import cache

import pytest
from aiohttp.test_utils import TestClient

from server.crypto.encoding import b64url_decode
from server.crypto.keys import (
    DerivedKeys,
    derive_recovery_keys,
    generate_recovery_code,
    rewrap_identity,
    unwrap_identity,
)
from server.services.clock import FrozenClock
from tests.account_material import b64, material
from tests.conftest import make_config
from tests.transport.test_accounts_api import Harness, _harness

ClientMaker = Callable[..., Awaitable[TestClient]]
RENEW = "/api/auth/recovery/renew"


@cache
def new_code(name: str) -> tuple[str, DerivedKeys, bytes]:
    """A fresh recovery code for `material(name)`'s identity, re-wrapped from the password
    blob as the browser does it: (formatted code, its keys, the new recovery blob)."""
    m = material(name)
    code, formatted = generate_recovery_code()
    keys = derive_recovery_keys(code)
    blob = rewrap_identity(m.key_blob, m.wrap_key, "password", keys.wrap_key, "recovery")
    return formatted, keys, blob


def renew_body(name: str, current_auth_key: bytes) -> dict[str, str]:
    _, keys, blob = new_code(name)
    return {
        "current_auth_key": b64(current_auth_key),
        "recovery_blob": b64(blob),
        "recovery_auth_key": b64(keys.auth_key),
    }


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
async def api(aiohttp_client: ClientMaker, db_url: str, clock: FrozenClock) -> Harness:
    return await _harness(aiohttp_client, make_config(db_url), clock)


async def start(api: Harness, nickname: str, recovery_auth_key: bytes) -> tuple[int, dict]:
    status, body, _ = await api.post(
        "/api/auth/recovery/start",
        {"nickname": nickname, "recovery_auth_key": b64(recovery_auth_key)},
    )
    return status, body


async def test_renew_replaces_the_code_and_the_old_one_stops_working(api: Harness) -> None:
    m = material("lina")
    cookie = await api.register(m, "Lina")
    # An unfinished recovery with the old code (e.g. on another device) ends with the renewal.
    status, pending = await start(api, "Lina", m.recovery_auth_key)
    assert status == 200

    status, body, response = await api.post(RENEW, renew_body("lina", m.auth_key), cookie)
    assert status == 200 and body == {"ok": True}
    assert response.headers["Cache-Control"] == "no-store"
    # The session goes on.
    assert (await api.call("GET", "/api/auth/me", cookie=cookie))[0] == 200

    status, body = await start(api, "Lina", m.recovery_auth_key)
    assert status == 401 and body["code"] == "recovery_failed"
    status, body, _ = await api.post(
        "/api/auth/recovery/finish",
        {"recovery_token": pending["recovery_token"], **m.password_fields()},
    )
    assert status == 401 and body["code"] == "recovery_expired"

    formatted, keys, _ = new_code("lina")
    assert formatted != m.recovery_code
    status, body = await start(api, "Lina", keys.auth_key)
    assert status == 200, body
    opened = unwrap_identity(b64url_decode(body["recovery_blob"]), keys.wrap_key, "recovery")
    assert opened.x25519_public == m.identity.x25519_public
    assert opened.ed25519_public == m.identity.ed25519_public
    # …and a recovery with it finishes as before.
    status, body, _ = await api.post(
        "/api/auth/recovery/finish",
        {"recovery_token": body["recovery_token"], **m.password_fields()},
    )
    assert status == 200 and body["account"]["nickname"] == "Lina"


async def test_renew_needs_the_session_and_the_current_password(api: Harness) -> None:
    m = material("lina")
    cookie = await api.register(m, "Lina")
    other = material("other")

    status, body, _ = await api.post(RENEW, renew_body("lina", m.auth_key))
    assert status == 401 and body["code"] == "unauthorized"
    status, body, _ = await api.post(RENEW, renew_body("lina", other.auth_key), cookie)
    assert status == 403 and body["code"] == "wrong_password"
    # Another account's session cannot replace Lina's code, even with Lina's password.
    intruder = await api.register(other, "Omid")
    status, body, _ = await api.post(RENEW, renew_body("lina", m.auth_key), intruder)
    assert status == 403 and body["code"] == "wrong_password"
    # Malformed blobs never reach the database.
    bad = {**renew_body("lina", m.auth_key), "recovery_blob": b64(bytes(132))}
    status, body, _ = await api.post(RENEW, bad, cookie)
    assert status == 400 and body["code"] == "invalid"
    short = {**renew_body("lina", m.auth_key), "recovery_blob": b64(bytes(100))}
    status, body, _ = await api.post(RENEW, short, cookie)
    assert status == 400

    # Nothing changed: the old code still works, the new one does not.
    assert (await start(api, "Lina", m.recovery_auth_key))[0] == 200
    assert (await start(api, "Lina", new_code("lina")[1].auth_key))[0] == 401


async def test_wrong_passwords_count_against_the_login_limit(
    aiohttp_client: ClientMaker, sqlite_url: str, clock: FrozenClock
) -> None:
    config = make_config(sqlite_url, security={"login_attempts_per_15min": 3})
    api = await _harness(aiohttp_client, config, clock)
    m = material("lina")
    cookie = await api.register(m, "Lina")
    wrong = renew_body("lina", material("other").auth_key)
    for _ in range(3):
        status, body, _ = await api.post(RENEW, wrong, cookie)
        assert status == 403, body
    status, body, response = await api.post(RENEW, renew_body("lina", m.auth_key), cookie)
    assert status == 429 and body["code"] == "rate_limited"
    assert int(response.headers.get("Retry-After", "1")) > 0
    # The login of the same nickname waits too (one counter for password checks).
    status, body, _ = await api.login(m, "Lina")
    assert status == 429
    clock.advance(timedelta(minutes=15, seconds=1))
    status, body, _ = await api.post(RENEW, renew_body("lina", m.auth_key), cookie)
    assert status == 200, body
