"""Helpers for the account browser tests: drive the account screens like a person does, read
what the page keeps in IndexedDB, and create accounts through the HTTP API (with the Python
implementation of the protocol) when a test only needs an account to exist."""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from server.crypto.encoding import b64url_encode
from server.crypto.keys import (
    derive_password_keys,
    derive_recovery_keys,
    fingerprint,
    generate_identity,
    generate_recovery_code,
    new_kdf_params,
    wrap_identity,
)
from tests.conftest import LiveServer

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Key derivation with 600 000 PBKDF2 iterations takes a moment: allow for a slow CI machine.
SLOW_MS = 60_000

RUN_AXE = """
async (tags) => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: tags }, resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 5).map((n) => n.target.join(" ") + " :: " + n.failureSummary),
  }));
}
"""

# Every identity this page keeps in IndexedDB, with what we want to know about its keys.
READ_KEYSTORE = """
async () => {
  // Never create the database here: if it does not exist yet, abort the upgrade.
  const db = await new Promise((resolve) => {
    const req = indexedDB.open("jmdchat");
    req.onupgradeneeded = () => req.transaction.abort();
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => resolve(null);
  });
  if (!db) return [];
  if (!db.objectStoreNames.contains("identities")) { db.close(); return []; }
  const records = await new Promise((resolve, reject) => {
    const req = db.transaction("identities", "readonly").objectStore("identities").getAll();
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
  db.close();
  const describe = (key) => ({
    isCryptoKey: key instanceof CryptoKey,
    extractable: key ? key.extractable : null,
    type: key ? key.type : null,
    algorithm: key ? key.algorithm.name : null,
    usages: key ? [...key.usages] : [],
  });
  const exportable = async (key) => {
    try { await crypto.subtle.exportKey("pkcs8", key); return true; } catch { return false; }
  };
  const out = [];
  for (const r of records) {
    out.push({
      accountId: r.accountId,
      nickname: r.nickname,
      x25519Private: describe(r.x25519Private),
      ed25519Private: describe(r.ed25519Private),
      x25519Exportable: await exportable(r.x25519Private),
      ed25519Exportable: await exportable(r.ed25519Private),
      x25519Public: Array.from(r.x25519Public),
      ed25519Public: Array.from(r.ed25519Public),
      hasKeyBlob: !!(r.keyBlob && r.keyBlob.length),
    });
  }
  return out;
}
"""


def unique_nickname(prefix: str = "test") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def strong_password() -> str:
    # Not common, no nickname in it, with non-ASCII letters (NFC matters) and a space.
    return f"Grüne Wiese {secrets.token_hex(3)} über dem Fluss"


# --- pages -------------------------------------------------------------------------------------


def new_page(browser: Any, live_server: LiveServer, locale: str = "de") -> Any:
    """A fresh browser context (a "device") with one page; page.errors collects page errors."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    context.add_cookies([{"name": "jmdchat_locale", "value": locale, "url": live_server.url}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def goto(page: Any, live_server: LiveServer, route: str) -> None:
    """Open the app at `route` with a full page load (as when someone opens it again), not a
    same-document hash change: nothing of the screen shown before can still be drawing."""
    if page.url.startswith(live_server.url):
        page.goto("about:blank")
    page.goto(f"{live_server.url}/#{route}")
    page.wait_for_selector("html[data-ready=true]")


def wait_for_route(page: Any, route: str) -> None:
    page.wait_for_function("(r) => location.hash === '#' + r", arg=route, timeout=SLOW_MS)
    page.wait_for_selector("main h1")


ACCOUNT_SCREENS = ["#/login", "#/counsellor", "#/register", "#/recover"]


def wait_for_landing(page: Any) -> None:
    """After logging in the client goes to the landing page later screens chose (the
    conversations, the queue or /account): wait until it left the account screen."""
    page.wait_for_function(
        """(screens) => location.hash && !screens.includes(location.hash)
          && !location.hash.startsWith('#/invite/')""",
        arg=ACCOUNT_SCREENS, timeout=SLOW_MS,
    )


def register_ui(
    page: Any, live_server: LiveServer, nickname: str, password: str, *,
    age_group: str | None = None, finish: bool = True,
) -> str:
    """Register on /register; returns the recovery code shown. With `finish`, tick the box and
    continue to /account."""
    goto(page, live_server, "/register")
    page.fill("input[name=nickname]", nickname)
    page.fill("input[name=password]", password)
    page.fill("input[name=password-repeat]", password)
    if age_group:
        page.select_option("select[name=age-group]", age_group)
    page.click("form button[type=submit]")
    code_el = page.wait_for_selector("[data-testid=recovery-code]", timeout=SLOW_MS)
    code = str(code_el.get_attribute("data-code"))
    if finish:
        page.check("input[name=recovery-saved]")
        page.click("form.recovery-confirm button[type=submit]")
        wait_for_landing(page)
    return code


def login_ui(
    page: Any, live_server: LiveServer, nickname: str, password: str, *,
    route: str = "/login", totp_code: str | None = None, expect_success: bool = True,
) -> None:
    goto(page, live_server, route)
    page.fill("input[name=nickname]", nickname)
    page.fill("input[name=password]", password)
    if totp_code is not None:
        page.fill("input[name=totp]", totp_code)
    page.click("form button[type=submit]")
    if expect_success:
        wait_for_landing(page)


STAFF_LANDED_OR_ERROR = """() => (location.hash && !location.hash.startsWith('#/counsellor'))
  || !!document.querySelector('.form-alert :is(.error-box, p)')"""


def staff_login_ui(page: Any, live_server: LiveServer, who: dict[str, Any]) -> None:
    """Staff login with password and TOTP on /counsellor. A code counts once per account
    (replay protection), and several tests of one session log in the same demo staff: when the
    current code was used already, wait for the next 30-second step and try once more."""
    import time

    goto(page, live_server, "/counsellor")
    page.fill("input[name=nickname]", who["nickname"])
    page.fill("input[name=password]", who["password"])
    for attempt in range(2):
        page.fill("input[name=totp]", totp_now(who["totp_secret"]))
        page.click("form button[type=submit]")
        page.wait_for_function(STAFF_LANDED_OR_ERROR, timeout=SLOW_MS)
        if not page.evaluate("location.hash").startswith("#/counsellor") or attempt:
            break
        time.sleep(31 - time.time() % 30)
    assert not page.evaluate("location.hash").startswith("#/counsellor"), "staff login failed"
    wait_for_landing(page)


def logout_ui(page: Any, live_server: LiveServer) -> None:
    goto(page, live_server, "/account")
    page.click("button[data-action=logout]")
    wait_for_route(page, "/")


def shown_fingerprint(page: Any, live_server: LiveServer) -> str:
    goto(page, live_server, "/account")
    element = page.wait_for_selector("[data-fingerprint]", timeout=SLOW_MS)
    return str(element.get_attribute("data-fingerprint"))


def keystore(page: Any) -> list[dict[str, Any]]:
    return list(page.evaluate(READ_KEYSTORE))


def axe_violations(page: Any, axe_source: str) -> list[dict[str, Any]]:
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    return list(page.evaluate(RUN_AXE, AXE_TAGS))


# --- the HTTP API directly ---------------------------------------------------------------------


def api(live_server: LiveServer, method: str, path: str, body: object | None = None,
        cookie: str | None = None) -> tuple[int, dict[str, Any], str | None]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(live_server.url + path, data=data, method=method)
    request.add_header("Accept", "application/json")
    request.add_header("Origin", live_server.url)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if cookie:
        request.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), error.headers
    set_cookie = headers.get("Set-Cookie")
    session = set_cookie.split(";", 1)[0] if set_cookie else None
    return status, json.loads(raw or b"{}"), session


@dataclass
class ApiAccount:
    nickname: str
    password: str
    recovery_code: str
    fingerprint: str
    account: dict[str, Any]


def register_api(live_server: LiveServer, nickname: str, password: str,
                 locale: str = "de") -> ApiAccount:
    """Create a young person's account the way the browser does, but in Python (fast)."""
    params = new_kdf_params()
    keys = derive_password_keys(password, params.salt, params.iterations)
    identity = generate_identity()
    code, formatted = generate_recovery_code()
    recovery = derive_recovery_keys(code)
    status, body, _cookie = api(live_server, "POST", "/api/auth/register", {
        "nickname": nickname,
        "salt": b64url_encode(params.salt),
        "iterations": params.iterations,
        "auth_key": b64url_encode(keys.auth_key),
        "key_blob": b64url_encode(wrap_identity(identity, keys.wrap_key, "password")),
        "recovery_blob": b64url_encode(wrap_identity(identity, recovery.wrap_key, "recovery")),
        "recovery_auth_key": b64url_encode(recovery.auth_key),
        "x25519_public": b64url_encode(identity.x25519_public),
        "ed25519_public": b64url_encode(identity.ed25519_public),
        "locale": locale,
        "age_group": None,
    })
    assert status == 201, (status, body)
    return ApiAccount(nickname, password, formatted,
                      fingerprint(identity.x25519_public, identity.ed25519_public), body["account"])


# --- demo counsellors --------------------------------------------------------------------------


def demo_logins(live_server: LiveServer) -> list[dict[str, Any]]:
    """The demo logins `jmdchat demo` wrote into the server's data directory."""
    data_dir = Path(live_server.env["JMDCHAT_SERVER_DATA_DIR"])
    path = data_dir / "demo-logins.json"
    if not path.exists():
        path = data_dir / "var" / "demo-logins.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    return list(data if isinstance(data, list) else data.get("accounts", data.get("logins", [])))


def totp_now(secret_base32: str, steps_ahead: int = 1) -> str:
    """The authenticator code `steps_ahead` 30-second steps from now. The server refuses a
    step that was already used (replay protection) and accepts the next one, so by default
    this takes the next step: a code the demo or another test used just now does not clash."""
    import base64
    import time

    padded = secret_base32.upper() + "=" * (-len(secret_base32) % 8)
    totp = TOTP(base64.b32decode(padded), 6, SHA1(), 30, enforce_key_length=False)
    return totp.generate(int(time.time()) + 30 * steps_ahead).decode()


def new_invitation(live_server: LiveServer, site: str = "jmd-berlin", name: str = "") -> str:
    """A one-time counsellor invitation made with the admin CLI; returns its token."""
    import re
    import time

    args = ["counsellor", "invite", "--site", site]
    if name:
        args += ["--name", name]
    # The CLI writes to the same SQLite file as the running server: retry if it was busy.
    for attempt in range(3):
        result = live_server.cli(*args, check=False)
        found = re.search(r"/#/invite/(\S+)", result.stdout)
        if result.returncode == 0 and found:
            return found.group(1)
        time.sleep(1 + attempt)
    raise AssertionError(f"jmdchat {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
