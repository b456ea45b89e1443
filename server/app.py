"""`create_app(config)`: the aiohttp application with socket.io attached."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.config import AppConfig
from server.jobs import erasure_wiring, retention_job
from server.keys import (
    ABUSE,
    CLOCK,
    CONFIG,
    EMITTER,
    ENGINE,
    LIMITER,
    MESSAGE_WRITER,
    METRICS,
    SESSIONS,
    SIO,
    SITE_DIRECTORY,
    WORKER,
)
from server.metrics import Metrics
from server.services.clock import Clock, SystemClock
from server.services.events import Notice
from server.services.message_writer import MessageWriter
from server.services.rate_limit import AbuseLimits, SourceLimiter
from server.services.sites import SiteDirectory
from server.storage.db import create_engine, create_sessions
from server.transport.http.middlewares import (
    error_middleware,
    locale_middleware,
    security_middleware,
)
from server.transport.http.routes import setup_routes
from server.transport.socket.emitter import Emitter, Outgoing
from server.transport.socket.main_namespace import MainNamespace
from server.transport.socket.server import (
    close_connections,
    create_sio,
    no_websocket_compression,
)


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[CONFIG].database)
    app[ENGINE] = engine
    app[SESSIONS] = create_sessions(engine)
    yield
    await engine.dispose()


async def _message_writer(app: web.Application) -> AsyncIterator[None]:
    """One writer task per process; registered after `_database`, so on shutdown it writes
    what is queued before the engine is disposed."""
    emitter = app[EMITTER]

    async def publish(notices: list[Notice]) -> None:
        # Hand the events over and go on storing: the Emitter's one ordered queue delivers
        # them (a slow Redis must not slow down the writer; it waits only when that queue is
        # full). The senders' acks were resolved before, after the commit.
        await emitter.post([Outgoing(room=n.room, event=n.event, name=n.name,
                                     skip_sid=n.skip_sid) for n in notices])

    writer = MessageWriter(app[SESSIONS], app[CLOCK], publish)
    app[MESSAGE_WRITER] = writer
    await writer.start()
    yield
    await writer.stop()


async def _emitter(app: web.Application) -> AsyncIterator[None]:
    """Registered before `_message_writer`: on shutdown the Emitter delivers what the writer
    handed over last (at most a few seconds), then its task ends."""
    yield
    await app[EMITTER].close()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown (SIGTERM/SIGINT), after the listening socket closed: drop the websocket
    connections so clients reconnect elsewhere at once, instead of aiohttp waiting for them
    until its shutdown timeout. The message writer then stores what is queued (cleanup)."""
    await close_connections(app[SIO])
    await app[SIO].shutdown()


def create_app(
    config: AppConfig, clock: Clock | None = None, *, worker: int = 0
) -> web.Application:
    app = web.Application(
        middlewares=[
            no_websocket_compression, security_middleware, locale_middleware, error_middleware,
        ],
        client_max_size=config.limits.max_http_body_bytes,
    )
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[WORKER] = worker
    app[METRICS] = Metrics()
    app[LIMITER] = SourceLimiter()
    app[ABUSE] = AbuseLimits(config.rate_limits)
    app[SITE_DIRECTORY] = SiteDirectory()
    app.cleanup_ctx.append(_database)

    sio = create_sio(config)
    namespace = MainNamespace("/", app[METRICS], config.limits.max_socket_message_bytes)
    namespace.locales = config.i18n.locales
    namespace.default_locale = config.i18n.default_locale
    sio.register_namespace(namespace)
    sio.attach(app)
    app[SIO] = sio
    app[EMITTER] = Emitter(sio)
    app.cleanup_ctx.append(_emitter)
    app.cleanup_ctx.append(_message_writer)
    # Data protection (issue #8): deletion events after commit; retention in worker 0.
    app.cleanup_ctx.extend([erasure_wiring, retention_job])
    app.on_shutdown.append(_close_sockets)

    setup_routes(app)
    return app
