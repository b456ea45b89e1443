"""Web security (issue #8): Content-Security-Policy on every HTML response, session cookie
flags, CSRF (foreign Origin, form-encoded bodies), the Origin check of socket.io connections,
no cross-origin reads, and answers that do not reveal whether a nickname exists.

Against a real server on a real port with real accounts (tests/security_support.py); the
routes are enumerated from the app at test time, so a new endpoint is covered without
touching this file. The browser side (no user content ever becomes HTML) is
tests/browser/test_xss.py.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.crypto import primitives as prim
from server.keys import SESSIONS
from server.services.clock import FrozenClock
from tests.account_material import add_site, b64, material
from tests.conftest import make_config
from tests.security_support import (
    COOKIE,
    SLUG_X,
    SecurityWorld,
    fresh_identity_fields,
    security_world,
    sqlite_copy,
    unique,
)
from tests.transport.test_authorization_matrix import enumerate_http_routes

pytestmark = pytest.mark.asyncio(loop_scope="module")
EVIL = "https://evil.example"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[SecurityWorld]:
    url = sqlite_copy(sqlite_template, tmp_path_factory.mktemp("websec") / "websec.db")
    async with security_world(url) as built:
        yield built


def concrete(world: SecurityWorld, canonical: str) -> str:
    """A real path for a route pattern."""
    values = {"{locale}": "de", "{slug}": SLUG_X, "{site_id}": world.site_x,
              "{token}": world.invitation_token, "{key}": "school"}
    values.setdefault("{account_id}", world.actors["counsellor_x"].account_id)  # team (#3, #9)
    values.setdefault("{report_id}", "00000000-0000-4000-8000-000000000000")  # moderation (#8)
    for name, value in values.items():
        canonical = canonical.replace(name, value)
    assert "{" not in canonical, f"add a value for the parameter of {canonical}"
    return canonical


# =============================================================================================
# Content-Security-Policy and the HTML itself
# =============================================================================================


def policy(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def check_csp(header: str | None) -> None:
    assert header, "no Content-Security-Policy"
    directives = policy(header)
    scripts = directives.get("script-src", directives.get("default-src"))
    assert scripts is not None, header
    assert directives.get("default-src") == ["'self'"], header
    for source in scripts:
        assert source not in ("'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'",
                              "'wasm-unsafe-eval'", "*", "data:", "blob:", "http:", "https:"), (
            f"script-src allows {source}"
        )
    assert "'unsafe-eval'" not in header and "'unsafe-inline'" not in header, header
    assert directives.get("object-src") == ["'none'"], header
    assert directives.get("base-uri") == ["'none'"], header
    assert directives.get("frame-ancestors") == ["'none'"], header
    assert directives.get("form-action") == ["'self'"], header


class ScriptAudit(HTMLParser):
    """Finds what a CSP without 'unsafe-inline' would block and what must not be there."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name, value in attrs:
            if name.lower().startswith("on"):
                self.problems.append(f"inline event handler {name} on <{tag}>")
            if value and value.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {name} of <{tag}>")
        if tag == "script":
            kind = (values.get("type") or "").lower()
            if values.get("src"):
                if re.match(r"^(https?:)?//", values["src"] or ""):
                    self.problems.append(f"script from another origin: {values['src']}")
                self._in_script = None
            elif kind == "application/json":
                self._in_script = "data"
            else:
                self._in_script = "inline"
                self.problems.append("inline <script> (executable)")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = None


def html_routes(world: SecurityWorld) -> list[str]:
    return sorted(
        concrete(world, route.split(" ", 1)[1])
        for route in enumerate_http_routes(world.app) if route.startswith("GET ")
        and not route.endswith("/socket.io/")
    )


async def test_every_response_carries_the_security_headers(world: SecurityWorld) -> None:
    """Every GET route (and an unknown path): CSP and its companions, HTML or not."""
    for path in [*html_routes(world), "/no/such/page", "/static/src/none.js"]:
        response = await world.request("GET", path, role="young_a")
        check_csp(response.headers.get("Content-Security-Policy"))
        assert response.headers.get("X-Content-Type-Options") == "nosniff", path
        assert response.headers.get("X-Frame-Options") == "DENY", path
        assert response.headers.get("Referrer-Policy") == "no-referrer", path


async def test_html_has_no_inline_script_and_no_unsafe_csp(world: SecurityWorld) -> None:
    """Every route that answers with HTML (today the single page, in every locale)."""
    pages = 0
    for path in html_routes(world):
        for locale in world.config.i18n.locales:
            response = await world.request("GET", path, role="young_a",
                                           headers={"Cookie": f"jmdchat_locale={locale}"})
            if not response.headers.get("Content-Type", "").startswith("text/html"):
                break
            pages += 1
            check_csp(response.headers.get("Content-Security-Policy"))
            audit = ScriptAudit()
            audit.feed(response.body)
            assert not audit.problems, (path, locale, audit.problems)
    assert pages >= len(world.config.i18n.locales), "no HTML page found to check"


async def test_the_boot_data_cannot_smuggle_markup(world: SecurityWorld) -> None:
    """The JSON data block must not contain "<" (so `</script>` cannot end it)."""
    response = await world.request("GET", "/")
    block = re.search(r'<script type="application/json" id="boot">(.*?)</script>',
                      response.body, re.S)
    assert block is not None
    assert "<" not in block.group(1)


# =============================================================================================
# Cookies
# =============================================================================================


def session_set_cookies(response: Any) -> list[str]:
    return [value for value in response.headers.getall("Set-Cookie", [])
            if value.startswith(f"{COOKIE}=")]


def check_cookie(header: str, *, secure: bool, cleared: bool = False) -> None:
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip()
                  for part in header.split(";")[1:]}
    assert "httponly" in attributes, header
    assert attributes.get("samesite", "").lower() == "samesite=strict", header
    assert attributes.get("path") == "Path=/", header
    assert ("secure" in attributes) == secure, header
    assert "domain" not in attributes, header  # host-only
    if not cleared:
        assert re.match(rf"{COOKIE}=[A-Za-z0-9_-]{{43}}$", header.split(";")[0]), header


async def _flows(world: SecurityWorld) -> list[tuple[str, str, bool]]:
    """Every answer that sets or clears the session cookie: (what, Set-Cookie, cleared)."""
    out: list[tuple[str, str, bool]] = []
    m = material("websec-cookie")
    nickname = unique("cookie")
    registered = await world.request("POST", "/api/auth/register", json=m.register_body(nickname))
    out += [("register", h, False) for h in session_set_cookies(registered)]
    logged_in = await world.request("POST", "/api/auth/login",
                                    json={"nickname": nickname, "auth_key": b64(m.auth_key)})
    out += [("login", h, False) for h in session_set_cookies(logged_in)]
    token = logged_in.cookies[COOKIE].value
    logged_out = await world.request("POST", "/api/auth/logout", token=token, json={})
    out += [("logout", h, True) for h in session_set_cookies(logged_out)]
    invitation = await world.accounts().create_invitation("counsellor", SLUG_X, "Neu")
    accepted = await world.request("POST", f"/api/invitations/{invitation.token}/accept",
                                   json={**fresh_identity_fields(unique("staff")),
                                         "display_name": "Neu"})
    out += [("invitation accept", h, False) for h in session_set_cookies(accepted)]
    return out


async def test_session_cookie_flags_over_http(world: SecurityWorld) -> None:
    flows = await _flows(world)
    assert {what for what, _h, _c in flows} == {"register", "login", "logout",
                                                 "invitation accept"}
    for what, header, cleared in flows:
        check_cookie(header, secure=False, cleared=cleared)
        assert what  # (named in the assertion message above when it fails)


@pytest.mark.parametrize("public_url", ["https://chat.example.org", "http://127.0.0.1:8080"])
async def test_cookie_is_secure_behind_https(sqlite_url: str, public_url: str) -> None:
    config = make_config(sqlite_url, server={"public_url": public_url,
                                             "allowed_origins": (public_url,)})
    app = create_app(config, clock=FrozenClock(), worker=1)
    async with TestClient(TestServer(app), cookie_jar=DummyCookieJar()) as client:
        await add_site(app[SESSIONS], "jmd-secure")
        m = material("websec-secure")
        response = await client.post("/api/auth/register", json=m.register_body("Sicher"),
                                     headers={"Origin": public_url})
        assert response.status == 201, await response.text()
        [header] = session_set_cookies(response)
        check_cookie(header, secure=public_url.startswith("https://"))
        logout = await client.post(
            "/api/auth/logout", json={},
            headers={"Origin": public_url, "Cookie": f"{COOKIE}={response.cookies[COOKIE].value}"},
        )
        [cleared] = session_set_cookies(logout)
        check_cookie(cleared, secure=public_url.startswith("https://"), cleared=True)


# =============================================================================================
# CSRF: every state-changing endpoint, enumerated
# =============================================================================================


def unsafe_api_routes(world: SecurityWorld) -> list[tuple[str, str]]:
    routes = []
    for route in sorted(enumerate_http_routes(world.app)):
        method, canonical = route.split(" ", 1)
        if method in {"POST", "PUT", "PATCH", "DELETE"} and canonical.startswith("/api/"):
            routes.append((method, concrete(world, canonical)))
    assert routes, "no state-changing endpoints found"
    return routes


async def test_a_foreign_origin_is_refused_everywhere(world: SecurityWorld) -> None:
    """With the victim's cookie (as a browser would attach it if SameSite failed) and a
    perfectly valid JSON body: refused before anything is read or written."""
    for method, path in unsafe_api_routes(world):
        for origin in (EVIL, "null", world.url + ".evil.example", "http://127.0.0.1"):
            before = await world.row_counts()
            response = await world.request(method, path, role="lead_x", json={},
                                           headers={"Origin": origin})
            assert (response.status, response.body["code"]) == (403, "bad_origin"), (
                method, path, origin, response.body,
            )
            assert await world.row_counts() == before


FORM_BODIES = [
    ("application/x-www-form-urlencoded", b"nickname=evil&auth_key=AAAA"),
    ("multipart/form-data; boundary=xyz",
     b'--xyz\r\nContent-Disposition: form-data; name="nickname"\r\n\r\nevil\r\n--xyz--\r\n'),
    ("text/plain", b'{"nickname": "evil", "auth_key": "AAAA"}'),  # a JSON-looking text/plain
    ("", b'{"nickname": "evil"}'),
]


async def test_bodies_a_cross_site_form_can_send_are_refused(world: SecurityWorld) -> None:
    """What an HTML form or a no-cors fetch can send cross-site without a preflight: never
    accepted, also with the session cookie and without any Origin header (old browsers)."""
    for method, path in unsafe_api_routes(world):
        for content_type, body in FORM_BODIES:
            for origin in (None, world.url):
                before = await world.row_counts()
                headers = {"Content-Type": content_type} if content_type else {}
                session = aiohttp.ClientSession(cookie_jar=DummyCookieJar(),
                                                skip_auto_headers=["Content-Type"])
                try:
                    if origin:
                        headers["Origin"] = origin
                    headers["Cookie"] = f"{COOKIE}={world.actors['lead_x'].token}"
                    async with session.request(method, world.url + path, data=body,
                                               headers=headers) as response:
                        status, answer = response.status, await response.json()
                finally:
                    await session.close()
                assert status in (400, 401, 403, 415), (method, path, content_type, status)
                assert answer["ok"] is False, answer
                assert await world.row_counts() == before, (method, path, content_type)


async def test_no_cross_origin_reads(world: SecurityWorld) -> None:
    """No CORS: a foreign page can neither read an answer nor pass a preflight."""
    for path in ("/api/auth/me", "/api/me/site-keys", "/api/sites"):
        response = await world.request("GET", path, role="counsellor_x",
                                       headers={"Origin": EVIL})
        assert "Access-Control-Allow-Origin" not in response.headers, path
        assert "Access-Control-Allow-Credentials" not in response.headers, path
    preflight = await world.request("OPTIONS", "/api/auth/password", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    })
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert preflight.status >= 400


# =============================================================================================
# socket.io: the Origin of the websocket handshake
# =============================================================================================


async def _websocket(world: SecurityWorld, origin: str | None) -> int | None:
    """Open the socket.io websocket with a valid session: None when accepted, else the
    HTTP status of the refusal."""
    headers = {"Cookie": f"{COOKIE}={world.actors['young_a'].token}"}
    if origin is not None:
        headers["Origin"] = origin
    try:
        ws = await world.http.ws_connect(
            world.url + "/socket.io/?EIO=4&transport=websocket", headers=headers)
    except aiohttp.WSServerHandshakeError as refused:
        return refused.status
    try:
        opened = await ws.receive(timeout=5)
        assert str(opened.data).startswith("0{")
        await ws.send_str("40")
        connected = await ws.receive(timeout=5)
        assert str(connected.data).startswith("40{"), connected
    finally:
        await ws.close()
    return None


@pytest.mark.parametrize("origin", [EVIL, "null", "http://127.0.0.1", "https://127.0.0.1"])
async def test_socket_io_refuses_a_foreign_origin(world: SecurityWorld, origin: str) -> None:
    """Cross-site websocket hijacking: the browser would send the victim's cookie along."""
    assert await _websocket(world, origin) == 400
    assert await world.connect_refused(world.actors["young_a"].token,
                                       headers={"Origin": origin})


async def test_socket_io_accepts_its_own_origin(world: SecurityWorld) -> None:
    assert await _websocket(world, world.url) is None
    assert await _websocket(world, None) is None  # not a browser: no cookie to abuse


# =============================================================================================
# Answers that do not reveal whether a nickname exists
# =============================================================================================


async def test_prelogin_answers_the_same_shape_for_unknown_nicknames(
    world: SecurityWorld,
) -> None:
    answers = {}
    for name in ("young_a", "counsellor_x", "admin"):
        nickname = world.actors[name].nickname
        answers[name] = await world.request("POST", "/api/auth/prelogin",
                                            json={"nickname": nickname.upper()})
    nobody = unique("nobody")
    unknown = await world.request("POST", "/api/auth/prelogin", json={"nickname": nobody})
    for response in (*answers.values(), unknown):
        assert response.status == 200
        assert set(response.body) == {"ok", "salt", "iterations"}
        assert response.body["iterations"] == answers["young_a"].body["iterations"]
        assert len(response.body["salt"]) == 22  # 16 bytes, base64url
        assert response.headers.get("Cache-Control") == "no-store"
    again = await world.request("POST", "/api/auth/prelogin", json={"nickname": nobody.upper()})
    assert again.body == unknown.body, "the fake salt must be stable, like a real one"


async def _same_failure(responses: list[Any], status: int, code: str) -> None:
    bodies = [(r.status, r.body) for r in responses]
    assert all(b == bodies[0] for b in bodies), bodies
    assert bodies[0][0] == status and bodies[0][1]["code"] == code, bodies[0]


async def test_login_failures_look_the_same(world: SecurityWorld) -> None:
    """Unknown nickname, wrong key of a young person, wrong key of staff without and with a
    TOTP code: one status, one code, one message (staff are not revealed by totp_required)."""
    wrong = b64(prim.random_bytes(32))
    attempts = [
        {"nickname": unique("nobody"), "auth_key": wrong},
        {"nickname": world.actors["young_a"].nickname, "auth_key": wrong},
        {"nickname": world.actors["counsellor_x"].nickname, "auth_key": wrong},
        {"nickname": world.actors["admin"].nickname, "auth_key": wrong, "totp_code": "123456"},
        {"nickname": unique("nobody"), "auth_key": wrong, "totp_code": "123456"},
    ]
    responses = [await world.request("POST", "/api/auth/login", json=body)
                 for body in attempts]
    await _same_failure(responses, 401, "login_failed")
    assert all(COOKIE not in r.cookies for r in responses)


async def test_recovery_failures_look_the_same(world: SecurityWorld) -> None:
    wrong = b64(prim.random_bytes(32))
    responses = [
        await world.request("POST", "/api/auth/recovery/start",
                            json={"nickname": nickname, "recovery_auth_key": wrong})
        for nickname in (unique("nobody"), world.actors["young_b"].nickname,
                         world.actors["lead_x"].nickname)
    ]
    await _same_failure(responses, 401, "recovery_failed")


async def test_invalid_invitations_look_the_same(world: SecurityWorld) -> None:
    """Unknown, used and expired invitation links: the same 404."""
    accounts = world.accounts()
    used = await accounts.create_invitation("counsellor", SLUG_X, "Used")
    accepted = await world.request("POST", f"/api/invitations/{used.token}/accept",
                                   json={**fresh_identity_fields(unique("staff")),
                                         "display_name": "Used"})
    assert accepted.status == 200
    expiring = await accounts.create_invitation("counsellor", SLUG_X, "Late")
    hours = world.config.security.invitation_hours
    world.clock.advance(timedelta(hours=hours, minutes=1))
    try:
        responses = [await world.request("GET", f"/api/invitations/{token}")
                     for token in ("A" * 43, used.token, expiring.token, "short")]
    finally:
        world.clock.advance(-timedelta(hours=hours, minutes=1))
    await _same_failure(responses, 404, "invitation_invalid")


async def test_a_taken_nickname_is_the_one_promised_disclosure(world: SecurityWorld) -> None:
    """Registration must say that a nickname is taken (the person has to pick another);
    the API promises exactly `409 nickname_taken`, case- and normalisation-insensitively, with
    the usual error shape and nothing about the account."""
    existing = world.actors["young_a"].nickname
    for variant in (existing, existing.upper(), f" {existing} "):
        response = await world.request("POST", "/api/auth/register", json={
            **fresh_identity_fields(variant), "age_group": None})
        assert response.status == 409, response.body
        assert set(response.body) == {"ok", "code", "message"}
        assert response.body["code"] == "nickname_taken"
        assert world.actors["young_a"].account_id not in str(response.body)
        assert COOKIE not in response.cookies


async def test_answers_with_secrets_are_not_cached(world: SecurityWorld) -> None:
    young_b = world.actors["young_b"]
    assert young_b.material is not None
    login = await world.request("POST", "/api/auth/login", json={
        "nickname": young_b.nickname, "auth_key": b64(young_b.material.auth_key)})
    assert login.status == 200 and "key_blob" in login.body
    assert login.headers.get("Cache-Control") == "no-store"
    for path in ("/api/auth/me", "/api/me/site-keys"):
        response = await world.request("GET", path, role="counsellor_x")
        assert response.headers.get("Cache-Control") == "no-store", path
    page = await world.request("GET", "/")
    assert page.headers.get("Cache-Control") == "no-store"

