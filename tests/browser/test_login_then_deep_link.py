"""Logging in and opening a deep link at once (a round page right after the login) must end
with a working connection, never with "The connection was refused. Please log in again."

The cause of that report: the landing page after the login starts the socket.io connection,
and the next page asked `connect()` again while the connection was still opening (engine.io
open, socket.io CONNECT sent, no answer yet). socket.io-client then sends the namespace CONNECT
a second time; python-socketio answers the duplicate with CONNECT_ERROR "Unable to connect", the
client destroys the socket and the page shows "refused" (or, when the answer to the first CONNECT
came first, the socket stays "connected" on a closed engine and every request times out).
`connect()` now only starts a connection when the socket is not already active.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.accounts_support import (
    SLOW_MS,
    demo_logins,
    goto,
    new_page,
    register_api,
    strong_password,
    unique_nickname,
)
from tests.browser.test_conversation_e2e import counsellor_login, device
from tests.browser.test_rounds import schedule_and_open
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

SOCKET_MODULE = "/static/src/net/socket.js"

# connect() again at the worst moment: right after engine.io opened, when socket.io has just
# sent its CONNECT and waits for the answer (what a second view starting meanwhile does).
CONNECT_TWICE = """async (module) => {
  const sock = await import(module);
  const statuses = [];
  sock.onStatus((s) => statuses.push(s));
  const socket = sock.connect();
  socket.io.once("open", () => { sock.connect(); sock.connect(); });
  return statuses;
}"""

STATUS = "async (module) => (await import(module)).connectionStatus()"

REQUEST = """async (module) => {
  const sock = await import(module);
  try {
    const ack = await sock.request("conversation.list", {}, { timeout: 8000 });
    return ack.ok === true ? "ok" : "bad ack";
  } catch (error) {
    return `${error.code}: ${error.message}`;
  }
}"""


def _logged_in_page(browser: Any, live_server: LiveServer,
                    received: list[str] | None = None) -> Any:
    """A young person logged in through the login form; the page is on the landing page (its
    connection may still be opening). `received` collects the socket.io frames it receives."""
    nickname, password = unique_nickname("deep"), strong_password()
    register_api(live_server, nickname, password, locale="en")
    page = new_page(browser, live_server, locale="en")
    if received is not None:
        page.on("websocket", lambda ws: ws.on(
            "framereceived", lambda payload: received.append(str(payload))))
    page.goto(f"{live_server.url}/#/login")
    page.wait_for_selector("html[data-ready=true]")
    page.fill("input[name=nickname]", nickname)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_function("() => location.hash && location.hash !== '#/login'", timeout=SLOW_MS)
    return page


def test_connect_while_opening_does_not_send_a_second_connect(
    browser: Any, live_server: LiveServer
) -> None:
    page = _logged_in_page(browser, live_server)
    try:
        # A page without a connection of its own (full load), then connect twice while opening.
        goto(page, live_server, "/account")
        assert page.evaluate(STATUS, SOCKET_MODULE) == "idle"
        frames: list[str] = []
        page.on("websocket", lambda ws: ws.on(
            "framesent", lambda payload: frames.append(str(payload))))
        page.evaluate(CONNECT_TWICE, SOCKET_MODULE)
        page.wait_for_function(
            f"async () => (await import('{SOCKET_MODULE}')).connectionStatus() !== 'connecting'",
            timeout=SLOW_MS)
        # The answer to the duplicate CONNECT arrives within a moment; the request must work.
        assert page.evaluate(REQUEST, SOCKET_MODULE) == "ok"
        assert page.evaluate(STATUS, SOCKET_MODULE) == "online"
        connects = [f for f in frames if f == "40" or f.startswith("40{")]
        assert len(connects) == 1, frames
        assert not page.errors
    finally:
        page.context.close()


def test_login_then_round_deep_link_connects(browser: Any, live_server: LiveServer) -> None:
    lena = next(a for a in demo_logins(live_server) if a["nickname"] == "lena-trier")
    staff_ctx, staff = device(browser, live_server, "en")
    try:
        counsellor_login(staff, live_server, lena)
        round_id = schedule_and_open(staff, live_server, 8)
    finally:
        staff_ctx.close()
    failures: list[str] = []
    for attempt in range(4):
        received: list[str] = []
        page = _logged_in_page(browser, live_server, received)
        try:
            # Straight to the round, while the landing page's connection is still opening.
            page.evaluate("(r) => location.replace('#/round/' + r)", round_id)
            page.wait_for_selector(".round-rules:not([hidden])", timeout=SLOW_MS)
            page.wait_for_function(
                "() => ['online', 'refused'].includes("
                "document.querySelector('.conn-banner')?.dataset.status)", timeout=SLOW_MS)
            status = page.get_attribute(".conn-banner", "data-status")
            answer = page.evaluate(REQUEST, SOCKET_MODULE)
            refusals = [frame for frame in received if frame.startswith("44")]
            if status != "online" or answer != "ok" or refusals:
                failures.append(f"attempt {attempt}: banner {status!r}, request {answer!r}, "
                                f"CONNECT_ERROR frames {refusals}")
                continue
            page.check("#round-rules-accept")
            page.click(".round-rules button")
            page.wait_for_selector(".round-composer:not([hidden])", timeout=SLOW_MS)
            assert page.get_attribute(".conn-banner", "data-status") == "online"
            assert not page.errors
        finally:
            page.context.close()
    assert not failures, failures
