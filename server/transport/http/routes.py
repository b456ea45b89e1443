"""All HTTP routes. Views live in `views/`; static client files are served from client/."""

from __future__ import annotations

from aiohttp import web

from server.transport.http.views import accounts, conversations, health, pages, sites
from server.transport.http.views import admin as admin_views
from server.transport.http.views import admin_sites as admin_sites_views
from server.transport.http.views import handover as handover_views
from server.transport.http.views import moderation as moderation_views
from server.transport.http.views import rounds as rounds_views
from server.transport.http.views import statistics as statistics_views
from server.transport.http.views import team as team_views
from server.transport.http.views.pages import CLIENT_DIR

VIEW_MODULES = [health, pages, sites, accounts, conversations]
VIEW_MODULES.append(team_views)  # team management (issues #3, #9)
VIEW_MODULES.append(handover_views)  # handover audit for site leads (issue #6)
VIEW_MODULES.extend([admin_sites_views, admin_views])  # admin screens (issues #4, #9)
VIEW_MODULES.append(rounds_views)  # chat rounds (issue #9)
VIEW_MODULES.append(statistics_views)  # statistics without personal data (issue #9)
VIEW_MODULES.append(moderation_views)  # reports of blocked/reported accounts (issue #8)


def setup_routes(app: web.Application) -> None:
    for module in VIEW_MODULES:
        app.router.add_routes(module.routes)
    for name in ("src", "css", "vendor", "img"):
        folder = CLIENT_DIR / name
        folder.mkdir(exist_ok=True)
        app.router.add_static(f"/static/{name}/", folder, append_version=False)
