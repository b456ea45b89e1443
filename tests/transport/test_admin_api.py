"""The admin HTTP API (issues #4, #9): sites, import/export, topics, retention settings and the
audit trail, through a real server with real accounts of every role, on SQLite and PostgreSQL.

The tests of this module share one world and run in order (later ones read the audit rows
the earlier ones wrote).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select

from server.keys import SITE_DIRECTORY
from server.services.accounts import audit
from server.services.clock import FrozenClock
from server.services.retention import run_retention
from server.services.sites import seed_topics
from server.storage import migrate
from server.storage.models import AuditEvent, Site
from tests.conftest import PG_ADMIN_URL, _pg_admin, _pg_reachable, missing_service
from tests.security_support import SLUG_X, SLUG_Y, SecurityWorld, security_world, sqlite_copy

pytestmark = pytest.mark.asyncio(loop_scope="module")


@asynccontextmanager
async def _world_on(kind: str, sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
                    ) -> AsyncIterator[SecurityWorld]:
    if kind == "sqlite":
        url = sqlite_copy(sqlite_template, tmp_path_factory.mktemp("admin") / "admin.db")
        async with security_world(url) as built:
            yield built
        return
    if not _pg_reachable():
        missing_service("PostgreSQL on 127.0.0.1:5432")
    name = f"jmdchat_admin_{uuid.uuid4().hex[:10]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        await asyncio.to_thread(migrate.upgrade, url)
        async with security_world(url) as built:
            yield built
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["sqlite", "postgres"])
async def world(request: pytest.FixtureRequest, sqlite_template: Path,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SecurityWorld]:
    async with _world_on(request.param, sqlite_template, tmp_path_factory) as built:
        yield built


async def ok(world: SecurityWorld, method: str, path: str, role: str = "admin",
             status: int = 200, **kwargs: Any) -> Any:
    response = await world.request(method, path, role=role, **kwargs)
    assert response.status == status, (method, path, role, response.body)
    return response.body


async def refused(world: SecurityWorld, method: str, path: str, role: str | None,
                  status: int, code: str, **kwargs: Any) -> None:
    response = await world.request(method, path, role=role, **kwargs)
    assert (response.status, response.body.get("code")) == (status, code), (role, response.body)


NEW_SITE = {
    "slug": "jmd-admin-test", "name": "JMD Testhausen", "provider": "Caritas",
    "street": "Bruchhausenstraße 16a", "postcode": "54290", "languages": "de ar fa_AF",
    "topics": ["school", "health"], "opening_hours": "mon-thu 09:00-16:00; fri 09:00-12:00",
    "runs_quartier": True, "takes_online": True, "phone": "+49 651 12345",
    "email": "jmd@example.org", "website": "https://example.org", "latitude": None,
    "longitude": None,
}


async def _site_count(world: SecurityWorld) -> int:
    async with world.sessions.begin() as db:
        return int(await db.scalar(select(func.count(Site.id))) or 0)


async def test_admin_creates_and_edits_a_site(world: SecurityWorld) -> None:
    body = await ok(world, "POST", "/api/admin/sites", json=NEW_SITE, status=201)
    site = body["site"]
    # Coordinates, city and Bundesland come from the postcode (offline geo table).
    assert site["city"] == "Trier" and site["state"] == "Rheinland-Pfalz"
    assert 49.6 < site["latitude"] < 49.9 and 6.5 < site["longitude"] < 6.8
    assert site["languages"] == ["de", "ar", "fa_AF"]
    assert site["opening_hours"]["fri"] == [["09:00", "12:00"]]
    assert site["opening_hours_text"] == "mon-thu 09:00-16:00; fri 09:00-12:00"
    public = await ok(world, "GET", "/api/sites/jmd-admin-test", role="anonymous")
    assert public["site"]["name"] == "JMD Testhausen"

    edited = await ok(world, "POST", f"/api/admin/sites/{site['id']}",
                      json={"phone": "+49 651 999", "active": False})
    assert edited["site"]["phone"] == "+49 651 999" and edited["site"]["active"] is False
    await refused(world, "GET", "/api/sites/jmd-admin-test", "anonymous", 404, "not_found")
    await ok(world, "POST", f"/api/admin/sites/{site['id']}", json={"active": True})
    # A new postcode with the town, Bundesland and coordinates emptied (as the form sends
    # it): all three come from the new postcode.
    moved = (await ok(world, "POST", f"/api/admin/sites/{site['id']}", json={
        "postcode": "28195", "city": "", "state": "", "latitude": None, "longitude": None,
    }))["site"]
    assert (moved["city"], moved["state"]) == ("Bremen", "Bremen")
    assert 53.0 < moved["latitude"] < 53.2
    await ok(world, "POST", f"/api/admin/sites/{site['id']}", json={
        "postcode": "54290", "city": "", "state": "", "latitude": None, "longitude": None})

    listed = await ok(world, "GET", "/api/admin/sites?q=testhausen&state=RP&quartier=true")
    assert [s["slug"] for s in listed["sites"]] == ["jmd-admin-test"]
    assert listed["can_edit_all"] is True
    inactive = await ok(world, "GET", "/api/admin/sites?active=false")
    assert inactive["sites"] == []


async def test_a_bad_site_record_names_the_field_and_writes_nothing(world: SecurityWorld
                                                                   ) -> None:
    before = await world.row_counts()
    response = await world.request("POST", "/api/admin/sites", role="admin", json={
        **NEW_SITE, "slug": "jmd-admin-bad", "postcode": "00000", "email": "no mail"})
    assert response.status == 400 and response.body["code"] == "site_invalid"
    fields = {e["field"]: e["code"] for e in response.body["errors"]}
    assert fields == {"postcode": "unknown_postcode", "email": "bad_email"}
    assert all(e["message"] for e in response.body["errors"])
    taken = await world.request("POST", "/api/admin/sites", role="admin", json=NEW_SITE)
    assert taken.status == 400 and taken.body["errors"][0]["code"] == "slug_taken"
    assert await world.row_counts() == before


async def test_site_leads_edit_only_their_sites_contact_data(world: SecurityWorld) -> None:
    path_x, path_y = f"/api/admin/sites/{world.site_x}", f"/api/admin/sites/{world.site_y}"
    listed = await ok(world, "GET", "/api/admin/sites", role="lead_x")
    assert [s["slug"] for s in listed["sites"]] == [SLUG_X]
    assert listed["can_edit_all"] is False
    body = await ok(world, "POST", path_x, role="lead_x",
                    json={"phone": "+49 30 123", "opening_hours": "Mo-Fr 9-17 Uhr",
                          "languages": ["de", "ar", "fa", "en", "uk"]})
    assert body["site"]["phone"] == "+49 30 123"
    assert body["site"]["opening_hours"]["mon"] == [["09:00", "17:00"]]
    # Sending a field unchanged is fine (the form sends everything); changing it is not.
    await ok(world, "POST", path_x, role="lead_x",
             json={"name": listed["sites"][0]["name"], "phone": "+49 30 124"})
    await refused(world, "POST", path_x, "lead_x", 403, "admin_only_field",
                  json={"name": "Umbenannt"})
    await refused(world, "POST", path_y, "lead_x", 403, "not_member", json={"phone": "1"})
    await refused(world, "POST", path_x, "counsellor_x", 403, "forbidden", json={"phone": "1"})
    await refused(world, "POST", path_x, "young_a", 403, "forbidden", json={"phone": "1"})
    await refused(world, "POST", path_x, None, 401, "unauthorized", json={"phone": "1"})
    await refused(world, "GET", "/api/admin/sites", "counsellor_y", 403, "forbidden")
    await refused(world, "POST", "/api/admin/sites", "lead_x", 403, "forbidden",
                  json={**NEW_SITE, "slug": "jmd-lead-made"})
    await refused(world, "GET", "/api/admin/sites/export.csv", "lead_x", 403, "forbidden")
    unknown = f"/api/admin/sites/{uuid.uuid4()}"
    await refused(world, "POST", unknown, "admin", 404, "not_found", json={"phone": "1"})


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


IMPORT_ROWS = [
    {"slug": "jmd-import-a", "name": "JMD Import A", "postcode": "10115", "languages": "de tr",
     "opening_hours": "mon-fri 09:00-15:00"},
    {"slug": "jmd-import-b", "name": "JMD Import B", "postcode": "99999", "languages": "de",
     "opening_hours": ""},
    {"slug": "jmd-import-c", "name": "JMD Import C", "postcode": "28195", "languages": "de ar",
     "opening_hours": "Mo-Do 9-16 Uhr"},
]


async def test_import_dry_run_reports_rows_then_apply(world: SecurityWorld) -> None:
    sites_before = await _site_count(world)
    bad = _csv(IMPORT_ROWS)
    for dry_run in (True, False):  # with an error, not even "apply" writes anything
        body = await ok(world, "POST", "/api/admin/sites/import",
                        json={"format": "csv", "content": bad, "dry_run": dry_run})
        report = body["report"]
        assert report["ok"] is False
        assert [(e["line"], e["field"], e["code"]) for e in report["errors"]] == [
            (3, "postcode", "unknown_postcode")]
        assert "99999" in report["errors"][0]["message"]
        assert await _site_count(world) == sites_before

    good = _csv([IMPORT_ROWS[0], IMPORT_ROWS[2]])
    dry = (await ok(world, "POST", "/api/admin/sites/import",
                    json={"format": "csv", "content": good, "dry_run": True}))["report"]
    assert dry["ok"] and dry["dry_run"] and dry["created"] == ["jmd-import-a", "jmd-import-c"]
    assert await _site_count(world) == sites_before
    applied = (await ok(world, "POST", "/api/admin/sites/import",
                        json={"format": "csv", "content": good, "dry_run": False}))["report"]
    assert applied["created"] == ["jmd-import-a", "jmd-import-c"] and not applied["dry_run"]
    assert await _site_count(world) == sites_before + 2
    again = (await ok(world, "POST", "/api/admin/sites/import",
                      json={"format": "csv", "content": good, "dry_run": False}))["report"]
    assert again["unchanged"] == ["jmd-import-a", "jmd-import-c"] and not again["created"]
    public = await ok(world, "GET", "/api/sites/jmd-import-c", role="anonymous")
    assert public["site"]["city"] == "Bremen"

    await refused(world, "POST", "/api/admin/sites/import", "lead_x", 403, "forbidden",
                  json={"format": "csv", "content": good})
    limit = world.config.limits.max_site_import_bytes
    huge = "slug,name\n" + "x" * (limit + 1)
    await refused(world, "POST", "/api/admin/sites/import", "admin", 413, "file_too_large",
                  json={"format": "csv", "content": huge})


async def _export(world: SecurityWorld, fmt: str) -> str:
    response = await world.request("GET", f"/api/admin/sites/export.{fmt}", role="admin")
    assert response.status == 200
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    return response.body if isinstance(response.body, str) else json.dumps(response.body)


@pytest.mark.parametrize("fmt", ["csv", "json"])
async def test_export_round_trip_equals_import(world: SecurityWorld, fmt: str) -> None:
    # The security world's sites were written directly, without the import's filling-in of
    # the Bundesland from the postcode: one import brings them into the canonical form.
    await ok(world, "POST", "/api/admin/sites/import",
             json={"format": fmt, "content": await _export(world, fmt), "dry_run": False})
    text = await _export(world, fmt)
    if fmt == "json":
        slugs = {record["slug"] for record in json.loads(text)}
    else:
        slugs = {row["slug"] for row in csv.DictReader(io.StringIO(text))}
    assert {"jmd-admin-test", "jmd-import-a", SLUG_X, SLUG_Y} <= slugs
    report = (await ok(world, "POST", "/api/admin/sites/import",
                       json={"format": fmt, "content": text, "dry_run": False}))["report"]
    assert report["ok"], report["errors"]
    assert set(report["unchanged"]) == slugs
    assert not report["created"] and not report["updated"]
    assert await _export(world, fmt) == text


async def test_topic_rename_and_deactivate(world: SecurityWorld) -> None:
    de = {"Accept-Language": "de"}
    listed = await ok(world, "GET", "/api/admin/topics")
    school = next(t for t in listed["topics"] if t["key"] == "school")
    original = school["names"]["de"]
    body = await ok(world, "POST", "/api/admin/topics/school",
                    json={"names": {"de": "Schule und Kita"}})
    assert body["topic"]["names"]["de"] == "Schule und Kita"
    assert body["topic"]["renamed"] == ["de"]
    public = await ok(world, "GET", "/api/topics", role="anonymous", headers=de)
    assert {"key": "school", "name": "Schule und Kita"} in public["topics"]
    await seed_topics(world.sessions)  # re-seeding keeps the admin's name
    world.app[SITE_DIRECTORY].invalidate()
    public = await ok(world, "GET", "/api/topics", role="anonymous", headers=de)
    assert {"key": "school", "name": "Schule und Kita"} in public["topics"]

    await ok(world, "POST", "/api/admin/topics/health", json={"active": False})
    public = await ok(world, "GET", "/api/topics", role="anonymous", headers=de)
    assert "health" not in {t["key"] for t in public["topics"]}
    await ok(world, "POST", "/api/admin/topics/health", json={"active": True})
    restored = await ok(world, "POST", "/api/admin/topics/school", json={"names": {"de": ""}})
    assert restored["topic"]["names"]["de"] == original and restored["topic"]["renamed"] == []

    await refused(world, "POST", "/api/admin/topics/school", "admin", 400, "unknown_locale",
                  json={"names": {"xx": "Nope"}})
    await refused(world, "POST", "/api/admin/topics/nonexistent", "admin", 404, "not_found",
                  json={"active": False})
    await refused(world, "POST", "/api/admin/topics/school", "lead_x", 403, "forbidden",
                  json={"active": False})
    await refused(world, "GET", "/api/admin/topics", "lead_x", 403, "forbidden")


async def test_retention_settings_are_used_by_the_retention_job(world: SecurityWorld) -> None:
    settings = await ok(world, "GET", "/api/admin/retention")
    assert settings["effective"]["closed_conversation_days"] == 180
    assert settings["bounds"]["closed_conversation_days"] == [30, 730]

    conv = await world.fresh_conversation()
    await world.close(conv.id)
    later = FrozenClock(world.clock.now() + timedelta(days=40))

    async def closed_candidates() -> int:
        summary = await run_retention(world.sessions, world.config, later, dry_run=True)
        return summary.deleted["closed_conversations"]

    assert await closed_candidates() == 0  # 40 days < 180 days (config.toml)
    await refused(world, "POST", "/api/admin/retention", "admin", 400, "out_of_bounds",
                  json={"closed_conversation_days": 5})
    changed = await ok(world, "POST", "/api/admin/retention",
                       json={"closed_conversation_days": 30})
    assert changed["effective"]["closed_conversation_days"] == 30
    assert changed["overridden"] == ["closed_conversation_days"]
    assert await closed_candidates() == 1  # the job reads the admin's value

    # A real run (with the world's own clock: nothing of the other tests expires) is shown.
    await run_retention(world.sessions, world.config, world.clock)
    shown = await ok(world, "GET", "/api/admin/retention")
    assert shown["last_run"]["at"] == world.clock.now().isoformat()
    assert "closed_conversations" in shown["last_run"]["deleted"]

    back = await ok(world, "POST", "/api/admin/retention",
                    json={"closed_conversation_days": 180})
    assert back["overridden"] == [] and back["effective"]["closed_conversation_days"] == 180
    assert await closed_candidates() == 0
    rounds = await ok(world, "POST", "/api/admin/retention", json={"round_message_days": 14})
    assert rounds["effective"]["round_message_days"] == 14
    assert rounds["overridden"] == ["round_message_days"]
    await ok(world, "POST", "/api/admin/retention",
             json={"round_message_days": world.config.retention.round_message_days})
    for role in ("lead_x", "counsellor_x", "young_a"):
        await refused(world, "GET", "/api/admin/retention", role, 403, "forbidden")
        await refused(world, "POST", "/api/admin/retention", role, 403, "forbidden",
                      json={"audit_days": 400})


async def test_audit_trail_by_role(world: SecurityWorld) -> None:
    # An event whose actor is a young person: listed, but never with the nickname.
    async with world.sessions.begin() as db:
        audit(db, world.clock.now(), "test_young_person_event", "conversation", "c1",
              actor_id=world.actors["young_a"].account_id, site_id=world.site_x)

    everything = await ok(world, "GET", "/api/admin/audit")
    actions = {e["action"] for e in everything["events"]}
    assert {"site_created", "site_updated", "sites_imported", "topic_updated",
            "retention_changed"} <= actions
    created = next(e for e in everything["events"] if e["action"] == "site_created")
    assert created["actor"] == {"kind": "staff", "name": "Admin", "role": "admin"}
    assert "site_created" in everything["actions"]

    lead = await ok(world, "GET", "/api/admin/audit", role="lead_x")
    assert lead["events"] and {e["site_id"] for e in lead["events"]} == {world.site_x}
    assert "retention_changed" not in {e["action"] for e in lead["events"]}
    assert [s["id"] for s in lead["sites"]] == [world.site_x]
    young = next(e for e in lead["events"] if e["action"] == "test_young_person_event")
    assert young["actor"] == {"kind": "person"}
    assert world.actors["young_a"].nickname not in json.dumps(lead)
    edited = next(e for e in lead["events"] if e["action"] == "site_updated")
    assert edited["actor"]["name"] == "Selin"

    filtered = await ok(world, "GET", "/api/admin/audit?action=topic_updated")
    assert filtered["events"] and {e["action"] for e in filtered["events"]} == {"topic_updated"}
    today = world.clock.now().date()
    dated = await ok(world, "GET", f"/api/admin/audit?since={today}&until={today}")
    assert everything["total"] <= 50  # one page holds them all here
    assert dated["total"] == sum(e["at"][:10] == str(today) for e in everything["events"]) > 0
    future = await ok(world, "GET", f"/api/admin/audit?since={today + timedelta(days=1)}")
    assert future["total"] == 0 and future["events"] == []
    by_site = await ok(world, "GET", f"/api/admin/audit?site_id={world.site_y}")
    assert all(e["site_id"] == world.site_y for e in by_site["events"])

    await refused(world, "GET", f"/api/admin/audit?site_id={world.site_y}", "lead_x", 403,
                  "forbidden")
    for role in ("counsellor_x", "young_a"):
        await refused(world, "GET", "/api/admin/audit", role, 403, "forbidden")
    await refused(world, "GET", "/api/admin/audit", None, 401, "unauthorized")
    await refused(world, "GET", "/api/admin/audit?page=0", "admin", 400, "invalid")


async def test_audit_paging(world: SecurityWorld) -> None:
    async with world.sessions.begin() as db:
        for n in range(60):
            audit(db, world.clock.now() - timedelta(minutes=n), "test_paging", "site",
                  str(n), site_id=world.site_y)
        total = int(await db.scalar(select(func.count(AuditEvent.id))
                                    .where(AuditEvent.action == "test_paging")) or 0)
    first = await ok(world, "GET", "/api/admin/audit?action=test_paging")
    second = await ok(world, "GET", "/api/admin/audit?action=test_paging&page=2")
    assert first["total"] == total == 60 and first["page_size"] == 50
    assert len(first["events"]) == 50 and len(second["events"]) == 10
    ids = [e["subject_id"] for e in first["events"] + second["events"]]
    assert ids == [str(n) for n in range(60)]  # newest first, no overlap
