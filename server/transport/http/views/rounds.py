"""HTTP routes of chat rounds (docs/socket-events.md, "Chat rounds").

GET  /api/rounds?language=&all=1    rounds that have not ended: young people in their language
                                    (or the one asked for, or all); counsellors their sites'
POST /api/rounds                    a counsellor schedules a round for one of their sites

Everything live (join, keys, messages, moderation) runs over socket.io.
"""

from __future__ import annotations

from typing import Annotated, Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from server.keys import CLOCK, SESSIONS
from server.services import rounds as service
from server.transport.http.auth import require_account
from server.transport.http.validation import parse_body, validate

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class ListQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    language: Annotated[str, Field(pattern=r"^[a-zA-Z_-]{2,16}$")] | None = None
    all: Literal["0", "1"] = "0"


class ScheduleBody(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    site_id: Annotated[str, Field(pattern=UUID)]
    topic: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2,
                                            max_length=120)]
    language: Annotated[str, Field(pattern=r"^[a-zA-Z_-]{2,16}$")]
    starts_at: AwareDatetime
    duration_minutes: Annotated[int, Field(strict=True, ge=15,
                                           le=service.MAX_DURATION_MINUTES)]
    max_participants: Annotated[int, Field(strict=True, ge=1, le=50)]


@routes.get("/api/rounds")
async def list_rounds(request: web.Request) -> web.Response:
    account = await require_account(request)
    query = validate(ListQuery, dict(request.query))
    items = await service.list_rounds(
        request.app[SESSIONS], request.app[CLOCK], account, language=query.language,
        all_languages=query.all == "1",
    )
    return web.json_response(
        {"ok": True, "items": [i.model_dump(mode="json") for i in items]}, headers=NO_STORE
    )


@routes.post("/api/rounds")
async def schedule(request: web.Request) -> web.Response:
    account = await require_account(request)
    body = await parse_body(request, ScheduleBody)
    item = await service.schedule(
        request.app[SESSIONS], request.app[CLOCK], account, site_id=body.site_id,
        topic=body.topic, language=body.language, starts_at=body.starts_at,
        duration_minutes=body.duration_minutes, max_participants=body.max_participants,
    )
    return web.json_response({"ok": True, "round": item.model_dump(mode="json")}, status=201,
                             headers=NO_STORE)
