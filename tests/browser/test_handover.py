"""Issue #6 end to end in real browsers against a real server: an Arabic-speaking young person
(Arabic UI) writes to JMD Berlin, Amira (Berlin, German UI) answers and proposes a move to
JMD Trier with a note. The young person sees the consent card in Arabic (screenshot, axe) with
Trier's address and opening hours and agrees.

* Run 1, earlier messages allowed: Lena (Trier) finds the conversation in her queue marked as
  handed over, takes it, reads the young person's old message (decrypted in her browser through
  the keys the young person's browser re-sealed to Trier) and answers; the young person gets the
  answer. Amira's browser receives nothing after the handover.
* Run 2, earlier messages NOT allowed: Lena cannot decrypt the earlier epoch — the old message
  stays unreadable in her browser (and no key of epoch 1 was sealed to Trier) — while new
  messages go both ways.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.accounts_support import SLOW_MS, demo_logins
from tests.browser.test_conversation_e2e import (
    LIVE_MS,
    counsellor_login,
    count_exact,
    device,
    no_axe_violations,
    register_young,
    route_is,
    send,
    wait_count,
)
from tests.conftest import LiveServer, screenshot_path

pytestmark = pytest.mark.browser

FIRST_AR = "مرحبا، أنا في برلين الآن لكن عائلتي تنتقل إلى ترير. هل يمكنكم مساعدتي هناك؟"
AMIRA_DE = "Hallo! Ich bin Amira vom JMD Berlin. In Trier gibt es ein Team, das Arabisch spricht."
LENA_DE = "Hallo, hier ist Lena vom JMD Trier. Ich habe deine Nachricht gelesen."
REPLY_AR = "شكرا لينا! متى يمكنني زيارتكم؟"
NOTE_DE = "Familie zieht nach Trier; Anerkennung des Schulzeugnisses offen."

MSG_COUNT = "() => document.querySelectorAll('.messages .msg').length"
# The epochs whose keys this browser holds for a conversation (the app's own key store).
KNOWN_EPOCHS = """async (id) => {
  const keys = await import('/static/src/chat/keys.js');
  return [...keys.epochKeysOf(id).keys()].sort((a, b) => a - b);
}"""
UNREADABLE = "() => document.querySelectorAll('.messages .msg .msg-text.unreadable').length"


def enquiry_to_berlin(young: Any, text: str) -> str:
    young.wait_for_selector("select[name=topic] option[value=recognition]", state="attached")
    young.select_option("select[name=topic]", "recognition")
    young.fill("input[name=location]", "10178")
    young.fill("textarea[name=text]", text)
    young.click(".enquiry-form button[type=submit]")
    route_is(young, "^#/c/[0-9a-f-]{36}$")
    young.wait_for_selector(".waiting-card:not([hidden]) .waiting-site", timeout=LIVE_MS)
    assert "Berlin" in young.inner_text(".waiting-card .waiting-site")
    return str(young.evaluate("location.hash.split('/')[2]"))


def take_from_queue(staff: Any, live_server: LiveServer, conversation_id: str) -> None:
    staff.goto(f"{live_server.url}/#/queue")
    card = f".q-card[data-id='{conversation_id}']"
    staff.wait_for_selector(card, timeout=LIVE_MS)
    staff.click(f"{card} button.take")
    route_is(staff, f"^#/c/{conversation_id}$")


def propose_trier(amira: Any, note: str) -> None:
    amira.click(".handover-tool > summary")
    amira.fill("input[name=site-query]", "Trier")
    amira.click(".handover-site-form button:not([type=submit])")
    radio = ".handover-result input[type=radio]"
    amira.wait_for_selector(radio, timeout=LIVE_MS)
    label = amira.inner_text(".handover-result label")
    assert "Trier" in label, label
    amira.check(radio)
    amira.fill("textarea[name=site-note]", note)
    amira.click(".handover-site-form button[type=submit]")
    amira.wait_for_selector(".handover-pending .notice", timeout=LIVE_MS)


def one_run(browser: Any, live_server: LiveServer, amira: Any, lena: Any, *, history: bool,
            shot: str) -> None:
    young_ctx, young = device(browser, live_server, "ar")
    try:
        register_young(young, live_server)
        route_is(young, "^#/enquiry/new$")
        conversation_id = enquiry_to_berlin(young, FIRST_AR)

        take_from_queue(amira, live_server, conversation_id)
        wait_count(amira, FIRST_AR, 1)
        send(amira, AMIRA_DE)
        wait_count(young, AMIRA_DE, 1)

        # --- Amira proposes JMD Trier; the young person sees it live, in Arabic -----------
        propose_trier(amira, NOTE_DE)
        consent = ".handover-consent"
        young.wait_for_selector(consent, timeout=LIVE_MS)
        text = young.inner_text(consent)
        assert "Trier" in text and "Bruchhausenstraße" in text  # the address for a visit
        assert young.locator(f"{consent} .handover-hours li").count() >= 1  # opening hours
        assert young.get_attribute("html", "dir") == "rtl"
        young.screenshot(path=str(screenshot_path(shot)), full_page=True)
        no_axe_violations(young, "handover consent (ar)")
        # A reload keeps the open question (the state is on the server).
        young.reload()
        young.wait_for_selector(consent, timeout=LIVE_MS)

        before = int(amira.evaluate(MSG_COUNT))
        if not history:
            young.check(f"{consent} input[value=new]")
        young.click(f"{consent} button[data-action=accept]")
        young.wait_for_selector(".handover-moved", timeout=LIVE_MS)
        assert "Trier" in young.inner_text(".handover-moved")
        young.wait_for_selector(".waiting-card:not([hidden]) .waiting-site", timeout=LIVE_MS)
        assert "Trier" in young.inner_text(".waiting-card .waiting-site")

        # --- Lena (Trier) finds it in her queue, marked as handed over, and takes it ---------
        lena.goto(f"{live_server.url}/#/queue")
        card = f".q-card[data-id='{conversation_id}']"
        lena.wait_for_selector(card, timeout=LIVE_MS)
        assert "Berlin" in lena.inner_text(card)  # "handed over by Jugendmigrationsdienst Berlin"
        lena.click(f"{card} button.take")
        route_is(lena, f"^#/c/{conversation_id}$")
        lena.wait_for_selector(".messages .msg", timeout=LIVE_MS)
        lena.wait_for_function(f"async () => ({KNOWN_EPOCHS})('{conversation_id}')"
                               ".then((e) => e.includes(2))", timeout=LIVE_MS)
        epochs = lena.evaluate(KNOWN_EPOCHS, conversation_id)
        if history:
            # The old message, decrypted in Lena's browser with the re-sealed epoch-1 key.
            wait_count(lena, FIRST_AR, 1)
            # Amira's answer too: her signature checks out against her certificate for Berlin.
            wait_count(lena, AMIRA_DE, 1)
            assert int(lena.evaluate(UNREADABLE)) == 0
            assert epochs == [1, 2]
        else:
            # No key of the earlier epoch for Trier: Lena's browser cannot decrypt epoch 1
            # (and the server does not even hand her its ciphertext).
            assert epochs == [2]
            lena.wait_for_selector(".msg.system", timeout=LIVE_MS)
            assert count_exact(lena, FIRST_AR) == 0
            assert count_exact(lena, AMIRA_DE) == 0
            assert int(lena.evaluate(UNREADABLE)) == 0
        # The handover note, sealed to Trier's key, is among Trier's private notes.
        lena.click(".tools details.tool:has(.notes-list) > summary")
        lena.wait_for_function("(t) => [...document.querySelectorAll('.notes-list .note p')]"
                               ".some((p) => p.textContent === t)", arg=NOTE_DE, timeout=LIVE_MS)

        send(lena, LENA_DE)
        wait_count(young, LENA_DE, 1)
        send(young, REPLY_AR)
        wait_count(lena, REPLY_AR, 1)

        # --- Amira's browser received nothing after the handover ----------------------------
        amira.wait_for_timeout(1500)  # anything in flight would have arrived by now
        assert count_exact(amira, LENA_DE) == 0
        assert count_exact(amira, REPLY_AR) == 0
        assert int(amira.evaluate(MSG_COUNT)) == before
        assert young.errors == [] and lena.errors == [] and amira.errors == []
    finally:
        young_ctx.close()


def colleague_run(browser: Any, live_server: LiveServer, amira: Any) -> None:
    """Amira hands a conversation to her colleague Jonas; the young person is told, in the
    conversation, who has it now."""
    young_ctx, young = device(browser, live_server, "ar")
    try:
        register_young(young, live_server)
        route_is(young, "^#/enquiry/new$")
        conversation_id = enquiry_to_berlin(young, FIRST_AR)
        take_from_queue(amira, live_server, conversation_id)
        wait_count(amira, FIRST_AR, 1)
        amira.click(".handover-tool > summary")
        amira.wait_for_function(
            "() => [...document.querySelectorAll('select[name=colleague] option')]"
            ".some((o) => o.textContent === 'Jonas')", timeout=LIVE_MS)
        amira.select_option("select[name=colleague]", label="Jonas")
        amira.click(".handover-colleague button[type=submit]")
        young.wait_for_function(
            "() => [...document.querySelectorAll('.msg.system .system-text')]"
            ".some((p) => p.textContent.includes('Jonas'))", timeout=LIVE_MS)
        assert young.errors == [] and amira.errors == []
    finally:
        young_ctx.close()


def test_handover_berlin_to_trier(browser: Any, live_server: LiveServer) -> None:
    logins = {a["nickname"]: a for a in demo_logins(live_server)}
    amira_ctx, amira = device(browser, live_server, "de")
    lena_ctx, lena = device(browser, live_server, "de")
    lead_ctx, lead = device(browser, live_server, "de")
    try:
        counsellor_login(amira, live_server, logins["amira-berlin"])
        counsellor_login(lena, live_server, logins["lena-trier"])
        amira.wait_for_selector(".queue-count", timeout=SLOW_MS)
        one_run(browser, live_server, amira, lena, history=True, shot="handover-consent-ar.png")
        one_run(browser, live_server, amira, lena, history=False,
                shot="handover-consent-no-history-ar.png")
        colleague_run(browser, live_server, amira)

        # --- the Berlin site lead sees the handovers (metadata only) in the admin area -------
        counsellor_login(lead, live_server, logins["jonas-berlin"])
        lead.goto(f"{live_server.url}/#/admin")
        lead.wait_for_selector("a[href='#/admin/handovers']", timeout=SLOW_MS)
        lead.click("a[href='#/admin/handovers']")
        lead.wait_for_selector(".handover-log tbody tr", timeout=LIVE_MS)
        rows = lead.eval_on_selector_all(".handover-log tbody tr",
                                         "(rs) => rs.map((r) => r.dataset.action)")
        assert rows.count("conversation_handed_over") >= 2, rows
        assert "conversation_reassigned" in rows, rows
        text = lead.inner_text(".handover-log")
        assert "Trier" in text and "Jonas" in text
        assert FIRST_AR not in text  # metadata only
        lead.screenshot(path=str(screenshot_path("admin-handovers-de.png")), full_page=True)
        no_axe_violations(lead, "admin handovers (de)")
    finally:
        amira_ctx.close()
        lena_ctx.close()
        lead_ctx.close()
