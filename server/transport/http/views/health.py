"""Operational endpoints: /healthz checks the database; /metrics is Prometheus text."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from server.keys import ENGINE, METRICS, WORKER

log = logging.getLogger("jmdchat.health")
routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # any database failure means "not healthy"
        log.warning("health check failed", extra={"error": type(exc).__name__})
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    # `worker`: which process of `serve --workers N` answered (SO_REUSEPORT spreads requests).
    return web.json_response(
        {"status": "ok", "database": "up", "worker": request.app.get(WORKER, 0)}
    )


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
