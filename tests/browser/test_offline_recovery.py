"""Issue #8 crash safety in the browser: the database restarts under a young person's open chat.

A real `jmdchat serve` on a private PostgreSQL (tests/fault_support.py, never the shared one)
with the demo sites. A young person (German UI) registers and writes an enquiry; then
PostgreSQL crashes (`pg_ctl stop -m immediate`):

1. a message written now is answered `unavailable`: the page keeps it and shows the server's
   translated "kept and sent again" note under it — no error, no "Not sent", no retry button;
2. the connection drops (the phone goes offline and back) while the database is still down:
   the new connection is refused with `unavailable`, and the page keeps trying on its own
   (the banner says "Connecting…", never "refused");
3. PostgreSQL starts again: without anyone touching the page it reconnects, the outbox sends
   the message, it is shown as sent, and the database holds it exactly once.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from server.i18n import get_translator
from tests.browser.accounts_support import (
    SLOW_MS,
    new_page,
    register_ui,
    strong_password,
    unique_nickname,
)
from tests.conftest import LiveServer, start_server, stop_server
from tests.fault_support import private_postgres

pytestmark = pytest.mark.browser

KEPT = "The service is briefly unavailable. Your message is kept and sent again."
FIRST = "Hallo, ich habe eine Frage zu meinem Zeugnis."
HELD_TEXT = "Bist du noch da? Diese Nachricht wartet auf die Datenbank."
#: From the crash to the message shown as sent (PostgreSQL's restart included); the setup
#: before it (initdb, demo data, registering with 600k PBKDF2 rounds) has its own timeouts.
BUDGET_SECONDS = 60

# Every status the connection banner shows, in order (recorded by the page itself).
WATCH_BANNER = """() => {
  window.__statuses = [];
  const banner = document.querySelector('.conn-banner');
  new MutationObserver(() => window.__statuses.push(banner.dataset.status))
    .observe(banner, { attributes: true, attributeFilter: ['data-status'] });
}"""
MY_MESSAGE = """(t) => [...document.querySelectorAll('.messages .msg.mine')]
  .find((li) => li.querySelector('.msg-text')?.textContent === t)"""
HELD_NOTE = f"""(t) => {{
  const li = ({MY_MESSAGE})(t);
  return li && li.dataset.state === 'sending' && li.dataset.held === 'unavailable'
    ? li.querySelector('.msg-held')?.textContent ?? null : null;
}}"""
STATE = f"(t) => ({MY_MESSAGE})(t)?.dataset.state ?? null"
IS_SENT = f"(t) => ({MY_MESSAGE})(t)?.dataset.state === 'sent'"
BANNER_IS = "(s) => document.querySelector('.conn-banner')?.dataset.status === s"
HAS_STATUS = "(s) => (window.__statuses || []).includes(s)"


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from this sync test (Playwright's loop runs in this thread)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def left(started: float) -> int:
    """Milliseconds left of the test's budget (each wait may use at most that)."""
    remaining = BUDGET_SECONDS - (time.monotonic() - started)
    assert remaining > 0, "over the time budget"
    return int(remaining * 1000)


async def stored_copies(url: str, conversation_id: str, mid: str) -> int:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(
                text("SELECT count(*) FROM messages WHERE conversation_id = :c AND mid = :m"),
                {"c": conversation_id, "m": mid})
            return int(result.scalar_one())
    finally:
        await engine.dispose()


def write_enquiry(page: Any) -> str:
    page.wait_for_function("() => location.hash === '#/enquiry/new'", timeout=SLOW_MS)
    page.wait_for_selector("select[name=topic] option[value=recognition]", state="attached")
    page.select_option("select[name=topic]", "recognition")
    page.fill("input[name=location]", "54290")
    page.fill("textarea[name=text]", FIRST)
    page.click(".enquiry-form button[type=submit]")
    page.wait_for_function("() => /^#\\/c\\/[0-9a-f-]{36}$/.test(location.hash)",
                           timeout=SLOW_MS)
    page.wait_for_function(
        "(t) => [...document.querySelectorAll('.messages .msg-text')]"
        ".some((el) => el.textContent === t)", arg=FIRST, timeout=SLOW_MS)
    return str(page.evaluate("location.hash.split('/')[2]"))


def test_message_written_while_the_database_restarts_is_kept_and_sent(
    browser: Any, tmp_path: Path
) -> None:
    with private_postgres() as pg:
        url = run(pg.create_database(f"jmdchat_{uuid.uuid4().hex[:8]}"))
        server: LiveServer = start_server(tmp_path, url)
        page = None
        try:
            page = new_page(browser, server, "de")
            page.on("console", lambda msg: print(f"console {msg.type}: {msg.text}"))
            refusals: list[str] = []

            def on_websocket(ws: Any) -> None:
                ws.on("framereceived", lambda payload: refusals.append(str(payload))
                      if "unavailable" in str(payload) else None)

            page.on("websocket", on_websocket)
            register_ui(page, server, unique_nickname("yp"), strong_password())
            conversation_id = write_enquiry(page)
            page.evaluate(WATCH_BANNER)

            # --- 1. the database crashes; a message written now is kept, not failed -------
            started = time.monotonic()
            pg.stop()
            page.fill(".composer textarea", HELD_TEXT)
            page.click(".composer button[type=submit]")
            note = page.wait_for_function(HELD_NOTE, arg=HELD_TEXT, timeout=left(started))
            assert note.json_value() == get_translator("de").gettext(KEPT)
            mine = page.locator(".messages .msg.mine", has_text=HELD_TEXT)
            assert mine.locator(".msg-failed").count() == 0  # no error, no "try again"
            assert mine.locator("button").count() == 0
            mid = str(mine.get_attribute("data-mid"))

            # --- 2. the connection drops; reconnecting is refused, and the page retries ----
            page.context.set_offline(True)
            page.wait_for_function(HAS_STATUS, arg="offline", timeout=left(started))
            page.context.set_offline(False)
            while not any('"unavailable"' in frame for frame in refusals):
                page.wait_for_timeout(200)  # polls the frames seen so far (bounded by left())
                left(started)
            page.wait_for_function(BANNER_IS, arg="connecting", timeout=left(started))
            assert page.evaluate(STATE, HELD_TEXT) == "sending"

            # --- 3. the database is back: reconnect, send, shown as sent, stored once ------
            pg.start()
            page.wait_for_function(IS_SENT, arg=HELD_TEXT, timeout=left(started))
            assert mine.locator(".msg-held").count() == 0
            statuses = page.evaluate("window.__statuses")
            assert "refused" not in statuses, statuses
            assert statuses[-1] == "online", statuses
            assert run(stored_copies(url, conversation_id, mid)) == 1
            assert page.errors == []
        finally:
            if page is not None:
                page.context.close()
            stop_server(server)
            print(server.log()[-6000:])  # shown when the test fails
        assert "Traceback" not in server.log()
