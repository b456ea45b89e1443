"""Issue #5 end to end against a real server: a young person with an Arabic UI registers and
writes an enquiry in Arabic (postcode 54290 → JMD Trier, which speaks Arabic); a counsellor of
JMD Trier with a German UI sees it appear in the live queue without reloading, takes it, and
they talk: messages both ways, typing indicator, read receipts, a message written while
offline that arrives exactly once, and a reload of both pages that shows the history once and
lets them go on. Arabic bubbles are right-to-left in the German UI. Both screens are saved as
screenshots and checked with axe-core."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.browser.accounts_support import (
    SLOW_MS,
    axe_violations,
    demo_logins,
    strong_password,
    totp_now,
    unique_nickname,
)
from tests.conftest import LiveServer, axe_source, screenshot_path

pytestmark = pytest.mark.browser

LIVE_MS = 15_000  # anything "live" must show up within this (usually well under a second)

FIRST_AR = "مرحبا، أحتاج مساعدة في الاعتراف بشهادتي المدرسية من سوريا. ماذا أفعل؟"
ANSWER_DE = "Hallo! Schön, dass du schreibst. Welche Klasse hast du in Syrien abgeschlossen?"
REPLY_AR = "أنهيت الصف الحادي عشر. هل هذا يكفي؟ www.example.org"
OFFLINE_AR = "أكتب هذه الرسالة بدون إنترنت"
AFTER_RELOAD_DE = "Ja, wir schauen uns das gemeinsam an. Hast du dein Zeugnis als Foto?"
AFTER_RELOAD_AR = "نعم، عندي صورة."


def device(browser: Any, live_server: LiveServer, locale: str) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    context.add_cookies([{"name": "jmdchat_locale", "value": locale, "url": live_server.url}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    # Shown by pytest when a test fails: what the page warned about (refused messages, ...).
    page.on("console", lambda msg: print(f"[{locale}] {msg.type}: {msg.text}"))
    return context, page


def route_is(page: Any, pattern: str, timeout: int = SLOW_MS) -> None:
    page.wait_for_function("(p) => new RegExp(p).test(location.hash)", arg=pattern, timeout=timeout)


COUNT_EXACT = """(t) => [...document.querySelectorAll('.messages .msg .msg-text')]
  .filter((el) => el.textContent === t).length"""
# Is one of my messages with this text in one of these delivery states?
HAS_STATE = """([t, states]) => [...document.querySelectorAll('.messages .msg.mine')]
  .some((li) => li.querySelector('.msg-text')?.textContent === t
    && states.includes(li.dataset.state))"""
LOGGED_IN_OR_ERROR = """() => location.hash === '#/queue'
  || !!document.querySelector('.form-alert :is(.error-box, p)')"""
BUBBLE_DIR = """(t) => [...document.querySelectorAll('.messages .msg')]
  .find((li) => li.querySelector('.msg-text')?.textContent === t)
  ?.querySelector('.msg-bubble')?.getAttribute('dir') ?? null"""


def count_exact(page: Any, text: str) -> int:
    return int(page.evaluate(COUNT_EXACT, text))


def bubble_dir(page: Any, text: str) -> str | None:
    value = page.evaluate(BUBBLE_DIR, text)
    return None if value is None else str(value)


def wait_count(page: Any, text: str, n: int, timeout: int = LIVE_MS) -> None:
    page.wait_for_function(
        """([t, n]) => [...document.querySelectorAll('.messages .msg .msg-text')]
             .filter((el) => el.textContent === t).length === n""",
        arg=[text, n],
        timeout=timeout,
    )


def wait_state(page: Any, text: str, state: str, timeout: int = LIVE_MS) -> None:
    page.wait_for_function(HAS_STATE, arg=[text, [state]], timeout=timeout)


def send(page: Any, text: str) -> None:
    page.fill(".composer textarea", text)
    page.click(".composer button[type=submit]")


def counsellor_login(page: Any, live_server: LiveServer, login: dict[str, Any]) -> None:
    """Log in with password and TOTP. A code may be used once: when another test of this
    session used the same 30-second code for this account, wait for the next one."""
    page.goto(f"{live_server.url}/#/counsellor")
    page.wait_for_selector("html[data-ready=true]")
    page.fill("input[name=nickname]", login["nickname"])
    page.fill("input[name=password]", login["password"])
    for attempt in range(2):
        page.fill("input[name=totp]", totp_now(login["totp_secret"]))
        page.click("form button[type=submit]")
        page.wait_for_function(LOGGED_IN_OR_ERROR, timeout=SLOW_MS)
        if page.evaluate("location.hash") == "#/queue" or attempt:
            return
        time.sleep(31 - time.time() % 30)


def register_young(page: Any, live_server: LiveServer) -> str:
    page.goto(f"{live_server.url}/#/register")
    page.wait_for_selector("html[data-ready=true]")
    nickname = unique_nickname("yp")
    page.fill("input[name=nickname]", nickname)
    password = strong_password()
    page.fill("input[name=password]", password)
    page.fill("input[name=password-repeat]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector("[data-testid=recovery-code]", timeout=SLOW_MS)
    page.check("input[name=recovery-saved]")
    page.click("form.recovery-confirm button[type=submit]")
    return nickname


def no_axe_violations(page: Any, where: str) -> None:
    violations = axe_violations(page, axe_source())
    assert violations == [], f"axe on {where}: {violations}"


def test_enquiry_queue_claim_and_conversation(browser: Any, live_server: LiveServer) -> None:
    lena = next(a for a in demo_logins(live_server) if a["nickname"] == "lena-trier")
    young_ctx, young = device(browser, live_server, "ar")
    staff_ctx, staff = device(browser, live_server, "de")
    try:
        # --- the counsellor (German UI) logs in and lands on the live queue ----------------------
        counsellor_login(staff, live_server, lena)
        route_is(staff, "^#/queue$")
        staff.wait_for_selector(".queue-count:not(:empty)", timeout=SLOW_MS)

        # --- the young person (Arabic UI) registers and lands on a new enquiry -----------------
        nickname = register_young(young, live_server)
        assert young.get_attribute("html", "dir") == "rtl"
        route_is(young, "^#/enquiry/new$")  # no conversations yet: straight to a new enquiry

        young.wait_for_selector("select[name=topic] option[value=recognition]", state="attached")
        young.select_option("select[name=topic]", "recognition")
        assert young.input_value("select[name=language]") == "ar"  # defaults to the UI language
        young.fill("input[name=location]", "54290")
        young.fill("textarea[name=text]", FIRST_AR)
        assert young.get_attribute("textarea[name=text]", "dir") == "rtl"
        young.screenshot(path=str(screenshot_path("enquiry-new-ar.png")), full_page=True)
        no_axe_violations(young, "new enquiry (ar)")
        young.click(".enquiry-form button[type=submit]")
        route_is(young, "^#/c/[0-9a-f-]{36}$")
        conversation_id = young.evaluate("location.hash.split('/')[2]")
        # Where it went and how long it may take, at once, in Arabic.
        young.wait_for_selector(".waiting-card:not([hidden]) .waiting-site", timeout=LIVE_MS)
        assert "Trier" in young.inner_text(".waiting-card .waiting-site")
        young.wait_for_selector(".waiting-card .waiting-expected")
        wait_count(young, FIRST_AR, 1)

        # --- the enquiry appears in the counsellor's queue without a reload --------------------
        card = f".q-card[data-id='{conversation_id}']"
        staff.wait_for_selector(card, timeout=LIVE_MS)
        staff.wait_for_function(
            "(s) => document.querySelector(s + ' .q-text')?.textContent.length > 0",
            arg=card,
            timeout=LIVE_MS,
        )
        assert staff.locator(f"{card} .q-text.unreadable").count() == 0, (
            "the counsellor's browser could not verify the young person's signature: the server "
            "must tell counsellors the young person's public keys (young_person.ed25519_public "
            "in QueueItem / ConversationSummary, trust on first use)"
        )
        assert staff.inner_text(f"{card} .q-text") == FIRST_AR  # decrypted in the browser
        assert staff.get_attribute(f"{card} .q-text", "dir") == "rtl"
        assert "Arabisch" in staff.inner_text(f"{card} .q-meta")
        staff.screenshot(path=str(screenshot_path("queue-de.png")))
        no_axe_violations(staff, "queue (de)")

        # Filters by topic and language narrow the live queue without a reload.
        language_filter, topic_filter = ".filters select >> nth=0", ".filters select >> nth=1"
        staff.select_option(topic_filter, "school")
        staff.wait_for_selector(card, state="hidden", timeout=LIVE_MS)
        staff.select_option(topic_filter, "recognition")
        staff.wait_for_selector(card, state="visible", timeout=LIVE_MS)
        staff.select_option(language_filter, "ar")
        staff.wait_for_selector(card, state="visible", timeout=LIVE_MS)
        staff.select_option(topic_filter, "")
        staff.select_option(language_filter, "")

        staff.click(f"{card} button.take")
        route_is(staff, f"^#/c/{conversation_id}$")
        wait_count(staff, FIRST_AR, 1)
        staff.wait_for_selector(".msg.system")
        # The young person sees the claim live: the waiting card goes, a system line comes.
        young.wait_for_selector(".msg.system", timeout=LIVE_MS)
        young.wait_for_selector(".waiting-card[hidden]", state="attached", timeout=LIVE_MS)

        # --- messages both ways, typing, read receipts -----------------------------------------
        staff.fill(".composer textarea", "Hal")
        young.wait_for_selector(".typing.active", timeout=LIVE_MS)
        send(staff, ANSWER_DE)
        wait_count(young, ANSWER_DE, 1)
        assert young.get_attribute(".msg.theirs .msg-bubble >> nth=-1", "dir") == "ltr"
        wait_state(staff, ANSWER_DE, "read")  # the young person's page is open: read at once

        young.fill(".composer textarea", "أنهيت")
        staff.wait_for_selector(".typing.active", timeout=LIVE_MS)
        send(young, REPLY_AR)
        wait_count(staff, REPLY_AR, 1)
        wait_state(young, REPLY_AR, "read")
        # The link stays plain text: no anchor is made from message text.
        assert staff.locator(".messages a").count() == 0

        # --- offline: the outbox keeps the message and sends it once when back ------------------
        young_ctx.set_offline(True)
        young.wait_for_selector(".conn-banner[data-status=offline]:not([hidden])", timeout=LIVE_MS)
        send(young, OFFLINE_AR)
        wait_state(young, OFFLINE_AR, "sending")
        staff.wait_for_timeout(1500)
        assert count_exact(staff, OFFLINE_AR) == 0
        young_ctx.set_offline(False)
        wait_count(staff, OFFLINE_AR, 1)
        young.wait_for_function(HAS_STATE, arg=[OFFLINE_AR, ["sent", "read"]], timeout=LIVE_MS)
        staff.wait_for_timeout(1000)
        assert count_exact(staff, OFFLINE_AR) == 1

        # --- reload both: the history is there once, and the conversation goes on --------------
        for page in (young, staff):
            page.reload()
            page.wait_for_selector("html[data-ready=true]")
            page.wait_for_selector(".chat-log[aria-busy=false]", timeout=SLOW_MS)
        for page in (young, staff):
            for text in (FIRST_AR, ANSWER_DE, REPLY_AR, OFFLINE_AR):
                wait_count(page, text, 1)
        send(staff, AFTER_RELOAD_DE)
        wait_count(young, AFTER_RELOAD_DE, 1)
        send(young, AFTER_RELOAD_AR)
        wait_count(staff, AFTER_RELOAD_AR, 1)
        wait_state(young, AFTER_RELOAD_AR, "read")

        # Arabic messages are right-to-left inside the German counsellor UI, German ones not.
        assert staff.get_attribute("html", "dir") == "ltr"
        for text in (FIRST_AR, REPLY_AR, OFFLINE_AR, AFTER_RELOAD_AR):
            assert bubble_dir(staff, text) == "rtl", text
        assert bubble_dir(staff, ANSWER_DE) == "ltr"
        assert bubble_dir(young, ANSWER_DE) == "ltr"
        assert bubble_dir(young, REPLY_AR) == "rtl"

        # --- how it looks, and whether everyone can use it --------------------------------------
        for page in (young, staff):
            page.evaluate("document.activeElement && document.activeElement.blur()")
            page.wait_for_timeout(300)
        young.screenshot(path=str(screenshot_path("conversation-young-ar.png")))
        staff.screenshot(path=str(screenshot_path("conversation-counsellor-de.png")))
        no_axe_violations(young, "conversation (ar)")
        no_axe_violations(staff, "conversation (de)")

        # The lists: the conversation with its last activity, nothing unread any more.
        young.goto(f"{live_server.url}/#/conversations")
        young.wait_for_selector(f".conv-row[data-id='{conversation_id}']", timeout=LIVE_MS)
        assert young.locator(f".conv-row[data-id='{conversation_id}'] .badge").count() == 0
        staff.goto(f"{live_server.url}/#/counsellor/conversations")
        row = f".conv-row[data-id='{conversation_id}']"
        staff.wait_for_selector(row, timeout=LIVE_MS)
        # Search by nickname (case-insensitive) finds the conversation; another name hides it.
        staff.fill("input[type=search]", "no-such-nickname")
        staff.wait_for_selector(row, state="hidden", timeout=LIVE_MS)
        staff.fill("input[type=search]", nickname.upper())
        staff.wait_for_selector(row, state="visible", timeout=LIVE_MS)
        staff.fill("input[type=search]", "")
        young.screenshot(path=str(screenshot_path("conversations-young-ar.png")))
        staff.screenshot(path=str(screenshot_path("conversations-counsellor-de.png")))
        no_axe_violations(young, "my conversations (ar)")
        no_axe_violations(staff, "counsellor conversations (de)")

        assert young.errors == [] and staff.errors == []
    finally:
        young_ctx.close()
        staff_ctx.close()


def test_queue_race_and_older_pages(browser: Any, live_server: LiveServer) -> None:
    """Two counsellors of JMD Berlin see the same enquiry live; one takes it, the other's card
    says at once that a colleague took it. A long conversation opens at its end and loads
    older pages on demand."""
    logins = {a["nickname"]: a for a in demo_logins(live_server)}
    young_ctx, young = device(browser, live_server, "ru")
    amira_ctx, amira = device(browser, live_server, "de")
    jonas_ctx, jonas = device(browser, live_server, "de")
    try:
        counsellor_login(amira, live_server, logins["amira-berlin"])
        counsellor_login(jonas, live_server, logins["jonas-berlin"])
        for page in (amira, jonas):
            route_is(page, "^#/queue$")
            page.wait_for_selector(".queue-count:not(:empty)", timeout=SLOW_MS)

        register_young(young, live_server)
        route_is(young, "^#/enquiry/new$")
        young.wait_for_selector("select[name=topic] option[value=school]", state="attached")
        young.select_option("select[name=topic]", "school")
        young.fill("input[name=location]", "10178")
        young.fill("textarea[name=text]", "Привет! У меня вопрос о школе.")
        young.click(".enquiry-form button[type=submit]")
        route_is(young, "^#/c/[0-9a-f-]{36}$")
        conversation_id = young.evaluate("location.hash.split('/')[2]")
        card = f".q-card[data-id='{conversation_id}']"
        for page in (amira, jonas):
            page.wait_for_selector(f"{card} button.take", timeout=LIVE_MS)

        jonas.click(f"{card} button.take")
        route_is(jonas, f"^#/c/{conversation_id}$")
        amira.wait_for_function(
            "(s) => document.querySelector(s + ' .q-state')?.textContent.includes('Jonas')",
            arg=card,
            timeout=LIVE_MS,
        )
        assert amira.locator(f"{card} button.take").is_hidden()

        # Counsellor tools: a canned response for the site, inserted into the composer ...
        jonas.click("details.tool:has-text('Textbausteine') > summary")
        jonas.wait_for_selector("details.tool[open] .canned-list li")
        jonas.click("details.tool[open] details.tool-sub > summary")
        form = "details.tool[open] form.tool-form"
        jonas.fill(f"{form} input", "Begrüßung")
        jonas.fill(f"{form} textarea", "Здравствуй! Я консультант JMD Berlin.")
        jonas.select_option(f"{form} select >> nth=0", "ru")
        jonas.click(f"{form} button[type=submit]")
        jonas.wait_for_selector(".canned-body:has-text('Я консультант')", timeout=LIVE_MS)
        jonas.click(".canned:has-text('Я консультант') button.button")
        assert jonas.input_value(".composer textarea") == "Здравствуй! Я консультант JMD Berlin."
        send(jonas, jonas.input_value(".composer textarea"))
        wait_count(young, "Здравствуй! Я консультант JMD Berlin.", 1)
        # ... a private note of the site (never shown to the young person) ...
        jonas.click("details.tool:has-text('Interne Notizen') > summary")
        jonas.fill("details.tool[open] form.tool-form textarea >> nth=-1", "Schule: Klasse 9")
        jonas.click("details.tool[open] form.tool-form:has-text('Notiz') button[type=submit]")
        jonas.wait_for_selector(".note:has-text('Schule: Klasse 9')", timeout=LIVE_MS)
        assert young.locator("text=Schule: Klasse 9").count() == 0
        # ... and the absence notice, which the young person sees at once.
        jonas.click("details.tool:has-text('Abwesenheitsnotiz') > summary")
        jonas.fill("input[type=datetime-local]", "2099-01-05T10:00")
        jonas.click("details.tool[open] form:has(input[type=datetime-local]) button[type=submit]")
        young.wait_for_selector(".absence-notice", timeout=LIVE_MS)
        assert "Jonas" in young.inner_text(".absence-notice")
        jonas.screenshot(path=str(screenshot_path("counsellor-tools-de.png")), full_page=True)
        young.screenshot(path=str(screenshot_path("absence-young-ru.png")))
        jonas.click("details.tool[open] form:has(input[type=datetime-local]) button[type=button]")
        young.wait_for_selector(".absence-notice", state="detached", timeout=LIVE_MS)

        # A long conversation: 45 more messages (sent one after another through the outbox).
        texts = [f"Сообщение номер {i}" for i in range(1, 46)]
        for text in texts:
            send(young, text)
        wait_count(jonas, texts[-1], 1, timeout=SLOW_MS)
        for text in texts:
            wait_state(young, text, "read", timeout=SLOW_MS)
        jonas.reload()
        jonas.wait_for_selector(".chat-log[aria-busy=false]", timeout=SLOW_MS)
        wait_count(jonas, texts[-1], 1)
        assert count_exact(jonas, texts[0]) == 0  # only the newest page is loaded
        jonas.click(".load-earlier")
        wait_count(jonas, texts[0], 1)
        wait_count(jonas, "Привет! У меня вопрос о школе.", 1)
        jonas.wait_for_selector(".load-earlier[hidden]", state="attached", timeout=LIVE_MS)
        for text in texts:
            assert count_exact(jonas, text) == 1, text
        no_axe_violations(jonas, "conversation with counsellor tools open (de)")

        # The young person closes the conversation; writing again opens it again.
        young.click(".chat-actions button")
        young.click(".confirm .button.primary")
        young.wait_for_selector(".closed-notice", timeout=LIVE_MS)
        jonas.wait_for_selector(".closed-notice", timeout=LIVE_MS)
        send(young, "Ещё один вопрос!")
        wait_count(jonas, "Ещё один вопрос!", 1)
        jonas.wait_for_selector(".closed-notice", state="detached", timeout=LIVE_MS)
        assert young.errors == [] and amira.errors == [] and jonas.errors == []
    finally:
        for ctx in (young_ctx, amira_ctx, jonas_ctx):
            ctx.close()
