"""The accounts HTTP API (docs/accounts-api.md) end to end through the aiohttp app: registration,
login with two-factor for staff, uniform errors, rate limits, password change, recovery,
deletion, session expiry (FrozenClock), invitations, cookies, site keys. The key material is made
by the Python protocol implementation with the real 600 000 PBKDF2 iterations, derived once per
process (tests/account_material.py)."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import DummyCookieJar, web
from aiohttp.test_utils import TestClient
from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from server.app import create_app
from server.config import AppConfig
from server.crypto import primitives as prim
from server.crypto.certificates import parse_certificate, verify_certificate
from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.keys import fingerprint, parse_recovery_code, unwrap_identity
from server.crypto.sites import create_site_key, open_site_key, seal_site_key
from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.keys import CLOCK, CONFIG, LIMITER, SESSIONS
from server.services.accounts import Accounts
from server.services.clock import FrozenClock
from server.services.site_keys import find_pending, store_certificates
from server.storage.models import Account, Base
from tests.account_material import Material, add_site, b64, material, new_password_for
from tests.conftest import make_config

ClientMaker = Callable[..., Awaitable[TestClient]]
COOKIE = "jmdchat_session"


@dataclass
class Harness:
    client: TestClient
    app: web.Application
    clock: FrozenClock

    async def call(
        self, method: str, path: str, body: object | None = None, cookie: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any], Any]:
        all_headers = dict(headers or {})
        if cookie:
            all_headers["Cookie"] = f"{COOKIE}={cookie}"
        kwargs: dict[str, Any] = {"headers": all_headers}
        if body is not None:
            kwargs["json"] = body
        response = await self.client.request(method, path, **kwargs)
        data = await response.json()
        return response.status, data, response

    async def post(self, path: str, body: object, cookie: str | None = None
                   ) -> tuple[int, dict[str, Any], Any]:
        return await self.call("POST", path, body, cookie)

    def accounts(self) -> Accounts:
        app = self.app
        return Accounts(app[SESSIONS], app[CONFIG], app[CLOCK], app[LIMITER])

    def code(self, secret_b32: str, *, advance: bool = True) -> str:
        """The authenticator code, after moving to the next 30 s step (codes are single-use)."""
        if advance:
            self.clock.advance(timedelta(seconds=30))
        return totp_code(totp_secret_from_base32(secret_b32), self.clock.now().timestamp())

    # --- flows ---------------------------------------------------------------------------

    async def register(self, m: Material, nickname: str) -> str:
        status, body, response = await self.post(
            "/api/auth/register", m.register_body(nickname)
        )
        assert status == 201, body
        return session_cookie(response)

    async def login(self, m: Material, nickname: str, totp: str | None = None
                    ) -> tuple[int, dict[str, Any], Any]:
        body: dict[str, Any] = {"nickname": nickname, "auth_key": b64(m.auth_key)}
        if totp is not None:
            body["totp_code"] = totp
        return await self.post("/api/auth/login", body)

    async def staff(self, m: Material, nickname: str, site_slug: str | None,
                    role: str = "counsellor") -> tuple[str, str, dict[str, Any]]:
        """Invitation -> accept -> TOTP confirm. Returns (full cookie, TOTP secret, account)."""
        created = await self.accounts().create_invitation(role, site_slug, nickname.title())
        status, body, response = await self.post(
            f"/api/invitations/{created.token}/accept", m.accept_body(nickname)
        )
        assert status == 200, body
        secret = body["totp_secret"]
        status, body, response = await self.post(
            "/api/auth/totp/confirm", {"code": self.code(secret)}, session_cookie(response)
        )
        assert status == 200, body
        return session_cookie(response), secret, body["account"]


def session_cookie(response: Any) -> str:
    morsel = response.cookies.get(COOKIE)
    assert morsel is not None, "no session cookie set"
    return str(morsel.value)


def set_cookie_header(response: Any) -> str:
    headers = [v for v in response.headers.getall("Set-Cookie", []) if v.startswith(COOKIE)]
    assert len(headers) == 1, headers
    return str(headers[0])


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


async def _harness(aiohttp_client: ClientMaker, config: AppConfig, clock: FrozenClock
                   ) -> Harness:
    app = create_app(config, clock=clock)
    client = await aiohttp_client(app, cookie_jar=DummyCookieJar())
    await add_site(app[SESSIONS], "jmd-berlin", "Jugendmigrationsdienst Berlin")
    await add_site(app[SESSIONS], "jmd-trier", "Jugendmigrationsdienst Trier")
    return Harness(client, app, clock)


@pytest.fixture
async def api(aiohttp_client: ClientMaker, config: AppConfig, clock: FrozenClock) -> Harness:
    return await _harness(aiohttp_client, config, clock)


# --- prelogin ---------------------------------------------------------------------------------


async def test_prelogin_does_not_reveal_whether_a_nickname_exists(api: Harness) -> None:
    lina = material("lina")
    await api.register(lina, "Lina")

    known_status, known, _ = await api.post("/api/auth/prelogin", {"nickname": "lina"})
    unknown_status, unknown, _ = await api.post("/api/auth/prelogin", {"nickname": "Nobody"})
    again_status, again, _ = await api.post("/api/auth/prelogin", {"nickname": "nobody"})

    assert known_status == unknown_status == again_status == 200
    assert set(known) == set(unknown) == {"ok", "salt", "iterations"}
    assert b64url_decode(known["salt"]) == lina.salt  # case-insensitive match
    assert known["iterations"] == unknown["iterations"] == 600_000
    assert len(b64url_decode(unknown["salt"], length=16)) == 16
    # Deterministic: asking again gives the same fake salt, like a real account would.
    assert again == unknown
    secret = api.app[CONFIG].security.secret_key.encode()
    expected = hmac.new(secret, b"fake-salt" + b"nobody", hashlib.sha256).digest()[:16]
    assert b64url_decode(unknown["salt"]) == expected


# --- registration -----------------------------------------------------------------------------


async def test_register_returns_the_account_and_a_session(api: Harness) -> None:
    m = material("mo")
    status, body, response = await api.post(
        "/api/auth/register", m.register_body("Mo Rahimi", locale="fa", age_group="18-21")
    )
    assert status == 201 and body["ok"] is True
    account = body["account"]
    assert set(account) == {
        "id", "nickname", "role", "display_name", "locale", "age_group", "x25519_public",
        "ed25519_public", "fingerprint", "sites", "totp_enabled",
    }
    assert account["nickname"] == "Mo Rahimi" and account["role"] == "young_person"
    assert account["locale"] == "fa" and account["age_group"] == "18-21"
    assert account["x25519_public"] == b64(m.identity.x25519_public)
    assert account["fingerprint"] == fingerprint(
        m.identity.x25519_public, m.identity.ed25519_public
    )
    assert account["sites"] == [] and account["totp_enabled"] is False
    status, me, _ = await api.call("GET", "/api/auth/me", cookie=session_cookie(response))
    assert status == 200 and me["account"] == account


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"nickname": "ab"}, "nickname_invalid"),
        ({"nickname": "a" * 33}, "nickname_invalid"),
        ({"nickname": "two  spaces"}, "nickname_invalid"),
        ({"nickname": "smile 🙂"}, "nickname_invalid"),
        ({"nickname": "tab\tname"}, "nickname_invalid"),
        ({"nickname": "Admin"}, "nickname_reserved"),
        ({"nickname": "JMD-Team Berlin"}, "nickname_reserved"),
        ({"nickname": "Bera.ter"}, "nickname_reserved"),
        ({"iterations": 599_999}, "weak_kdf_params"),
        ({"iterations": "600000"}, "invalid"),
        ({"auth_key": b64(bytes(31))}, "invalid"),
        ({"auth_key": b64(bytes(32)) + "="}, "invalid"),
        ({"salt": b64(bytes(15))}, "invalid"),
        ({"key_blob": b64(bytes(4096))}, "invalid"),
        ({"x25519_public": b64(bytes(32))}, "invalid"),  # small-order point
        ({"locale": "xx"}, "invalid"),
        ({"age_group": "10-11"}, "invalid"),
        ({"password": "secret"}, "invalid"),  # unknown fields are refused
    ],
)
async def test_register_validation(api: Harness, change: dict[str, Any], code: str) -> None:
    body = {**material("val").register_body("Valid Name"), **change}
    status, answer, _ = await api.post("/api/auth/register", body)
    assert status == 400, answer
    assert answer["ok"] is False and answer["code"] == code
    assert isinstance(answer["message"], str) and answer["message"]


async def test_register_refuses_a_taken_nickname_case_and_normalisation_insensitively(
    api: Harness,
) -> None:
    await api.register(material("zoe1"), "Zoë")
    decomposed = unicodedata.normalize("NFD", "ZOË")
    status, body, _ = await api.post(
        "/api/auth/register", material("zoe2").register_body(decomposed)
    )
    assert status == 409 and body["code"] == "nickname_taken"


async def test_register_accepts_letters_of_any_script(api: Harness) -> None:
    for index, nickname in enumerate(["مریم", "Олена_2", "ሰላም.ሓጎስ", "Ayşe Nur"]):
        status, body, _ = await api.post(
            "/api/auth/register", material(f"script{index}").register_body(nickname)
        )
        assert status == 201, (nickname, body)


async def test_register_needs_a_json_content_type(api: Harness) -> None:
    response = await api.client.post(
        "/api/auth/register", data=json.dumps(material("val").register_body("Valid Name")),
        headers={"Content-Type": "text/plain"},
    )
    assert response.status == 400
    assert (await response.json())["code"] == "bad_content_type"


async def test_foreign_origin_is_refused(api: Harness) -> None:
    status, body, _ = await api.call(
        "POST", "/api/auth/prelogin", {"nickname": "x"},
        headers={"Origin": "https://evil.example"},
    )
    assert status == 403 and body["code"] == "bad_origin"


# --- login ------------------------------------------------------------------------------------


async def test_login_gives_the_key_blob_and_uniform_errors(api: Harness) -> None:
    m = material("lina")
    await api.register(m, "Lina")

    wrong_status, wrong, _ = await api.login(material("other"), "Lina")
    unknown_status, unknown, _ = await api.login(m, "Unknown Person")
    assert wrong_status == unknown_status == 401
    assert wrong == unknown
    assert wrong["code"] == "login_failed"

    status, body, response = await api.login(m, "LINA")
    assert status == 200
    # What the client does next: open the blob with wrap_key, compare the public keys.
    opened = unwrap_identity(b64url_decode(body["key_blob"]), m.wrap_key, "password")
    assert opened.x25519_public == b64url_decode(body["account"]["x25519_public"])
    assert opened.ed25519_public == b64url_decode(body["account"]["ed25519_public"])
    assert response.headers["Cache-Control"] == "no-store"


async def test_staff_need_a_totp_code(api: Harness) -> None:
    m = material("amira")
    _cookie, secret, account = await api.staff(m, "amira-berlin", "jmd-berlin")
    assert account["totp_enabled"] is True
    assert [s["slug"] for s in account["sites"]] == ["jmd-berlin"]

    status, body, _ = await api.login(m, "amira-berlin")
    assert status == 401 and body["code"] == "totp_required"
    code = api.code(secret)
    wrong = "000000" if code != "000000" else "111111"
    status, body, _ = await api.login(m, "amira-berlin", wrong)
    assert status == 401 and body["code"] == "totp_invalid"
    status, body, _ = await api.login(m, "amira-berlin", code[:3] + " " + code[3:])
    assert status == 200 and body["account"]["role"] == "counsellor"
    # A code works once: replaying it (e.g. seen over a shoulder) is refused.
    status, body, _ = await api.login(m, "amira-berlin", code)
    assert status == 401 and body["code"] == "totp_invalid"
    # A wrong password with a right code is still just "login failed".
    status, body, _ = await api.login(material("other"), "amira-berlin", api.code(secret))
    assert status == 401 and body["code"] == "login_failed"


async def test_staff_cannot_log_in_before_confirming_totp(api: Harness) -> None:
    m = material("lena")
    created = await api.accounts().create_invitation("counsellor", "jmd-trier")
    status, body, response = await api.post(
        f"/api/invitations/{created.token}/accept", m.accept_body("lena-trier", "Lena")
    )
    assert status == 200
    setup_cookie = session_cookie(response)
    # The setup session is good for nothing else.
    status, _, _ = await api.call("GET", "/api/auth/me", cookie=setup_cookie)
    assert status == 401
    status, body, _ = await api.login(m, "lena-trier", api.code(body["totp_secret"]))
    assert status == 401 and body["code"] == "totp_setup_required"


# --- rate limits ------------------------------------------------------------------------------


@pytest.fixture
async def strict_api(aiohttp_client: ClientMaker, sqlite_url: str, clock: FrozenClock
                     ) -> Harness:
    config = make_config(sqlite_url, security={"login_attempts_per_15min": 3})
    return await _harness(aiohttp_client, config, clock)


async def test_login_rate_limit_per_nickname(strict_api: Harness) -> None:
    api = strict_api
    m = material("lina")
    await api.register(m, "Lina")
    bad = material("other")
    for _ in range(3):
        status, body, _ = await api.login(bad, "Lina")
        assert status == 401
    status, body, _ = await api.login(m, "Lina")  # even the right key waits now
    assert status == 429 and body["code"] == "rate_limited"
    assert "15" in body["message"]

    # An unknown nickname behaves exactly the same, so a 429 reveals nothing.
    for _ in range(3):
        await api.login(bad, "Ghost")
    status, ghost, _ = await api.login(bad, "Ghost")
    assert status == 429 and ghost["code"] == "rate_limited"

    api.clock.advance(timedelta(minutes=15, seconds=1))
    status, body, _ = await api.login(m, "Lina")
    assert status == 200
    # Lock-outs in a row grow: the next one lasts 30 minutes.
    for _ in range(3):
        await api.login(bad, "Lina")
    api.clock.advance(timedelta(minutes=16))
    status, body, _ = await api.login(m, "Lina")
    assert status == 200  # the success above cleared the count: back to 15 minutes


async def test_login_rate_limit_is_translated(strict_api: Harness) -> None:
    api = strict_api
    for _ in range(3):
        await api.login(material("other"), "Ghost")
    status, de, _ = await api.call(
        "POST", "/api/auth/login", {"nickname": "Ghost", "auth_key": b64(bytes(32))},
        headers={"Cookie": "jmdchat_locale=de"},
    )
    status_en, en, _ = await api.call(
        "POST", "/api/auth/login", {"nickname": "Ghost", "auth_key": b64(bytes(32))},
        headers={"Cookie": "jmdchat_locale=en"},
    )
    assert status == status_en == 429
    assert de["code"] == en["code"] == "rate_limited"
    assert "{minutes}" not in de["message"] and "15" in en["message"]


async def test_login_rate_limit_per_source(strict_api: Harness) -> None:
    api = strict_api
    # 5 x the per-nickname limit from one address, spread over many nicknames.
    for index in range(15):
        status, _, _ = await api.login(material("other"), f"ghost-{index}")
        assert status == 401
    status, body, _ = await api.login(material("other"), "fresh-name")
    assert status == 429 and body["code"] == "rate_limited"
    api.clock.advance(timedelta(minutes=15))
    status, _, _ = await api.login(material("other"), "fresh-name")
    assert status == 401


# --- sessions ---------------------------------------------------------------------------------


async def test_session_expires_after_the_configured_hours(api: Harness) -> None:
    cookie = await api.register(material("lina"), "Lina")
    api.clock.advance(timedelta(hours=12) - timedelta(seconds=1))
    assert (await api.call("GET", "/api/auth/me", cookie=cookie))[0] == 200
    api.clock.advance(timedelta(seconds=1))
    status, body, _ = await api.call("GET", "/api/auth/me", cookie=cookie)
    assert status == 401 and body["code"] == "unauthorized"


async def test_logout_ends_the_session_and_clears_the_cookie(api: Harness) -> None:
    cookie = await api.register(material("lina"), "Lina")
    status, body, response = await api.post("/api/auth/logout", {}, cookie)
    assert status == 200 and body == {"ok": True}
    header = set_cookie_header(response)
    assert f"{COOKIE}=\"\"" in header or f"{COOKIE}=;" in header
    assert "Max-Age=0" in header or "expires=" in header.lower()
    assert (await api.call("GET", "/api/auth/me", cookie=cookie))[0] == 401


@pytest.mark.parametrize(("public_url", "secure"), [("https://chat.example.org", True),
                                                    ("http://127.0.0.1:8080", False)])
async def test_cookie_flags(aiohttp_client: ClientMaker, sqlite_url: str, clock: FrozenClock,
                            public_url: str, secure: bool) -> None:
    config = make_config(sqlite_url, server={"public_url": public_url})
    api = await _harness(aiohttp_client, config, clock)
    _, _, response = await api.post("/api/auth/register", material("lina").register_body("Lina"))
    header = set_cookie_header(response)
    parts = {p.strip().split("=")[0].lower() for p in header.split(";")}
    assert "httponly" in parts
    assert "samesite=strict" in header.lower()
    assert "path=/" in header.lower()
    assert ("secure" in parts) is secure
    assert "max-age=43200" in header.lower()


# --- password change, recovery, deletion ------------------------------------------------------


async def test_password_change_rewraps_and_ends_other_sessions(api: Harness) -> None:
    old = material("lina")
    new = new_password_for("lina", "Ein ganz neues Passwort für Lina")
    first = await api.register(old, "Lina")
    _, _, response = await api.login(old, "Lina")
    second = session_cookie(response)

    status, body, _ = await api.post(
        "/api/auth/password", {**new.password_fields(), "current_auth_key": b64(old.auth_key)},
        first,
    )
    assert status == 200 and body == {"ok": True}
    assert (await api.call("GET", "/api/auth/me", cookie=first))[0] == 200
    assert (await api.call("GET", "/api/auth/me", cookie=second))[0] == 401

    status, body, _ = await api.login(old, "Lina")
    assert status == 401 and body["code"] == "login_failed"
    _, pre, _ = await api.post("/api/auth/prelogin", {"nickname": "Lina"})
    assert b64url_decode(pre["salt"]) == new.salt
    status, body, _ = await api.login(new, "Lina")
    assert status == 200
    # Same identity, new wrapping.
    opened = unwrap_identity(b64url_decode(body["key_blob"]), new.wrap_key, "password")
    assert opened.x25519_public == old.identity.x25519_public


async def test_password_change_needs_the_current_key(api: Harness) -> None:
    cookie = await api.register(material("lina"), "Lina")
    new = new_password_for("lina", "Ein ganz neues Passwort für Lina")
    status, body, _ = await api.post(
        "/api/auth/password",
        {**new.password_fields(), "current_auth_key": b64(material("other").auth_key)}, cookie,
    )
    assert status == 403 and body["code"] == "wrong_password"
    status, body, _ = await api.post(
        "/api/auth/password", {**new.password_fields(), "current_auth_key": b64(bytes(32))}
    )
    assert status == 401 and body["code"] == "unauthorized"


async def test_recovery_start_and_finish(api: Harness) -> None:
    old = material("lina")
    new = new_password_for("lina", "Nach der Wiederherstellung neu")
    cookie = await api.register(old, "Lina")

    unknown_status, unknown, _ = await api.post(
        "/api/auth/recovery/start",
        {"nickname": "Ghost", "recovery_auth_key": b64(old.recovery_auth_key)},
    )
    wrong_status, wrong, _ = await api.post(
        "/api/auth/recovery/start",
        {"nickname": "Lina", "recovery_auth_key": b64(material("other").recovery_auth_key)},
    )
    assert unknown_status == wrong_status == 401 and unknown == wrong
    assert wrong["code"] == "recovery_failed"

    status, body, _ = await api.post(
        "/api/auth/recovery/start",
        {"nickname": "lina", "recovery_auth_key": b64(old.recovery_auth_key)},
    )
    assert status == 200
    opened = unwrap_identity(
        b64url_decode(body["recovery_blob"]), old.recovery_wrap_key, "recovery"
    )
    assert opened.ed25519_public == old.identity.ed25519_public
    token = body["recovery_token"]

    finish = {"recovery_token": token, **new.password_fields()}
    status, body, response = await api.post("/api/auth/recovery/finish", finish)
    assert status == 200 and body["account"]["nickname"] == "Lina"
    assert (await api.call("GET", "/api/auth/me", cookie=session_cookie(response)))[0] == 200
    assert (await api.call("GET", "/api/auth/me", cookie=cookie))[0] == 401  # old session ended
    assert (await api.login(old, "Lina"))[0] == 401
    assert (await api.login(new, "Lina"))[0] == 200
    # Single use.
    status, body, _ = await api.post("/api/auth/recovery/finish", finish)
    assert status == 401 and body["code"] == "recovery_expired"


async def test_recovery_token_expires_after_ten_minutes(api: Harness) -> None:
    old = material("lina")
    await api.register(old, "Lina")
    _, body, _ = await api.post(
        "/api/auth/recovery/start",
        {"nickname": "Lina", "recovery_auth_key": b64(old.recovery_auth_key)},
    )
    api.clock.advance(timedelta(minutes=10))
    new = new_password_for("lina", "Nach der Wiederherstellung neu")
    status, answer, _ = await api.post(
        "/api/auth/recovery/finish", {"recovery_token": body["recovery_token"],
                                      **new.password_fields()},
    )
    assert status == 401 and answer["code"] == "recovery_expired"
    assert (await api.login(old, "Lina"))[0] == 200


async def test_staff_recovery_needs_the_totp_code(api: Harness) -> None:
    m = material("amira")
    _cookie, secret, _ = await api.staff(m, "amira-berlin", "jmd-berlin")
    start = {"nickname": "amira-berlin", "recovery_auth_key": b64(m.recovery_auth_key)}
    status, body, _ = await api.post("/api/auth/recovery/start", start)
    assert status == 401 and body["code"] == "totp_required"
    status, body, _ = await api.post("/api/auth/recovery/start", {**start, "totp_code": "12"})
    assert status == 401 and body["code"] == "totp_invalid"
    status, body, _ = await api.post(
        "/api/auth/recovery/start", {**start, "totp_code": api.code(secret)}
    )
    assert status == 200 and body["recovery_token"]


async def test_delete_account_removes_everything(api: Harness) -> None:
    m = material("lina")
    cookie = await api.register(m, "Lina")
    _, me, _ = await api.call("GET", "/api/auth/me", cookie=cookie)
    account_id = me["account"]["id"]

    status, body, _ = await api.call(
        "DELETE", "/api/account", {"auth_key": b64(material("other").auth_key)}, cookie
    )
    assert status == 403 and body["code"] == "wrong_password"
    status, body, response = await api.call(
        "DELETE", "/api/account", {"auth_key": b64(m.auth_key)}, cookie
    )
    assert status == 200 and body == {"ok": True}
    assert "Max-Age=0" in set_cookie_header(response) or "expires" in set_cookie_header(response)
    assert (await api.call("GET", "/api/auth/me", cookie=cookie))[0] == 401
    assert (await api.login(m, "Lina"))[0] == 401
    _, pre, _ = await api.post("/api/auth/prelogin", {"nickname": "Lina"})
    assert b64url_decode(pre["salt"]) != m.salt
    # No row anywhere still names the account.
    assert await rows_containing(api.app[CONFIG].database.url, [account_id.encode()]) == []
    # The nickname is free again.
    await api.register(material("lina-2"), "Lina")


# --- invitations ------------------------------------------------------------------------------


async def test_invitation_info_accept_and_expiry(api: Harness) -> None:
    created = await api.accounts().create_invitation("site_lead", "jmd-berlin", "Jonas")
    status, body, _ = await api.call("GET", f"/api/invitations/{created.token}")
    assert status == 200
    assert body["role"] == "site_lead" and body["site"]["slug"] == "jmd-berlin"
    assert body["expires_at"] == "2026-01-08T09:00:00Z"  # 72 h after the frozen "now"

    unknown_status, unknown, _ = await api.call("GET", "/api/invitations/" + "A" * 43)
    garbage_status, garbage, _ = await api.call("GET", "/api/invitations/nonsense")
    assert unknown_status == garbage_status == 404
    assert unknown == garbage and unknown["code"] == "invitation_invalid"

    m = material("jonas")
    status, accepted, response = await api.post(
        f"/api/invitations/{created.token}/accept", m.accept_body("jonas-berlin", "")
    )
    assert status == 200
    assert accepted["account"]["role"] == "site_lead"
    assert accepted["account"]["display_name"] == "Jonas"  # from the invitation
    assert accepted["otpauth_uri"].startswith("otpauth://totp/jmdchat:jonas-berlin?")
    assert len(totp_secret_from_base32(accepted["totp_secret"])) == 20
    setup = session_cookie(response)

    status, body, _ = await api.post("/api/auth/totp/confirm", {"code": "123"}, setup)
    assert status == 401 and body["code"] == "totp_invalid"
    status, body, response = await api.post(
        "/api/auth/totp/confirm", {"code": api.code(accepted["totp_secret"])}, setup
    )
    assert status == 200 and body["account"]["totp_enabled"] is True
    full = session_cookie(response)
    assert full != setup
    assert (await api.call("GET", "/api/auth/me", cookie=full))[0] == 200
    # Used up.
    assert (await api.call("GET", f"/api/invitations/{created.token}"))[0] == 404

    late = await api.accounts().create_invitation("counsellor", "jmd-trier")
    api.clock.advance(timedelta(hours=72))
    status, body, _ = await api.call("GET", f"/api/invitations/{late.token}")
    assert status == 404 and body == unknown
    status, body, _ = await api.post(
        f"/api/invitations/{late.token}/accept", material("lena").accept_body("lena-trier")
    )
    assert status == 404 and body["code"] == "invitation_invalid"


async def test_accepting_again_replaces_an_unfinished_account(api: Harness) -> None:
    created = await api.accounts().create_invitation("counsellor", "jmd-trier")
    path = f"/api/invitations/{created.token}/accept"
    status, first, _ = await api.post(path, material("lena").accept_body("lena-trier"))
    assert status == 200
    status, second, response = await api.post(path, material("lena-2").accept_body("lena-trier"))
    assert status == 200 and second["account"]["id"] != first["account"]["id"]
    status, body, _ = await api.post(
        "/api/auth/totp/confirm", {"code": api.code(second["totp_secret"])},
        session_cookie(response),
    )
    assert status == 200
    status, body, _ = await api.post(path, material("lena-3").accept_body("lena-trier-3"))
    assert status == 404 and body["code"] == "invitation_invalid"


async def test_admin_invitation_pins_the_nickname(api: Harness) -> None:
    created = await api.accounts().create_invitation("admin", None, nickname="Admin")
    status, body, _ = await api.call("GET", f"/api/invitations/{created.token}")
    assert body["site"] is None and body["role"] == "admin" and body["nickname"] == "Admin"
    status, body, _ = await api.post(
        f"/api/invitations/{created.token}/accept", material("admin").accept_body("someone")
    )
    assert status == 400 and body["code"] == "nickname_mismatch"
    status, body, _ = await api.post(
        f"/api/invitations/{created.token}/accept", material("admin").accept_body("admin")
    )
    assert status == 200 and body["account"]["role"] == "admin"  # reserved, but pinned


# --- site keys and certificates ---------------------------------------------------------------


async def test_site_keys_certificates_and_sealing(
    aiohttp_client: ClientMaker, sqlite_url: str, clock: FrozenClock
) -> None:
    org_seed = prim.random_bytes(32)
    org_public = prim.ed25519_public(org_seed)
    config = make_config(sqlite_url, security={"org_public_key": b64url_encode(org_public)})
    api = await _harness(aiohttp_client, config, clock)
    sessions = api.app[SESSIONS]

    status, body, _ = await api.call("GET", "/api/keys/org")
    assert status == 200 and body["public_key"] == b64url_encode(org_public)

    lead_m, amira_m = material("jonas"), material("amira")
    lead, lead_secret, lead_account = await api.staff(lead_m, "jonas-berlin", "jmd-berlin",
                                                      "site_lead")
    berlin_id = lead_account["sites"][0]["id"]
    status, body, _ = await api.call("GET", "/api/me/certificate", cookie=lead)
    assert status == 200 and body["certificate"] is None

    # The lead's client makes site key version 1 and seals it to itself.
    site_key = create_site_key(berlin_id, 1)
    status, body, _ = await api.post(
        f"/api/sites/{berlin_id}/keys",
        {"x25519_public": b64(site_key.keys.x25519_public),
         "ed25519_public": b64(site_key.keys.ed25519_public),
         "sealed": b64(seal_site_key(site_key, lead_m.identity.x25519_public))},
        lead,
    )
    assert status == 201 and body["version"] == 1
    young = await api.register(material("lina"), "Lina")
    _, body, _ = await api.call("GET", f"/api/sites/{berlin_id}/keys", cookie=young)
    assert body["keys"] == []  # not certified yet: not handed out

    amira, _secret, amira_account = await api.staff(amira_m, "amira-berlin", "jmd-berlin")
    # The operator signs (what `jmdchat certify --pending` does).
    pending = await find_pending(sessions, clock.now())
    assert {p.kind for p in pending} == {"site", "counsellor"} and len(pending) == 3
    await store_certificates(sessions, org_seed, pending, clock.now())

    now = int(clock.now().timestamp())
    status, body, _ = await api.call("GET", f"/api/sites/{berlin_id}/keys", cookie=young)
    assert status == 200
    [key] = body["keys"]
    assert key["version"] == 1 and key["active"] is True
    cert = json.loads(b64url_decode(key["certificate"]))
    site_cert = verify_certificate(cert, org_public, now, kind="site", subject=berlin_id)
    assert b64url_encode(site_cert.x25519_public) == key["x25519_public"]

    _, body, _ = await api.call("GET", "/api/me/certificate", cookie=amira)
    verify_certificate(json.loads(b64url_decode(body["certificate"])), org_public, now,
                       kind="counsellor", subject=amira_account["id"], site_id=berlin_id)

    # Amira has no box yet; the lead's client seals the site key to her certified key.
    _, body, _ = await api.call("GET", "/api/me/site-keys", cookie=amira)
    assert body["sealed"] == []
    seal = {"account_id": amira_account["id"], "version": 1,
            "sealed": b64(seal_site_key(site_key, amira_m.identity.x25519_public))}
    status, body, _ = await api.post(f"/api/sites/{berlin_id}/keys/seal", seal, amira)
    assert status == 403  # Amira does not hold the key herself
    status, body, _ = await api.post(f"/api/sites/{berlin_id}/keys/seal", seal, lead)
    assert status == 200
    _, body, _ = await api.call("GET", "/api/me/site-keys", cookie=amira)
    [box] = body["sealed"]
    assert box["site_id"] == berlin_id and box["version"] == 1
    opened = open_site_key(b64url_decode(box["sealed"]), amira_m.identity.x25519_private,
                           parse_certificate(cert))
    assert opened.keys.ed25519_public == site_key.keys.ed25519_public

    # A counsellor of another site sees nothing of Berlin's keys; young people cannot seal.
    trier, _s, trier_account = await api.staff(material("lena"), "lena-trier", "jmd-trier")
    assert (await api.call("GET", f"/api/sites/{berlin_id}/keys", cookie=trier))[0] == 403
    assert (await api.post(f"/api/sites/{berlin_id}/keys/seal", seal, young))[0] == 403
    assert (await api.call("GET", "/api/me/site-keys", cookie=young))[0] == 403
    # Sealing to someone without a valid certificate is refused.
    status, body, _ = await api.post(
        f"/api/sites/{berlin_id}/keys/seal", {**seal, "account_id": trier_account["id"]}, lead
    )
    assert status == 404  # not a member of Berlin
    del lead_secret


async def test_sealing_needs_a_valid_certificate(
    aiohttp_client: ClientMaker, sqlite_url: str, clock: FrozenClock
) -> None:
    org_seed = prim.random_bytes(32)
    config = make_config(
        sqlite_url, security={"org_public_key": b64url_encode(prim.ed25519_public(org_seed))}
    )
    api = await _harness(aiohttp_client, config, clock)
    lead_m = material("jonas")
    lead, lead_secret, lead_account = await api.staff(lead_m, "jonas-berlin", "jmd-berlin",
                                                      "site_lead")
    berlin_id = lead_account["sites"][0]["id"]
    site_key = create_site_key(berlin_id, 1)
    await api.post(
        f"/api/sites/{berlin_id}/keys",
        {"x25519_public": b64(site_key.keys.x25519_public),
         "ed25519_public": b64(site_key.keys.ed25519_public),
         "sealed": b64(seal_site_key(site_key, lead_m.identity.x25519_public))},
        lead,
    )
    await store_certificates(api.app[SESSIONS], org_seed,
                             await find_pending(api.app[SESSIONS], clock.now()), clock.now(),
                             days=30)
    amira_m = material("amira")
    _amira, _s, amira_account = await api.staff(amira_m, "amira-berlin", "jmd-berlin")
    seal = {"account_id": amira_account["id"], "version": 1,
            "sealed": b64(seal_site_key(site_key, amira_m.identity.x25519_public))}
    status, body, _ = await api.post(f"/api/sites/{berlin_id}/keys/seal", seal, lead)
    assert status == 409 and body["code"] == "not_certified"  # joined after the signing
    await store_certificates(api.app[SESSIONS], org_seed,
                             await find_pending(api.app[SESSIONS], clock.now()), clock.now(),
                             days=30)
    status, body, _ = await api.post(f"/api/sites/{berlin_id}/keys/seal", seal, lead)
    assert status == 200
    # Once the certificate expired, nobody seals to that key any more.
    clock.advance(timedelta(days=30))
    status, body, response = await api.login(lead_m, "jonas-berlin", api.code(lead_secret))
    assert status == 200
    status, body, _ = await api.post(
        f"/api/sites/{berlin_id}/keys/seal", seal, session_cookie(response)
    )
    assert status == 409 and body["code"] == "not_certified"


# --- what the database holds ------------------------------------------------------------------


async def rows_containing(url: str, needles: list[bytes]) -> list[str]:
    """Every (table.column) whose value contains one of `needles` (bytes or their text)."""
    found: list[str] = []
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
            for table in tables:
                result = await connection.execute(text(f'SELECT * FROM "{table}"'))
                for row in result.mappings():
                    for column, value in row.items():
                        if value is None:
                            continue
                        raw = value if isinstance(value, bytes) else str(value).encode()
                        text_value = raw.lower()
                        for needle in needles:
                            if needle in raw or needle.lower() in text_value:
                                found.append(f"{table}.{column}")
    finally:
        await engine.dispose()
    return found


def _spellings(secret: bytes) -> list[bytes]:
    import base64

    return [
        secret, secret.hex().encode(), b64url_encode(secret).encode(),
        base64.b64encode(secret).rstrip(b"="), base64.b32encode(secret).rstrip(b"="),
    ]


async def test_database_never_holds_passwords_auth_keys_or_recovery_codes(api: Harness) -> None:
    old = material("lina")
    new = new_password_for("lina", "Ein ganz neues Passwort für Lina")
    staff_m = material("amira")
    cookie = await api.register(old, "Lina")
    await api.login(old, "Lina")
    await api.post("/api/auth/password",
                   {**new.password_fields(), "current_auth_key": b64(old.auth_key)}, cookie)
    await api.post("/api/auth/recovery/start",
                   {"nickname": "Lina", "recovery_auth_key": b64(new.recovery_auth_key)})
    _staff_cookie, secret_b32, _ = await api.staff(staff_m, "amira-berlin", "jmd-berlin")
    await api.login(staff_m, "amira-berlin", api.code(secret_b32))

    needles: list[bytes] = []
    for m in (old, new, staff_m):
        needles.append(m.password.encode())
        needles.append(m.recovery_code.encode())
        needles.append(m.recovery_code.replace("-", "").encode())
        for secret in (m.auth_key, m.wrap_key, m.recovery_auth_key, m.recovery_wrap_key,
                       parse_recovery_code(m.recovery_code), m.identity.x25519_private,
                       m.identity.ed25519_private):
            needles.extend(_spellings(secret))
    totp_secret = totp_secret_from_base32(secret_b32)
    needles.extend(_spellings(totp_secret))
    needles.append(secret_b32.encode())
    url = api.app[CONFIG].database.url
    assert await rows_containing(url, needles) == []

    # ...while it does hold what it should: hashes, salts, opaque blobs.
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            row = (await connection.execute(
                select(Account.auth_hash, Account.key_blob).where(Account.nickname == "Lina")
            )).one()
    finally:
        await engine.dispose()
    assert row.auth_hash.startswith("scrypt$") and bytes(row.key_blob) == new.key_blob
    assert {t.name for t in Base.metadata.sorted_tables} >= {"accounts", "auth_sessions"}


async def test_boot_data_has_the_org_public_key(
    aiohttp_client: ClientMaker, sqlite_url: str, clock: FrozenClock
) -> None:
    org_public = b64url_encode(prim.ed25519_public(prim.random_bytes(32)))
    config = make_config(sqlite_url, security={"org_public_key": org_public})
    api = await _harness(aiohttp_client, config, clock)
    page = await (await api.client.get("/")).text()
    assert f'"orgPublicKey":"{org_public}"' in page


@pytest.mark.parametrize(("mode", "served"), [("development", True), ("production", False)])
async def test_org_key_falls_back_to_the_demo_file_in_development_only(
    aiohttp_client: ClientMaker, sqlite_url: str, clock: FrozenClock, tmp_path: Any,
    mode: str, served: bool,
) -> None:
    public = b64url_encode(prim.ed25519_public(prim.random_bytes(32)))
    (tmp_path / "org-public-key").write_text(public + "\n", encoding="ascii")
    config = make_config(sqlite_url, server={"mode": mode, "data_dir": str(tmp_path)})
    api = await _harness(aiohttp_client, config, clock)
    status, body, _ = await api.call("GET", "/api/keys/org")
    if served:
        assert status == 200 and body["public_key"] == public
    else:
        assert status == 404 and body["code"] == "org_key_missing"
