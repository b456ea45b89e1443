"""Routing: which JMD team should answer an enquiry, in which order, and why.

Owns the in-memory `SiteIndex` (built from the active sites; `server.services.sites.SiteDirectory`
rebuilds it when the directory changes) and the pure decision functions: `route()` for
enquiries and `nearest()` for the site finder. No I/O happens here, so a decision is fast
(well under a millisecond with 500 sites, see bench/README.md) and trivially testable.

Every candidate carries a `Reason`: a stable machine-readable code plus params, e.g.
`{"code": "nearest_language", "site": "jmd-trier", "language": "fa_AF", "km": 12, "rank": 1}`,
which a client renders in its own language ("nearest site that speaks Dari, 12 km"). The
codes, in the order the rules try them:

- `nearest` / `nearest_language`: a local site, nearest first (with a location).
- `online_team`: no location was given, so the nationwide online team answers.
- `online_team_fallback`: the online team, listed after the local sites.
- `online_team_no_local_language`: no local site speaks the language; the online team does.
- `online_team_no_local_site`: no local site takes this enquiry; the online team does.
- `language_match`: no location and no online team speaks the language; a local team does.
- `online_team_language_unavailable`: nobody speaks the language; the online team answers.
- `nearest_language_unavailable`: nobody speaks it and there is no online team.
- `any_site`: last resort when the directory has no online team and no location was given.

Params always include `site` (slug); `language`, `topic`, `km` and `rank` where they apply.
When no site covers the topic, the rules run again without it (a counsellor can still help or
refer) and say so with `topic_unavailable`.
"""

from __future__ import annotations

import heapq
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from server.services.geo import Location, Point, haversine_km

ANY_LANGUAGE = "*"

# Codes people and browsers use for our languages, mapped to the codes sites store.
LANGUAGE_ALIASES = {"prs": "fa_AF", "fa_af": "fa_AF", "kmr": "ku", "pes": "fa", "pbu": "ps",
                    "pus": "ps", "tir": "ti", "ara": "ar", "per": "fa", "fas": "fa"}
_LANGUAGE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}|[A-Za-z]{4}))?$")


def normalize_language(value: str) -> str | None:
    """Canonical language code ("fa-af" → "fa_AF", "prs" → "fa_AF"), None if malformed."""
    value = value.strip()
    match = _LANGUAGE.match(value)
    if not match:
        return None
    base, sub = match.group(1).lower(), match.group(2)
    if sub is None:
        return LANGUAGE_ALIASES.get(base, base)
    code = f"{base}_{sub.upper() if len(sub) == 2 else sub.title()}"
    return LANGUAGE_ALIASES.get(code.lower(), code)


@dataclass(frozen=True, slots=True)
class SiteEntry:
    """What routing needs to know about one active site."""

    id: str
    slug: str
    name: str
    point: Point | None
    languages: frozenset[str]
    topics: frozenset[str]  # empty: every topic
    takes_online: bool
    is_online_team: bool

    def covers(self, topic: str | None) -> bool:
        return topic is None or not self.topics or topic in self.topics

    def speaks(self, language: str | None) -> bool:
        return language is None or language in self.languages


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    params: dict[str, str | int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, str | int]:
        return {"code": self.code, **self.params}


@dataclass(frozen=True, slots=True)
class Candidate:
    site: SiteEntry
    km: float | None
    reason: Reason

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site.slug,
            "name": self.site.name,
            "km": None if self.km is None else round(self.km, 1),
            "reason": self.reason.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class Route:
    """An ordered list of teams for one enquiry; the first one gets it."""

    candidates: tuple[Candidate, ...]
    language: str | None
    topic: str | None
    # The only trace of where the young person lives that an enquiry may keep.
    postcode_prefix: str | None

    @property
    def primary(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "candidates": [c.as_dict() for c in self.candidates],
            "language": self.language,
            "topic": self.topic,
            "postcode_prefix": self.postcode_prefix,
        }


def _unit(point: Point) -> tuple[float, float, float]:
    lat, lon = math.radians(point.lat), math.radians(point.lon)
    return (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))


# A pool entry: unit vector of the site's position, and the site.
_Pooled = tuple[float, float, float, SiteEntry]


class SiteIndex:
    """Active sites, pre-sorted into pools by language, for allocation-light lookups.

    Ordering by the dot product of unit vectors is exactly great-circle ordering (the angle is
    monotonic in it) and costs three multiplications per site; the haversine distance is then
    computed only for the few sites returned.
    """

    def __init__(self, sites: Iterable[SiteEntry]) -> None:
        ordered = sorted(sites, key=lambda s: s.slug)  # deterministic ties
        self.sites: tuple[SiteEntry, ...] = tuple(ordered)
        self.by_slug = {s.slug: s for s in ordered}
        self.online_teams = tuple(s for s in ordered if s.is_online_team and s.takes_online)
        local = [s for s in ordered if not s.is_online_team and s.point is not None]
        self._pools: dict[tuple[str, bool], tuple[_Pooled, ...]] = {}
        languages = {lang for s in local for lang in s.languages}
        for online_only in (False, True):
            members = [s for s in local if s.takes_online or not online_only]
            pooled = [(*_unit(s.point), s) for s in members if s.point is not None]
            self._pools[(ANY_LANGUAGE, online_only)] = tuple(pooled)
            for lang in languages:
                self._pools[(lang, online_only)] = tuple(
                    p for p in pooled if lang in p[3].languages
                )
        self.languages = frozenset(lang for s in ordered for lang in s.languages)

    def __len__(self) -> int:
        return len(self.sites)

    def local_pool(self, language: str | None, online_only: bool) -> tuple[_Pooled, ...]:
        return self._pools.get((language or ANY_LANGUAGE, online_only), ())

    def nearest_sites(
        self, point: Point, language: str | None, topic: str | None, limit: int,
        online_only: bool,
    ) -> list[tuple[SiteEntry, float]]:
        """Up to `limit` local sites speaking `language` and covering `topic`, nearest first."""
        qx, qy, qz = _unit(point)
        pool = self.local_pool(language, online_only)
        if topic is None:
            scored = [(x * qx + y * qy + z * qz, -i) for i, (x, y, z, _s) in enumerate(pool)]
        else:
            scored = [
                (x * qx + y * qy + z * qz, -i)
                for i, (x, y, z, s) in enumerate(pool)
                if s.covers(topic)
            ]
        best = heapq.nlargest(limit, scored)
        result = []
        for _dot, neg_i in best:
            site = pool[-neg_i][3]
            assert site.point is not None
            result.append((site, haversine_km(point, site.point)))
        return result


def _params(site: SiteEntry, language: str | None, topic: str | None) -> dict[str, str | int]:
    params: dict[str, str | int] = {"site": site.slug}
    if language is not None:
        params["language"] = language
    if topic is not None:
        params["topic"] = topic
    return params


def nearest(
    index: SiteIndex, point: Point, language: str | None = None, topic: str | None = None,
    limit: int = 5, online_only: bool = False,
) -> list[Candidate]:
    """Local sites near `point` for the site finder (also those that only take visits)."""
    code = "nearest_language" if language else "nearest"
    found = index.nearest_sites(point, language, topic, limit, online_only)
    return [
        Candidate(site, km, Reason(code, {**_params(site, language, topic), "km": round(km),
                                          "rank": rank}))
        for rank, (site, km) in enumerate(found, start=1)
    ]


def _teams(index: SiteIndex, language: str | None, topic: str | None) -> list[SiteEntry]:
    return [t for t in index.online_teams if t.speaks(language) and t.covers(topic)]


def _tiers(
    index: SiteIndex, point: Point | None, language: str | None, topic: str | None, limit: int,
) -> list[Candidate]:
    candidates: list[Candidate] = []
    if point is not None:
        candidates = nearest(index, point, language, topic, limit, online_only=True)
    teams = _teams(index, language, topic)
    if point is None:
        code = "online_team"
    elif candidates:
        code = "online_team_fallback"
    elif language is not None:
        code = "online_team_no_local_language"
    else:
        code = "online_team_no_local_site"
    candidates += [Candidate(t, None, Reason(code, _params(t, language, topic))) for t in teams]
    if not candidates and point is None and language is not None:
        # No online team speaks the language, but a local team does and takes online
        # enquiries from anywhere: a shared language matters more than distance online.
        matches = [
            p[3] for p in index.local_pool(language, online_only=True) if p[3].covers(topic)
        ][:limit]
        candidates = [
            Candidate(s, None, Reason("language_match", _params(s, language, topic)))
            for s in matches
        ]
    return candidates


def route(
    index: SiteIndex, location: Location | None, language: str | None = None,
    topic: str | None = None, limit: int = 3,
) -> Route:
    """The ordered teams for an enquiry: nearest local sites speaking the language and
    covering the topic (when a location is known), then the online team. Never empty while
    the directory has an active site that takes online enquiries."""
    point = location.point if location else None
    prefix = location.postcode_prefix if location else None
    candidates = _tiers(index, point, language, topic, limit)
    if not candidates and topic is not None:
        candidates = [
            Candidate(c.site, c.km, Reason(c.reason.code, {**c.reason.params,
                                                           "topic_unavailable": topic}))
            for c in _tiers(index, point, language, None, limit)
        ]
    if not candidates and language is not None:
        candidates = [
            Candidate(t, None, Reason("online_team_language_unavailable",
                                      _params(t, language, None)))
            for t in index.online_teams
        ]
        if not candidates and point is not None:
            candidates = [
                Candidate(s, km, Reason("nearest_language_unavailable",
                                        {**_params(s, language, None), "km": round(km)}))
                for s, km in index.nearest_sites(point, None, None, limit, online_only=True)
            ]
    if not candidates:
        candidates = [
            Candidate(p[3], None, Reason("any_site", {"site": p[3].slug}))
            for p in index.local_pool(None, online_only=True)[:limit]
        ]
    return Route(tuple(candidates), language, topic, prefix)
