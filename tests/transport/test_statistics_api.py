"""GET /api/statistics and /api/statistics.csv against a real server with real accounts
(tests/security_support.py): the CSV export (header, UTF-8, download name, small counts
suppressed as empty cells, no cell a spreadsheet would run as a formula) and who sees what
(anonymous / young person / counsellor refused, a site lead only the sites they lead)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from server.services.statistics import OTHER, Period
from tests.security_support import (
    SLUG_X,
    SLUG_Y,
    SecurityWorld,
    security_world,
    sqlite_copy,
)
from tests.statistics_support import Enquiry, add_enquiries, add_handover

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                ) -> AsyncIterator[SecurityWorld]:
    url = sqlite_copy(sqlite_template, tmp_path_factory.mktemp("stats") / "stats.db")
    async with security_world(url) as built:
        now = built.clock.now()
        at = now - timedelta(minutes=1)
        last_week = now - timedelta(weeks=1)
        x, y = built.site_x, built.site_y
        await add_enquiries(built.sessions, [
            *[Enquiry(at, x, "school", "ar", "15-17") for _ in range(12)],
            *[Enquiry(last_week, x, "work", "de", "18-21") for _ in range(7)],
            *[Enquiry(last_week, x, "health", "fa", "12-14") for _ in range(3)],  # small
            # A value no API accepts, stored anyway: the export must still be harmless.
            *[Enquiry(last_week, x, "=HYPERLINK(1)", "+de", "-1") for _ in range(8)],
            *[Enquiry(at, y, "school", "uk", None) for _ in range(9)],
        ])
        for _ in range(2):
            await add_handover(built.sessions, last_week, x, y)
        yield built


def _csv(body: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body)))


def _rows(table: list[list[str]], section: str) -> dict[str, str]:
    return {row[1]: row[2] for row in table[1:] if row[0] == section}


async def test_csv_export_is_a_download_with_small_counts_suppressed(
    world: SecurityWorld,
) -> None:
    response = await world.request("GET", "/api/statistics.csv", role="admin")
    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    period = Period.of(None, None, world.clock.now().date())
    assert response.headers["Content-Disposition"] == (
        f'attachment; filename="jmdchat-statistics-{period.first}-{period.last_day}.csv"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    table = _csv(response.body)
    assert table[0] == ["section", "key", "count", "period_from", "period_to"]
    assert all(len(row) == 5 for row in table)
    assert _rows(table, "enquiries_total") == {"": "39"}
    # "health" (3) is never named; it and the smallest named topic make up "other".
    assert _rows(table, "enquiries_per_topic") == {
        "school": "21", "'=HYPERLINK(1)": "8", OTHER: "10",
    }
    assert _rows(table, "enquiries_per_site") == {SLUG_X: "30", SLUG_Y: "9"}
    assert _rows(table, "handovers_total") == {"": ""}  # 2: suppressed, an empty cell
    for row in table[1:]:
        count = row[2]
        assert count == "" or float(count) == 0 or float(count) >= 5, row
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), row
    assert _rows(table, "enquiries_per_language") == {
        "ar": "12", "uk": "9", "'+de": "8", OTHER: "10",
    }
    assert _rows(table, "enquiries_per_age_group") == {
        "15-17": "12", "unknown": "9", "'-1": "8", OTHER: "10",
    }


async def test_json_and_csv_agree(world: SecurityWorld) -> None:
    data = (await world.request("GET", "/api/statistics", role="admin")).body
    table = _csv((await world.request("GET", "/api/statistics.csv", role="admin")).body)
    weekly = {c["key"]: c["count"] for c in data["enquiries"]["per_week"]}
    assert _rows(table, "enquiries_per_week") == {
        k: "" if v is None else str(v) for k, v in weekly.items()
    }
    assert data["threshold"] == 5


async def test_who_may_see_statistics(world: SecurityWorld) -> None:
    for path in ("/api/statistics", "/api/statistics.csv"):
        anonymous = await world.request("GET", path)
        assert (anonymous.status, anonymous.body["code"]) == (401, "unauthorized")
        for role in ("young_a", "counsellor_x", "counsellor_y"):
            refused = await world.request("GET", path, role=role)
            assert (refused.status, refused.body["code"]) == (403, "forbidden"), role
        other_site = await world.request("GET", f"{path}?site={SLUG_Y}", role="lead_x")
        assert (other_site.status, other_site.body["code"]) == (403, "not_lead")
        assert (await world.request("GET", f"{path}?site={SLUG_X}", role="lead_x")).status == 200
        assert (await world.request("GET", f"{path}?site={SLUG_Y}", role="admin")).status == 200


async def test_a_site_lead_sees_only_their_sites_counts(world: SecurityWorld) -> None:
    mine = (await world.request("GET", "/api/statistics", role="lead_x")).body
    assert mine["enquiries"]["total"] == 30
    assert [s["slug"] for s in mine["scope"]["sites"]] == [SLUG_X]
    assert {c["key"] for c in mine["enquiries"]["per_site"]} == {SLUG_X}
    assert "uk" not in {c["key"] for c in mine["enquiries"]["per_language"]}
    everything = (await world.request("GET", "/api/statistics", role="admin")).body
    assert everything["enquiries"]["total"] == 39


async def test_the_period_filter(world: SecurityWorld) -> None:
    today = world.clock.now().date()
    this_week = (await world.request(
        "GET", f"/api/statistics?from={today}&to={today}", role="admin")).body
    assert this_week["period"]["weeks"] == 1
    assert this_week["enquiries"]["total"] == 21
    wrong_way = await world.request(
        "GET", f"/api/statistics?from={today}&to={today - timedelta(days=30)}", role="admin")
    assert (wrong_way.status, wrong_way.body["code"]) == (400, "invalid_period")
    for query in ("from=yesterday", "to=2026-02-30", "from=1999-01-01", "site=Not%20a%20slug"):
        bad = await world.request("GET", f"/api/statistics?{query}", role="admin")
        assert (bad.status, bad.body["code"]) == (400, "invalid"), query
    unknown = await world.request("GET", "/api/statistics?site=no-such-site", role="admin")
    assert unknown.status == 404
