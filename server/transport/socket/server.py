"""socket.io server: explicit allowed origins, websocket transport, size and ping limits.

Several processes (`jmdchat serve --workers N`, or several machines) share rooms through
Redis (`socketio.AsyncRedisManager` on `redis.channel`): an emit is delivered to the local
clients at once and published for the other processes. Clients use the websocket transport
only, so a connection lives in exactly one process and no sticky sessions are needed.
"""

from __future__ import annotations

import asyncio
import logging

import socketio
from aiohttp import hdrs, web
from multidict import CIMultiDict

from server.config import AppConfig
from server.transport.http.middlewares import Handler

log = logging.getLogger("jmdchat.socket")

#: Where python-engineio serves socket.io (its default `socketio_path`).
SOCKET_PATH = "/socket.io/"
#: At shutdown, how long to wait for websockets to take their CLOSE packet.
CLOSE_TIMEOUT = 1.0


def create_sio(config: AppConfig) -> socketio.AsyncServer:
    manager = None
    if config.redis.url:
        manager = socketio.AsyncRedisManager(config.redis.url, channel=config.redis.channel)
    return socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        cors_allowed_origins=list({*config.server.allowed_origins, config.server.public_url}),
        transports=["websocket"],
        max_http_buffer_size=config.limits.max_socket_message_bytes,
        ping_interval=config.limits.ping_interval_seconds,
        ping_timeout=config.limits.ping_timeout_seconds,
        # Handlers run one after another per client, so a client's events keep their order.
        async_handlers=False,
        logger=False,
        engineio_logger=False,
    )


@web.middleware
async def no_websocket_compression(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse permessage-deflate on the socket.io websocket.

    aiohttp's `WebSocketResponse` accepts the extension whenever the client offers it (every
    browser does), and python-engineio gives no option to turn it off. A compressing
    connection keeps zlib state of about 0.2 MB, and our payloads are ciphertext that does
    not compress. aiohttp negotiates the extension from the request's
    `Sec-WebSocket-Extensions` header, so we hand engine.io a copy of the request without it
    (`Request.clone(headers=...)`, a documented aiohttp API): the handshake then simply
    agrees on no extension, which RFC 6455 allows and every client accepts.
    """
    if request.path.startswith(SOCKET_PATH) and hdrs.SEC_WEBSOCKET_EXTENSIONS in request.headers:
        headers = CIMultiDict(request.headers)
        del headers[hdrs.SEC_WEBSOCKET_EXTENSIONS]
        request = request.clone(headers=headers)
    return await handler(request)


async def close_connections(
    sio: socketio.AsyncServer, namespace: str = "/", wait_seconds: float = CLOSE_TIMEOUT
) -> int:
    """Close every engine.io connection of this process (graceful shutdown).

    Closed at the engine.io level, not with a socket.io DISCONNECT packet: browsers treat
    "io server disconnect" as "the server ended my session" and stay offline, while a closed
    transport makes socket.io-client reconnect on its own — to another process or machine,
    since this one stopped listening first. Engine.io connections that never completed the
    socket.io handshake are in no room, so the engine.io server's own table is read too.
    All are closed at once and waited for at most `wait_seconds` (a close waits for the
    socket's send queue, which never drains for a peer that is already gone). Returns how
    many connections were asked to close.
    """
    eio_sids = {eio_sid for _sid, eio_sid in sio.manager.get_participants(namespace, None)}
    eio_sids.update(getattr(sio.eio, "sockets", {}))
    if not eio_sids:
        return 0
    closing = asyncio.gather(*(sio.eio.disconnect(eio_sid) for eio_sid in eio_sids),
                             return_exceptions=True)
    try:
        await asyncio.wait_for(closing, wait_seconds)
    except TimeoutError:
        log.info("some websockets did not close in time", extra={"count": len(eio_sids)})
    return len(eio_sids)
