"""Events of one Emitter batch cross server processes together, not one Redis message each
(server/transport/socket/batched_emits.py).

Two socket.io servers as the app builds them (`create_sio` with Redis, a channel of their
own), each on a real aiohttp server on loopback, with real socket.io clients and real Redis:
a batch handed to the Emitter on server A reaches the clients on A once and the clients on
B in the order it was handed over, with rooms lists and `skip_sid` as on one process; a
malformed batch on the channel is dropped without stopping the listener, and a large batch
travels as several messages of bounded size.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as aioredis
import socketio
from aiohttp.test_utils import TestServer

from server.transport.socket.batched_emits import BATCH, MAX_EVENTS_PER_MESSAGE
from server.transport.socket.emitter import Emitter, Outgoing
from server.transport.socket.server import RedisManager, create_sio
from tests.conftest import make_config
from tests.emit_support import Note, receiver, serve_rooms


@dataclass
class Pair:
    sio_a: socketio.AsyncServer
    sio_b: socketio.AsyncServer
    url_a: str
    url_b: str
    channel: str


@pytest.fixture
async def pair(redis_url: str, sqlite_url: str) -> AsyncIterator[Pair]:
    channel = f"jmdchat-test-batch-{uuid.uuid4().hex[:8]}"
    config = make_config(sqlite_url, redis={"url": redis_url, "channel": channel})
    servers: list[TestServer] = []
    sios: list[socketio.AsyncServer] = []
    for _ in range(2):
        sio = create_sio(config)
        assert isinstance(sio.manager, RedisManager)
        server = await serve_rooms(sio)
        servers.append(server)
        sios.append(sio)
    # python-socketio starts a server's Redis listener with its first connection: one each,
    # and both listeners subscribed, before anything is published.
    first = [await receiver(str(server.make_url("/")), []) for server in servers]
    probe = aioredis.Redis.from_url(redis_url)
    for _ in range(100):
        subscribed = (await probe.pubsub_numsub(channel))[0][1]
        if subscribed >= 2:
            break
        await asyncio.sleep(0.05)
    await probe.aclose()
    assert subscribed >= 2
    try:
        yield Pair(sios[0], sios[1], str(servers[0].make_url("/")),
                   str(servers[1].make_url("/")), channel)
    finally:
        for r in first:
            await r.client.disconnect()
        for server in servers:
            await server.close()


async def published(redis_url: str, channel: str) -> tuple[aioredis.Redis, Any]:
    """A plain subscriber of the channel: sees what the servers publish."""
    connection = aioredis.Redis.from_url(redis_url)
    pubsub = connection.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    return connection, pubsub


async def read_all(pubsub: Any) -> list[dict[str, Any]]:
    messages = []
    deadline = asyncio.get_running_loop().time() + 1.0
    while asyncio.get_running_loop().time() < deadline:
        # None also for the subscription's own confirmation: read until the deadline.
        message = await pubsub.get_message(timeout=0.1)
        if message is not None:
            messages.append(json.loads(message["data"]))
    return messages


async def test_a_batch_reaches_both_processes_once_and_in_order(
    pair: Pair, redis_url: str
) -> None:
    connection, pubsub = await published(redis_url, pair.channel)
    on_a = await receiver(pair.url_a, ["conversation:1", "account:a"])
    on_b = await receiver(pair.url_b, ["conversation:1"])
    other_b = await receiver(pair.url_b, ["account:b"])
    skipped_b = await receiver(pair.url_b, ["conversation:1"])
    try:
        emitter = Emitter(pair.sio_a)
        items = [Outgoing("conversation:1", Note(n=n), "note") for n in range(50)]
        # Two rooms, one connection in both: delivered once to it.
        items.append(Outgoing(["conversation:1", "account:a"], Note(n=50), "note"))
        items.append(Outgoing(["account:b", "conversation:9"], Note(n=51), "note"))
        skip = pair.sio_b.manager.sid_from_eio_sid(skipped_b.client.eio.sid, "/")
        items.append(Outgoing("conversation:1", Note(n=52), "note", skip_sid=skip))
        await emitter.send(items)
        await on_b.wait_for(52)
        await other_b.wait_for(1)
        await asyncio.sleep(0.3)  # anything doubled would arrive meanwhile
        expected = [("note", n) for n in range(53) if n != 51]
        assert on_a.got == expected
        assert on_b.got == expected
        assert other_b.got == [("note", 51)]
        assert skipped_b.got == [("note", n) for n in range(51)]
        assert on_b.texts == {Note(n=0).text}
        # ...as ONE message on the channel for all 53 events, each event as the packet the
        # clients receive (encoded once, by the process that had it first).
        batches = await read_all(pubsub)
        assert [len(m[BATCH]) for m in batches] == [53]
        first, last = batches[0][BATCH][0], batches[0][BATCH][-1]
        assert first[0][0] == "2"
        assert json.loads(first[0][1:]) == ["note", Note(n=0).model_dump()]
        assert first[1:] == ["conversation:1", None]
        assert json.loads(last[0][1:]) == ["note", Note(n=52).model_dump()]
        assert last[1:] == ["conversation:1", skip]
    finally:
        await pubsub.aclose()
        await connection.aclose()
        for r in (on_a, on_b, other_b, skipped_b):
            await r.client.disconnect()
        await emitter.close()


async def test_a_large_batch_is_split_into_messages_of_bounded_size(
    pair: Pair, redis_url: str
) -> None:
    """Redis drops a subscriber whose output buffer passes 32 MB: a writer batch of up to 500
    messages of up to 96 KiB must not travel as one message."""
    connection, pubsub = await published(redis_url, pair.channel)
    on_b = await receiver(pair.url_b, ["conversation:1"])
    emitter = Emitter(pair.sio_a)
    try:
        count = 2 * MAX_EVENTS_PER_MESSAGE + 5
        await emitter.send([Outgoing("conversation:1", Note(n=n), "note")
                            for n in range(count)])
        await on_b.wait_for(count)
        assert on_b.got == [("note", n) for n in range(count)]
        sizes = [len(m[BATCH]) for m in await read_all(pubsub)]
        assert sizes == [MAX_EVENTS_PER_MESSAGE, MAX_EVENTS_PER_MESSAGE, 5]
    finally:
        await emitter.close()
        await on_b.client.disconnect()
        await pubsub.aclose()
        await connection.aclose()


def note(n: int) -> str:
    """A `note` event as the socket.io packet a batch carries."""
    return "2" + json.dumps(["note", Note(n=n).model_dump()])


async def test_a_malformed_batch_is_dropped_and_the_listener_goes_on(
    pair: Pair, redis_url: str
) -> None:
    on_b = await receiver(pair.url_b, ["conversation:1"])
    publisher = aioredis.Redis.from_url(redis_url)
    try:
        for bad in (
            {"method": "emit", BATCH: "not a list", "host_id": "x"},
            # The well-formed entry of a batch is delivered, the others are not.
            {"method": "emit", BATCH: [[note(1)], 7, [note(1), None, None],
                                       [note(2), "conversation:1", None],
                                       [note(1), [], None],
                                       [{"n": 1}, "conversation:1", None],
                                       # Only EVENT packets: never a DISCONNECT (1).
                                       ["1", "conversation:1", None],
                                       ["note", {"n": 1}, "conversation:1", None]],
             "host_id": "x", "namespace": "/"},
            {"method": "emit", BATCH: [[note(1), "conversation:1", None]],
             "host_id": "x", "namespace": 5},
            {"method": "emit", BATCH: [[note(1), "conversation:1", 5]],
             "host_id": "x", "namespace": "/"},
        ):
            await publisher.publish(pair.channel, json.dumps(bad))
        emitter = Emitter(pair.sio_a)
        await emitter.send([Outgoing("conversation:1", Note(n=3), "note")])
        await on_b.wait_for(2)
        await asyncio.sleep(0.3)  # anything else would arrive meanwhile
        # A missing room (None), which socket.io reads as "everybody", reaches nobody.
        assert on_b.got == [("note", 2), ("note", 3)]
        await emitter.close()
    finally:
        await publisher.aclose()
        await on_b.client.disconnect()
