"""The password never leaves the device: every request the browser sends during registration,
login and a password change is captured, and neither the password (in any usual encoding) nor
the key that wraps the identity (derived here in Python, with the protocol's reference
implementation, from the password and the salt seen in the request) nor the PBKDF2 master key
nor the recovery code appears in any of them. The auth keys that are sent are checked to be
exactly the protocol's HKDF outputs, so the test knows it derived the right keys."""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from typing import Any

import pytest

from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.keys import derive_password_keys, derive_recovery_keys, parse_recovery_code
from tests.browser.accounts_support import (
    SLOW_MS,
    goto,
    login_ui,
    logout_ui,
    new_page,
    register_ui,
    unique_nickname,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def encodings(secret: bytes) -> set[str]:
    """The spellings a secret could travel in."""
    b64 = base64.b64encode(secret).decode()
    b64url = base64.urlsafe_b64encode(secret).decode()
    forms = {
        b64, b64.rstrip("="), b64url, b64url.rstrip("="), secret.hex(), secret.hex().upper(),
        base64.b32encode(secret).decode().rstrip("="),
    }
    # Substrings that survive any alignment: the middle of the base64 forms.
    if len(secret) >= 12:
        forms |= {b64[4:-4], b64url[4:-4]}
    return {f for f in forms if len(f) >= 8}


def password_forms(password: str) -> set[str]:
    forms = {
        password, unicodedata.normalize("NFC", password), unicodedata.normalize("NFD", password),
        json.dumps(password)[1:-1],
    }
    for form in list(forms):
        forms |= encodings(form.encode("utf-8"))
    return forms


def pbkdf2_master(password: str, salt: bytes, iterations: int) -> bytes:
    normalised = unicodedata.normalize("NFC", password).encode()
    return hashlib.pbkdf2_hmac("sha256", normalised, salt, iterations, 32)


class Capture:
    """Every request of a browser context: URL, headers and body."""

    def __init__(self, context: Any) -> None:
        self.requests: list[dict[str, Any]] = []
        context.on("request", self._on_request)

    def _on_request(self, request: Any) -> None:
        self.requests.append({
            "url": request.url, "method": request.method, "headers": dict(request.headers),
            "body": request.post_data or "",
        })

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [
            json.loads(r["body"]) for r in self.requests if r["url"].endswith(path) and r["body"]
        ]

    def everything(self) -> str:
        return "\n".join(
            f"{r['method']} {r['url']}\n{json.dumps(r['headers'])}\n{r['body']}"
            for r in self.requests
        )


def test_the_server_never_receives_the_password(browser: Any, live_server: LiveServer) -> None:
    nickname = unique_nickname("nosend")
    first_password = "Mein Fahrrad ist grün und schnell 7"
    second_password = "Ай-да чай с лимоном в Köln 42"
    page = new_page(browser, live_server)
    capture = Capture(page.context)
    try:
        code = register_ui(page, live_server, nickname, first_password)
        logout_ui(page, live_server)
        login_ui(page, live_server, nickname, first_password)

        goto(page, live_server, "/account")
        page.fill("input[name=current-password]", first_password)
        page.fill("input[name=new-password]", second_password)
        page.fill("input[name=new-password-repeat]", second_password)
        page.click("form[aria-labelledby=password-title] button[type=submit]")
        page.wait_for_selector(".form-status .notice", timeout=SLOW_MS)
        assert not page.locator("form[aria-labelledby=password-title] .form-alert p").count()

        logout_ui(page, live_server)
        login_ui(page, live_server, nickname, second_password)
        assert not page.errors
    finally:
        page.context.close()

    # What was sent, by endpoint.
    [registration] = capture.bodies("/api/auth/register")
    logins = capture.bodies("/api/auth/login")
    [change] = capture.bodies("/api/auth/password")
    prelogins = capture.bodies("/api/auth/prelogin")
    assert len(logins) == 2 and len(prelogins) >= 3
    assert all(set(p) == {"nickname"} for p in prelogins)

    first_salt = b64url_decode(registration["salt"], length=16)
    second_salt = b64url_decode(change["salt"], length=16)
    assert first_salt != second_salt
    assert registration["iterations"] >= 600_000 and change["iterations"] >= 600_000
    first = derive_password_keys(first_password, first_salt, registration["iterations"])
    second = derive_password_keys(second_password, second_salt, change["iterations"])

    # The auth keys sent are exactly the protocol's (so the wrap keys below are the real ones).
    assert registration["auth_key"] == b64url_encode(first.auth_key)
    assert logins[0]["auth_key"] == b64url_encode(first.auth_key)
    assert change["current_auth_key"] == b64url_encode(first.auth_key)
    assert change["auth_key"] == b64url_encode(second.auth_key)
    assert logins[1]["auth_key"] == b64url_encode(second.auth_key)
    assert set(registration) == {
        "nickname", "salt", "iterations", "auth_key", "key_blob", "recovery_blob",
        "recovery_auth_key", "x25519_public", "ed25519_public", "locale", "age_group",
    }
    assert set(change) == {"current_auth_key", "salt", "iterations", "auth_key", "key_blob"}

    # The recovery code: only its auth key is sent.
    code_bytes = parse_recovery_code(code)
    recovery = derive_recovery_keys(code_bytes)
    assert registration["recovery_auth_key"] == b64url_encode(recovery.auth_key)

    forbidden: dict[str, set[str]] = {
        "first password": password_forms(first_password),
        "second password": password_forms(second_password),
        "first wrap key": encodings(first.wrap_key),
        "second wrap key": encodings(second.wrap_key),
        "first PBKDF2 master key": encodings(
            pbkdf2_master(first_password, first_salt, registration["iterations"])),
        "second PBKDF2 master key": encodings(
            pbkdf2_master(second_password, second_salt, change["iterations"])),
        "recovery code": {code, code.replace("-", ""), *encodings(code_bytes)},
        "recovery wrap key": encodings(recovery.wrap_key),
    }
    sent = capture.everything()
    assert "/api/auth/register" in sent and "/api/auth/password" in sent
    for what, forms in forbidden.items():
        for form in forms:
            assert form not in sent, f"the {what} was sent ({form!r})"
            # Nor percent-encoded in a URL.
            assert form.replace(" ", "%20") not in sent, f"the {what} was sent in a URL"
