"""The JMD site directory: public read access, topics, the cached routing index, demo data.

Owns `SiteDirectory` (an in-memory snapshot of the active sites and topics, rebuilt when the
database changes) and the service functions the HTTP views, the CLI and later the enquiry and
admin services call. Import/export rules live in `server.services.site_import`; the routing
rules in `server.services.routing`; geography in `server.services.geo`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

from pydantic import BaseModel, ConfigDict

from server.data import DATA_DIR
from server.i18n import lazy_gettext as _
from server.services import geo
from server.services.clock import Clock
from server.services.errors import ServiceError, not_found
from server.services.geo import Point
from server.services.routing import Candidate, Route, SiteEntry, SiteIndex, nearest, route
from server.services.site_import import (
    AfterImport,
    Format,
    ImportReport,
    OpeningHours,
    import_sites,
)
from server.storage.db import Sessions
from server.storage.models import Site, Topic
from server.storage.repositories import admin as admin_repo
from server.storage.repositories import sites as repo

TOPICS_FILE = DATA_DIR / "topics.json"
DEMO_SITES_FILE = DATA_DIR / "demo_sites.json"
FALLBACK_LOCALE = "de"


class UnknownTopic(ServiceError):
    status = 400


def unknown_topic() -> UnknownTopic:
    return UnknownTopic("topic_unknown", _("This topic does not exist."))


class PublicSite(BaseModel):
    """What anyone may see about an active site (what a JMD publishes on its website)."""

    model_config = ConfigDict(frozen=True)

    slug: str
    name: str
    provider: str
    street: str
    postcode: str
    city: str
    state: str
    latitude: float | None
    longitude: float | None
    languages: list[str]
    topics: list[str]  # empty: every topic
    opening_hours: OpeningHours  # {"mon": [["09:00", "16:00"]]}, Europe/Berlin local time
    runs_quartier: bool
    takes_online: bool
    is_online_team: bool
    phone: str
    email: str
    website: str


class TopicRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    sort_order: int
    names: dict[str, str]

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get(FALLBACK_LOCALE) or self.key


class NearbySite(BaseModel):
    """A site-finder result: the site, how far, and why it is listed."""

    site: PublicSite
    km: float | None
    reason: dict[str, str | int]


def public_site(site: Site) -> PublicSite:
    return PublicSite(
        slug=site.slug, name=site.name, provider=site.provider, street=site.street,
        postcode=site.postcode, city=site.city, state=site.state, latitude=site.latitude,
        longitude=site.longitude, languages=list(site.languages), topics=list(site.topics),
        opening_hours={d: [list(r) for r in rs] for d, rs in (site.opening_hours or {}).items()},
        runs_quartier=site.runs_quartier, takes_online=site.takes_online,
        is_online_team=site.is_online_team, phone=site.phone, email=site.email,
        website=site.website,
    )


def site_entry(site: Site) -> SiteEntry:
    point = (
        Point(site.latitude, site.longitude)
        if site.latitude is not None and site.longitude is not None else None
    )
    return SiteEntry(
        id=site.id, slug=site.slug, name=site.name, point=point,
        languages=frozenset(site.languages), topics=frozenset(site.topics),
        takes_online=site.takes_online, is_online_team=site.is_online_team,
    )


@dataclass(frozen=True)
class Directory:
    """An immutable snapshot: safe to use while a newer one is being built."""

    index: SiteIndex
    sites: tuple[PublicSite, ...]  # active, by slug
    by_slug: dict[str, PublicSite]
    topics: tuple[TopicRecord, ...]  # active, in display order

    @property
    def topic_keys(self) -> frozenset[str]:
        return frozenset(t.key for t in self.topics)

    @staticmethod
    def build(sites: Iterable[Site], topics: Iterable[Topic]) -> Directory:
        active = [s for s in sites if s.active]
        public = tuple(public_site(s) for s in active)
        rows = list(topics)
        records = tuple(
            TopicRecord(key=t.key, sort_order=t.sort_order, names=dict(t.names))
            for t in rows if t.active
        )
        return Directory(
            index=SiteIndex(site_entry(s) for s in active),
            sites=public,
            by_slug={s.slug: s for s in public},
            # A fresh installation works before `jmdchat sites seed-topics` has run.
            topics=records if rows else builtin_topics(),
        )


class SiteDirectory:
    """Caches a `Directory` per process and rebuilds it when the sites or topics change.

    Routing runs on every enquiry and must not wait for the database, yet sites change from
    other processes (`jmdchat sites import`, other workers' admin screens). So a cheap check
    (site count + newest `updated_at` + the small topics table) runs at most every
    `max_age` seconds, and the full rebuild only when that changed. Writers in this process
    call `invalidate()` to be seen at once.
    """

    def __init__(self, max_age: float = 5.0, monotonic: Callable[[], float] = time.monotonic):
        self.max_age = max_age
        self._monotonic = monotonic
        self._current: Directory | None = None
        self._fingerprint: object = None
        self._checked = -float("inf")
        self._lock: asyncio.Lock | None = None
        self.rebuilds = 0

    def invalidate(self) -> None:
        self._checked = -float("inf")
        self._fingerprint = None

    async def current(self, sessions: Sessions) -> Directory:
        if self._current is not None and self._monotonic() - self._checked < self.max_age:
            return self._current
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._current is not None and self._monotonic() - self._checked < self.max_age:
                return self._current  # another task refreshed it while we waited
            if self._current is None:
                # The postcode table takes a moment to load: keep the event loop free.
                await asyncio.to_thread(geo.table)
            async with sessions.begin() as session:
                topics = await repo.all_topics(session)
                fingerprint = (
                    await repo.fingerprint(session),
                    tuple((t.key, t.sort_order, t.active, json.dumps(t.names, sort_keys=True))
                          for t in topics),
                )
                if self._current is None or fingerprint != self._fingerprint:
                    sites = await repo.all_sites(session, active_only=True)
                    self._current = Directory.build(sites, topics)
                    self._fingerprint = fingerprint
                    self.rebuilds += 1
            self._checked = self._monotonic()
            return self._current


# --- public reads -------------------------------------------------------------------------


def list_sites(
    directory: Directory, *, state: str | None = None, language: str | None = None,
    topic: str | None = None, quartier: bool | None = None, online_team: bool | None = None,
) -> list[PublicSite]:
    wanted_state = geo.state_name(state) if state else None
    return [
        s for s in directory.sites
        if (wanted_state is None or s.state == wanted_state)
        and (language is None or language in s.languages)
        and (topic is None or not s.topics or topic in s.topics)
        and (quartier is None or s.runs_quartier == quartier)
        and (online_team is None or s.is_online_team == online_team)
    ]


def get_site(directory: Directory, slug: str) -> PublicSite:
    site = directory.by_slug.get(slug)
    if site is None:
        raise not_found()
    return site


def check_topic(directory: Directory, topic: str | None) -> None:
    if topic is not None and topic not in directory.topic_keys:
        raise unknown_topic()


def _nearby(directory: Directory, candidate: Candidate) -> NearbySite:
    return NearbySite(
        site=directory.by_slug[candidate.site.slug],
        km=None if candidate.km is None else round(candidate.km, 1),
        reason=candidate.reason.as_dict(),
    )


@dataclass(frozen=True)
class NearestResult:
    location: geo.Location
    sites: list[NearbySite]  # local sites, nearest first
    online_teams: list[NearbySite]  # who answers online if no local site suits


def find_nearest(
    directory: Directory, query: str, language: str | None = None, topic: str | None = None,
    limit: int = 5,
) -> NearestResult:
    """The site finder: local sites near a typed postcode or town (also sites that only
    take visits), plus the online team as the always-available alternative."""
    check_topic(directory, topic)
    location = geo.resolve(query)
    local = nearest(directory.index, location.point, language, topic, limit)
    decided = route(directory.index, None, language, topic)
    teams = [c for c in decided.candidates if c.site.is_online_team]
    return NearestResult(
        location=location,
        sites=[_nearby(directory, c) for c in local],
        online_teams=[_nearby(directory, c) for c in teams],
    )


def resolve_location(query: str) -> geo.Location:
    """What a typed postcode or town resolves to (raises `LocationError`)."""
    return geo.resolve(query)


def route_enquiry(
    directory: Directory, query: str | None, language: str | None, topic: str | None,
    limit: int = 3,
) -> Route:
    """Decide who answers an enquiry. `query` is a postcode or town (or None). The returned
    `Route` keeps only `postcode_prefix` of the location: store that, never the query."""
    check_topic(directory, topic)
    location = geo.resolve(query) if query and query.strip() else None
    return route(directory.index, location, language, topic, limit)


def list_topics(directory: Directory, locale: str) -> list[dict[str, str]]:
    return [{"key": t.key, "name": t.name(locale)} for t in directory.topics]


# --- topics and demo data -----------------------------------------------------------------


@cache
def builtin_topics() -> tuple[TopicRecord, ...]:
    document = json.loads(TOPICS_FILE.read_text(encoding="utf-8"))
    return tuple(
        TopicRecord(key=item["key"], sort_order=(n + 1) * 10, names=item["names"])
        for n, item in enumerate(document["topics"])
    )


async def seed_topics(sessions: Sessions) -> tuple[int, int]:
    """Create the built-in topics and update their names; returns (created, updated).
    Topics added by admins are left alone."""
    created = updated = 0
    async with sessions.begin() as session:
        existing = {t.key: t for t in await repo.all_topics(session)}
        renamed = await admin_repo.topic_overrides(session)  # admins' names win (admin screens)
        for record in builtin_topics():
            topic = existing.get(record.key)
            names = {**record.names,
                     **{o.locale: o.name for o in renamed if o.topic_key == record.key}}
            if topic is None:
                repo.add_topic(session, Topic(key=record.key, sort_order=record.sort_order,
                                              names=names, active=True))
                created += 1
            elif topic.names != names or topic.sort_order != record.sort_order:
                topic.names = names
                topic.sort_order = record.sort_order
                updated += 1
    return created, updated


async def import_sites_file(
    sessions: Sessions, clock: Clock, data: bytes, fmt: Format, *,
    directory: SiteDirectory | None = None, deactivate_missing: bool = False,
    dry_run: bool = False, after: AfterImport | None = None,
) -> ImportReport:
    """Import (see `site_import`) accepting the built-in topic keys, then refresh the cache.
    The admin screens call this."""
    report = await import_sites(
        sessions, clock, data, fmt, deactivate_missing=deactivate_missing, dry_run=dry_run,
        topics=[t.key for t in builtin_topics()], after=after,
    )
    if directory is not None and report.written:
        directory.invalidate()
    return report


async def load_demo_sites(sessions: Sessions, clock: Clock) -> ImportReport:
    """The 16 JMD im Quartier model sites and the online team (idempotent)."""
    await seed_topics(sessions)
    return await import_sites_file(sessions, clock, DEMO_SITES_FILE.read_bytes(), "json")
