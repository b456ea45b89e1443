"""Operational endpoints: /healthz checks the database; /metrics is Prometheus text."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from server.keys import CLOCK, ENGINE, METRICS, SESSIONS, WORKER
from server.services.statistics import queue_snapshot
from server.storage.db import is_unavailable, log_unavailable

log = logging.getLogger("jmdchat.health")
routes = web.RouteTableDef()
HEALTH_TIMEOUT_SECONDS = 5.0


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        # Bounded: a database that does not answer is "down", not a hanging health check.
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            async with request.app[ENGINE].connect() as connection:
                await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not healthy"
        if is_unavailable(exc):  # an outage: rate limited with the other refusals
            log_unavailable("http:/healthz", exc)
        else:
            log.warning("health check failed", extra={"error": type(exc).__name__})
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    # `worker`: which process of `serve --workers N` answered (SO_REUSEPORT spreads requests).
    return web.json_response(
        {"status": "ok", "database": "up", "worker": request.app.get(WORKER, 0)}
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    sessions = request.app[SESSIONS]
    await request.app[METRICS].refresh_queues(
        lambda: queue_snapshot(sessions), request.app[CLOCK].now()
    )
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
