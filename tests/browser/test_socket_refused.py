"""When the session ends (logged out in another tab), the page's socket.io connection is
refused with `unauthorized` (docs/security.md, open item 6): the page says "please log in
again" and does NOT keep reconnecting (only `unavailable`, a database restart, is retried)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.accounts_support import (
    SLOW_MS,
    goto,
    new_page,
    register_ui,
    strong_password,
    unique_nickname,
)
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser


def test_a_refused_page_stays_disconnected(browser: Any, live_server: LiveServer) -> None:
    page = new_page(browser, live_server, locale="en")
    try:
        register_ui(page, live_server, unique_nickname("sock"), strong_password())
        opened: list[str] = []
        page.on("websocket", lambda ws: opened.append(ws.url))
        goto(page, live_server, "/conversations")
        banner = page.locator(".conn-banner")
        page.wait_for_function("() => document.querySelector('.conn-banner') !== null",
                               timeout=SLOW_MS)
        page.wait_for_function(
            "() => document.querySelector('.conn-banner').dataset.status === 'online'",
            timeout=SLOW_MS,
        )
        connected = len(opened)
        assert connected >= 1

        # Log out "in another tab": the session ends, the server closes the connection, the
        # client's one reconnect attempt is refused.
        response = page.context.request.post(
            f"{live_server.url}/api/auth/logout", data="{}",
            headers={"Content-Type": "application/json", "Origin": live_server.url},
        )
        assert response.status == 200
        page.wait_for_function(
            "() => document.querySelector('.conn-banner').dataset.status === 'refused'",
            timeout=SLOW_MS,
        )
        assert "log in again" in banner.inner_text()
        # Longer than the `unavailable` retry (2–5 s) and socket.io's backoff: no new attempts.
        page.wait_for_timeout(8000)
        assert len(opened) <= connected + 1, opened
        assert page.locator(".conn-banner").get_attribute("data-status") == "refused"
        assert not page.errors
    finally:
        page.context.close()
