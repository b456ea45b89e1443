"""Block and report in the browser (issue #8), against the live server with its demo data:
a young person writes to JMD Berlin; Amira (counsellor, demo login with TOTP) takes the
conversation, blocks the young person from it and reports the account with a note. The young
person's screen shows only the neutral "This conversation has ended" notice — no composer, no
word of a block or a report — and still offers a new enquiry. Jonas, the site lead of Berlin,
finds the report under Administration → Reports with the note decrypted in his browser, and
blocks the account from new enquiries at the site. Screenshots of all three screens."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.browser.accounts_support import SLOW_MS, demo_logins
from tests.browser.test_conversation_e2e import (
    LIVE_MS,
    counsellor_login,
    count_exact,
    device,
    register_young,
    route_is,
    send,
    wait_count,
    wait_state,
)
from tests.conftest import LiveServer, screenshot_path, start_server, stop_server

pytestmark = pytest.mark.browser

FIRST = "Hallo, ich brauche Hilfe bei meiner Bewerbung."
ABUSE = "Das ist eine beleidigende Nachricht."
NOTE = "Beleidigungen in drei Nachrichten; bitte Konto prüfen. مرحبا"
#: What the young person's client shows (German catalog; the English source until translated).
REVEALING = ("block", "sperr", "report", "meld", "gemeldet")


def test_counsellor_blocks_and_reports_young_person_sees_neutral_end(
    browser: Any, live_server: LiveServer
) -> None:
    logins = {a["nickname"]: a for a in demo_logins(live_server)}
    young_ctx, young = device(browser, live_server, "de")
    staff_ctx, staff = device(browser, live_server, "de")
    lead_ctx, lead = device(browser, live_server, "de")
    try:
        counsellor_login(staff, live_server, logins["amira-berlin"])
        route_is(staff, "^#/queue$")
        nickname = register_young(young, live_server)
        route_is(young, "^#/enquiry/new$")
        young.wait_for_selector("select[name=topic] option[value=school]", state="attached")
        young.select_option("select[name=topic]", "school")
        young.fill("input[name=location]", "10178")
        young.fill("textarea[name=text]", FIRST)
        young.click(".enquiry-form button[type=submit]")
        route_is(young, "^#/c/[0-9a-f-]{36}$")
        conversation_id = str(young.evaluate("location.hash.split('/')[2]"))

        card = f".q-card[data-id='{conversation_id}']"
        staff.wait_for_selector(card, timeout=LIVE_MS)
        staff.click(f"{card} button.take")
        route_is(staff, f"^#/c/{conversation_id}$")
        wait_count(staff, FIRST, 1)
        send(young, ABUSE)
        wait_count(staff, ABUSE, 1)

        # --- the counsellor blocks the young person from this conversation ----------------------
        staff.click(".moderation-tool > summary")
        staff.select_option(".moderation-tool .tool-form .reason-select >> nth=0", "harassment")
        staff.click(".moderation-tool [data-action=block]")
        staff.click(".moderation-tool [data-action=confirm-block]")
        staff.wait_for_selector(".moderation-blocked", timeout=LIVE_MS)
        assert staff.locator(".moderation-tool [data-action=unblock]").is_visible()
        staff.wait_for_selector(".chat-view.conv-ended .ended-notice", timeout=LIVE_MS)
        assert not staff.locator(".composer").is_visible()

        # --- the young person sees a neutral end, live, and no composer -------------------------
        young.wait_for_selector(".ended-notice", timeout=LIVE_MS)
        notice = young.inner_text(".ended-notice").lower()
        shown = young.inner_text(".chat-view").lower()
        for word in REVEALING:
            assert word not in notice and word not in shown, word
        assert not young.locator(".composer").is_visible()
        assert young.locator(".ended-notice a[href='#/enquiry/new']").is_visible()
        young.screenshot(path=str(screenshot_path("moderation-young-ended.png")), full_page=True)
        # Still ended after a reload (from the stored system event).
        young.reload()
        young.wait_for_selector("html[data-ready=true]")
        young.wait_for_selector(".ended-notice", timeout=SLOW_MS)
        assert not young.locator(".composer").is_visible()

        # --- the counsellor reports the account with a note (sealed to the site key) -------------
        staff.select_option(".moderation-tool .report-form .reason-select", "threats")
        staff.fill(".moderation-tool .report-note", NOTE)
        staff.click(".moderation-tool .report-form button[type=submit]")
        staff.wait_for_selector(".moderation-reports li", timeout=LIVE_MS)
        staff.screenshot(path=str(screenshot_path("moderation-counsellor.png")), full_page=True)
        assert staff.errors == [] and young.errors == []

        # --- the site lead reviews the report and blocks the account at the site ----------------
        counsellor_login(lead, live_server, logins["jonas-berlin"])
        route_is(lead, "^#/queue$")
        lead.goto(f"{live_server.url}/#/admin/reports")
        report = lead.locator(".report-card", has_text=nickname)
        report.wait_for(timeout=LIVE_MS)
        lead.wait_for_function(
            "(t) => [...document.querySelectorAll('.report-note-text')]"
            ".some((el) => el.textContent === t)", arg=NOTE, timeout=LIVE_MS)
        report.locator("[data-action=block_site]").click()
        report.wait_for(state="detached", timeout=LIVE_MS)  # dealt with: no longer open
        lead.select_option(".reports-page select", "all")
        done = lead.locator(".report-card[data-status=actioned]", has_text=nickname)
        done.wait_for(timeout=LIVE_MS)
        assert done.locator("[data-action=unblock_site]").is_visible()
        lead.screenshot(path=str(screenshot_path("moderation-reports-lead.png")), full_page=True)
        assert lead.errors == []
    finally:
        young_ctx.close()
        staff_ctx.close()
        lead_ctx.close()


def test_outbox_resends_after_a_rate_limit(browser: Any, tmp_path: Path) -> None:
    server = start_server(tmp_path, extra_env={
        "JMDCHAT_RATE_LIMITS_MESSAGES_PER_CONNECTION_PER_10S": "3"})
    young_ctx, young = device(browser, server, "de")
    try:
        register_young(young, server)
        route_is(young, "^#/enquiry/new$")
        young.wait_for_selector("select[name=topic] option[value=school]", state="attached")
        young.select_option("select[name=topic]", "school")
        young.fill("textarea[name=text]", "Hallo, eine Frage zur Schule.")
        young.click(".enquiry-form button[type=submit]")
        route_is(young, "^#/c/[0-9a-f-]{36}$")
        # The conversation view is live (enquiry stored, its card shown) before the burst, so the
        # burst meets the rate limit (sending while the view loads: test_composer_early_send.py).
        young.wait_for_selector(".waiting-card:not([hidden])", timeout=SLOW_MS)
        texts = [f"Schnelle Nachricht {i}" for i in range(1, 7)]
        for text in texts:  # as fast as one can
            young.fill(".composer textarea", text)
            young.eval_on_selector(".composer", "(form) => form.requestSubmit()")
        for text in texts:  # 3 at once, the others after retry_after (about 4 s each)
            wait_state(young, text, "sent", timeout=SLOW_MS)
        for text in texts:
            assert count_exact(young, text) == 1, text
        assert young.locator(".msg-failed").count() == 0
        with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as response:
            metrics = response.read().decode()
        refused = sum(
            float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
            if line.startswith("jmdchat_socket_events_total{")
            and 'event="message.send"' in line and 'ok="false"' in line
        )
        assert refused >= 1, "the limit never refused anything: the test proves nothing"
        # After a reload the history holds each message exactly once.
        young.reload()
        young.wait_for_selector(".chat-log[aria-busy=false]", timeout=SLOW_MS)
        for text in texts:
            wait_count(young, text, 1)
        assert young.errors == []
    finally:
        young_ctx.close()
        stop_server(server)
