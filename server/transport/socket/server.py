"""socket.io server: explicit allowed origins, websocket transport, size and ping limits.

Several processes (`jmdchat serve --workers N`, or several machines) share rooms through
Redis (`socketio.AsyncRedisManager` on `redis.channel`): an emit is delivered to the local
clients at once and published for the other processes. Clients use the websocket transport
only, so a connection lives in exactly one process and no sticky sessions are needed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from aiohttp import hdrs, web
from engineio import json as engineio_json
from multidict import CIMultiDict

from server.config import AppConfig
from server.transport.http.middlewares import Handler
from server.transport.socket import engineio_guard
from server.transport.socket.batched_emits import BatchedEmits
from server.transport.socket.events_sync import SYNC_HINT, SyncHint
from server.transport.socket.rooms import CrossProcessRooms

log = logging.getLogger("jmdchat.socket")

#: Where python-engineio serves socket.io (its default `socketio_path`).
SOCKET_PATH = "/socket.io/"
#: At shutdown, how long to wait for websockets to take their CLOSE packet.
CLOSE_TIMEOUT = 1.0


#: Longest pause between attempts to subscribe again after Redis went away.
REDIS_RETRY_MAX_SECONDS = 2.0
#: Connecting to Redis (publishing an event, subscribing) gives up after this long instead
#: of waiting for the operating system's TCP timeout: the Emitter's queue (which the message
#: writer feeds) must not stall on a Redis host that does not answer. No read timeout: the
#: subscription is idle most of the time and must not be torn down for that.
REDIS_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 5, "socket_keepalive": True}


class RedisManager(CrossProcessRooms, BatchedEmits, socketio.AsyncRedisManager):  # type: ignore[misc]
    """`AsyncRedisManager` that subscribes again quickly after a Redis restart (and, from
    `CrossProcessRooms`, takes connections out of a room on every process; from
    `BatchedEmits`, publishes the events of one Emitter batch as one message).

    While Redis is down, publishing fails (python-socketio logs "Cannot publish to redis",
    the local clients still get their events; the message itself is stored and acked, the
    database is the source of truth) and the listener retries. The library doubles its pause
    after every failed attempt up to 60 s, so after an outage of a minute a process could
    stay deaf to the others for another minute while publishing already works again. Here
    the pause stays at most `REDIS_RETRY_MAX_SECONDS`; the loop is the library's otherwise
    (python-socketio 5.x `_redis_listen_with_retries`).

    Events published while a process was not subscribed never reach its clients. So once the
    subscription is restored, the process sends `sync.hint {reason: "reconnected"}` to each
    of its own connections (locally, not through Redis); clients catch up as after a
    reconnect (`conversation.join {after_seq}`, the queue listed again). Anything published
    after the subscribe arrives live, anything before it is committed and found by the join,
    so nothing falls between the two.
    """

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        retry_sleep = 0.5
        failed = False
        while True:
            try:
                # As in the library: (re)subscribe on every pass; `listen()` only ends by
                # raising when the connection breaks.
                self._redis_connect()
                await self.pubsub.subscribe(self.channel)
                if failed:
                    log.info("redis subscription restored")
                    failed = False
                    # In its own task: the listener must read the channel meanwhile.
                    self._hint_task = self.server.start_background_task(
                        self.hint_local_clients)
                retry_sleep = 0.5
                async for message in self.pubsub.listen():
                    yield message
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any Redis failure: try again shortly
                log.warning("redis unavailable, subscribing again",
                            extra={"error": type(exc).__name__, "retry_in": retry_sleep})
                failed = True
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, REDIS_RETRY_MAX_SECONDS)


    async def hint_local_clients(self) -> int:
        """`sync.hint {reason: "reconnected"}` to every connection of this process (only
        here: `ignore_queue` skips the publish). Returns the number of namespaces hinted."""
        hint = SyncHint(reason="reconnected").model_dump(mode="json")
        namespaces = list(self.get_namespaces())
        for namespace in namespaces:
            await self.emit(SYNC_HINT, hint, namespace=namespace, ignore_queue=True)
        log.info("sync hint sent to local clients", extra={"namespaces": len(namespaces)})
        return len(namespaces)


class _PacketJson:
    """The JSON of socket.io packets: the standard library's, with engine.io's guard against
    huge integers (`engineio.json`), but with one decoder built once. `engineio.json.loads`
    passes `parse_int`, which makes the standard library build a new decoder per call. The
    client manager uses it too (`BaseManager.json`) for what it publishes to Redis."""

    _decoder = json.JSONDecoder(parse_int=engineio_json._safe_int)
    _compact = json.JSONEncoder(separators=(",", ":"))

    @classmethod
    def dumps(cls, obj: Any, **options: Any) -> str:
        # socket.io asks for compact separators; any keyword builds a new encoder per call
        # in the standard library, so that one is built once.
        if options == {"separators": (",", ":")}:
            return cls._compact.encode(obj)
        return json.dumps(obj, **options)

    @classmethod
    def loads(cls, text: str | bytes) -> Any:
        # bytes: the Redis manager decodes the events other processes published with it.
        return cls._decoder.decode(text.decode() if isinstance(text, bytes) else text)


class JsonPacket(socketio.packet.Packet):  # type: ignore[misc]
    """socket.io packets of a server that never sends binary data (everything it emits is a
    pydantic `model_dump(mode="json")`). The default packet walks every outgoing payload to
    look for bytes, which cost 5 % of the server's CPU under load (bench/README.md). Binary
    packets *from* clients are still decoded as before; handlers reject them by validation."""

    uses_binary_events = False
    json = _PacketJson


def create_sio(config: AppConfig) -> socketio.AsyncServer:
    manager = None
    if config.redis.url:
        manager = RedisManager(config.redis.url, channel=config.redis.channel,
                               redis_options=dict(REDIS_OPTIONS))
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=manager,
        serializer=JsonPacket,
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
    engineio_guard.install(sio)
    return sio


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
