"""The admin screens (issues #4, #9) in a real browser, as the demo admin and the demo site
lead: the hub, sites (with an import whose bad row is reported and that imports nothing),
topics, retention and the audit trail; German, and Arabic (right-to-left) for the sites
screen. axe-core finds no WCAG 2.1 A/AA violation; screenshots go to test-output/."""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.accounts_support import (
    SLOW_MS,
    api,
    axe_violations,
    demo_logins,
    goto,
    new_page,
    staff_login_ui,
)
from tests.conftest import LiveServer, axe_source, screenshot_path

pytestmark = pytest.mark.browser

BAD_CSV = (
    "slug,name,postcode,languages\n"
    "jmd-browser-a,JMD Browser A,10115,de tr\n"
    "jmd-browser-b,JMD Browser B,99999,de\n"
)


def demo(live_server: LiveServer, role: str) -> dict[str, Any]:
    found = [d for d in demo_logins(live_server) if d.get("role") == role]
    assert found, f"no demo {role}"
    return found[0]


def staff_login(page: Any, live_server: LiveServer, who: dict[str, Any], steps: int) -> None:
    del steps  # the shared helper picks a code that was not used yet
    staff_login_ui(page, live_server, who)


def check(page: Any, name: str) -> None:
    violations = axe_violations(page, axe_source())
    assert violations == [], f"{name}: {violations}"
    assert not page.errors, f"{name}: {page.errors}"


def screen(page: Any, live_server: LiveServer, route: str, ready: str) -> None:
    goto(page, live_server, route)
    page.wait_for_selector(ready, timeout=SLOW_MS)


def test_admin_screens_in_german(browser: Any, live_server: LiveServer) -> None:
    page = new_page(browser, live_server, "de")
    try:
        staff_login(page, live_server, demo(live_server, "admin"), 1)
        screen(page, live_server, "/admin", ".admin-sections")
        assert page.locator("footer a.admin-link").is_visible()
        links = page.locator(".admin-sections a").evaluate_all("(els) => els.map((a) => a.hash)")
        wanted = {"#/admin/sites", "#/admin/topics", "#/admin/retention", "#/admin/audit"}
        assert wanted <= set(links)
        check(page, "hub")
        page.screenshot(path=str(screenshot_path("admin-hub-de.png")), full_page=True)

        screen(page, live_server, "/admin/sites", ".admin-table tbody tr")
        assert page.locator(".admin-table tbody tr").count() >= 17
        check(page, "sites")
        page.screenshot(path=str(screenshot_path("admin-sites-de.png")), full_page=True)

        # Import: a CSV with one bad row is checked, the row error shown, nothing imported.
        page.click(".admin-import-panel summary")
        page.set_input_files(".admin-import input[type=file]", files=[{
            "name": "sites.csv", "mimeType": "text/csv", "buffer": BAD_CSV.encode()}])
        page.click(".admin-import button[type=submit]")
        page.wait_for_selector(".import-errors", timeout=SLOW_MS)
        row = page.locator(".import-errors tbody tr")
        assert row.count() == 1
        cells = row.locator("td").all_inner_texts()
        assert cells[0] == "3" and cells[1] == "postcode" and "99999" in cells[2]
        assert page.locator(".admin-import button:has-text('Übernehmen'), "
                            ".admin-import button:has-text('Apply')").is_hidden()
        check(page, "import errors")
        page.screenshot(path=str(screenshot_path("admin-import-errors-de.png")), full_page=True)
        status, _, _ = api(live_server, "GET", "/api/sites/jmd-browser-a")
        assert status == 404, "a file with an error must import nothing"

        # Edit a site: a bad postcode is named at its field.
        page.locator(".admin-table tbody tr", has_text="jmd-trier").locator(
            "button").first.click()
        page.wait_for_selector(".admin-form", timeout=SLOW_MS)
        postcode = page.locator(".admin-form label", has_text="Postleitzahl").first
        field_id = postcode.get_attribute("for") if postcode.count() else None
        target = f"#{field_id}" if field_id else ".admin-form input[inputmode=numeric]"
        page.fill(target, "00000")
        page.click(".admin-form button[type=submit]")
        page.wait_for_selector(".admin-form [aria-invalid=true]", timeout=SLOW_MS)
        assert page.locator(".admin-form .field-error:visible").count() >= 1
        check(page, "site form errors")
        page.screenshot(path=str(screenshot_path("admin-site-form-de.png")), full_page=True)

        screen(page, live_server, "/admin/topics", ".topic-card")
        assert page.locator(".topic-card").count() >= 11
        check(page, "topics")
        page.screenshot(path=str(screenshot_path("admin-topics-de.png")), full_page=True)

        screen(page, live_server, "/admin/retention", ".admin-form input[type=number]")
        check(page, "retention")
        page.screenshot(path=str(screenshot_path("admin-retention-de.png")), full_page=True)

        screen(page, live_server, "/admin/audit", ".pager")
        check(page, "audit")
        page.screenshot(path=str(screenshot_path("admin-audit-de.png")), full_page=True)

        # The same screens in Arabic, right to left (the language cookie, as the picker sets it).
        page.context.add_cookies([{"name": "jmdchat_locale", "value": "ar",
                                   "url": live_server.url}])
        screen(page, live_server, "/admin/sites", ".admin-table tbody tr")
        assert page.locator("html").get_attribute("dir") == "rtl"
        check(page, "sites (ar)")
        page.screenshot(path=str(screenshot_path("admin-sites-ar.png")), full_page=True)
    finally:
        page.context.close()


def test_site_lead_sees_own_sites(browser: Any, live_server: LiveServer) -> None:
    page = new_page(browser, live_server, "de")
    try:
        staff_login(page, live_server, demo(live_server, "site_lead"), 1)
        screen(page, live_server, "/admin", ".admin-sections")
        links = page.locator(".admin-sections a").evaluate_all("(els) => els.map((a) => a.hash)")
        assert "#/admin/sites" in links and "#/admin/canned" in links
        assert "#/admin/retention" not in links and "#/admin/topics" not in links
        check(page, "hub (site lead)")

        screen(page, live_server, "/admin/sites", ".admin-table tbody tr")
        assert page.locator(".admin-table tbody tr").count() == 1
        assert page.locator(".admin-import-panel").count() == 0
        page.locator(".admin-table tbody tr button").first.click()
        page.wait_for_selector(".admin-form", timeout=SLOW_MS)
        check(page, "site form (site lead)")
        page.screenshot(path=str(screenshot_path("admin-sites-lead-de.png")), full_page=True)

        screen(page, live_server, "/admin/audit", ".pager")
        check(page, "audit (site lead)")
        page.screenshot(path=str(screenshot_path("admin-audit-lead-de.png")), full_page=True)

        # Canned responses: create, edit, delete (sealed to the site key in the browser).
        goto(page, live_server, "/admin/canned")
        page.wait_for_selector(".canned-admin-list li", timeout=3 * SLOW_MS)
        page.click("[data-action=new-canned]")
        page.fill(".canned-form input[type=text] >> nth=0", "Termin")
        page.fill(".canned-form textarea", "Komm gern am Dienstag vorbei.")
        page.click(".canned-form button[type=submit]")
        item = page.locator(".canned-admin", has_text="Komm gern am Dienstag vorbei.")
        item.wait_for(timeout=3 * SLOW_MS)
        check(page, "canned (site lead)")
        page.screenshot(path=str(screenshot_path("admin-canned-lead-de.png")), full_page=True)
        item.locator("[data-action=edit]").click()
        page.fill(".canned-form textarea", "Komm gern am Mittwoch vorbei.")
        page.click(".canned-form button[type=submit]")
        edited = page.locator(".canned-admin", has_text="Komm gern am Mittwoch vorbei.")
        edited.wait_for(timeout=3 * SLOW_MS)
        assert page.locator(".canned-admin", has_text="Dienstag").count() == 0
        page.once("dialog", lambda dialog: dialog.accept())
        edited.locator("[data-action=delete]").click()
        edited.wait_for(state="detached", timeout=3 * SLOW_MS)
    finally:
        page.context.close()
