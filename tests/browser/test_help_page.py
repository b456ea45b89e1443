"""Crisis contacts ("Help now"): one tap on the header link reaches them from the start page and
from any other screen, on a touch phone, in German and in Arabic (right-to-left). The tel:
links are the right numbers, the numbers read left to right even in Arabic, every target is
44 px at 320 px width without horizontal scrolling, and axe-core finds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_start_page import AXE_TAGS, RUN_AXE
from tests.conftest import LiveServer, axe_source, screenshot_path

pytestmark = pytest.mark.browser

CALLS = [
    ("tel:112", "112"),
    ("tel:110", "110"),
    ("tel:116111", "116 111"),
    ("tel:08001110111", "0800 111 0 111"),
    ("tel:08001110222", "0800 111 0 222"),
]

LAYOUT = """
() => {
  const root = document.scrollingElement;
  const small = [];
  for (const el of document.querySelectorAll("a[href], button, select, input")) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.classList.contains("skip-link")) continue;
    if (box.width < 44 || box.height < 44) small.push(el.outerHTML.slice(0, 80));
  }
  const help = document.getElementById("help-now").getBoundingClientRect();
  const exit = document.getElementById("quick-exit").getBoundingClientRect();
  return { scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, small,
           helpBottom: help.bottom, exitBottom: exit.bottom };
}
"""


def phone(browser: Any, live_server: LiveServer, locale: str, width: int = 390) -> Any:
    """A touch phone with jmdchat open in `locale`."""
    context = browser.new_context(
        viewport={"width": width, "height": 740}, device_scale_factor=1, has_touch=True,
        is_mobile=True,
    )
    context.add_cookies([{"name": "jmdchat_locale", "value": locale, "url": live_server.url}])
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return page


@pytest.fixture(params=["de", "ar"])
def touch_page(request: pytest.FixtureRequest, browser: Any, live_server: LiveServer
               ) -> Iterator[Any]:
    page = phone(browser, live_server, request.param)
    page.locale = request.param
    yield page
    page.context.close()
    assert not page.errors, page.errors


def open_help_with_one_tap(page: Any, live_server: LiveServer, start: str = "/") -> None:
    page.goto(f"{live_server.url}/#{start}")
    page.wait_for_selector("html[data-ready=true]")
    entries = page.evaluate("history.length")
    page.locator("#help-now").tap()
    page.wait_for_url("**/#/help")
    page.wait_for_selector("main .help-list")
    assert page.evaluate("history.length") == entries  # replaced: the quick exit erases it


def test_one_tap_from_the_start_page_reaches_the_crisis_contacts(
    touch_page: Any, live_server: LiveServer
) -> None:
    page = touch_page
    locale = page.locale
    open_help_with_one_tap(page, live_server)
    html = page.locator("html")
    assert html.get_attribute("lang") == locale
    assert html.get_attribute("dir") == ("rtl" if locale == "ar" else "ltr")
    assert page.locator("main h1").count() == 1
    # The header link is labelled by the server in the page's language from the first paint.
    label = page.locator("#help-now").text_content().strip()
    assert label
    links = page.eval_on_selector_all(
        "main a[href^='tel:']",
        "els => els.map(a => [a.getAttribute('href'), a.querySelector('.help-number').textContent,"
        " getComputedStyle(a.querySelector('.help-number')).direction, a.offsetHeight])",
    )
    assert [(href, number) for href, number, _dir, _h in links] == CALLS
    # Numbers are laid out left to right in Arabic too ("0800 111 0 111", not reordered).
    assert {direction for _href, _number, direction, _h in links} == {"ltr"}
    assert all(height >= 44 for *_rest, height in links)
    # Each call button is described by the service it calls.
    described = page.eval_on_selector_all(
        "main a[href^='tel:']",
        "els => els.map(a => document.getElementById(a.getAttribute('aria-describedby'))"
        ".textContent)",
    )
    assert described[2] == "Nummer gegen Kummer" and described[3] == "TelefonSeelsorge"
    names = page.eval_on_selector_all(
        "main h2[translate=no]", "els => els.map(e => [e.textContent, e.lang])"
    )
    assert names == [["Nummer gegen Kummer", "de"], ["TelefonSeelsorge", "de"]]
    page.screenshot(path=str(screenshot_path(f"help-{locale}.png")), full_page=True)


def test_help_page_is_axe_clean(touch_page: Any, live_server: LiveServer) -> None:
    open_help_with_one_tap(touch_page, live_server)
    touch_page.evaluate(axe_source())
    violations = touch_page.evaluate(RUN_AXE, AXE_TAGS)
    assert violations == [], "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"])
        for v in violations
    )


@pytest.mark.parametrize("start", ["/login", "/sites", "/about", "/register"])
def test_one_tap_from_other_screens(browser: Any, live_server: LiveServer, start: str) -> None:
    page = phone(browser, live_server, "de")
    try:
        open_help_with_one_tap(page, live_server, start)
        assert page.locator("main a[href='tel:116111']").is_visible()
        assert not page.errors, page.errors
    finally:
        page.context.close()


@pytest.mark.parametrize("locale", ["de", "ar"])
def test_header_and_page_fit_320px(browser: Any, live_server: LiveServer, locale: str) -> None:
    page = phone(browser, live_server, locale, width=320)
    try:
        for start in ("/", "/help"):
            page.goto(f"{live_server.url}/#{start}")
            page.wait_for_selector("html[data-ready=true]")
            layout = page.evaluate(LAYOUT)
            assert layout["scrollWidth"] <= layout["clientWidth"], (start, layout)
            assert layout["small"] == [], (start, layout["small"])
            # Both crisis buttons stay in the first screen, in the header row.
            assert layout["helpBottom"] <= 100 and layout["exitBottom"] <= 100, layout
        page.screenshot(path=str(screenshot_path(f"help-320-{locale}.png")))
    finally:
        page.context.close()
