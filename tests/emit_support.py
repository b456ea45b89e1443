"""Shared by the Emitter's tests (tests/transport/test_local_delivery.py, test_batched_emits.py):
a socket.io server as the app builds it whose clients name their rooms when they connect,
served by a real aiohttp server on loopback, and real socket.io clients that record the
`note` events they get."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel


class Note(BaseModel):
    n: int
    text: str = "ناصر · Наталія"  # non-ASCII must survive every encoding on the way


@dataclass
class Receiver:
    client: socketio.AsyncClient
    got: list[tuple[str, int]] = field(default_factory=list)
    texts: set[str] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.got) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def receiver(url: str, rooms: list[str]) -> Receiver:
    client = socketio.AsyncClient(reconnection=False)
    receiver = Receiver(client)

    async def on_note(data: dict[str, Any]) -> None:
        receiver.got.append(("note", data["n"]))
        receiver.texts.add(data["text"])
        receiver.arrived.set()

    client.on("note", on_note)
    await client.connect(url, transports=["websocket"], auth={"rooms": rooms},
                         wait_timeout=10)
    return receiver


async def serve_rooms(sio: socketio.AsyncServer) -> TestServer:
    """Serve `sio` on loopback; each client enters the rooms it names in `auth["rooms"]`."""

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, _environ: dict[str, Any], auth: dict[str, Any]) -> None:
        for room in auth["rooms"]:
            await sio.enter_room(sid, room)

    app = web.Application()
    sio.attach(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server
