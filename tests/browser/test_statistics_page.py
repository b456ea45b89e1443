"""The statistics page (issue #9) in a real browser, on its own server with demo accounts and
12 weeks of anonymous historic enquiry metadata (tests/statistics_support.py): the demo site
lead (German) sees charts of their one site and downloads the CSV; the demo admin (Arabic,
right-to-left) sees every site, the per-site chart and numbers formatted for Arabic, and narrows
the period and the site. Every chart has a title and a table; axe-core finds no WCAG 2.1 A/AA
violation; screenshots go to test-output/."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from server.storage.db import create_engine, create_sessions
from server.storage.models import Site
from tests.browser.accounts_support import (
    SLOW_MS,
    axe_violations,
    demo_logins,
    goto,
    new_page,
    staff_login_ui,
)
from tests.conftest import (
    LiveServer,
    axe_source,
    make_config,
    screenshot_path,
    start_server,
    stop_server,
)
from tests.statistics_support import add_enquiries, add_handover, spread

pytestmark = pytest.mark.browser

DEMO_SITES = ["jmd-berlin", "jmd-trier", "jmd-online"]


async def _history(url: str) -> None:
    engine = create_engine(make_config(url).database)
    sessions = create_sessions(engine)
    try:
        async with sessions.begin() as db:
            rows = await db.execute(select(Site.slug, Site.id).where(Site.slug.in_(DEMO_SITES)))
            ids = dict(rows.all())
        site_ids = [ids[slug] for slug in DEMO_SITES]
        now = datetime.now(UTC) - timedelta(hours=2)
        await add_enquiries(sessions, spread(site_ids, now))
        for week in range(6):
            await add_handover(sessions, now - timedelta(weeks=week), ids["jmd-berlin"],
                               ids["jmd-trier"])
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def stats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("stats-live"))
    try:
        # A thread of its own: pytest-asyncio may already run an event loop in this one.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _history(server.env["JMDCHAT_DATABASE_URL"])).result()
        yield server
    finally:
        stop_server(server)


def demo(server: LiveServer, nickname: str) -> dict[str, Any]:
    return next(d for d in demo_logins(server) if d["nickname"] == nickname)


def staff_login(page: Any, server: LiveServer, who: dict[str, Any]) -> None:
    staff_login_ui(page, server, who)


def open_statistics(page: Any, server: LiveServer) -> None:
    goto(page, server, "/admin/statistics")
    page.wait_for_selector(".chart-figure svg.chart", timeout=SLOW_MS)


CHARTS = """() => [...document.querySelectorAll('.chart-figure')].map((f) => ({
  title: f.querySelector('h2')?.textContent || '',
  svgName: f.querySelector('svg title')?.textContent || '',
  labelled: f.querySelector('svg')?.getAttribute('aria-labelledby') || '',
  bars: f.querySelectorAll('svg rect.bar').length,
  tableRows: f.querySelectorAll('table tbody tr').length,
}))"""


def check_a11y(page: Any, where: str) -> None:
    # Open every table alternative too, so axe checks them as well.
    page.evaluate(
        "() => document.querySelectorAll('details.chart-table').forEach((d) => { d.open = true; })"
    )
    violations = axe_violations(page, axe_source())
    assert violations == [], f"axe on {where}: {violations}"
    assert not page.errors, f"{where}: {page.errors}"


def test_site_lead_sees_their_site_and_downloads_csv(browser: Any, stats_server: LiveServer
                                                     ) -> None:
    page = new_page(browser, stats_server, "de")
    page.context.set_default_timeout(SLOW_MS)
    try:
        staff_login(page, stats_server, demo(stats_server, "jonas-berlin"))
        goto(page, stats_server, "/admin")
        page.wait_for_selector(".admin-sections a[href='#/admin/statistics']")
        open_statistics(page, stats_server)
        charts = page.evaluate(CHARTS)
        titles = [c["title"] for c in charts]
        assert "Enquiries per site" not in " ".join(titles)  # one site: no per-site chart
        assert len(charts) == 4, titles
        for chart in charts:
            assert chart["title"] and chart["svgName"] == chart["title"] and chart["labelled"]
            assert chart["bars"] >= 1 and chart["tableRows"] == chart["bars"], chart
        options = page.locator("select[name=site] option").evaluate_all(
            "(els) => els.map((o) => o.value)")
        assert options == ["", "jmd-berlin"]
        total = page.locator("[data-testid=stat-total]").inner_text()
        assert total.replace(".", "").isdigit() and int(total.replace(".", "")) >= 5
        page.screenshot(path=str(screenshot_path("statistics-lead-de.png")), full_page=True)
        check_a11y(page, "statistics as site lead (de)")

        with page.expect_download() as download_info:
            page.click("[data-testid=statistics-csv]")
        download = download_info.value
        assert download.suggested_filename.startswith("jmdchat-statistics-")
        text = Path(download.path()).read_text(encoding="utf-8")
        table = list(csv.reader(io.StringIO(text)))
        assert table[0] == ["section", "key", "count", "period_from", "period_to"]
        sites = {row[1] for row in table if row[0] == "enquiries_per_site"}
        assert sites <= {"jmd-berlin", "_other"}
        for row in table[1:]:
            assert row[2] == "" or float(row[2]) == 0 or float(row[2]) >= 5, row
    finally:
        page.context.close()


def test_admin_sees_every_site_right_to_left(browser: Any, stats_server: LiveServer) -> None:
    page = new_page(browser, stats_server, "ar")
    page.context.set_default_timeout(SLOW_MS)
    try:
        staff_login(page, stats_server, demo(stats_server, "demo-admin"))
        open_statistics(page, stats_server)
        assert page.evaluate("document.documentElement.dir") == "rtl"
        charts = page.evaluate(CHARTS)
        assert len(charts) >= 5, charts  # weeks, sites, topics, languages, age groups (+ handovers)
        data = page.evaluate("() => fetch('/api/statistics').then((r) => r.json())")
        assert data["scope"]["all_sites"] is True
        expected = page.evaluate(
            "(n) => new Intl.NumberFormat(document.documentElement.lang).format(n)",
            data["enquiries"]["total"])
        assert page.locator("[data-testid=stat-total]").inner_text() == expected
        # Right to left: the newest week's bar is the leftmost one.
        xs = page.evaluate("""() => [...document.querySelector('.chart-figure svg')
            .querySelectorAll('rect.bar')].map((r) => Number(r.getAttribute('x')))""")
        assert xs == sorted(xs, reverse=True)
        page.screenshot(path=str(screenshot_path("statistics-admin-ar.png")), full_page=True)
        check_a11y(page, "statistics as admin (ar)")

        # Narrow down to one site and four weeks.
        until = page.locator("input[name=to]").input_value()
        since = (datetime.fromisoformat(until) - timedelta(weeks=3)).date().isoformat()
        page.fill("input[name=from]", since)
        page.select_option("select[name=site]", "jmd-trier")
        page.click(".admin-filters button[type=submit]")
        page.wait_for_function(
            """() => document.querySelector('[data-testid=statistics-csv]')
                 .getAttribute('href').includes('site=jmd-trier')""")
        href = page.locator("[data-testid=statistics-csv]").get_attribute("href")
        assert f"from={since}" in href
        page.wait_for_function(
            """() => document.querySelectorAll('.chart-figure')[0]
                 ?.querySelectorAll('rect.bar').length === 4""")
    finally:
        page.context.close()
