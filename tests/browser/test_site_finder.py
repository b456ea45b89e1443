"""The site finder (#/sites) in German and Arabic, against a live server with the demo sites.

Until the translators have done their part these assert behaviour (results, order, direction,
accessibility), not translated text.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import LiveServer, axe_source, screenshot_path

pytestmark = pytest.mark.browser

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN_AXE = """
async (tags) => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: tags }, resultTypes: ["violations"],
  });
  return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} :: ` +
    v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
}
"""


def open_finder(page: Any, server: LiveServer, locale: str) -> None:
    page.context.add_cookies([{"name": "jmdchat_locale", "value": locale, "url": server.url}])
    page.goto(server.url + "/#/sites")
    page.wait_for_selector("html[data-ready=true]")
    page.wait_for_selector("#site-query")


def search(page: Any, query: str, language: str | None = None) -> None:
    if language:
        # The language list loads after the form; wait for the option.
        page.wait_for_selector(f"#site-language option[value='{language}']", state="attached")
        page.select_option("#site-language", language)
    page.fill("#site-query", query)
    page.locator("form.site-search button[type=submit]").click()


def first_heading_contains(page: Any, text: str) -> None:
    # Locator assertions poll without eval (the page's CSP forbids it, rightly).
    expect(page.locator(".site-list > li h2").first).to_contain_text(text)


def result_headings(page: Any) -> list[str]:
    page.wait_for_selector(".site-list > li")
    return [text.strip() for text in page.locator(".site-list > li h2").all_inner_texts()]


def test_german_postcode_lists_trier_first(page: Any, live_server: LiveServer) -> None:
    open_finder(page, live_server, "de")
    assert page.evaluate("document.documentElement.dir") == "ltr"
    # Labels, the search landmark and a polite live region are in place before searching.
    assert page.locator("label[for=site-query]").count() == 1
    assert page.locator("label[for=site-language]").count() == 1
    assert page.locator("form[role=search]").count() == 1
    status = page.locator("#site-status")
    assert status.get_attribute("role") == "status"
    assert status.get_attribute("aria-live") == "polite"

    search(page, "54290")
    headings = result_headings(page)
    assert headings[0] == "Jugendmigrationsdienst Trier"
    assert len(headings) == 5
    assert status.inner_text().strip()  # the result summary is announced
    first = page.locator(".site-list > li").first
    assert "Bruchhausenstraße 16a" in first.inner_text()
    assert first.locator(".site-hours dt").count() == 5  # Monday to Friday
    # The online team is offered as well.
    assert page.locator(".site-online .site-card").count() == 1
    page.screenshot(path=str(screenshot_path("site-finder-de.png")), full_page=True)

    # A town name works as well as a postcode.
    search(page, "Voelklingen")
    first_heading_contains(page, "Völklingen")


def test_german_errors_are_announced(page: Any, live_server: LiveServer) -> None:
    open_finder(page, live_server, "de")
    for query in ("5429", "00000", ""):
        search(page, query)
        error = page.locator("#site-query-error")
        error.wait_for()
        assert error.get_attribute("role") == "alert"
        assert error.inner_text().strip()
        field = page.locator("#site-query")
        assert field.get_attribute("aria-invalid") == "true"
        assert "site-query-error" in (field.get_attribute("aria-describedby") or "")
        assert page.locator(".site-list").count() == 0
    # A good search clears the error.
    search(page, "54290")
    result_headings(page)
    assert page.locator("#site-query-error").count() == 0
    assert page.locator("#site-query").get_attribute("aria-invalid") is None


def test_arabic_right_to_left_with_language_filter(page: Any, live_server: LiveServer) -> None:
    open_finder(page, live_server, "ar")
    assert page.evaluate("document.documentElement.dir") == "rtl"
    assert page.evaluate("document.documentElement.lang") == "ar"

    search(page, "54290", language="ar")
    headings = result_headings(page)
    assert headings[0] == "Jugendmigrationsdienst Trier"
    search(page, "10178", language="ar")
    first_heading_contains(page, "Berlin")
    # Arabic digits typed on an Arabic keyboard work too.
    search(page, "٥٤٢٩٠", language="ar")
    first_heading_contains(page, "Trier")

    # Mirrored layout: the form's label starts at the right edge in RTL.
    label = page.locator("label[for=site-query]").bounding_box()
    field = page.locator("#site-query").bounding_box()
    assert label and field
    assert abs((label["x"] + label["width"]) - (field["x"] + field["width"])) < 2
    # Times stay left to right inside the right-to-left page.
    assert page.locator(".site-hours dd span").first.get_attribute("dir") == "ltr"
    page.screenshot(path=str(screenshot_path("site-finder-ar.png")), full_page=True)

    page.evaluate(axe_source())
    violations = page.evaluate(RUN_AXE, AXE_TAGS)
    assert violations == [], "\n".join(violations)


def test_no_horizontal_scroll_at_320px(page: Any, live_server: LiveServer) -> None:
    page.set_viewport_size({"width": 320, "height": 640})
    open_finder(page, live_server, "de")
    search(page, "54290")
    result_headings(page)
    assert page.evaluate(
        "document.scrollingElement.scrollWidth <= document.scrollingElement.clientWidth")


def test_start_page_links_to_the_finder(page: Any, live_server: LiveServer) -> None:
    page.goto(live_server.url + "/")
    page.wait_for_selector("html[data-ready=true]")
    page.locator("a[href='#/sites']").first.click()
    page.wait_for_selector("#site-query")
