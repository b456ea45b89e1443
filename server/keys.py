"""Every `web.AppKey` of the application, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import AppConfig
from server.metrics import Metrics
from server.services.clock import Clock
from server.storage.db import Sessions

if TYPE_CHECKING:
    import socketio

    from server.transport.socket.emitter import Emitter

CONFIG = web.AppKey("config", AppConfig)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", Sessions)
METRICS = web.AppKey("metrics", Metrics)
SIO = web.AppKey("sio", "socketio.AsyncServer")
EMITTER = web.AppKey("emitter", "Emitter")

# Per-request values set by middlewares.
LOCALE = web.RequestKey("locale", str)
