"""The account screens end to end against a real server: register, log out, log in on a
second device with only the password, recover with the recovery code, counsellor login with
TOTP, delete the account. Keys stay the same throughout (same fingerprint) and live in
IndexedDB only as non-extractable CryptoKeys."""

from __future__ import annotations

import re
from typing import Any

import pytest

from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.keys import derive_password_keys, fingerprint
from tests.browser.accounts_support import (
    SLOW_MS,
    api,
    demo_logins,
    goto,
    keystore,
    login_ui,
    logout_ui,
    new_invitation,
    new_page,
    register_api,
    register_ui,
    shown_fingerprint,
    strong_password,
    totp_now,
    unique_nickname,
    wait_for_landing,
    wait_for_route,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

RECOVERY_CODE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){6}$")


def assert_non_extractable_identity(page: Any, account: dict[str, Any]) -> dict[str, Any]:
    """Exactly this account's identity is stored, as non-extractable private CryptoKeys whose
    public halves are the ones the server publishes."""
    records = keystore(page)
    assert [r["accountId"] for r in records] == [account["id"]]
    record = records[0]
    for name, algorithm, usages in (("x25519Private", "X25519", ["deriveBits"]),
                                    ("ed25519Private", "Ed25519", ["sign"])):
        key = record[name]
        assert key["isCryptoKey"], name
        assert key["extractable"] is False, name
        assert key["type"] == "private" and key["algorithm"] == algorithm
        assert key["usages"] == usages
    assert not record["x25519Exportable"] and not record["ed25519Exportable"]
    assert bytes(record["x25519Public"]) == b64url_decode(account["x25519_public"])
    assert bytes(record["ed25519Public"]) == b64url_decode(account["ed25519_public"])
    assert record["hasKeyBlob"]
    return record


def me(page: Any) -> dict[str, Any]:
    """GET /api/auth/me from inside the page (with its session cookie)."""
    result = page.evaluate(
        """async () => { const r = await fetch("/api/auth/me", {credentials: "same-origin"});
        return {status: r.status, body: await r.json()}; }"""
    )
    return dict(result)


def test_register_log_out_and_log_in_on_a_second_device(
    browser: Any, live_server: LiveServer
) -> None:
    nickname, password = unique_nickname("flow"), strong_password()
    first = new_page(browser, live_server)
    code = register_ui(first, live_server, nickname, password, age_group="15-17")
    assert RECOVERY_CODE.match(code), code
    account = me(first)["body"]["account"]
    assert account["nickname"] == nickname and account["role"] == "young_person"
    assert account["age_group"] == "15-17" and account["locale"] == "de"
    print_first = shown_fingerprint(first, live_server)
    assert re.fullmatch(r"\d{5}( \d{5}){11}", print_first)
    record = assert_non_extractable_identity(first, account)
    # The fingerprint shown is the protocol's fingerprint of the stored public keys.
    assert print_first == fingerprint(bytes(record["x25519Public"]), bytes(record["ed25519Public"]))
    assert print_first == account["fingerprint"]

    # Log out: the session ends on the server and the keys leave this device.
    logout_ui(first, live_server)
    assert me(first)["status"] == 401
    assert keystore(first) == []
    goto(first, live_server, "/account")
    wait_for_route(first, "/login")

    # A second device (fresh profile: no cookies, empty IndexedDB) with only the password.
    second = new_page(browser, live_server)
    try:
        goto(second, live_server, "/login")
        assert keystore(second) == []
        login_ui(second, live_server, nickname, password)
        assert shown_fingerprint(second, live_server) == print_first
        assert_non_extractable_identity(second, me(second)["body"]["account"])
        # The account page shows who is logged in.
        assert second.locator("main dl.details").inner_text().count(nickname) == 1
        assert not second.errors
    finally:
        second.context.close()
    assert not first.errors
    first.context.close()


def test_recover_with_the_recovery_code_after_forgetting_the_password(
    browser: Any, live_server: LiveServer
) -> None:
    nickname = unique_nickname("rec")
    old_password, new_password = strong_password(), strong_password()
    first = new_page(browser, live_server)
    code = register_ui(first, live_server, nickname, old_password)
    original = shown_fingerprint(first, live_server)
    logout_ui(first, live_server)
    first.context.close()

    device = new_page(browser, live_server)
    try:
        sent: list[str] = []
        device.on("request", lambda r: sent.append(r.url))
        goto(device, live_server, "/recover")
        device.fill("input[name=nickname]", nickname)
        # A typo is caught by the checksum on the phone, before anything is sent.
        typo = ("1" if code[0] != "1" else "2") + code[1:]
        device.fill("input[name=recovery-code]", typo)
        device.click("form button[type=submit]")
        device.wait_for_selector("input[name=recovery-code][aria-invalid=true]")
        assert device.locator(".form-alert").inner_text().strip()
        assert not [u for u in sent if "/api/auth/recovery" in u]

        # Tolerant input: lower case, spaces instead of dashes, O for 0, I/L for 1.
        sloppy = code.lower().replace("-", " ").replace("0", "o").replace("1", "l")
        device.fill("input[name=recovery-code]", sloppy)
        device.click("form button[type=submit]")
        device.wait_for_selector("input[name=new-password]", timeout=SLOW_MS)
        device.fill("input[name=new-password]", new_password)
        device.fill("input[name=new-password-repeat]", new_password)
        device.click("form button[type=submit]")
        wait_for_landing(device)
        assert shown_fingerprint(device, live_server) == original
        assert not device.errors
    finally:
        device.context.close()

    # Another fresh device: the new password works, the keys are the same.
    other = new_page(browser, live_server)
    try:
        login_ui(other, live_server, nickname, new_password)
        assert shown_fingerprint(other, live_server) == original
        assert_non_extractable_identity(other, me(other)["body"]["account"])
        # The old password no longer works: the uniform login error is shown.
        logout_ui(other, live_server)
        login_ui(other, live_server, nickname, old_password, expect_success=False)
        other.wait_for_selector(".form-alert .error-box", timeout=SLOW_MS)
        assert other.evaluate("location.hash") == "#/login"
        assert not other.errors
    finally:
        other.context.close()


def _demo_counsellors(live_server: LiveServer) -> list[dict[str, Any]]:
    counsellors = [
        entry for entry in demo_logins(live_server)
        if entry.get("role") in {"counsellor", "site_lead", "admin"} and entry.get("totp_secret")
    ]
    assert counsellors, "jmdchat demo wrote no counsellor login with a TOTP secret"
    return counsellors


def test_counsellor_login_with_totp(browser: Any, live_server: LiveServer) -> None:
    counsellors = _demo_counsellors(live_server)
    demo = next((c for c in counsellors if c.get("role") == "counsellor"), counsellors[0])
    page = new_page(browser, live_server)
    try:
        goto(page, live_server, "/counsellor")
        # The code field is there from the start, as a one-time-code numeric field.
        totp = page.locator("input[name=totp]")
        assert totp.is_visible()
        assert totp.get_attribute("inputmode") == "numeric"
        assert totp.get_attribute("autocomplete") == "one-time-code"
        # A wrong code is refused (and nothing is stored).
        login_ui(page, live_server, demo["nickname"], demo["password"], route="/counsellor",
                 totp_code="000000" if totp_now(demo["totp_secret"]) != "000000" else "111111",
                 expect_success=False)
        page.wait_for_selector("input[name=totp][aria-invalid=true]", timeout=SLOW_MS)
        assert keystore(page) == []
        # The right code: logged in, keys unwrapped and stored.
        page.fill("input[name=totp]", totp_now(demo["totp_secret"]))
        page.click("form button[type=submit]")
        wait_for_landing(page)
        account = me(page)["body"]["account"]
        assert account["role"] == demo.get("role", "counsellor")
        assert_non_extractable_identity(page, account)
        assert not page.errors
    finally:
        page.context.close()


def test_counsellor_on_the_young_peoples_login_is_asked_for_the_code(
    browser: Any, live_server: LiveServer
) -> None:
    counsellors = _demo_counsellors(live_server)
    demo = counsellors[-1]
    page = new_page(browser, live_server)
    try:
        goto(page, live_server, "/login")
        assert not page.locator("input[name=totp]").is_visible()
        page.fill("input[name=nickname]", demo["nickname"])
        page.fill("input[name=password]", demo["password"])
        requests: list[Any] = []
        page.on("request",
                lambda r: requests.append(r) if r.url.endswith("/api/auth/prelogin") else None)
        page.click("form button[type=submit]")
        # totp_required: the code field appears and gets focus.
        page.wait_for_selector("input[name=totp]:focus", timeout=SLOW_MS)
        page.fill("input[name=totp]", totp_now(demo["totp_secret"]))
        page.click("form button[type=submit]")
        wait_for_landing(page)
        # The password was derived once: the second attempt re-used the keys.
        assert len(requests) == 1
        assert not page.errors
    finally:
        page.context.close()


def test_delete_account(browser: Any, live_server: LiveServer) -> None:
    nickname, password = unique_nickname("del"), strong_password()
    created = register_api(live_server, nickname, password)
    page = new_page(browser, live_server)
    try:
        login_ui(page, live_server, nickname, password)
        assert shown_fingerprint(page, live_server) == created.fingerprint
        open_button = page.locator("button[data-action=delete-open]")
        assert open_button.get_attribute("aria-expanded") == "false"
        open_button.click()
        # The confirmation says what is deleted and asks for the password again.
        form = page.locator("form[aria-labelledby=delete-title]")
        assert form.is_visible()
        assert form.locator("li").count() >= 3
        form.locator("input[name=delete-password]").fill("not my password at all 123")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("input[name=delete-password][aria-invalid=true]", timeout=SLOW_MS)
        assert me(page)["status"] == 200
        form.locator("input[name=delete-password]").fill(password)
        form.locator("button[type=submit]").click()
        page.wait_for_selector("main h1[data-state=deleted]", timeout=SLOW_MS)
        assert keystore(page) == []
        assert me(page)["status"] == 401
        assert not page.errors
    finally:
        page.context.close()

    # Logging in fails with the same answer as for a nickname that never existed.
    status, salt_answer, _ = api(live_server, "POST", "/api/auth/prelogin", {"nickname": nickname})
    assert status == 200
    keys = derive_password_keys(
        password, b64url_decode(salt_answer["salt"]), salt_answer["iterations"]
    )
    deleted = api(live_server, "POST", "/api/auth/login",
                  {"nickname": nickname, "auth_key": b64url_encode(keys.auth_key)})
    unknown = api(live_server, "POST", "/api/auth/login",
                  {"nickname": unique_nickname("never"), "auth_key": b64url_encode(keys.auth_key)})
    assert deleted[0] == unknown[0] == 401
    assert deleted[1]["code"] == unknown[1]["code"] == "login_failed"
    assert deleted[1]["message"] == unknown[1]["message"]

    # And in the browser the login screen shows that uniform message.
    page = new_page(browser, live_server)
    try:
        login_ui(page, live_server, nickname, password, expect_success=False)
        alert = page.wait_for_selector(".form-alert .error-box", timeout=SLOW_MS)
        assert alert.inner_text().strip() == deleted[1]["message"]
    finally:
        page.context.close()


def test_invitation_for_a_counsellor(browser: Any, live_server: LiveServer) -> None:
    token = new_invitation(live_server, "jmd-berlin", name="Nour")
    nickname, password = unique_nickname("inv"), strong_password()
    page = new_page(browser, live_server)
    try:
        goto(page, live_server, f"/invite/{token}")
        page.wait_for_selector("input[name=nickname]", timeout=SLOW_MS)
        details = page.locator("main dl.details").inner_text()
        assert "Berlin" in details
        # The suggested display name is filled in.
        assert page.locator("input[name=display-name]").input_value() == "Nour"
        page.fill("input[name=nickname]", nickname)
        page.fill("input[name=password]", password)
        page.fill("input[name=password-repeat]", password)
        page.click("form button[type=submit]")

        # Two-factor setup: the secret and the otpauth URI are shown once, also as a QR code.
        secret_el = page.wait_for_selector("[data-testid=totp-secret]", timeout=SLOW_MS)
        secret = "".join(secret_el.inner_text().split())
        assert re.fullmatch(r"[A-Z2-7]{16,}", secret)
        uri = page.locator("[data-testid=otpauth-uri]").text_content() or ""
        assert uri.startswith("otpauth://totp/") and f"secret={secret}" in uri
        assert page.locator("svg.qr path").count() == 1
        assert page.locator("svg.qr").get_attribute("role") == "img"
        # The keys are on this device already; the session is good only for the confirmation.
        records = keystore(page)
        assert len(records) == 1 and records[0]["x25519Private"]["extractable"] is False
        page.fill("input[name=totp]", "000000" if totp_now(secret, 0) != "000000" else "111111")
        page.click("form button[type=submit]")
        page.wait_for_selector("input[name=totp][aria-invalid=true]", timeout=SLOW_MS)
        page.fill("input[name=totp]", totp_now(secret, 0))
        page.click("form button[type=submit]")

        # Then the recovery code, as after a registration.
        shown = page.wait_for_selector("[data-testid=recovery-code]", timeout=SLOW_MS)
        code = shown.get_attribute("data-code")
        assert code and RECOVERY_CODE.match(code)
        page.check("input[name=recovery-saved]")
        page.click("form.recovery-confirm button[type=submit]")
        wait_for_landing(page)
        account = me(page)["body"]["account"]
        assert account["role"] == "counsellor" and account["totp_enabled"] is True
        assert account["display_name"] == "Nour"
        assert [s["slug"] for s in account["sites"]] == ["jmd-berlin"]
        print_here = shown_fingerprint(page, live_server)
        assert not page.errors
    finally:
        page.context.close()

    # The invitation is used up; the counsellor logs in on another device with password + code.
    status, body, _ = api(live_server, "GET", f"/api/invitations/{token}")
    assert status == 404 and body["code"] == "invitation_invalid"
    other = new_page(browser, live_server)
    try:
        login_ui(other, live_server, nickname, password, route="/counsellor",
                 totp_code=totp_now(secret, 1))
        assert shown_fingerprint(other, live_server) == print_here
        assert not other.errors
    finally:
        other.context.close()


def test_password_and_nickname_rules_in_the_client(
    browser: Any, live_server: LiveServer
) -> None:
    """The rules the register screen explains, checked in the browser (no key derivation)."""
    page = new_page(browser, live_server)
    try:
        goto(page, live_server, "/register")
        result = page.evaluate(
            """async () => {
              const r = await import("/static/src/account/rules.js");
              const p = (pw, nick = "") => r.passwordProblems(pw, nick).length;
              return {
                short: p("kurz"), common: p("Passwort123!"), sequence: p("abcdefghijk"),
                repeated: p("aaaaaaaaaaaa"), withNick: p("ich bin lila_baer 2024", "Lila_Baer"),
                fine: p("Der Mond ist heute sehr rund"), arabic: p("القمر جميل جدا الليلة"),
                nickOk: [r.nicknameProblems("Ali Reza").length, r.nicknameProblems("علي_12").length,
                         r.nicknameProblems("Ольга.К").length],
                nickBad: ["ab", "a  b", "bad!", "x".repeat(33)]
                  .map((n) => r.nicknameProblems(n).length),
              };
            }"""
        )
        assert result["short"] == 1 and result["common"] == 1 and result["sequence"] == 1
        assert result["repeated"] == 1 and result["withNick"] == 1
        assert result["fine"] == 0 and result["arabic"] == 0
        assert result["nickOk"] == [0, 0, 0]
        assert all(n >= 1 for n in result["nickBad"])
        assert not page.errors
    finally:
        page.context.close()
