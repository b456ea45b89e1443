"""The Team screen (issues #3, #9) in Chromium: the demo site lead invites a counsellor (the link
is shown once), removes a counsellor, the browser rotates the team key, the operator certifies
it with the CLI (`jmdchat certify`), and the status turns to done. Screenshots; axe-core clean
in every shipped locale.

Runs on its own server with demo data (removing people and rotating keys would change the
shared `live_server` under the other browser tests' feet).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.crypto.tokens import totp_code, totp_secret_from_base32
from tests.account_material import material
from tests.browser.accounts_support import (
    SLOW_MS,
    api,
    axe_violations,
    demo_logins,
    goto,
    login_ui,
    new_invitation,
    new_page,
    staff_login_ui,
    totp_now,
    unique_nickname,
)
from tests.conftest import LiveServer, axe_source, screenshot_path, start_server, stop_server

pytestmark = pytest.mark.browser

LOCALES = ["de", "en", "ar", "fa", "fa_AF", "ps", "ru", "uk", "tr", "fr", "ku", "ti"]
RTL = {"ar", "fa", "fa_AF", "ps"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    live = start_server(tmp_path_factory.mktemp("team"))
    yield live
    stop_server(live)


def _org_key(server: LiveServer) -> str:
    return str(Path(server.env["JMDCHAT_SERVER_DATA_DIR"]) / "demo-org-key.json")


def _certify(server: LiveServer, *args: str) -> str:
    result = server.cli("certify", "--org-key", _org_key(server), "--yes", *args)
    return result.stdout


def _leaving_counsellor(server: LiveServer) -> dict[str, Any]:
    """A counsellor of JMD Berlin who will be removed: invited with the CLI, joined over the
    API (keys made in Python as a browser makes them), certified by the operator."""
    import time

    token = new_invitation(server, "jmd-berlin", "Karim")
    m = material("team-browser-leaving")
    nickname = unique_nickname("karim")
    status, body, cookie = api(server, "POST", f"/api/invitations/{token}/accept",
                               m.accept_body(nickname, "Karim"))
    assert status == 200, body
    secret = body["totp_secret"]
    code = totp_code(totp_secret_from_base32(secret), time.time())
    status, confirmed, _ = api(server, "POST", "/api/auth/totp/confirm", {"code": code},
                               cookie=cookie)
    assert status == 200, confirmed
    account_id = body["account"]["id"]
    assert "signed:" in _certify(server, "--account", account_id)
    return {"id": account_id, "nickname": nickname}


def _check(page: Any, name: str) -> None:
    violations = axe_violations(page, axe_source())
    assert violations == [], f"{name}: {violations}"
    assert not page.errors, f"{name}: {page.errors}"


def _team_ready(page: Any) -> None:
    page.wait_for_selector(".team-rotation[data-state]", timeout=SLOW_MS)


def test_lead_invites_removes_and_rotates(browser: Any, server: LiveServer) -> None:
    leaving = _leaving_counsellor(server)
    lead = next(d for d in demo_logins(server) if d.get("role") == "site_lead")
    page = new_page(browser, server, "de")
    try:
        login_ui(page, server, lead["nickname"], lead["password"], route="/counsellor",
                 totp_code=totp_now(lead["totp_secret"]))
        goto(page, server, "/admin")
        page.click("a[href='#/admin/team']")
        _team_ready(page)
        card = page.locator(f".team-member[data-account-id='{leaving['id']}']")
        card.wait_for(timeout=SLOW_MS)
        # The newcomer is certified but has no team key yet: the lead's browser hands it over
        # ("adding a counsellor is done by a member's client").
        assert page.locator(".team-rotation").get_attribute("data-state") == "sealing"
        page.screenshot(path=str(screenshot_path("team-de.png")), full_page=True)
        _check(page, "team screen")
        page.click(".team-rotation button")
        page.wait_for_selector(".team-rotation[data-state=ok]", timeout=SLOW_MS)
        assert card.locator(".team-key-versions").inner_text().strip() == "1"

        # --- invite: the link is shown once, with a copy button ---------------------------------
        page.fill("input[name=display_name]", "Dara")
        page.locator(".team-invite input[name=languages][value=fa_AF]").check()
        page.click(".team-invite button[type=submit]")
        link = page.locator("input.team-link")
        link.wait_for(timeout=SLOW_MS)
        assert re.search(r"/#/invite/[A-Za-z0-9_-]{20,}$", link.input_value())
        assert page.locator(".team-invite-result button").is_visible()
        page.screenshot(path=str(screenshot_path("team-invite-de.png")), full_page=True)
        _check(page, "invitation link shown")
        token = link.input_value().rsplit("/", 1)[-1]
        status, info, _ = api(server, "GET", f"/api/invitations/{token}")
        assert status == 200, info

        # --- remove: the confirmation explains the rotation ---------------------------------
        card.locator("button.danger-outline").first.click()
        dialog = page.locator("dialog.team-dialog")
        dialog.wait_for(timeout=SLOW_MS)
        assert "Teamschlüssel" in dialog.inner_text() or "key" in dialog.inner_text()
        page.screenshot(path=str(screenshot_path("team-remove-dialog-de.png")))
        _check(page, "removal dialog")
        dialog.locator("button.danger").click()
        # The browser made version 2 right away and waits for the operator.
        page.wait_for_selector(".team-rotation[data-state=awaiting_certification]",
                               timeout=SLOW_MS)
        assert page.locator(f".team-member[data-account-id='{leaving['id']}']").count() == 0
        shown = page.locator(".team-rotation [data-fingerprint]").get_attribute("data-fingerprint")
        page.screenshot(path=str(screenshot_path("team-awaiting-certification-de.png")),
                        full_page=True)
        _check(page, "waiting for certification")

        # --- the operator certifies; the fingerprint is the one the lead sees ------------------
        out = _certify(server, "--site", "jmd-berlin")
        assert "site key v2" in out, out
        assert f"fingerprint: {shown}" in out, (shown, out)
        page.click(".team-rotation button")
        page.wait_for_selector(".team-rotation[data-state=ok]", timeout=SLOW_MS)
        # Everybody who stayed holds versions 1 and 2 (sealed by the lead's browser).
        versions = page.locator(".team-member .team-key-versions").all_inner_texts()
        assert versions and all(v.replace(" ", "") == "1,2" for v in versions), versions
        page.screenshot(path=str(screenshot_path("team-rotated-de.png")), full_page=True)
        _check(page, "rotation done")

        # --- the same screen in every shipped locale (one load each) ------------------------
        for locale in LOCALES:
            page.context.add_cookies([{"name": "jmdchat_locale", "value": locale,
                                       "url": server.url}])
            goto(page, server, "/admin/team")
            _team_ready(page)
            direction = page.locator("html").get_attribute("dir")
            assert direction == ("rtl" if locale in RTL else "ltr"), (locale, direction)
            _check(page, f"team screen ({locale})")
            if locale == "ar":
                page.screenshot(path=str(screenshot_path("team-ar.png")), full_page=True)
    finally:
        page.context.close()


def _staff_login(page: Any, server: LiveServer, who: dict[str, Any]) -> None:
    staff_login_ui(page, server, who)


def test_admin_adds_an_existing_counsellor_to_another_team(browser: Any,
                                                           server: LiveServer) -> None:
    """Issue #3: the admin looks up a counsellor of JMD Berlin and adds them to JMD Trier."""
    admin = next(d for d in demo_logins(server) if d.get("role") == "admin")
    page = new_page(browser, server, "de")
    try:
        _staff_login(page, server, admin)
        goto(page, server, "/admin/team")
        _team_ready(page)
        picker = page.locator(".team-site-picker select")
        trier = picker.locator("option", has_text="Trier").first.get_attribute("value")
        picker.select_option(trier)
        page.wait_for_selector(".team-site-name:has-text('Trier')", timeout=SLOW_MS)
        assert page.locator(".team-member:has-text('Amira')").count() == 0
        page.fill(".team-assign input[name=q]", "amira")
        page.click(".team-assign button[type=submit]")
        found = page.locator(".team-assign-item", has_text="Amira")
        found.wait_for(timeout=SLOW_MS)
        assert "Berlin" in found.inner_text()
        page.screenshot(path=str(screenshot_path("team-assign-de.png")), full_page=True)
        _check(page, "counsellor lookup")
        found.locator("button").click()
        page.locator(".team-member", has_text="Amira").wait_for(timeout=SLOW_MS)
        assert "null" not in page.locator(".team-body").inner_text()
        assert not page.errors, page.errors
    finally:
        page.context.close()


API_CALL = """async ([method, path, body]) => {
  const { api } = await import('/static/src/net/api.js');
  if (method === 'DELETE') return api.del(path);
  return method === 'GET' ? api.get(path) : api.post(path, body);
}"""


def test_requeued_conversation_gets_a_new_epoch_from_the_claiming_browser(
    browser: Any, server: LiveServer,
) -> None:
    """Issue #3, end to end: a counsellor of the online team leaves while a conversation is
    theirs; Sami's browser (now the team's lead) makes the new team key, the operator certifies
    it, Sami takes the re-queued conversation: his browser starts epoch 2 (sealed to the young
    person, himself and team key v2), and the young person's browser reads his answer."""
    import secrets

    from tests.browser.test_conversation_e2e import (
        LIVE_MS,
        counsellor_login,
        device,
        send,
        wait_count,
    )
    from tests.browser.test_xss import (
        _staff_with_display_name,
        claim_as,
        new_enquiry,
        register_with,
    )

    logins = demo_logins(server)
    sami = next(a for a in logins if a["nickname"] == "sami-online")
    admin = next(a for a in logins if a.get("role") == "admin")
    leaving = _staff_with_display_name(server, "Ben")
    contexts = []
    try:
        young_ctx, young = device(browser, server, "de")
        admin_ctx, admin_page = device(browser, server, "de")
        staff_ctx, staff = device(browser, server, "de")
        contexts = [young_ctx, admin_ctx, staff_ctx]
        register_with(young, server, f"yp_{secrets.token_hex(3)}")
        conversation_id = new_enquiry(young, "Vor dem Wechsel")
        claimed = claim_as(server, leaving["cookie"], conversation_id)
        assert claimed["ok"], claimed

        # The admin makes Sami the online team's lead and removes Ben from it.
        _staff_login(admin_page, server, admin)
        sites = admin_page.evaluate(API_CALL, ["GET", "/api/team/sites", None])["sites"]
        online = next(s["id"] for s in sites if s["slug"] == "jmd-online")
        sami_id = next(
            i["id"] for i in admin_page.evaluate(
                API_CALL, ["GET", "/api/team/counsellors?q=sami-online", None])["items"])
        admin_page.evaluate(API_CALL, ["POST", f"/api/sites/{online}/team",
                                       {"account_id": sami_id, "lead": True}])
        removed = admin_page.evaluate(API_CALL, ["DELETE",
                                                 f"/api/sites/{online}/team/{leaving['id']}", None])
        assert removed["requeued"] == 1, removed

        # Sami's browser makes team key v2; the operator certifies it.
        counsellor_login(staff, server, sami)
        goto(staff, server, "/admin/team")
        staff.wait_for_selector(".team-rotation[data-state=due]", timeout=SLOW_MS)
        staff.click(".team-rotation button")
        staff.wait_for_selector(".team-rotation[data-state=awaiting_certification]",
                                timeout=SLOW_MS)
        for _attempt in range(3):  # the CLI shares the SQLite file with the running server
            done = server.cli("certify", "--org-key", _org_key(server), "--yes", "--site",
                              "jmd-online", check=False)
            if done.returncode == 0:
                break
        assert "site key v2" in done.stdout, done.stdout + done.stderr

        # Sami takes the re-queued conversation: his browser starts epoch 2.
        goto(staff, server, "/queue")
        card = f".q-card[data-id='{conversation_id}']"
        staff.wait_for_selector(card, timeout=LIVE_MS)
        staff.click(f"{card} button.take")
        staff.wait_for_function("(id) => location.hash === '#/c/' + id", arg=conversation_id,
                                timeout=LIVE_MS)
        send(staff, "Nach dem Wechsel")
        wait_count(young, "Nach dem Wechsel", 1)
        epoch = staff.evaluate(
            """async (id) => (await import('/static/src/chat/store.js')).conversation(id)
                 .summary.current_epoch""", conversation_id)
        assert epoch == 2
        assert not staff.errors and not young.errors, (staff.errors, young.errors)
        staff.screenshot(path=str(screenshot_path("team-requeued-rekeyed-de.png")))
    finally:
        for context in contexts:
            context.close()
