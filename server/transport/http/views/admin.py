"""Admin HTTP API: topics, retention settings and the audit trail (issue #9).

GET  /api/admin/topics           every topic with its names per locale (admins)
POST /api/admin/topics/{key}     {names: {locale: name}, active}: rename per locale (an empty
                                 name restores the built-in one), (de)activate (admins)
GET  /api/admin/retention        effective retention limits, defaults, bounds, last run (admins)
POST /api/admin/retention        {closed_conversation_days, account_without_enquiry_days,
                                 audit_days, round_message_days}: change within bounds
                                 (admins)
GET  /api/admin/audit            audit events, newest first, paged; filters action, site_id,
                                 since, until (dates), page (admins: all; site leads: their
                                 sites' events)

The site directory's admin API is in `admin_sites.py`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from server.keys import CLOCK, CONFIG, SESSIONS, SITE_DIRECTORY
from server.services import admin_settings as service
from server.transport.http.auth import require_account
from server.transport.http.validation import parse_body, validate
from server.transport.http.views.admin_sites import parse_text_body

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}


def _blank_to_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Optional = BeforeValidator(_blank_to_none)
Days = Annotated[int, Field(ge=1, le=100_000)]
Action = Annotated[str, Field(pattern=r"^[a-z0-9_.]{1,64}$")]
SiteId = Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")]


class TopicBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    names: Annotated[dict[Annotated[str, Field(max_length=16)],
                          Annotated[str, Field(max_length=80)]], Field(max_length=40)] = {}
    active: bool | None = None


class RetentionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    closed_conversation_days: Days | None = None
    account_without_enquiry_days: Days | None = None
    audit_days: Days | None = None
    round_message_days: Days | None = None


class AuditParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    action: Annotated[Action | None, Optional] = None
    site_id: Annotated[SiteId | None, Optional] = None
    since: Annotated[date | None, Optional] = None
    until: Annotated[date | None, Optional] = None  # inclusive: the whole day
    page: Annotated[int, Optional, Field(ge=1, le=100_000)] = 1


@routes.get("/api/admin/topics")
async def topics(request: web.Request) -> web.Response:
    account = await require_account(request)
    items = await service.list_topics(request.app[SESSIONS], account)
    return web.json_response({"ok": True, "topics": items,
                              "locales": list(request.app[CONFIG].i18n.locales)},
                             headers=NO_STORE)


@routes.post(r"/api/admin/topics/{key:[a-z_]{1,40}}")
async def update_topic(request: web.Request) -> web.Response:
    account = await require_account(request)
    service.require_admin(account)
    body = await parse_text_body(request, TopicBody)
    app = request.app
    topic = await service.update_topic(
        app[SESSIONS], app[CLOCK], app[SITE_DIRECTORY], account, request.match_info["key"],
        names=body.names, active=body.active, locales=app[CONFIG].i18n.locales,
    )
    return web.json_response({"ok": True, "topic": topic})


@routes.get("/api/admin/retention")
async def retention(request: web.Request) -> web.Response:
    account = await require_account(request)
    settings = await service.retention_settings(request.app[SESSIONS], request.app[CONFIG],
                                                account)
    return web.json_response({"ok": True, **settings}, headers=NO_STORE)


@routes.post("/api/admin/retention")
async def change_retention(request: web.Request) -> web.Response:
    account = await require_account(request)
    service.require_admin(account)
    body = await parse_body(request, RetentionBody)
    app = request.app
    settings = await service.change_retention(
        app[SESSIONS], app[CONFIG], app[CLOCK], account,
        service.RetentionChange.model_validate(body.model_dump()),
    )
    return web.json_response({"ok": True, **settings})


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@routes.get("/api/admin/audit")
async def audit(request: web.Request) -> web.Response:
    account = await require_account(request)
    params = validate(AuditParams, dict(request.query))
    query = service.AuditQuery(
        action=params.action, site_id=params.site_id,
        since=_start_of(params.since) if params.since else None,
        until=(_start_of(params.until) + timedelta(days=1)
               if params.until and params.until < date.max else None),
        page=params.page,
    )
    result = await service.list_audit(request.app[SESSIONS], account, query)
    return web.json_response({"ok": True, **result}, headers=NO_STORE)
