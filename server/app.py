"""`create_app(config)`: the aiohttp application with socket.io attached."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from server.config import AppConfig
from server.keys import CLOCK, CONFIG, EMITTER, ENGINE, METRICS, SESSIONS, SIO
from server.metrics import Metrics
from server.services.clock import Clock, SystemClock
from server.storage.db import create_engine, create_sessions
from server.transport.http.middlewares import (
    error_middleware,
    locale_middleware,
    security_middleware,
)
from server.transport.http.routes import setup_routes
from server.transport.socket.emitter import Emitter
from server.transport.socket.main_namespace import MainNamespace
from server.transport.socket.server import create_sio


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = create_engine(app[CONFIG].database)
    app[ENGINE] = engine
    app[SESSIONS] = create_sessions(engine)
    yield
    await engine.dispose()


def create_app(config: AppConfig, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        middlewares=[security_middleware, locale_middleware, error_middleware],
        client_max_size=config.limits.max_http_body_bytes,
    )
    app[CONFIG] = config
    app[CLOCK] = clock or SystemClock()
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_database)

    sio = create_sio(config)
    namespace = MainNamespace("/", app[METRICS], config.limits.max_socket_message_bytes)
    namespace.locales = config.i18n.locales
    namespace.default_locale = config.i18n.default_locale
    sio.register_namespace(namespace)
    sio.attach(app)
    app[SIO] = sio
    app[EMITTER] = Emitter(sio)

    setup_routes(app)
    return app
