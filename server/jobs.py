"""Background work of the app for data protection, as `app.cleanup_ctx` entries (server/app.py).

* `erasure_wiring`: gives the account deletion hook (services/erasure.py) this app's clock and
  a publisher, so the events of a deletion reach counsellors' screens after the commit.
* `retention_job`: runs the retention rules (services/retention.py) every
  `retention.run_every_minutes`. Only worker 0 starts it (`jmdchat serve --workers N` runs N
  processes on one machine), so it runs once per machine. With several machines it runs on
  each: every batch re-selects by condition and PostgreSQL's SKIP LOCKED splits the work, so
  that is safe, only a little redundant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from server.keys import CLOCK, CONFIG, EMITTER, ENGINE, SESSIONS, WORKER
from server.services import erasure
from server.services.events import Notice
from server.services.retention import run_retention
from server.storage.db import is_unavailable, log_unavailable
from server.transport.socket.conversations import emit_notices

log = logging.getLogger("jmdchat.retention")

#: The first run waits this long after start: a deploy or a restarting worker should not add
#: deletion work to its warm-up, and short-lived test servers never run it by surprise.
FIRST_RUN_DELAY_SECONDS = 60.0


async def erasure_wiring(app: web.Application) -> AsyncIterator[None]:
    """Register after `_database` (it needs the engine)."""
    emitter = app[EMITTER]

    async def publish(notices: list[Notice]) -> None:
        await emit_notices(emitter, notices)

    erasure.install(app[ENGINE], app[CLOCK], publish)
    yield
    erasure.uninstall(app[ENGINE])


async def _retention_loop(app: web.Application) -> None:
    config = app[CONFIG]
    await asyncio.sleep(FIRST_RUN_DELAY_SECONDS)
    while True:
        try:
            await run_retention(app[SESSIONS], config, app[CLOCK])
        except Exception as exc:  # a failed run is retried at the next interval
            if is_unavailable(exc):  # the database is down: no traceback (issue #8)
                log_unavailable("retention", exc)
            else:
                log.exception("retention run failed")
        await asyncio.sleep(config.retention.run_every_minutes * 60)


async def retention_job(app: web.Application) -> AsyncIterator[None]:
    """Register after `_database`; stopped (cancelled) before the engine is disposed."""
    if app.get(WORKER, 0) != 0:
        yield
        return
    task = asyncio.create_task(_retention_loop(app), name="retention")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


__all__ = ["FIRST_RUN_DELAY_SECONDS", "erasure_wiring", "retention_job"]
