"""Statistics without personal data (server/services/statistics.py).

The suppression rules as pure functions (examples, and hypothesis: no published number is 1–4,
and no suppressed number can be worked out from the total and the published cells), the
first-response median / 90th percentile, and the counts from a real database (SQLite and
PostgreSQL): enquiries that went through the enquiry service, the queue and the message writer
on an injected clock, historic metadata, handover audit rows, and who may see which sites.
"""

from __future__ import annotations

import asyncio
import csv
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.crypto.conversation import validate_envelope_shape, validate_key_share_shape
from server.services import enquiries, queue
from server.services.access import AccountContext
from server.services.clock import FrozenClock
from server.services.errors import ServiceError
from server.services.events import Notice
from server.services.message_writer import MessageWriter
from server.services.sites import SiteDirectory
from server.services.statistics import (
    OTHER,
    THRESHOLD,
    Cell,
    Period,
    build_report,
    csv_rows,
    csv_safe,
    percentile,
    published,
    statistics_for,
    suppress_categories,
    suppress_weeks,
    tally_rows,
)
from server.storage.db import Sessions, create_engine, create_sessions
from server.storage.models import Account, SiteMembership
from tests.account_material import add_site
from tests.conftest import ROOT, make_config
from tests.conversation_support import (
    Conv,
    World,
    context_of,
    encrypt,
    enquiry_payload,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
)
from tests.statistics_support import Enquiry, add_enquiries, add_handover

# A Wednesday; its ISO week starts on Monday 2026-03-09.
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


# =============================================================================================
# The rules (pure)
# =============================================================================================


def counts(cells: list[Cell]) -> dict[str, int | None]:
    return {c.key: c.count for c in cells}


def test_a_single_number_of_one_to_four_is_never_published() -> None:
    assert [published(n) for n in range(7)] == [0, None, None, None, None, 5, 6]


def test_small_categories_are_folded_into_an_unnamed_other_row() -> None:
    assert counts(suppress_categories({"a": 20, "b": 10, "c": 3, "d": 2})) == {
        "a": 20, "b": 10, OTHER: 5,
    }


def test_a_small_other_row_takes_the_smallest_named_row_along() -> None:
    # "c" alone would be a row of 1: the smallest named row joins it (complementary).
    assert counts(suppress_categories({"a": 20, "b": 10, "c": 1})) == {"a": 20, OTHER: 11}


def test_one_small_category_is_never_alone_in_other() -> None:
    # Total 25 minus the published 20 would give "c" = 5 … it is not small, so shown. But
    # "b" = 4 alone would be 25 - 21: it takes "a" (the smallest named) along.
    assert counts(suppress_categories({"a": 21, "b": 4})) == {OTHER: 25}
    assert counts(suppress_categories({"a": 20, "c": 5})) == {"a": 20, "c": 5}


def test_categories_with_zero_are_not_listed_and_a_small_total_hides_everything() -> None:
    assert counts(suppress_categories({"a": 7, "b": 0})) == {"a": 7}
    assert counts(suppress_categories({"a": 2, "b": 2})) == {OTHER: None}
    assert suppress_categories({}) == []


def test_a_week_of_one_to_four_is_suppressed_with_a_complementary_week() -> None:
    # Without the second suppressed week, 21 (the total, published elsewhere) - 10 - 8 = 3.
    assert counts(suppress_weeks([("w1", 10), ("w2", 3), ("w3", 0), ("w4", 8)])) == {
        "w1": 10, "w2": None, "w3": 0, "w4": None,
    }


def test_suppressed_weeks_that_are_all_ones_get_a_complementary_week() -> None:
    # Five weeks of 1 add up to 5: from the total one could tell that each of them is 1.
    series = [(f"w{i}", 1) for i in range(5)] + [("w5", 9), ("w6", 12)]
    result = counts(suppress_weeks(series))
    assert result["w5"] is None and result["w6"] == 12
    assert all(result[f"w{i}"] is None for i in range(5))


def test_a_small_total_suppresses_every_week_but_the_empty_ones() -> None:
    assert counts(suppress_weeks([("w1", 1), ("w2", 0), ("w3", 2)])) == {
        "w1": None, "w2": 0, "w3": None,
    }


category_counts = st.dictionaries(
    st.sampled_from(list("abcdefghij")), st.integers(min_value=0, max_value=40), max_size=10
)
week_counts = st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=20)


@settings(max_examples=400, deadline=None)
@given(category_counts)
def test_categories_publish_nothing_small_and_nothing_derivable(data: dict[str, int]) -> None:
    cells = suppress_categories(data)
    total = sum(data.values())
    for cell in cells:
        assert cell.count is None or cell.count == 0 or cell.count >= THRESHOLD, cell
    if total >= THRESHOLD:
        # Every row is published and the rows add up: no hidden difference to the total.
        assert sum(c.count or 0 for c in cells) == total
        named = {c.key for c in cells if c.key != OTHER}
        hidden = [n for k, n in data.items() if n > 0 and k not in named]
        # The other row hides at least two categories (so none of them can be told apart).
        assert not hidden or (len(hidden) >= 2 and sum(hidden) >= THRESHOLD)
        for key in named:
            assert data[key] >= THRESHOLD
    elif total:
        assert all(c.count is None for c in cells)


@settings(max_examples=400, deadline=None)
@given(week_counts)
def test_weeks_publish_nothing_small_and_nothing_derivable(values: list[int]) -> None:
    series = [(f"w{i}", n) for i, n in enumerate(values)]
    cells = suppress_weeks(series)
    assert [c.key for c in cells] == [k for k, _ in series]
    total = sum(values)
    hidden = [n for (_, n), c in zip(series, cells, strict=True) if c.count is None]
    for (_, n), c in zip(series, cells, strict=True):
        assert c.count is None or c.count == n
        assert c.count is None or c.count == 0 or c.count >= THRESHOLD
    if len(hidden) == len(values):
        return  # everything hidden, the empty weeks too: nothing to tell them apart
    if hidden and total >= THRESHOLD:
        # What differencing reveals is the SUM of the hidden weeks: it must not pin any of
        # them (each is at least 1, so one hidden week, or a sum equal to their number, would).
        assert 0 not in hidden
        assert len(hidden) >= 2
        assert sum(hidden) >= THRESHOLD
        assert sum(hidden) > len(hidden)


def test_percentiles_interpolate_between_the_closest_ranks() -> None:
    values = [float(v) for v in range(1, 11)]
    assert percentile(values, 0.5) == pytest.approx(5.5)
    assert percentile(values, 0.9) == pytest.approx(9.1)
    assert percentile([7.0], 0.9) == 7.0


def test_the_period_is_whole_iso_weeks() -> None:
    period = Period.of(date(2026, 1, 7), date(2026, 1, 20), NOW.date())
    assert (period.first, period.weeks, period.last_day) == (
        date(2026, 1, 5), 3, date(2026, 1, 25)
    )
    default = Period.of(None, None, NOW.date())
    assert (default.first, default.weeks) == (date(2025, 12, 22), 12)
    with pytest.raises(ServiceError) as refused:
        Period.of(date(2026, 2, 1), date(2026, 1, 1), NOW.date())
    assert refused.value.code == "invalid_period"
    with pytest.raises(ServiceError):
        Period.of(date(2020, 1, 1), date(2026, 1, 1), NOW.date())


def test_the_first_response_needs_five_answers() -> None:
    period = Period.of(None, None, NOW.date())
    sites = [("s1", "jmd-a", "JMD A")]
    rows = [(NOW, "s1", "school", "de", None)] * 4
    answers = [(NOW, NOW + timedelta(minutes=m)) for m in (1, 2, 3, 4)]
    few = build_report(period, sites, False, tally_rows(period, rows, answers, []))
    assert (few.answered, few.median_seconds, few.p90_seconds) == (None, None, None)
    assert few.enquiries_total is None
    more = build_report(period, sites, False, tally_rows(
        period, rows * 2, [*answers, (NOW, NOW + timedelta(minutes=10))], []))
    assert (more.answered, more.median_seconds, more.p90_seconds) == (5, 180.0, 456.0)
    assert more.enquiries_total == 8
    assert counts(more.per_age_group) == {"unknown": 8}


def test_csv_cells_cannot_start_a_formula() -> None:
    for dangerous in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert csv_safe(dangerous).startswith("'"), dangerous
    assert csv_safe("jmd-berlin") == "jmd-berlin"
    period = Period.of(None, None, NOW.date())
    report = build_report(period, [("s1", "=cmd", "X")], False,
                          tally_rows(period, [(NOW, "s1", "-x", "@y", None)] * 6, [], []))
    cells = [cell for row in csv_rows(report) for cell in row]
    assert "'=cmd" in cells and "'-x" in cells and "'@y" in cells
    assert not any(cell.startswith(("=", "+", "-", "@")) for cell in cells)


# =============================================================================================
# From the database (SQLite and PostgreSQL)
# =============================================================================================


class Db:
    def __init__(self, sessions: Sessions, sites: dict[str, str]) -> None:
        self.sessions = sessions
        self.sites = sites  # slug -> id

    async def report(self, who: AccountContext, **kwargs: Any) -> dict[str, Any]:
        report = await statistics_for(self.sessions, FrozenClock(NOW), who, **kwargs)
        return report.as_json()


async def _account(sessions: Sessions, role: str, leads: list[str], works: list[str]
                   ) -> AccountContext:
    async with sessions.begin() as db:
        account = Account(
            nickname=f"stat-{uuid.uuid4().hex[:12]}", nickname_key=uuid.uuid4().hex, role=role,
            display_name="", locale="de",
            age_group=None, kdf_salt=bytes(16), kdf_iterations=600_000, auth_hash="x",
            recovery_hash="x", key_blob=b"k", recovery_blob=b"r", x25519_public=bytes(32),
            ed25519_public=bytes(32), totp_secret_box=None, totp_enabled=False,
            totp_last_step=None, certificate=None, certificate_expires_at=None,
            created_at=NOW, updated_at=NOW,
        )
        db.add(account)
        await db.flush()
        for site_id in works:
            db.add(SiteMembership(account_id=account.id, site_id=site_id,
                                  is_lead=site_id in leads, created_at=NOW))
        return AccountContext(account_id=account.id, role=role, locale="de", session_id="t")


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Db]:
    engine = create_engine(make_config(db_url).database)
    sessions = create_sessions(engine)
    sites = {slug: await add_site(sessions, slug) for slug in ("stat-a", "stat-b", "stat-c")}
    try:
        yield Db(sessions, sites)
    finally:
        await engine.dispose()


def _week(n: int) -> datetime:
    """Tuesday noon of the n-th week before the current one."""
    return datetime(2026, 3, 10, 12, 0, tzinfo=UTC) - timedelta(weeks=n)


async def test_counts_per_week_site_topic_language_and_age_group(db: Db) -> None:
    a, b, c = db.sites["stat-a"], db.sites["stat-b"], db.sites["stat-c"]
    rows = (
        [Enquiry(_week(0), a, "school", "ar", "15-17")] * 12
        + [Enquiry(_week(1), a, "work", "de", "18-21")] * 6
        + [Enquiry(_week(1), b, "work", "fa", "12-14")] * 5
        + [Enquiry(_week(2), c, "health", "ti", None, None)] * 2  # small: suppressed
        + [Enquiry(_week(20), a, "school", "de")] * 9  # before the period
    )
    await add_enquiries(db.sessions, rows)
    await add_handover(db.sessions, _week(0), a, b)
    admin = await _account(db.sessions, "admin", [], [])
    report = await db.report(admin)
    assert report["period"] == {"from": "2025-12-22", "to": "2026-03-15", "weeks": 12}
    enquiries_ = report["enquiries"]
    assert enquiries_["total"] == 25
    weekly = {c["key"]: c["count"] for c in enquiries_["per_week"]}
    assert len(weekly) == 12
    # Week 2 had 2: suppressed, and with it the smallest other week (11): 25 - 12 - 11 = 2.
    assert {k: v for k, v in weekly.items() if v != 0} == {
        "2026-03-09": 12, "2026-03-02": None, "2026-02-23": None,
    }
    assert {c["key"]: c["count"] for c in enquiries_["per_site"]} == {"stat-a": 18, OTHER: 7}
    assert {c["key"]: c["count"] for c in enquiries_["per_topic"]} == {"school": 12, OTHER: 13}
    assert {c["key"]: c["count"] for c in enquiries_["per_language"]} == {
        "ar": 12, "de": 6, OTHER: 7,
    }
    assert {c["key"]: c["count"] for c in enquiries_["per_age_group"]} == {
        "15-17": 12, "18-21": 6, OTHER: 7,
    }
    # 23 answered after 10 minutes each.
    assert report["first_response"] == {"answered": 23, "median_seconds": 600.0,
                                        "p90_seconds": 600.0}
    # One handover: a count of 1 is never shown.
    assert report["handovers"]["total"] is None


async def test_no_published_number_is_small(db: Db) -> None:
    a, b = db.sites["stat-a"], db.sites["stat-b"]
    await add_enquiries(db.sessions, [Enquiry(_week(0), a)] * 7 + [Enquiry(_week(1), b)] * 3)
    admin = await _account(db.sessions, "admin", [], [])
    report = await db.report(admin)

    def numbers(value: Any) -> list[int]:
        if isinstance(value, dict):
            return [n for k, v in value.items() if k not in ("weeks", "threshold")
                    for n in numbers(v)]
        if isinstance(value, list):
            return [n for v in value for n in numbers(v)]
        return [value] if isinstance(value, int) and not isinstance(value, bool) else []

    assert all(n == 0 or n >= THRESHOLD for n in numbers(report)), report
    assert {c["key"]: c["count"] for c in report["enquiries"]["per_site"]} == {OTHER: 10}


async def test_handovers_are_counted_for_the_team_that_handed_over(db: Db) -> None:
    a, b = db.sites["stat-a"], db.sites["stat-b"]
    for i in range(6):
        await add_handover(db.sessions, _week(i % 3), a, b)
    await add_handover(db.sessions, _week(40), a, b)  # long ago: outside the period
    admin = await _account(db.sessions, "admin", [], [])
    assert (await db.report(admin))["handovers"]["total"] == 6
    lead_b = await _account(db.sessions, "site_lead", [b], [b])
    assert (await db.report(lead_b))["handovers"]["total"] == 0
    lead_a = await _account(db.sessions, "site_lead", [a], [a])
    only_a = await db.report(lead_a)
    assert only_a["handovers"]["total"] == 6
    assert only_a["handovers"]["per_site"] == [{"key": "stat-a", "count": 6}]


async def test_who_sees_which_sites(db: Db) -> None:
    a, b, c = db.sites["stat-a"], db.sites["stat-b"], db.sites["stat-c"]
    await add_enquiries(db.sessions, [Enquiry(_week(0), a)] * 6 + [Enquiry(_week(0), b)] * 7
                        + [Enquiry(_week(0), c)] * 8)
    admin = await _account(db.sessions, "admin", [], [])
    lead = await _account(db.sessions, "site_lead", [a, b], [a, b, c])  # works in c, leads a, b
    counsellor = await _account(db.sessions, "counsellor", [], [a])
    young = await _account(db.sessions, "young_person", [], [])

    everything = await db.report(admin)
    assert everything["enquiries"]["total"] == 21
    assert everything["scope"]["all_sites"] is True
    assert (await db.report(admin, site_slug="stat-c"))["enquiries"]["total"] == 8

    mine = await db.report(lead)
    assert mine["enquiries"]["total"] == 13
    assert {s["slug"] for s in mine["scope"]["sites"]} == {"stat-a", "stat-b"}
    assert (await db.report(lead, site_slug="stat-b"))["enquiries"]["total"] == 7
    for slug in ("stat-c", "no-such-site"):  # works there but does not lead it; unknown
        with pytest.raises(ServiceError) as refused:
            await db.report(lead, site_slug=slug)
        assert (refused.value.status, refused.value.code) == (403, "not_lead")
    with pytest.raises(ServiceError) as unknown:
        await db.report(admin, site_slug="no-such-site")
    assert unknown.value.status == 404
    for nobody in (counsellor, young):
        with pytest.raises(ServiceError) as refused:
            await db.report(nobody)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")


# --- first responses through the real enquiry, queue and writer, on an injected clock --------


async def _enquiry_at(sessions: Sessions, clock: FrozenClock, world: World) -> Conv:
    payload, conv = enquiry_payload(world, world.young, "Hallo")
    envelope = validate_envelope_shape(payload["first_message"])
    await enquiries.create_enquiry(
        sessions, clock, await SiteDirectory().current(sessions), context_of(world.young),
        topic=payload["topic"], language=payload["language"], location=payload.get("location"),
        epoch_keys=[
            enquiries.EpochKeyIn(k["recipient"], k.get("site_key_version"),
                                 validate_key_share_shape(k["sealed"]))
            for k in payload["epoch_keys"]
        ],
        first_message=envelope, first_message_json=envelope.to_json(), site_id=None,
    )
    return conv


async def test_first_response_median_and_p90_from_real_conversations(
    world_db: tuple[str, World],
) -> None:
    url, world = world_db
    engine = create_engine(make_config(url).database)
    sessions = create_sessions(engine)
    start = datetime.now(UTC).replace(microsecond=0)
    clock = FrozenClock(start)

    async def publish(_: list[Notice]) -> None:
        return None

    writer = MessageWriter(sessions, clock, publish, queue_size=16, wait_seconds=30)
    await writer.start()
    try:
        # Five enquiries, answered after 1, 2, 3, 4 and 10 minutes; a sixth stays unanswered;
        # a message of the young person does not count as an answer.
        for minutes in (1, 2, 3, 4, 10, None):
            clock.current = start
            conv = await _enquiry_at(sessions, clock, world)
            if minutes is None:
                continue
            clock.advance(timedelta(seconds=30))
            await writer.submit(conv.id, world.young.id, encrypt(world.young, conv, "noch da?"))
            clock.current = start + timedelta(minutes=minutes)
            await queue.claim(sessions, clock, context_of(world.counsellor), conv.id,
                              limit=100)
            await writer.submit(conv.id, world.counsellor.id,
                                encrypt(world.counsellor, conv, "Hallo, ich bin da."))
            clock.advance(timedelta(minutes=5))  # later answers change nothing
            await writer.submit(conv.id, world.counsellor.id,
                                encrypt(world.counsellor, conv, "Noch etwas?"))
            await queue_close(sessions, clock, world, conv)
        admin = await _account(sessions, "admin", [], [])
        report = (await statistics_for(sessions, FrozenClock(start), admin)).as_json()
    finally:
        await writer.stop()
        await engine.dispose()
    assert report["enquiries"]["total"] == 6
    assert report["first_response"] == {"answered": 5, "median_seconds": 180.0,
                                        "p90_seconds": 456.0}


async def queue_close(sessions: Sessions, clock: FrozenClock, world: World, conv: Conv) -> None:
    """Close the conversation, so the counsellor's open-conversation limit never matters."""
    from server.services import conversations

    await conversations.close(sessions, clock, context_of(world.counsellor), conv.id)


# --- the operator's CLI --------------------------------------------------------------------


async def test_cli_export_writes_the_same_suppressed_csv(sqlite_url: str, tmp_path: Path
                                                        ) -> None:
    engine = create_engine(make_config(sqlite_url).database)
    sessions = create_sessions(engine)
    try:
        site = await add_site(sessions, "stat-cli")
        now = datetime.now(UTC) - timedelta(hours=1)
        await add_enquiries(sessions, [Enquiry(now, site, "school")] * 9
                            + [Enquiry(now, site, "health")] * 2)
    finally:
        await engine.dispose()
    out = tmp_path / "stats.csv"
    env = {**os.environ, "JMDCHAT_DATABASE_URL": sqlite_url}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server", "statistics", "export", "--site",
                         "stat-cli", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["section", "key", "count", "period_from", "period_to"]
    topics = {r[1]: r[2] for r in rows if r[0] == "enquiries_per_topic"}
    assert topics == {OTHER: "11"}  # health (2) is hidden, and school with it
    unknown = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server", "statistics", "export", "--site",
                         "no-such-site"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert unknown.returncode == 1 and "not_found" in unknown.stderr
