"""The Emitter of one process (no Redis) hands each event to this process's connections
(server/transport/socket/local_delivery.py): once per connection also when it is in several
of the rooms, never to the skipped connection, in the order handed over, and a room without a
connection here costs nothing and stops nothing. A real socket.io server on aiohttp, real
socket.io clients.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import socketio

from server.transport.socket.emitter import Emitter, Outgoing
from server.transport.socket.server import create_sio
from tests.conftest import make_config
from tests.emit_support import Note, receiver, serve_rooms


@pytest.fixture
async def server(sqlite_url: str) -> AsyncIterator[tuple[socketio.AsyncServer, str]]:
    sio = create_sio(make_config(sqlite_url))
    test_server = await serve_rooms(sio)
    try:
        yield sio, str(test_server.make_url("/"))
    finally:
        await test_server.close()


async def test_events_reach_each_connection_once_in_order_and_skip_the_sender(
    server: tuple[socketio.AsyncServer, str]
) -> None:
    sio, url = server
    both = await receiver(url, ["conversation:1", "account:a"])
    member = await receiver(url, ["conversation:1"])
    sender = await receiver(url, ["conversation:1"])
    elsewhere = await receiver(url, ["account:b"])
    emitter = Emitter(sio)
    try:
        skip = sio.manager.sid_from_eio_sid(sender.client.eio.sid, "/")
        items = [Outgoing("conversation:1", Note(n=n), "note") for n in range(40)]
        items.append(Outgoing("conversation:9", Note(n=40), "note"))  # nobody here
        items.append(Outgoing(["conversation:1", "account:a"], Note(n=41), "note"))
        items.append(Outgoing(["account:b", "conversation:8"], Note(n=42), "note"))
        items.append(Outgoing("conversation:1", Note(n=43), "note", skip_sid=skip))
        await emitter.send(items)
        await both.wait_for(42)
        await member.wait_for(42)
        await elsewhere.wait_for(1)
        await asyncio.sleep(0.3)  # anything doubled or late would arrive meanwhile
        expected = [("note", n) for n in [*range(40), 41, 43]]
        assert both.got == expected
        assert member.got == expected
        assert sender.got == [("note", n) for n in [*range(40), 41]]
        assert elsewhere.got == [("note", 42)]
        assert both.texts == {Note(n=0).text}
        # One event alone takes the same path.
        await emitter.send([Outgoing("account:b", Note(n=44), "note")])
        await elsewhere.wait_for(2)
        assert elsewhere.got == [("note", 42), ("note", 44)]
    finally:
        for r in (both, member, sender, elsewhere):
            await r.client.disconnect()
        await emitter.close()
