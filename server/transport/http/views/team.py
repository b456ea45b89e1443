"""HTTP API of team management (docs/accounts-api.md, "Teams"): site leads and admins.

Authorization lives in `server.services.team` (`access_team_for`, current membership). After a
removal or deactivation the view ends the person's socket connections (`close_sessions`) and
sends the `queue.added` events of conversations that went back to the queue — both only after
the service's transaction committed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.keys import CLOCK, CONFIG, EMITTER, SESSIONS
from server.services.errors import not_found
from server.services.team import MAX_LANGUAGES, RemovalResult, Team
from server.transport.http.auth import require_account
from server.transport.http.validation import parse_body
from server.transport.socket.conversations import emit_notices
from server.transport.socket.main_namespace import close_sessions

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}

Language = Annotated[str, StringConstraints(min_length=2, max_length=8)]
Languages = Annotated[list[Language], Field(max_length=MAX_LANGUAGES)]
AccountId = Annotated[str, StringConstraints(min_length=1, max_length=36)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InviteBody(Body):
    role: Literal["counsellor", "site_lead"] = "counsellor"
    display_name: Annotated[str, StringConstraints(max_length=64)] = ""
    languages: Languages = []


class LanguagesBody(Body):
    languages: Languages


class AssignBody(Body):
    account_id: AccountId
    lead: bool = False


#: Ids in paths are UUIDs (site slugs never reach these routes); anything else cannot exist.
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _id(request: web.Request, name: str) -> str:
    """A path id, or 404 before any query (U+0000 and friends never reach the database)."""
    value = request.match_info[name]
    if not _ID.match(value):
        raise not_found()
    return value


def _service(request: web.Request) -> Team:
    app = request.app
    return Team(app[SESSIONS], app[CONFIG], app[CLOCK])


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response({"ok": True, **data}, status=status, headers=NO_STORE)


async def _after_removal(request: web.Request, result: RemovalResult) -> None:
    app = request.app
    if result.ended_session_ids:
        await close_sessions(app[EMITTER], result.ended_session_ids)
    await emit_notices(app[EMITTER], result.notices)


@routes.get("/api/team/sites")
async def team_sites(request: web.Request) -> web.Response:
    context = await require_account(request)
    return _json({"sites": await _service(request).sites(context)})


@routes.get("/api/team/counsellors")
async def team_counsellors(request: web.Request) -> web.Response:
    """Admin: look up existing counsellors (`?q=` part of a display name or nickname) to
    assign them to another site (issue #3)."""
    context = await require_account(request)
    query = request.query.get("q", "")
    return _json({"items": await _service(request).lookup_counsellors(context, query)})


@routes.get("/api/sites/{site_id}/team")
async def team_list(request: web.Request) -> web.Response:
    context = await require_account(request)
    return _json(await _service(request).list_team(context, _id(request, "site_id")))


@routes.post("/api/sites/{site_id}/team/invitations")
async def team_invite(request: web.Request) -> web.Response:
    context = await require_account(request)
    body = await parse_body(request, InviteBody)
    created = await _service(request).invite(
        context, _id(request, "site_id"), body.role, body.display_name, body.languages
    )
    link = f"{request.app[CONFIG].server.public_url}/#/invite/{created.token}"
    return _json({"link": link, "role": created.role,
                  "expires_at": created.expires_at.isoformat()}, status=201)


@routes.post("/api/sites/{site_id}/team")
async def team_assign(request: web.Request) -> web.Response:
    context = await require_account(request)
    body = await parse_body(request, AssignBody)
    await _service(request).assign(
        context, _id(request, "site_id"), body.account_id, lead=body.lead
    )
    return _json({})


@routes.post("/api/sites/{site_id}/team/{account_id}/languages")
async def team_languages(request: web.Request) -> web.Response:
    context = await require_account(request)
    body = await parse_body(request, LanguagesBody)
    languages = await _service(request).set_languages(
        context, _id(request, "site_id"), _id(request, "account_id"),
        body.languages,
    )
    return _json({"languages": languages})


@routes.delete("/api/sites/{site_id}/team/{account_id}")
async def team_remove(request: web.Request) -> web.Response:
    context = await require_account(request)
    result = await _service(request).remove(
        context, _id(request, "site_id"), _id(request, "account_id")
    )
    await _after_removal(request, result)
    return _json({"requeued": result.requeued})


@routes.post("/api/accounts/{account_id}/deactivate")
async def account_deactivate(request: web.Request) -> web.Response:
    context = await require_account(request)
    result = await _service(request).deactivate(context, _id(request, "account_id"))
    await _after_removal(request, result)
    return _json({"requeued": result.requeued})
