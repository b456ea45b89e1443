"""The quick exit: by keyboard (Tab, then Enter or Space), by touch, by pressing Escape twice.

Afterwards the tab shows the neutral page (the live server is configured with
https://neutral.example/, answered here by a route since there is no network), the history did
not grow, and neither "back" nor "forward" shows jmdchat again. Every test first visits
another site, so there is a real entry before jmdchat to go back to.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

NEUTRAL = "https://neutral.example/"
BEFORE = "https://before.example/"


def _fulfil(title: str) -> Any:
    body = f"<!doctype html><html lang='en'><title>{title}</title><h1>{title}</h1></html>"
    return lambda route: route.fulfill(status=200, content_type="text/html", body=body)


def prepare(context: Any) -> Any:
    context.route("https://neutral.example/**", _fulfil("Weather today"))
    context.route("https://before.example/**", _fulfil("Search"))
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


def open_jmdchat(page: Any, live_server: LiveServer) -> int:
    """Visit another site, then jmdchat; return the history length on jmdchat."""
    page.goto(BEFORE)
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    return int(page.evaluate("history.length"))


def assert_left_for_good(page: Any, live_server: LiveServer, entries: int) -> None:
    page.wait_for_url(NEUTRAL)
    assert page.locator("h1").text_content() == "Weather today"
    assert page.evaluate("history.length") == entries  # replaced, not pushed
    page.go_back()
    assert page.url == BEFORE, "back must not return to jmdchat"
    assert "jmdchat" not in page.content()
    page.go_forward()
    assert page.url == NEUTRAL, "forward must not lead to jmdchat either"
    assert not page.url.startswith(live_server.url)


@pytest.fixture
def exit_page(context: Any) -> Iterator[Any]:
    page = prepare(context)
    yield page
    assert not page.errors, page.errors


def tab_to_quick_exit(page: Any) -> None:
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "quick-exit":
            return
    raise AssertionError("the quick exit cannot be reached with Tab")


@pytest.mark.parametrize("key", ["Enter", "Space"])
def test_quick_exit_by_keyboard(exit_page: Any, live_server: LiveServer, key: str) -> None:
    entries = open_jmdchat(exit_page, live_server)
    tab_to_quick_exit(exit_page)
    exit_page.keyboard.press(key)
    assert_left_for_good(exit_page, live_server, entries)


def test_quick_exit_by_touch(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        has_touch=True,
        is_mobile=True,
        device_scale_factor=2,
    )
    try:
        page = prepare(context)
        entries = open_jmdchat(page, live_server)
        page.locator("#quick-exit").tap()
        assert_left_for_good(page, live_server, entries)
        assert not page.errors, page.errors
    finally:
        context.close()


def test_quick_exit_by_double_escape(exit_page: Any, live_server: LiveServer) -> None:
    entries = open_jmdchat(exit_page, live_server)
    exit_page.keyboard.press("Escape")
    exit_page.keyboard.press("Escape")
    assert_left_for_good(exit_page, live_server, entries)


def test_single_escapes_do_not_leave(exit_page: Any, live_server: LiveServer) -> None:
    open_jmdchat(exit_page, live_server)
    exit_page.keyboard.press("Escape")
    exit_page.wait_for_timeout(700)  # longer than the double-press window
    exit_page.keyboard.press("Escape")
    exit_page.wait_for_timeout(100)
    assert exit_page.url.startswith(live_server.url)
    assert exit_page.locator("main h1").is_visible()


def test_quick_exit_after_moving_between_views(exit_page: Any, live_server: LiveServer) -> None:
    """Views do not add history entries, so nothing of jmdchat is left behind "back"."""
    entries = open_jmdchat(exit_page, live_server)
    exit_page.locator("footer a[href='#/about']").click()
    exit_page.wait_for_url("**/#/about")
    exit_page.locator(".brand").click()
    exit_page.wait_for_url("**/#/")
    exit_page.locator("main a[href='#/login']").click()
    exit_page.wait_for_url("**/#/login")
    assert exit_page.evaluate("history.length") == entries
    exit_page.locator("#quick-exit").click()
    assert_left_for_good(exit_page, live_server, entries)
