"""No user content ever becomes HTML (issue #8), end to end in two browsers against the live
server with its demo data: a young person writes messages that are attacks — markup with
event handlers, script tags, `javascript:` links, bidi overrides and isolates — and the
counsellor of the nationwide online team (demo login with TOTP) sees each of them literally
(textContent equals the input) in the queue and in the conversation, and the answers come
back the same way. Nothing executes (`window.__pwned` stays undefined, no dialog opens), no
element is made from the text, and bidi controls stay inside their bubble (unicode-bidi:
isolate). Nicknames cannot carry markup or bidi controls at all; a counsellor's display name
(free text, set by the operator) is shown literally to the young person."""

from __future__ import annotations

import asyncio
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import socketio

from server.crypto.encoding import b64url_encode
from server.crypto.keys import BLOB_LEN, generate_identity
from server.crypto.primitives import random_bytes
from tests.browser.accounts_support import (
    SLOW_MS,
    api,
    demo_logins,
    new_invitation,
    strong_password,
    totp_now,
)
from tests.browser.test_conversation_e2e import (
    LIVE_MS,
    counsellor_login,
    count_exact,
    device,
    route_is,
    send,
    wait_count,
)
from tests.conftest import LiveServer, screenshot_path

pytestmark = pytest.mark.browser

# What young people write (the first one is the enquiry itself).
ATTACKS = [
    "<img src=x onerror=window.__pwned=1>",
    "<script>window.__pwned=1</script>",
    '<a href="javascript:window.__pwned=1">hier klicken</a> javascript:window.__pwned=1',
    "<svg onload=window.__pwned=1><iframe srcdoc='<script>parent.__pwned=1</script>'>",
    '"><img src=x onerror=alert(1)>{{constructor.constructor("window.__pwned=1")()}}',
    "\u202eevil\u202c gnihtemos",
    "\u2066isolated \u2067مرحبا\u2069 text\u2069 \u202dLTR override\u202c",
    "&lt;b&gt;not bold&lt;/b&gt; &amp; <b>not bold either</b>",
]
# What the counsellor answers.
ANSWERS = [
    "<img src=x onerror=window.__pwned=1> (Antwort)",
    "<form action=javascript:alert(1)><button>OK</button></form>",
    "\u202eAntwort mit Override\u202c",
]
#: The texts of messages and queue cards hold text only: no element may appear inside them.
NO_MARKUP = ".messages .msg-text *, .q-text *, .q-who *"
PWNED = "() => typeof window.__pwned === 'undefined'"


def watch_dialogs(page: Any) -> list[str]:
    opened: list[str] = []

    def dismiss(dialog: Any) -> None:
        opened.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


def register_with(page: Any, live_server: LiveServer, nickname: str) -> None:
    page.goto(f"{live_server.url}/#/register")
    page.wait_for_selector("html[data-ready=true]")
    page.fill("input[name=nickname]", nickname)
    password = strong_password()
    page.fill("input[name=password]", password)
    page.fill("input[name=password-repeat]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-testid=recovery-code]", timeout=SLOW_MS)
    page.check("input[name=recovery-saved]")
    page.click("form.recovery-confirm button[type=submit]")


def new_enquiry(page: Any, text: str) -> str:
    """An enquiry without a location (the nationwide online team answers); its id."""
    route_is(page, "^#/enquiry/new$")
    page.wait_for_selector("select[name=topic] option[value=school]", state="attached")
    page.select_option("select[name=topic]", "school")
    page.fill("textarea[name=text]", text)
    page.click(".enquiry-form button[type=submit]")
    route_is(page, "^#/c/[0-9a-f-]{36}$")
    return str(page.evaluate("location.hash.split('/')[2]"))


def assert_untouched(page: Any, dialogs: list[str], where: str) -> None:
    assert page.evaluate(PWNED), f"script from user content ran on {where}"
    assert dialogs == [], f"a dialog opened on {where}: {dialogs}"
    assert page.locator(NO_MARKUP).count() == 0, f"user content became markup on {where}"
    assert page.locator("img[src=x], iframe, script:not([src]):not([type='application/json'])"
                        ).count() == 0, where
    assert page.errors == [], f"page errors on {where}: {page.errors}"


def bubble_isolated(page: Any, text: str) -> bool:
    return bool(page.evaluate(
        """(t) => {
          const li = [...document.querySelectorAll('.messages .msg')]
            .find((m) => m.querySelector('.msg-text')?.textContent === t);
          if (!li) return false;
          const bubble = li.querySelector('.msg-bubble');
          return getComputedStyle(bubble).unicodeBidi === 'isolate'
            && bubble.hasAttribute('dir');
        }""",
        text,
    ))


def test_messages_are_text_never_markup(browser: Any, live_server: LiveServer) -> None:
    sami = next(a for a in demo_logins(live_server) if a["nickname"] == "sami-online")
    young_ctx, young = device(browser, live_server, "de")
    staff_ctx, staff = device(browser, live_server, "de")
    young_dialogs, staff_dialogs = watch_dialogs(young), watch_dialogs(staff)
    # Letters of any script (here Arabic) are fine in a nickname and must show as they are.
    nickname = f"مريم_{secrets.token_hex(3)}"
    try:
        counsellor_login(staff, live_server, sami)
        route_is(staff, "^#/queue$")
        register_with(young, live_server, nickname)
        conversation_id = new_enquiry(young, ATTACKS[0])

        # The queue card: the first message and the nickname, as text.
        card = f".q-card[data-id='{conversation_id}']"
        staff.wait_for_selector(card, timeout=LIVE_MS)
        staff.wait_for_function(
            "(s) => document.querySelector(s + ' .q-text')?.textContent.length > 0",
            arg=card, timeout=LIVE_MS,
        )
        assert staff.locator(f"{card} .q-text").text_content() == ATTACKS[0]
        assert staff.locator(f"{card} .q-who").text_content() == nickname
        assert_untouched(staff, staff_dialogs, "the queue")

        staff.click(f"{card} button.take")
        route_is(staff, f"^#/c/{conversation_id}$")
        wait_count(staff, ATTACKS[0], 1)
        staff.wait_for_function("(n) => document.body.textContent.includes(n)", arg=nickname,
                                timeout=LIVE_MS)

        for text in ATTACKS[1:]:
            send(young, text)
        for text in ATTACKS:
            wait_count(staff, text, 1)
            wait_count(young, text, 1)
        for text in ANSWERS:
            send(staff, text)
        for text in ANSWERS:
            wait_count(young, text, 1)
            wait_count(staff, text, 1)

        for text in (ATTACKS[5], ATTACKS[6], ANSWERS[2]):
            for page in (young, staff):
                assert bubble_isolated(page, text), f"bidi controls escape their bubble: {text!r}"
        # A reload renders the history from the server again: still text.
        for page in (young, staff):
            page.reload()
            page.wait_for_selector("html[data-ready=true]")
            page.wait_for_selector(".chat-log[aria-busy=false]", timeout=SLOW_MS)
        for text in (*ATTACKS, *ANSWERS):
            wait_count(staff, text, 1)
            assert count_exact(young, text) == 1, text
        young.screenshot(path=str(screenshot_path("xss-young.png")))
        staff.screenshot(path=str(screenshot_path("xss-counsellor.png")))
        assert_untouched(young, young_dialogs, "the young person's conversation")
        assert_untouched(staff, staff_dialogs, "the counsellor's conversation")
    finally:
        young_ctx.close()
        staff_ctx.close()


def test_nicknames_cannot_carry_markup_or_bidi_controls(browser: Any,
                                                         live_server: LiveServer) -> None:
    bad = ["<img src=x onerror=window.__pwned=1>", "\u202eevil\u202c", "a\u2066b\u2069c",
           "<script>x</script>", "javascript:x"]
    for nickname in bad:
        identity = generate_identity()
        status, body, _ = api(live_server, "POST", "/api/auth/register", {
            "nickname": nickname, "salt": b64url_encode(random_bytes(16)),
            "iterations": 600_000, "auth_key": b64url_encode(random_bytes(32)),
            "key_blob": b64url_encode(random_bytes(BLOB_LEN)),
            "recovery_blob": b64url_encode(random_bytes(BLOB_LEN)),
            "recovery_auth_key": b64url_encode(random_bytes(32)),
            "x25519_public": b64url_encode(identity.x25519_public),
            "ed25519_public": b64url_encode(identity.ed25519_public),
            "locale": "de", "age_group": None,
        })
        assert (status, body["code"]) == (400, "nickname_invalid"), (nickname, body)
    ctx, page = device(browser, live_server, "de")
    dialogs = watch_dialogs(page)
    try:
        page.goto(f"{live_server.url}/#/register")
        page.wait_for_selector("html[data-ready=true]")
        page.fill("input[name=nickname]", bad[0])
        password = strong_password()
        page.fill("input[name=password]", password)
        page.fill("input[name=password-repeat]", password)
        page.click("form button[type=submit]")
        page.wait_for_timeout(1500)
        assert page.locator("[data-testid=recovery-code]").count() == 0
        assert page.evaluate(PWNED) and dialogs == []
        assert page.locator("main img").count() == 0
    finally:
        ctx.close()


def _staff_with_display_name(live_server: LiveServer, display_name: str) -> dict[str, str]:
    """A certified counsellor of the online team whose display name is an attack."""
    token = new_invitation(live_server, site="jmd-online", name=display_name)
    identity = generate_identity()
    nickname = f"xss-{secrets.token_hex(3)}"
    status, body, setup = api(live_server, "POST", f"/api/invitations/{token}/accept", {
        "nickname": nickname, "display_name": display_name,
        "salt": b64url_encode(random_bytes(16)), "iterations": 600_000,
        "auth_key": b64url_encode(random_bytes(32)),
        "key_blob": b64url_encode(random_bytes(BLOB_LEN)),
        "recovery_blob": b64url_encode(random_bytes(BLOB_LEN)),
        "recovery_auth_key": b64url_encode(random_bytes(32)),
        "x25519_public": b64url_encode(identity.x25519_public),
        "ed25519_public": b64url_encode(identity.ed25519_public), "locale": "de",
    })
    assert status == 200, body
    assert body["account"]["display_name"] == display_name
    status, confirmed, session = api(live_server, "POST", "/api/auth/totp/confirm",
                                     {"code": totp_now(body["totp_secret"], 0)}, cookie=setup)
    assert status == 200, confirmed
    org_key = Path(live_server.env["JMDCHAT_SERVER_DATA_DIR"]) / "demo-org-key.json"
    for attempt in range(3):  # the CLI shares the SQLite file with the running server
        done = live_server.cli("certify", "--org-key", str(org_key), "--account",
                               body["account"]["id"], "--yes", check=False)
        if done.returncode == 0:
            break
        time.sleep(1 + attempt)
    assert done.returncode == 0, done.stdout + done.stderr
    assert session is not None
    return {"cookie": session, "id": body["account"]["id"]}


def claim_as(live_server: LiveServer, cookie: str, conversation_id: str) -> dict[str, Any]:
    """Take the enquiry over socket.io as that counsellor (an asyncio client in its own
    thread: Playwright's sync API owns the main thread's event loop)."""

    async def claim() -> dict[str, Any]:
        client = socketio.AsyncClient(reconnection=False)
        await client.connect(live_server.url, headers={"Cookie": cookie},
                             transports=["websocket"], wait_timeout=10)
        try:
            return dict(await client.call("conversation.claim",
                                          {"conversation_id": conversation_id}, timeout=20))
        finally:
            await client.disconnect()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, claim()).result()


def test_a_counsellors_display_name_is_text(browser: Any, live_server: LiveServer) -> None:
    name = "<img src=x onerror=window.__pwned=1> Jonas & <b>Co</b>"
    staff = _staff_with_display_name(live_server, name)
    ctx, young = device(browser, live_server, "de")
    dialogs = watch_dialogs(young)
    try:
        register_with(young, live_server, f"yp_{secrets.token_hex(3)}")
        conversation_id = new_enquiry(young, "Hallo, ich habe eine Frage.")
        claimed = claim_as(live_server, staff["cookie"], conversation_id)
        assert claimed["ok"], claimed
        # The young person's screen names the counsellor: literally, as text.
        young.wait_for_function("(n) => document.body.textContent.includes(n)", arg=name,
                                timeout=LIVE_MS)
        young.reload()
        young.wait_for_selector(".chat-log[aria-busy=false]", timeout=SLOW_MS)
        young.wait_for_function("(n) => document.body.textContent.includes(n)", arg=name,
                                timeout=LIVE_MS)
        young.screenshot(path=str(screenshot_path("xss-display-name.png")))
        assert young.evaluate(PWNED) and dialogs == []
        assert young.locator("main img").count() == 0
        assert young.errors == []
    finally:
        ctx.close()
