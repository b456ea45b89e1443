"""The default namespace "/": connection set-up (authentication) and server information.

A connection is accepted only with a valid full session: the browser sends the HttpOnly session
cookie on the websocket upgrade; without it (or with an expired, TOTP-setup or recovery session)
the connection is refused with `ConnectionRefusedError`. The socket.io session then holds
`account_id`, `role`, `locale` and `session_id`; the connection joins `account:<id>` and
`session:<session id>` (so that logging out, a password change or deleting the account can close
exactly the connections of the ended sessions, see `close_sessions`).

The session's absolute lifetime holds for an open connection too: when it expires the server
sends `session.ended` and disconnects (a timer), and an event that arrives after the expiry is
answered `unauthorized` (the check that a frozen test clock can exercise).

Later areas (conversations, queue) add their handlers in their own modules and extend
`on_authenticated` (for example to join site queue rooms).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

import socketio
from aiohttp import web

from server import __version__
from server.i18n import LOCALE_COOKIE, negotiate_locale
from server.i18n import lazy_gettext as _
from server.keys import CLOCK, SESSIONS
from server.services.access import AccountContext
from server.services.errors import ServiceError
from server.services.sessions import resolve_session
from server.transport.http.auth import SESSION_COOKIE
from server.transport.socket.conversations import ConversationHandlers
from server.transport.socket.emitter import Emitter, Outgoing
from server.transport.socket.events import Empty, ServerEvent, ServerInfo
from server.transport.socket.handover import HandoverHandlers
from server.transport.socket.moderation import ModerationHandlers
from server.transport.socket.namespace import LIFECYCLE, ValidatedNamespace
from server.transport.socket.queue import QueueHandlers
from server.transport.socket.rounds import RoundHandlers
from server.transport.socket.safeguarding import SafeguardingHandlers

log = logging.getLogger("jmdchat.socket")
# Disconnects of expired sessions in flight (keep a reference, or the loop may drop the task).
_ending: set[asyncio.Task[None]] = set()
#: How long a refused connection's engine.io transport stays open after the CONNECT_ERROR.
REFUSED_CLOSE_DELAY_S = 1.0


def _cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, _, value = part.strip().partition("=")
        if name and name not in cookies:  # the first one wins, as in browsers' order
            cookies[name] = value.strip().strip('"')
    return cookies


def account_room(account_id: str) -> str:
    return f"account:{account_id}"


def session_room(session_id: str) -> str:
    return f"session:{session_id}"


class SessionEnded(ServerEvent):
    """To `session:<id>`: the session ended (logout, password change, account deleted)."""

    event: Literal["session.ended"] = "session.ended"


async def close_sessions(emitter: Emitter, session_ids: list[str]) -> None:
    """Disconnect the connections of ended sessions on every server process (call after the
    commit).

    `session.ended` first (so an honest client knows why, and does not reconnect), then the
    server itself disconnects every connection in the sessions' rooms, on this process and,
    through Redis, on the others (`Emitter.disconnect_rooms`): a modified client that ignores
    `session.ended` loses its connection, and with it every room (conversations, queues,
    rounds), all the same. A reconnect is refused (the session no longer exists). Only the
    ended sessions' connections go: the account's other devices stay connected.
    """
    if not session_ids:
        return
    await emitter.send(
        [Outgoing(session_room(sid), SessionEnded(), "session.ended") for sid in session_ids]
    )
    await emitter.disconnect_rooms([session_room(sid) for sid in session_ids])


class MainNamespace(
    ConversationHandlers, QueueHandlers, SafeguardingHandlers, HandoverHandlers,
    RoundHandlers, ModerationHandlers, ValidatedNamespace,
):
    locales: tuple[str, ...] = ("de",)
    default_locale = "de"

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        cookies = _cookies(environ.get("HTTP_COOKIE", ""))
        request = environ.get("aiohttp.request")
        app = request.app if isinstance(request, web.Request) else None
        # socket.io's own exception, not the builtin ConnectionRefusedError: the builtin one is
        # an OSError that `is_unavailable` (rightly, for database connections) takes for an
        # outage, so a missing session was refused as `unavailable` and browsers retried it
        # for ever (tests/transport/test_socket_auth.py asserts `unauthorized`).
        if app is None:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        context = await resolve_session(
            app[SESSIONS], cookies.get(SESSION_COOKIE), app[CLOCK].now()
        )
        if context is None:
            raise socketio.exceptions.ConnectionRefusedError("unauthorized")
        # An explicit language choice (cookie) wins over the account's registration locale.
        cookie_locale = cookies.get(LOCALE_COOKIE)
        preferred = cookie_locale if cookie_locale in self.locales else context.locale
        locale = negotiate_locale(
            preferred, environ.get("HTTP_ACCEPT_LANGUAGE"), self.locales, self.default_locale
        )
        session: dict[str, Any] = {
            "locale": locale,
            "account_id": context.account_id,
            "role": context.role,
            "session_id": context.session_id,
            "expires_at": context.expires_at,
        }
        if context.expires_at is not None:
            # Close the connection when the session ends, even if the client stays silent.
            delay = (context.expires_at - app[CLOCK].now()).total_seconds()
            session["expiry_timer"] = asyncio.get_running_loop().call_later(
                max(delay, 0.0), self._end_expired, sid
            )
        await self.save_session(sid, session)
        await self.on_authenticated(sid, context)
        self.metrics.socket_clients.inc()

    def _end_expired(self, sid: str) -> None:
        """Tell the connection its session ended, then disconnect it (after pending acks)."""

        async def end() -> None:
            await self.emit(SessionEnded().event, SessionEnded().model_dump(mode="json"), to=sid)
            await self.disconnect(sid)

        task = asyncio.get_running_loop().create_task(end())
        _ending.add(task)
        task.add_done_callback(_ending.discard)

    async def _session_expired(self, sid: str) -> bool:
        try:
            session = await self.get_session(sid)
            expires_at = session.get("expires_at")
            return expires_at is not None and self.app_of(sid)[CLOCK].now() >= expires_at
        except (KeyError, ServiceError):  # no session (yet) or no request: nothing to check
            return False

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event not in LIFECYCLE and args:
            # One read of the socket.io session for all checks and the handler of this event.
            async with self.event_session(args[0]):
                return await self._trigger_checked(event, *args)
        return await self._trigger_checked(event, *args)

    async def _trigger_checked(self, event: str, *args: Any) -> Any:
        if event not in LIFECYCLE and args and await self._session_expired(args[0]):
            self.metrics.socket_events.labels(event="expired", ok="false").inc()
            self._end_expired(args[0])
            return await self._fail(args[0], "unauthorized", _("Please log in first."))
        if event != "connect" or not args:
            return await super().trigger_event(event, *args)
        try:
            return await super().trigger_event(event, *args)
        except socketio.exceptions.ConnectionRefusedError:
            self._close_refused(args[0])
            raise

    def _close_refused(self, sid: str) -> None:
        """After a refused CONNECT (`unauthorized`, `unavailable`) also close the engine.io
        connection underneath (docs/security.md, open item 6): otherwise it stays open as long
        as the client answers pings, without any session. The close waits a moment so the
        CONNECT_ERROR packet reaches the client first (engine.io flushes queued packets before
        its CLOSE); the browser client gives up on `unauthorized` and retries `unavailable`
        itself with a new connection (client/src/net/socket.js)."""
        eio_sid = self.server.manager.eio_sid_from_sid(sid, self.namespace)
        if eio_sid is None:
            return

        async def close() -> None:
            await asyncio.sleep(REFUSED_CLOSE_DELAY_S)
            transport = self.server.eio.sockets.get(eio_sid)
            await self.server.eio.disconnect(eio_sid)
            if transport is not None:
                # engine.io sends its CLOSE packet but leaves the websocket to the client (or
                # to the ping timeout); wake its writer so the server closes the websocket now.
                await transport.queue.put(None)

        task = asyncio.get_running_loop().create_task(close())
        _ending.add(task)
        task.add_done_callback(_ending.discard)

    async def on_authenticated(self, sid: str, context: AccountContext) -> None:
        """Rooms of an authenticated connection; later areas extend this."""
        await self.enter_room(sid, account_room(context.account_id))
        await self.enter_room(sid, session_room(context.session_id))
        await self.join_queue_rooms(sid, context)  # counsellors: their sites' queue rooms

    async def account_of(self, sid: str) -> AccountContext:
        """The authenticated account of a connection (every connection has one)."""
        session = await self.get_session(sid)
        return AccountContext(
            account_id=str(session["account_id"]),
            role=str(session["role"]),
            locale=str(session["locale"]),
            session_id=str(session["session_id"]),
        )

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        try:
            timer = (await self.get_session(sid)).get("expiry_timer")
        except KeyError:
            timer = None
        if isinstance(timer, asyncio.TimerHandle):
            timer.cancel()
        self.metrics.socket_clients.dec()

    async def on_server_info(self, sid: str, payload: Empty) -> dict[str, Any]:
        return ServerInfo(version=__version__, locale=await self.locale_of(sid)).model_dump()
