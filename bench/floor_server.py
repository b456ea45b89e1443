"""The framework floor: bare python-socketio on aiohttp, no authentication, no storage.

What jmdchat's socket layer would cost if it did nothing of its own: a client joins a room of
two (`floor.join`), `message.send` emits `message.new` with the same shape jmdchat sends
(`{conversation_id, message: {seq, mid, sender_id, epoch, created_at, kind, envelope}}`) to
the room, skipping the sender, and acks `{ok, seq, created_at}`. Same socket.io settings as
jmdchat (websocket only, one event at a time per client, same size and ping limits), and with
`--workers N` the same set-up of N processes on one port (SO_REUSEPORT) sharing rooms through
Redis. `bench/load.py --target floor` starts it and drives it exactly like jmdchat.

    .venv/bin/python bench/floor_server.py --port 8090 [--workers 2 --redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import multiprocessing
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import socketio
from aiohttp import web


def create_app(redis_url: str, channel: str) -> web.Application:
    manager = socketio.AsyncRedisManager(redis_url, channel=channel) if redis_url else None
    sio = socketio.AsyncServer(
        async_mode="aiohttp", client_manager=manager, transports=["websocket"],
        cors_allowed_origins="*", max_http_buffer_size=96 * 1024, ping_interval=20,
        ping_timeout=20, async_handlers=False, logger=False, engineio_logger=False,
    )
    # Per process, so not gap-free across processes; the floor has no ordering duty.
    seqs: dict[str, itertools.count[int]] = {}

    @sio.on("floor.join")
    async def join(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        await sio.enter_room(sid, f"conv:{data['conversation_id']}")
        return {"ok": True}

    @sio.on("message.send")
    async def send(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        conversation_id = data["conversation_id"]
        envelope = data["envelope"]
        seq = next(seqs.setdefault(conversation_id, itertools.count(1)))
        created_at = datetime.now(UTC).isoformat()
        message = {
            "seq": seq, "mid": envelope["mid"], "sender_id": envelope["sender"],
            "epoch": envelope["epoch"], "created_at": created_at, "kind": "message",
            "envelope": envelope,
        }
        await sio.emit("message.new", {"conversation_id": conversation_id, "message": message},
                       room=f"conv:{conversation_id}", skip_sid=sid)
        return {"ok": True, "seq": seq, "created_at": created_at}

    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", healthz)
    sio.attach(app)
    return app


def _worker(host: str, port: int, redis_url: str, channel: str, reuse_port: bool) -> None:
    web.run_app(create_app(redis_url, channel), host=host, port=port, print=None,
                access_log=None, reuse_port=reuse_port or None, shutdown_timeout=2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis", default="", help="redis://... (required with --workers > 1)")
    parser.add_argument("--channel", default="jmdchat-floor")
    args = parser.parse_args()
    if args.host not in {"127.0.0.1", "::1", "localhost"}:
        parser.error("the floor server listens on loopback only")
    if args.workers > 1 and not args.redis:
        parser.error("--workers > 1 needs --redis")
    if args.workers == 1:
        _worker(args.host, args.port, args.redis, args.channel, False)
        return 0
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_worker,
                        args=(args.host, args.port, args.redis, args.channel, True))
        for _ in range(args.workers)
    ]
    for process in workers:
        process.start()
    stopped = asyncio.Event()  # only used as a flag from the signal handler

    def stop(*_: object) -> None:
        stopped.set()
        for process in workers:
            if process.is_alive():
                process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in workers:
        process.join()
    return 0 if stopped.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
