"""Events from outside the server processes (the `jmdchat` CLI), through Redis.

`jmdchat certify` runs in its own process and commits there; open browsers learn of a newly
certified site key version through `site.keys_changed` (issue #3). With `redis.url` set the
CLI publishes the event on the servers' channel exactly as a server process would
(python-socketio's write-only manager); without Redis (one process, development) nothing is
sent, and clients still catch up: the server refuses shares sealed to an old version
(`stale_site_key`) and the clients fetch the keys again and retry.
"""

from __future__ import annotations

import logging

import socketio

from server.config import AppConfig
from server.services.events import Notice

log = logging.getLogger("jmdchat.socket")


async def publish(config: AppConfig, notices: list[Notice], namespace: str = "/") -> bool:
    """Publish `notices` to every server process; False when there is no Redis to do it."""
    if not config.redis.url or not notices:
        return False
    manager = socketio.AsyncRedisManager(
        config.redis.url, channel=config.redis.channel, write_only=True,
        redis_options={"socket_connect_timeout": 5},
    )
    try:
        for notice in notices:
            await manager.emit(notice.name, notice.event.model_dump(mode="json"),
                               room=notice.room, namespace=namespace)
    except Exception as exc:  # the certificates are stored; the event is a courtesy
        log.warning("could not publish to redis", extra={"error": type(exc).__name__})
        return False
    finally:
        redis = getattr(manager, "redis", None)
        close = getattr(redis, "aclose", None)
        if close is not None:
            await close()
    return True
