"""Public read API of the JMD site directory, used by the site finder (no account needed).

GET /api/sites                 active sites, public fields; filters state, language, topic,
                               quartier, online_team
GET /api/sites/languages       languages spoken at active sites (for the finder's filter)
GET /api/sites/nearest?q=      nearest sites to a postcode or town (+ language, topic, limit)
GET /api/sites/{slug}          one active site
GET /api/topics                topics, named in the request's locale (German as fallback)
GET /api/geo/lookup?q=         what a typed postcode or town resolves to

Answers about a typed location are `Cache-Control: no-store` and nothing here logs the query:
a postcode together with a language narrows a young person down.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from aiohttp import web
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from server.keys import CONFIG, LOCALE, SESSIONS, SITE_DIRECTORY
from server.services import sites as service
from server.services.geo import Location
from server.services.routing import normalize_language
from server.transport.http.validation import validate

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}


def _blank_to_none(value: object) -> object:
    # An empty <select> option or `?language=` means "no filter".
    return None if isinstance(value, str) and not value.strip() else value


def _language(value: str) -> str:
    code = normalize_language(value)
    if code is None:
        raise ValueError("not a language code")
    return code


Language = Annotated[str, Field(max_length=20), AfterValidator(_language)]
TopicKey = Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]
Optional = BeforeValidator(_blank_to_none)


class _Query(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class SitesQuery(_Query):
    state: Annotated[str | None, Optional, Field(max_length=60)] = None
    language: Annotated[Language | None, Optional] = None
    topic: Annotated[TopicKey | None, Optional] = None
    quartier: Annotated[bool | None, Optional] = None
    online_team: Annotated[bool | None, Optional] = None


class NearestQuery(_Query):
    q: Annotated[str, Field(max_length=200)] = ""
    language: Annotated[Language | None, Optional] = None
    topic: Annotated[TopicKey | None, Optional] = None
    limit: Annotated[int, Optional, Field(ge=1, le=20)] = 5


class LookupQuery(_Query):
    q: Annotated[str, Field(max_length=200)] = ""


def _locale(request: web.Request) -> str:
    return request.get(LOCALE) or request.app[CONFIG].i18n.default_locale


async def _directory(request: web.Request) -> service.Directory:
    return await request.app[SITE_DIRECTORY].current(request.app[SESSIONS])


def _location(location: Location) -> dict[str, Any]:
    return {
        "kind": location.kind,
        "label": location.label,
        "postcode": location.postcode,
        "state": location.state_name,
        "latitude": location.point.lat,
        "longitude": location.point.lon,
    }


@routes.get("/api/sites")
async def list_sites(request: web.Request) -> web.Response:
    query = validate(SitesQuery, dict(request.query))
    directory = await _directory(request)
    found = service.list_sites(
        directory, state=query.state, language=query.language, topic=query.topic,
        quartier=query.quartier, online_team=query.online_team,
    )
    return web.json_response({"ok": True, "sites": [s.model_dump() for s in found]})


@routes.get("/api/sites/languages")
async def languages(request: web.Request) -> web.Response:
    directory = await _directory(request)
    counts = Counter(lang for s in directory.sites for lang in s.languages)
    ordered = sorted(counts, key=lambda code: (-counts[code], code))
    return web.json_response({"ok": True, "languages": ordered})


@routes.get("/api/sites/nearest")
async def nearest(request: web.Request) -> web.Response:
    query = validate(NearestQuery, dict(request.query))
    directory = await _directory(request)
    result = service.find_nearest(directory, query.q, query.language, query.topic, query.limit)
    return web.json_response(
        {
            "ok": True,
            "location": _location(result.location),
            "sites": [s.model_dump() for s in result.sites],
            "online_teams": [s.model_dump() for s in result.online_teams],
        },
        headers=NO_STORE,
    )


@routes.get(r"/api/sites/{slug:[a-z0-9][a-z0-9-]{0,79}}")
async def get_site(request: web.Request) -> web.Response:
    directory = await _directory(request)
    site = service.get_site(directory, request.match_info["slug"])
    return web.json_response({"ok": True, "site": site.model_dump()})


@routes.get("/api/topics")
async def topics(request: web.Request) -> web.Response:
    directory = await _directory(request)
    return web.json_response(
        {"ok": True, "topics": service.list_topics(directory, _locale(request))},
        headers={"Vary": "Cookie, Accept-Language"},
    )


@routes.get("/api/geo/lookup")
async def geo_lookup(request: web.Request) -> web.Response:
    query = validate(LookupQuery, dict(request.query))
    await _directory(request)  # loads the postcode table off the event loop the first time
    location = service.resolve_location(query.q)
    return web.json_response({"ok": True, "location": _location(location)}, headers=NO_STORE)
