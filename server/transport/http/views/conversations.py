"""HTTP helper of the enquiry flow.

GET /api/route?location=&language=&topic=   which site answers an enquiry, why, and the site's
                                            current certified key (the client verifies the
                                            certificate against the organisation key and seals
                                            epoch 1 to it before sending `enquiry.create`)

Everything else of the conversation area runs over socket.io. The answer is `no-store` and the
location is neither logged nor stored (it is public information about sites, but the question
narrows a young person down).
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.keys import CLOCK, SESSIONS, SITE_DIRECTORY
from server.services import enquiries
from server.transport.http.validation import validate

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}


class RouteQuery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    location: Annotated[str, Field(max_length=100)] = ""
    language: Annotated[str, Field(min_length=2, max_length=20)]
    topic: Annotated[str, Field(pattern=r"^[a-z_]{1,40}$")]


@routes.get("/api/route")
async def route(request: web.Request) -> web.Response:
    query = validate(RouteQuery, dict(request.query))
    app = request.app
    directory = await app[SITE_DIRECTORY].current(app[SESSIONS])
    answer = await enquiries.route_for(
        app[SESSIONS], app[CLOCK], directory, query.location.strip() or None, query.language,
        query.topic,
    )
    return web.json_response({"ok": True, **answer.as_json()}, headers=NO_STORE)
