"""All HTTP routes. Views live in `views/`; static client files are served from client/."""

from __future__ import annotations

from aiohttp import web

from server.transport.http.views import accounts, conversations, health, pages, sites
from server.transport.http.views.pages import CLIENT_DIR

VIEW_MODULES = [health, pages, sites, accounts, conversations]


def setup_routes(app: web.Application) -> None:
    for module in VIEW_MODULES:
        app.router.add_routes(module.routes)
    for name in ("src", "css", "vendor", "img"):
        folder = CLIENT_DIR / name
        folder.mkdir(exist_ok=True)
        app.router.add_static(f"/static/{name}/", folder, append_version=False)
