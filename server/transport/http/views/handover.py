"""HTTP view of handover (issue #6).

GET /api/sites/{site_id}/handovers   the handover audit trail of a site (metadata only: who
                                     moved which conversation when, from where to where):
                                     site leads of the site and admins
"""

from __future__ import annotations

import re

from aiohttp import web

from server.keys import SESSIONS
from server.services import handover as service
from server.services.errors import not_found
from server.transport.http.auth import require_account

routes = web.RouteTableDef()
NO_STORE = {"Cache-Control": "no-store"}
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@routes.get("/api/sites/{site_id}/handovers")
async def site_handovers(request: web.Request) -> web.Response:
    context = await require_account(request)
    site_id = request.match_info["site_id"]
    if _UUID.fullmatch(site_id) is None:
        raise not_found()
    items = await service.site_handovers(request.app[SESSIONS], context, site_id)
    return web.json_response({"ok": True, "items": items}, headers=NO_STORE)
