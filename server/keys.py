"""Every `web.AppKey` of the application, in one place."""

from __future__ import annotations

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from server.config import AppConfig
from server.metrics import Metrics
from server.services.clock import Clock
from server.services.message_writer import MessageWriter
from server.services.rate_limit import AbuseLimits, SourceLimiter
from server.services.sites import SiteDirectory
from server.storage.db import Sessions
from server.transport.socket.emitter import Emitter

CONFIG = web.AppKey("config", AppConfig)
CLOCK = web.AppKey("clock", Clock)
ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", Sessions)
METRICS = web.AppKey("metrics", Metrics)
SIO = web.AppKey("sio", socketio.AsyncServer)
EMITTER = web.AppKey("emitter", Emitter)
# Per-source attempt counters of this process (memory only; never IP addresses on disk).
LIMITER = web.AppKey("limiter", SourceLimiter)
# Abuse limits of this process: registrations, messages, socket events (memory only).
ABUSE = web.AppKey("abuse", AbuseLimits)
# The cached site directory and routing index of this process (see services/sites.py).
SITE_DIRECTORY = web.AppKey("site_directory", SiteDirectory)
# The process's one message writer task (group commit; see services/message_writer.py).
MESSAGE_WRITER = web.AppKey("message_writer", MessageWriter)
# Which process of `jmdchat serve --workers N` this is (0 … N-1; 0 for a single process).
WORKER = web.AppKey("worker", int)

# Per-request values set by middlewares.
LOCALE = web.RequestKey("locale", str)
