"""Site directory storage through its services: import/export, idempotency, all-or-nothing,
topics, and the cached directory. Runs on SQLite and PostgreSQL (`db_url`)."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.config import DatabaseConfig
from server.i18n import get_translator
from server.services import geo
from server.services import sites as service
from server.services.clock import FrozenClock
from server.services.site_import import COLUMNS, export_sites, format_opening_hours
from server.storage.db import Sessions, create_engine, create_sessions
from server.storage.models import Site, Topic


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(DatabaseConfig(url=db_url))
    yield create_sessions(engine)
    await engine.dispose()


async def count_sites(sessions: Sessions) -> int:
    async with sessions.begin() as session:
        return int(await session.scalar(select(func.count(Site.id))) or 0)


async def site(sessions: Sessions, slug: str) -> Site:
    async with sessions.begin() as session:
        found = await session.scalar(select(Site).where(Site.slug == slug))
        assert found is not None
        return found


def generated_csv(n: int, *, delimiter: str = ",") -> bytes:
    """`n` local sites on real postcodes, spread over Germany, plus an online team."""
    postcodes = sorted(geo.table().areas)
    step = len(postcodes) // n
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["slug", "name", "provider", "postcode", "languages", "topics",
                     "opening_hours", "runs_quartier", "is_online_team", "email"])
    langs = ["ar", "fa", "fa_AF", "ps", "ru", "uk", "tr", "fr", "ku", "ti", "en"]
    for i in range(n):
        writer.writerow([
            f"jmd-{i:03d}", f"Jugendmigrationsdienst {i}", "Caritas", postcodes[i * step],
            f"de {langs[i % len(langs)]} {langs[(i * 7) % len(langs)]}",
            "" if i % 5 else "school family other", "mon-thu 09:00-16:00; fri 09:00-12:00",
            "yes" if i % 20 == 0 else "no", "no", f"jmd{i}@jmd.example",
        ])
    writer.writerow(["jmd-online", "JMD Online-Team", "JMD", "", " ".join(["de", *langs]), "",
                     "mon-fri 9-18", "no", "yes", "online@jmd.example"])
    return out.getvalue().encode("utf-8")


async def test_import_500_sites_then_reimport_changes_nothing(sessions: Sessions) -> None:
    clock = FrozenClock()
    data = generated_csv(500)
    started = time.perf_counter()
    report = await service.import_sites_file(sessions, clock, data, "csv")
    elapsed = time.perf_counter() - started
    assert report.ok, report.errors
    assert (len(report.created), len(report.updated)) == (501, 0)
    assert await count_sites(sessions) == 501
    assert elapsed < 10  # typically well under a second

    online = await site(sessions, "jmd-online")
    assert online.latitude is None
    first = await site(sessions, "jmd-000")
    assert first.latitude is not None and first.state  # filled in from the postcode
    assert first.opening_hours == {"mon": [["09:00", "16:00"]], "tue": [["09:00", "16:00"]],
                                   "wed": [["09:00", "16:00"]], "thu": [["09:00", "16:00"]],
                                   "fri": [["09:00", "12:00"]]}

    clock.advance(timedelta(hours=1))
    again = await service.import_sites_file(sessions, clock, data, "csv")
    assert again.ok
    assert (len(again.created), len(again.updated), len(again.unchanged)) == (0, 0, 501)
    assert (await site(sessions, "jmd-000")).updated_at == first.updated_at


async def test_bad_rows_are_reported_and_nothing_is_written(sessions: Sessions) -> None:
    clock = FrozenClock()
    await service.load_demo_sites(sessions, clock)
    before = await count_sites(sessions)
    data = (
        b"slug,name,postcode,languages,topics,opening_hours,active,email\n"
        b"jmd-new,New site,54290,de ar,school,mon-fri 09:00-16:00,yes,new@jmd.example\n"
        b"jmd-bad,Bad,99999,de xx,cooking,mon 9-8,maybe,not-an-email\n"
        b'"Bad Slug",,5429,de,,,,\n'
        b"jmd-new,Twice,54290,de,,,,\n"
        b"jmd-trier,Trier,,de,,,,\n"
    )
    report = await service.import_sites_file(sessions, clock, data, "csv")
    assert not report.ok
    found = {(e.line, e.field, e.code) for e in report.errors}
    assert found == {
        (3, "postcode", "unknown_postcode"),
        (3, "languages", "unknown_language"),
        (3, "topics", "unknown_topic"),
        (3, "opening_hours", "bad_hours"),
        (3, "active", "not_boolean"),
        (3, "email", "bad_email"),
        (4, "slug", "bad_slug"),
        (4, "name", "required"),
        (4, "postcode", "unknown_postcode"),
        (5, "slug", "duplicate_slug"),
        (6, "postcode", "location_required"),  # clearing Trier's postcode leaves no location
    }
    rendered = [e.render(get_translator("en")) for e in report.errors]
    assert rendered[0].startswith("line 3, field postcode: ")
    assert "99999" in rendered[0]
    german = report.errors[0].render(get_translator("de"))
    assert "3" in german and "postcode" in german and "99999" in german
    assert await count_sites(sessions) == before
    assert (await site(sessions, "jmd-trier")).postcode == "54290"


async def test_file_level_errors(sessions: Sessions) -> None:
    clock = FrozenClock()
    cases = {
        b"slug,name,colour\njmd-a,A,blue\n": (1, "colour", "unknown_column"),
        b"name\nA\n": (1, "slug", "missing_column"),
        b"slug,name\njmd-a,A,extra\n": (2, "", "column_count"),
        b"slug,name\njmd-a,K\xf6ln\n": (2, "", "encoding"),
        b"": (0, "", "empty"),
    }
    for data, expected in cases.items():
        report = await service.import_sites_file(sessions, clock, data, "csv")
        assert [(e.line, e.field, e.code) for e in report.errors] == [expected]
    bad_json = b'[\n  {"slug": "jmd-a", "name": "A", "postcode": "54290"},\n  {"slug": "jmd-b",\n'
    report = await service.import_sites_file(sessions, clock, bad_json, "json")
    assert report.errors[0].code == "bad_json" and report.errors[0].line == 4
    assert await count_sites(sessions) == 0


async def test_json_errors_point_at_the_object_line(sessions: Sessions) -> None:
    data = json.dumps(
        {"sites": [{"slug": "jmd-a", "name": "A", "postcode": "54290"},
                   {"slug": "jmd-b", "name": "B", "latitude": 7.0, "longitude": 50.0}]},
        indent=2,
    ).encode()
    report = await service.import_sites_file(sessions, FrozenClock(), data, "json")
    assert {(e.field, e.code) for e in report.errors} == {
        ("latitude", "outside_germany"), ("longitude", "outside_germany")}
    lines = data.decode().splitlines()
    slug_line = next(n for n, text in enumerate(lines, start=1) if '"jmd-b"' in text)
    assert lines[slug_line - 2].strip() == "{"
    assert {e.line for e in report.errors} == {slug_line - 1}  # where the object starts


async def test_export_then_import_changes_nothing(sessions: Sessions) -> None:
    clock = FrozenClock()
    await service.load_demo_sites(sessions, clock)
    for fmt in ("csv", "json"):
        exported = await export_sites(sessions, fmt)
        report = await service.import_sites_file(sessions, clock, exported.encode(), fmt)
        assert report.ok
        assert (len(report.created), len(report.updated), len(report.unchanged)) == (0, 0, 17)
    rows = list(csv.DictReader(io.StringIO(await export_sites(sessions, "csv"))))
    assert list(rows[0]) == list(COLUMNS)
    trier = next(r for r in rows if r["slug"] == "jmd-trier")
    assert (trier["street"], trier["postcode"], trier["city"], trier["state"]) == (
        "Bruchhausenstraße 16a", "54290", "Trier", "Rheinland-Pfalz")
    assert "ar" in trier["languages"].split() and "de" in trier["languages"].split()
    assert json.loads(await export_sites(sessions, "json"))[0]["slug"] == "jmd-berlin"


async def test_demo_loader_is_idempotent(sessions: Sessions) -> None:
    clock = FrozenClock()
    first = await service.load_demo_sites(sessions, clock)
    assert len(first.created) == 17
    second = await service.load_demo_sites(sessions, clock)
    assert (len(second.created), len(second.updated), len(second.unchanged)) == (0, 0, 17)
    wernigerode = await site(sessions, "jmd-wernigerode")
    assert (wernigerode.latitude, wernigerode.longitude) == (51.8365, 10.7822)
    assert (await site(sessions, "jmd-trier")).state == "Rheinland-Pfalz"


async def test_columns_missing_from_the_file_are_left_alone(sessions: Sessions) -> None:
    clock = FrozenClock()
    await service.load_demo_sites(sessions, clock)
    clock.advance(timedelta(minutes=5))
    report = await service.import_sites_file(
        sessions, clock, b"slug;active\njmd-gotha;nein\njmd-peine;ja\n", "csv")
    assert report.ok and report.updated == ["jmd-gotha"] and report.unchanged == ["jmd-peine"]
    gotha = await site(sessions, "jmd-gotha")
    assert gotha.active is False
    assert gotha.updated_at == clock.now()
    assert gotha.name == "Jugendmigrationsdienst Gotha" and "ru" in gotha.languages
    # A new site needs its name.
    report = await service.import_sites_file(sessions, clock, b"slug\njmd-new\n", "csv")
    assert [(e.field, e.code) for e in report.errors] == [
        ("name", "required"), ("postcode", "location_required")]


async def test_german_excel_csv(sessions: Sessions) -> None:
    data = (
        "\ufeffslug;name;postcode;latitude;longitude;state;languages;opening_hours;takes_online\n"
        "jmd-koeln;JMD Köln;50667;50,9384;6,9584;nw;de, ar, prs;\"Mo.-Do. 9-16 Uhr; Fr 9-12\";ja\n"
    ).encode()
    report = await service.import_sites_file(sessions, FrozenClock(), data, "csv")
    assert report.ok, report.errors
    koeln = await site(sessions, "jmd-koeln")
    assert (koeln.latitude, koeln.longitude) == (50.9384, 6.9584)
    assert koeln.state == "Nordrhein-Westfalen"
    assert koeln.languages == ["de", "ar", "fa_AF"]
    assert format_opening_hours(koeln.opening_hours) == "mon-thu 09:00-16:00; fri 09:00-12:00"
    assert koeln.city == "Köln"


async def test_deactivate_missing_and_dry_run(sessions: Sessions) -> None:
    clock = FrozenClock()
    await service.load_demo_sites(sessions, clock)
    data = b"slug,name,postcode\njmd-trier,Jugendmigrationsdienst Trier,54290\n"
    dry = await service.import_sites_file(sessions, clock, data, "csv", deactivate_missing=True,
                                          dry_run=True)
    assert dry.ok and len(dry.deactivated) == 16 and not dry.written
    async with sessions.begin() as session:
        assert await session.scalar(select(func.count(Site.id)).where(Site.active)) == 17
    real = await service.import_sites_file(sessions, clock, data, "csv", deactivate_missing=True)
    assert real.written and len(real.deactivated) == 16
    async with sessions.begin() as session:
        active = (await session.scalars(select(Site.slug).where(Site.active))).all()
    assert active == ["jmd-trier"]


async def test_built_in_topics_before_seeding(sessions: Sessions) -> None:
    directory = await service.SiteDirectory().current(sessions)
    assert [t["key"] for t in service.list_topics(directory, "en")][-1] == "other"
    service.check_topic(directory, "health")  # an enquiry may name a topic at once


async def test_topics_seed_and_names_per_locale(sessions: Sessions) -> None:
    assert await service.seed_topics(sessions) == (11, 0)
    assert await service.seed_topics(sessions) == (0, 0)
    async with sessions.begin() as session:
        topics = (await session.scalars(select(Topic).order_by(Topic.sort_order))).all()
        assert [t.key for t in topics][:2] == ["school", "training_work"]
        assert all(set(t.names) == {"de", "en", "ar", "fa", "fa_AF", "ps", "ru", "uk", "tr",
                                    "fr", "ku", "ti"} for t in topics)
        topics[0].names = {"de": "Schule"}  # an admin removed translations
    directory = await service.SiteDirectory().current(sessions)
    names = dict((t["key"], t["name"]) for t in service.list_topics(directory, "ar"))
    assert names["family"] == "العائلة"
    assert names["school"] == "Schule"  # falls back to German
    assert await service.seed_topics(sessions) == (0, 1)  # the shipped names come back


async def test_directory_refreshes_when_sites_change(sessions: Sessions) -> None:
    clock = FrozenClock()
    now = [0.0]
    directory = service.SiteDirectory(max_age=5, monotonic=lambda: now[0])
    await service.load_demo_sites(sessions, clock)
    first = await directory.current(sessions)
    assert len(first.index) == 17 and directory.rebuilds == 1
    # Another process deactivates Trier (no invalidate() here).
    clock.advance(timedelta(seconds=1))
    await service.import_sites_file(sessions, clock, b"slug,active\njmd-trier,no\n", "csv")
    now[0] = 4.9
    assert await directory.current(sessions) is first  # still fresh enough
    now[0] = 5.1
    second = await directory.current(sessions)
    assert "jmd-trier" not in second.by_slug and len(second.index) == 16
    assert directory.rebuilds == 2
    now[0] = 20
    assert await directory.current(sessions) is second  # checked, unchanged: no rebuild
    assert directory.rebuilds == 2
    # Writers in this process are seen at once.
    clock.advance(timedelta(seconds=1))
    await service.import_sites_file(sessions, clock, b"slug,active\njmd-trier,yes\n", "csv",
                                    directory=directory)
    assert "jmd-trier" in (await directory.current(sessions)).by_slug
