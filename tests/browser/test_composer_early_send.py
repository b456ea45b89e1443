"""The composer before its conversation has loaded (a fast thumb on a slow phone).

The conversation view shows its composer at once and loads the conversation after it (topic
names, summary, keys, history). A message sent in that moment must neither be lost nor submit
the form the browser's way, which would navigate and put the message text into the URL (and
so into every proxy's access log). Here the topic names are held back at the network, two
messages are sent while the view waits for them, and only then is the answer let through:
the URL never held the text, both messages are sent, once each, in the order they were typed.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.accounts_support import SLOW_MS
from tests.browser.test_conversation_e2e import (
    count_exact,
    device,
    register_young,
    route_is,
    wait_state,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

FIRST = "Hallo, ich habe eine Frage zu meinem Praktikum."
EARLY = ["Noch etwas: ich bin 16.", "Und ich wohne in Köln."]
ORDER = """() => [...document.querySelectorAll('.messages .msg.mine .msg-text')]
  .map((el) => el.textContent)"""


def test_messages_sent_before_the_view_is_ready_are_kept_in_order(
    browser: Any, live_server: LiveServer
) -> None:
    ctx, page = device(browser, live_server, "de")
    try:
        register_young(page, live_server)
        route_is(page, "^#/enquiry/new$")
        page.wait_for_selector("select[name=topic] option[value=training_work]", state="attached")
        page.select_option("select[name=topic]", "training_work")
        page.fill("textarea[name=text]", FIRST)
        page.click(".enquiry-form button[type=submit]")
        route_is(page, "^#/c/[0-9a-f-]{36}$")
        wait_state(page, FIRST, "sent", timeout=SLOW_MS)
        conversation_url = page.url

        held: list[Any] = []
        page.route("**/api/topics*", lambda route: held.append(route))
        page.reload()
        page.wait_for_selector(".composer textarea", timeout=SLOW_MS)
        for _ in range(200):  # the view asks for the topic names right after its composer
            if held:
                break
            page.wait_for_timeout(50)
        assert held, "the view did not ask for the topic names: the test proves nothing"
        assert page.locator(".chat-log[aria-busy=true]").count() == 1  # not loaded yet
        for text in EARLY:
            page.fill(".composer textarea", text)
            page.eval_on_selector(".composer", "(form) => form.requestSubmit()")
            assert page.input_value(".composer textarea") == ""  # taken, as after every send
        assert page.url == conversation_url  # no navigation, no text in the URL
        for route in held:
            route.continue_()
        page.unroute("**/api/topics*")

        page.wait_for_selector(".chat-log[aria-busy=false]", timeout=SLOW_MS)
        for text in EARLY:
            wait_state(page, text, "sent", timeout=SLOW_MS)
            assert count_exact(page, text) == 1
        assert page.evaluate(ORDER) == [FIRST, *EARLY]
        assert page.url == conversation_url
        assert page.errors == []
    finally:
        ctx.close()


SEND_BUTTON_REACHABLE = """() => {
  const view = document.querySelector('.chat-view').getBoundingClientRect();
  const composer = document.querySelector('.composer').getBoundingClientRect();
  const footer = document.querySelector('#footer').getBoundingClientRect();
  const button = document.querySelector('.composer button[type=submit]');
  button.scrollIntoView({ block: 'nearest' });
  const r = button.getBoundingClientRect();
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  return {
    inside_view: composer.bottom <= view.bottom + 0.5,
    above_footer: composer.bottom <= footer.top + 0.5,
    tappable: r.height > 0 && !!hit && button.contains(hit),
  };
}"""


@pytest.mark.parametrize("locale", ["de", "ar"])
def test_send_button_stays_reachable_on_a_small_phone_while_waiting(
    browser: Any, live_server: LiveServer, locale: str
) -> None:
    """360×640 (a cheap Android phone): the waiting card (site, reason, queue position,
    expected answer, hint) must not push the composer under the page footer."""
    ctx = browser.new_context(viewport={"width": 360, "height": 640}, device_scale_factor=1)
    ctx.add_cookies([{"name": "jmdchat_locale", "value": locale, "url": live_server.url}])
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    try:
        register_young(page, live_server)
        route_is(page, "^#/enquiry/new$")
        page.wait_for_selector("select[name=topic] option[value=school]", state="attached")
        page.select_option("select[name=topic]", "school")
        page.fill("textarea[name=text]", FIRST)
        page.click(".enquiry-form button[type=submit]")
        route_is(page, "^#/c/[0-9a-f-]{36}$")
        page.wait_for_selector(".waiting-card:not([hidden])", timeout=SLOW_MS)
        page.wait_for_selector(".chat-log[aria-busy=false]", timeout=SLOW_MS)
        assert page.evaluate(SEND_BUTTON_REACHABLE) == {
            "inside_view": True, "above_footer": True, "tappable": True}
        page.fill(".composer textarea", EARLY[0])
        page.click(".composer button[type=submit]", timeout=10_000)  # a real tap, no tricks
        wait_state(page, EARLY[0], "sent", timeout=SLOW_MS)
        assert page.errors == []
    finally:
        ctx.close()
