"""The default namespace "/": connection set-up and server information.

Later areas (accounts, conversations, queue) add their handlers in their own modules.
"""

from __future__ import annotations

from typing import Any

from server import __version__
from server.i18n import LOCALE_COOKIE, negotiate_locale
from server.transport.socket.events import Empty, ServerInfo
from server.transport.socket.namespace import ValidatedNamespace


class MainNamespace(ValidatedNamespace):
    locales: tuple[str, ...] = ("de",)
    default_locale = "de"

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        cookies = environ.get("HTTP_COOKIE", "")
        cookie_locale = None
        for part in cookies.split(";"):
            name, _, value = part.strip().partition("=")
            if name == LOCALE_COOKIE:
                cookie_locale = value
        locale = negotiate_locale(
            cookie_locale, environ.get("HTTP_ACCEPT_LANGUAGE"), self.locales, self.default_locale
        )
        await self.save_session(sid, {"locale": locale})
        self.metrics.socket_clients.inc()

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.metrics.socket_clients.dec()

    async def on_server_info(self, sid: str, payload: Empty) -> dict[str, Any]:
        return ServerInfo(version=__version__, locale=await self.locale_of(sid)).model_dump()
