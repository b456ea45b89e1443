"""socket.io server: explicit allowed origins, websocket transport, size and ping limits."""

from __future__ import annotations

import socketio

from server.config import AppConfig


def create_sio(config: AppConfig) -> socketio.AsyncServer:
    manager = None
    if config.redis.url:
        manager = socketio.AsyncRedisManager(config.redis.url)
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
