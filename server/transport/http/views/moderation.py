"""HTTP views of moderation (issue #8): the site lead's / admin's "Reports" screen.

GET  /api/reports?state=open|closed|all   reports of the sites the caller leads (admins: all),
                                           newest first; metadata plus the sealed note
POST /api/reports/{report_id}/resolve      {action: "dismiss" | "block_site" | "unblock_site"}

Blocking a young person from one conversation, reporting and unblocking happen in the
conversation (socket.io `moderation.*`, docs/socket-events.md).
"""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from server.keys import CLOCK, SESSIONS
from server.services import moderation as service
from server.services.errors import not_found
from server.transport.http.auth import require_account
from server.transport.http.validation import parse_body, validate

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ReportsQuery(_Strict):
    state: Literal["open", "closed", "all"] = "open"


class ResolveBody(_Strict):
    action: Literal["dismiss", "block_site", "unblock_site"]


@routes.get("/api/reports")
async def list_reports(request: web.Request) -> web.Response:
    context = await require_account(request)
    query = validate(ReportsQuery, dict(request.query))
    items = await service.list_reports(request.app[SESSIONS], context, query.state)
    return web.json_response({"ok": True, "items": items}, headers=NO_STORE)


@routes.post("/api/reports/{report_id}/resolve")
async def resolve_report(request: web.Request) -> web.Response:
    context = await require_account(request)
    body = await parse_body(request, ResolveBody)
    report_id = request.match_info["report_id"]
    if _UUID.fullmatch(report_id) is None:
        raise not_found()
    report = await service.resolve_report(request.app[SESSIONS], request.app[CLOCK], context,
                                          report_id, body.action)
    return web.json_response({"ok": True, "report": report}, headers=NO_STORE)
