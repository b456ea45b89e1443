"""The rules behind the admin screens (issues #4, #9): the site directory as admins and site
leads manage it, topic names, retention settings and the audit trail.

* Sites: every write goes through `site_import` (one record is a one-row JSON import), so the
  form, the upload and `jmdchat sites import` share one validation and one set of rules.
  Admins change everything; site leads only the contact data, opening hours, languages and
  topics of the sites they lead.
* Topics: ids (keys) never change. An admin's name for a topic in a locale is kept in
  `topic_name_overrides` and written into `topics.names`, so the site directory cache (and
  every process) sees it; `seed_topics` keeps it. Deactivated topics are offered to nobody
  for new enquiries; existing conversations keep theirs.
* Retention: admins override the config.toml limits within `RETENTION_BOUNDS` (stored in
  `admin_settings`); `effective_retention` is what the retention job uses.
* Audit trail: metadata only; actors are named by their staff display name, never by a young
  person's nickname.

Every change writes an audit row in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.config.models import RetentionConfig
from server.i18n import lazy_gettext as _
from server.services.access import AccountContext, access_admin_site_for, admin_scope_for
from server.services.accounts import audit
from server.services.clock import Clock
from server.services.errors import Forbidden, ServiceError, forbidden, not_found
from server.services.site_import import (
    AfterImport,
    ImportReport,
    RowError,
    format_opening_hours,
    site_record,
)
from server.services.sites import SiteDirectory, builtin_topics, import_sites_file, seed_topics
from server.storage.db import Sessions
from server.storage.models import AuditEvent, Site
from server.storage.models.accounts import ROLE_ADMIN
from server.storage.repositories import admin as repo
from server.storage.repositories import sites as sites_repo

# =============================================================================================
# Sites
# =============================================================================================

#: What a site lead may change on the sites they lead; everything else is for admins.
LEAD_FIELDS = frozenset({"phone", "email", "website", "opening_hours", "languages", "topics"})
SITE_FIELDS = frozenset({
    "slug", "name", "provider", "street", "postcode", "city", "state", "latitude", "longitude",
    "languages", "topics", "opening_hours", "runs_quartier", "takes_online", "is_online_team",
    "phone", "email", "website", "active",
})


class SiteInvalid(ServiceError):
    """A site record with errors: `errors` say which field and why (as in the import report)."""

    status = 400

    def __init__(self, errors: Sequence[RowError]) -> None:
        super().__init__("site_invalid", _("Please correct the marked fields."))
        self.errors = list(errors)


def admin_site(site: Site) -> dict[str, Any]:
    """A site as the admin screens show it: every directory field, plus id and times."""
    record = site_record(site)
    return {"id": site.id, **record,
            # The form edits the text form (the same as in CSV files).
            "opening_hours_text": format_opening_hours(record["opening_hours"]),
            "created_at": site.created_at.isoformat(), "updated_at": site.updated_at.isoformat()}


@dataclass(frozen=True)
class SiteFilter:
    q: str = ""
    state: str | None = None
    active: bool | None = None
    takes_online: bool | None = None
    quartier: bool | None = None


def _matches(site: Site, flt: SiteFilter) -> bool:
    text = flt.q.strip().casefold()
    if text and not any(text in value.casefold() for value in
                        (site.slug, site.name, site.provider, site.city, site.postcode)):
        return False
    return ((flt.state is None or site.state == flt.state)
            and (flt.active is None or site.active == flt.active)
            and (flt.takes_online is None or site.takes_online == flt.takes_online)
            and (flt.quartier is None or site.runs_quartier == flt.quartier))


async def list_sites(sessions: Sessions, account: AccountContext, flt: SiteFilter
                     ) -> tuple[list[dict[str, Any]], bool]:
    """The sites `account` administers that match `flt` (inactive ones too), by slug; and
    whether the account may change everything (admins) or only the lead fields."""
    async with sessions.begin() as db:
        scope = await admin_scope_for(db, account)
        sites = await sites_repo.all_sites(db)
        return ([admin_site(s) for s in sites
                 if (scope is None or s.id in scope) and _matches(s, flt)],
                scope is None)


def _audit_import(account: AccountContext, action: str) -> AfterImport:
    async def after(db: AsyncSession, report: ImportReport, now: datetime) -> None:
        if action == "sites_imported":
            audit(db, now, action, "site_directory", "import", actor_id=account.account_id,
                  details={"created": len(report.created), "updated": len(report.updated),
                           "deactivated": len(report.deactivated)})
            return
        slugs = report.created or report.updated
        if not slugs:
            return  # nothing changed: nothing to audit
        site = await sites_repo.site_by_slug(db, slugs[0])
        assert site is not None
        audit(db, now, action, "site", site.id, actor_id=account.account_id, site_id=site.id)
    return after


async def _one(sessions: Sessions, clock: Clock, directory: SiteDirectory | None,
               record: dict[str, Any], action: str, account: AccountContext) -> dict[str, Any]:
    report = await import_sites_file(
        sessions, clock, json.dumps([record]).encode(), "json", directory=directory,
        after=_audit_import(account, action),
    )
    if report.errors:
        raise SiteInvalid(report.errors)
    async with sessions.begin() as db:
        site = await sites_repo.site_by_slug(db, record["slug"])
        assert site is not None
        return admin_site(site)


async def create_site(sessions: Sessions, clock: Clock, directory: SiteDirectory | None,
                      account: AccountContext, record: dict[str, Any]) -> dict[str, Any]:
    """A new site (admins). The slug must be new: the form never overwrites a site."""
    if account.role != ROLE_ADMIN:
        raise forbidden()
    record = {k: v for k, v in record.items() if k in SITE_FIELDS}
    slug = record.get("slug")
    if isinstance(slug, str):
        async with sessions.begin() as db:
            if await sites_repo.site_by_slug(db, slug) is not None:
                raise SiteInvalid([RowError(1, "slug", "slug_taken",
                                            _("Another site already uses the slug “{slug}”."),
                                            {"slug": slug})])
    return await _one(sessions, clock, directory, record, "site_created", account)


async def update_site(sessions: Sessions, clock: Clock, directory: SiteDirectory | None,
                      account: AccountContext, site_id: str, record: dict[str, Any]
                      ) -> dict[str, Any]:
    """Change the fields present in `record` (the slug stays). Site leads may change only
    `LEAD_FIELDS` of the sites they lead."""
    async with sessions.begin() as db:
        site = await access_admin_site_for(db, account, site_id)
        current = site_record(site)
    record = {k: v for k, v in record.items() if k in SITE_FIELDS - {"slug"}}
    if account.role != ROLE_ADMIN:
        denied = sorted(k for k in record if k not in LEAD_FIELDS and record[k] != current[k])
        if denied:
            raise Forbidden("admin_only_field",
                            _("Only administrators can change {fields}."),
                            fields=", ".join(denied))
        record = {k: v for k, v in record.items() if k in LEAD_FIELDS}
    return await _one(sessions, clock, directory, {**record, "slug": current["slug"]},
                      "site_updated", account)


async def import_file(sessions: Sessions, clock: Clock, directory: SiteDirectory | None,
                      account: AccountContext, data: bytes, fmt: str, *, dry_run: bool,
                      deactivate_missing: bool) -> ImportReport:
    """The upload of the admin screens: the same import as `jmdchat sites import` (admins)."""
    if account.role != ROLE_ADMIN:
        raise forbidden()
    assert fmt in ("csv", "json")
    return await import_sites_file(
        sessions, clock, data, "csv" if fmt == "csv" else "json", directory=directory,
        dry_run=dry_run, deactivate_missing=deactivate_missing,
        after=_audit_import(account, "sites_imported"),
    )


def require_admin(account: AccountContext) -> None:
    if account.role != ROLE_ADMIN:
        raise forbidden()


# =============================================================================================
# Topics
# =============================================================================================


async def list_topics(sessions: Sessions, account: AccountContext) -> list[dict[str, Any]]:
    """Every topic (inactive ones too) with its names per locale and which names an admin
    changed."""
    require_admin(account)
    await _ensure_topics(sessions)
    async with sessions.begin() as db:
        topics = await sites_repo.all_topics(db)
        overrides = await repo.topic_overrides(db)
    builtin = {t.key: t.names for t in builtin_topics()}
    return [{
        "key": t.key, "active": t.active, "names": dict(t.names),
        "builtin_names": builtin.get(t.key, {}),
        "renamed": sorted(o.locale for o in overrides if o.topic_key == t.key),
    } for t in topics]


async def _ensure_topics(sessions: Sessions) -> None:
    async with sessions.begin() as db:
        present = bool(await sites_repo.all_topics(db))
    if not present:  # a fresh installation before `jmdchat sites seed-topics`
        await seed_topics(sessions)


async def update_topic(sessions: Sessions, clock: Clock, directory: SiteDirectory | None,
                       account: AccountContext, key: str, *, names: dict[str, str],
                       active: bool | None, locales: Sequence[str]) -> dict[str, Any]:
    """Rename a topic in some locales (an empty name restores the built-in one) and/or
    (de)activate it for new enquiries. The key never changes."""
    require_admin(account)
    unknown = sorted(set(names) - set(locales))
    if unknown:
        raise ServiceError("unknown_locale", _("Unknown language “{locale}”."),
                           locale=unknown[0])
    await _ensure_topics(sessions)
    builtin = {t.key: t.names for t in builtin_topics()}.get(key, {})
    now = clock.now()
    async with sessions.begin() as db:
        topics = {t.key: t for t in await sites_repo.all_topics(db)}
        topic = topics.get(key)
        if topic is None:
            raise not_found()
        new_names = dict(topic.names)
        changed: dict[str, Any] = {}
        for locale, raw in names.items():
            name = raw.strip()
            if name:
                await repo.set_topic_override(db, key, locale, name, now)
                new_names[locale] = name
            else:
                await repo.delete_topic_override(db, key, locale)
                if locale in builtin:
                    new_names[locale] = builtin[locale]
                else:
                    new_names.pop(locale, None)
            if new_names.get(locale) != topic.names.get(locale):
                changed.setdefault("renamed", []).append(locale)
        if new_names != topic.names:
            topic.names = new_names
        if active is not None and active != topic.active:
            topic.active = active
            changed["active"] = active
        if changed:
            audit(db, now, "topic_updated", "topic", key, actor_id=account.account_id,
                  details=changed)
    if directory is not None:
        directory.invalidate()
    return next(t for t in await list_topics(sessions, account) if t["key"] == key)


# =============================================================================================
# Retention settings
# =============================================================================================

RETENTION_KEY = "retention"
LAST_RUN_KEY = "retention.last_run"
#: What admins may set in the browser (days). Below the minimum, counsellors would lose
#: conversations they still work on; above the maximum, we keep more than we need.
RETENTION_BOUNDS: dict[str, tuple[int, int]] = {
    "closed_conversation_days": (30, 730),
    "account_without_enquiry_days": (7, 365),
    "audit_days": (180, 3650),
    "round_message_days": (1, 90),
}


class RetentionChange(BaseModel):
    closed_conversation_days: int | None = None
    account_without_enquiry_days: int | None = None
    audit_days: int | None = None
    round_message_days: int | None = None


def _merged(defaults: RetentionConfig, stored: dict[str, Any] | None) -> RetentionConfig:
    update = {
        name: value for name, value in (stored or {}).items()
        if name in RETENTION_BOUNDS and isinstance(value, int)
        and RETENTION_BOUNDS[name][0] <= value <= RETENTION_BOUNDS[name][1]
    }
    return defaults.model_copy(update=update)


async def effective_retention(db: AsyncSession, config: AppConfig) -> RetentionConfig:
    """config.toml's `[retention]` with the admins' values over it."""
    return _merged(config.retention, await repo.get_setting(db, RETENTION_KEY))


async def record_retention_run(db: AsyncSession, now: datetime, dry_run: bool,
                               deleted: dict[str, int], related: dict[str, int]) -> None:
    """Keep the counts of the last (real) run for the retention screen."""
    if dry_run:
        return
    await repo.put_setting(db, LAST_RUN_KEY, {
        "at": now.isoformat(), "deleted": dict(deleted), "related": dict(related),
    }, now)


async def retention_settings(sessions: Sessions, config: AppConfig, account: AccountContext
                             ) -> dict[str, Any]:
    require_admin(account)
    async with sessions.begin() as db:
        stored = await repo.get_setting(db, RETENTION_KEY) or {}
        last_run = await repo.get_setting(db, LAST_RUN_KEY)
    effective = _merged(config.retention, stored)
    return {
        "effective": {name: getattr(effective, name) for name in RETENTION_BOUNDS},
        "defaults": {name: getattr(config.retention, name) for name in RETENTION_BOUNDS},
        "overridden": sorted(n for n in stored if n in RETENTION_BOUNDS),
        "bounds": {name: list(bounds) for name, bounds in RETENTION_BOUNDS.items()},
        "run_every_minutes": config.retention.run_every_minutes,
        "last_run": last_run,
    }


async def change_retention(sessions: Sessions, config: AppConfig, clock: Clock,
                           account: AccountContext, change: RetentionChange) -> dict[str, Any]:
    """Set (or, with the config default, clear) retention limits within the bounds."""
    require_admin(account)
    wanted = change.model_dump(exclude_none=True)
    for name, value in wanted.items():
        low, high = RETENTION_BOUNDS[name]
        if not low <= value <= high:
            raise ServiceError("out_of_bounds",
                               _("{field} must be between {low} and {high} days."),
                               field=name, low=low, high=high)
    now = clock.now()
    async with sessions.begin() as db:
        stored = await repo.get_setting(db, RETENTION_KEY) or {}
        before = _merged(config.retention, stored)
        for name, value in wanted.items():
            if value == getattr(config.retention, name):
                stored.pop(name, None)  # back to the default: follow config.toml again
            else:
                stored[name] = value
        after = _merged(config.retention, stored)
        changes = {name: [getattr(before, name), getattr(after, name)]
                   for name in RETENTION_BOUNDS if getattr(before, name) != getattr(after, name)}
        await repo.put_setting(db, RETENTION_KEY, stored, now)
        if changes:
            audit(db, now, "retention_changed", "settings", RETENTION_KEY,
                  actor_id=account.account_id, details=changes)
    return await retention_settings(sessions, config, account)


# =============================================================================================
# Audit trail
# =============================================================================================

AUDIT_PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditQuery:
    action: str | None = None
    site_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    page: int = 1


def _event(event: AuditEvent, names: dict[str, tuple[str, str]], sites: dict[str, Site]
           ) -> dict[str, Any]:
    actor = names.get(event.actor_id or "")
    site = sites.get(event.site_id or "")
    return {
        "id": event.id, "at": event.at.isoformat(), "action": event.action,
        "subject_type": event.subject_type, "subject_id": event.subject_id,
        "site_id": event.site_id, "site_name": site.name if site else None,
        # Staff by display name; young people (and unknown or deleted accounts) only as a kind.
        "actor": ({"kind": "staff", "name": actor[0], "role": actor[1]} if actor
                  else {"kind": "system" if event.actor_id is None else "person"}),
        "details": dict(event.details),
    }


async def list_audit(sessions: Sessions, account: AccountContext, query: AuditQuery
                     ) -> dict[str, Any]:
    """A page of the audit trail: admins see everything, site leads their sites' events."""
    async with sessions.begin() as db:
        scope = await admin_scope_for(db, account)
        if scope is not None and query.site_id is not None and query.site_id not in scope:
            raise forbidden()
        flt = repo.AuditFilter(site_ids=scope, action=query.action, site_id=query.site_id,
                               since=query.since, until=query.until)
        rows, total = await repo.audit_page(db, flt, (query.page - 1) * AUDIT_PAGE_SIZE,
                                            AUDIT_PAGE_SIZE)
        names = await repo.staff_names(db, sorted({r.actor_id for r in rows if r.actor_id}))
        site_ids = set(scope) if scope is not None else {r.site_id for r in rows if r.site_id}
        sites = await repo.sites_by_ids(db, sorted(i for i in site_ids if i))
        actions = await repo.audit_actions(db, scope)
    return {
        "events": [_event(r, names, sites) for r in rows],
        "total": total, "page": query.page, "page_size": AUDIT_PAGE_SIZE,
        "actions": actions,
        "sites": sorted(({"id": s.id, "name": s.name} for s in sites.values()),
                        key=lambda s: s["name"]) if scope is not None else None,
    }
