"""The events of one Emitter batch cross to the other server processes together, not one Redis
message per event.

python-socketio's pub/sub manager publishes every `emit` on its own: one Redis round trip
for the sender, and in every process one Redis reply to parse, one JSON document to decode
and one packet to encode, even where no connection of the room lives (its own messages
included: each process reads back everything it published and only then drops it). With two
processes that tripled the server CPU per delivered message (bench/README.md). The message
writer hands the Emitter a whole commit's events at once, so here they are delivered to this
process's connections and then published together: `{"host_id", "method": "emit",
"namespace", "batch": [[event, data, room, skip_sid], ...]}` (at most 64 events each).
Every process applies a batch in list order; the channel is one ordered stream, so order
against `leave_room` and other messages on it is kept as before.

Two savings on the receiving side: a process drops its own batches before decoding them (the
JSON starts with its `host_id`), and an event is encoded only for a room that has a
connection in this process.

Every process of an installation must run this code: a process with the library's plain
manager cannot read a batch (it logs a handler error and its clients miss those events
until they reconnect), as during any upgrade that changes the event channel.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from socketio.async_manager import AsyncManager
from socketio.async_pubsub_manager import AsyncPubSubManager

#: The extra field of a published `emit` that carries several events.
BATCH = "batch"

#: At most this many events per Redis message. A message is held whole in Redis's output buffer
#: of every subscriber, whose default hard limit for pub/sub is 32 MB (`client-output-buffer-
#: limit pubsub 32mb 8mb 60`; over it, Redis drops the subscriber). A writer batch may hold
#: 500 messages of up to `limits.max_socket_message_bytes` (96 KiB); 64 of them stay under 8 MB.
MAX_EVENTS_PER_MESSAGE = 64

#: One event: name, JSON data, room (or rooms), sid to skip.
Emit = tuple[str, Any, str | list[str], str | None]


class BatchedEmits(AsyncPubSubManager):  # type: ignore[misc]
    """Mixin for a pub/sub client manager: `emit_batch` and the receiving side (see above)."""

    async def emit_batch(self, namespace: str, emits: Sequence[Emit]) -> None:
        """Deliver `emits` to this process's connections, in order, then publish them for the
        other processes: one message per `MAX_EVENTS_PER_MESSAGE` events, in order."""
        await self._emit_local(namespace, emits)
        for start in range(0, len(emits), MAX_EVENTS_PER_MESSAGE):
            # host_id first: the other processes' `_listen` recognises a process's own
            # batches by that prefix without decoding them (the JSON keeps insertion order).
            await self._publish({
                "host_id": self.host_id, "method": "emit", "namespace": namespace,
                BATCH: list(emits[start:start + MAX_EVENTS_PER_MESSAGE]),
            })

    async def _emit_local(self, namespace: str, emits: Sequence[Emit]) -> None:
        present = [emit for emit in emits if self._has_local(namespace, emit[2])]
        if len(present) == 1:
            await self._emit_one(namespace, present[0])
        elif present:
            # All at once, as the one-process Emitter does. Order per connection is kept:
            # each emit queues its packets before it first suspends (AsyncManager.emit).
            await asyncio.gather(*[self._emit_one(namespace, emit) for emit in present])

    async def _emit_one(self, namespace: str, emit: Emit) -> None:
        event, data, room, skip_sid = emit
        await AsyncManager.emit(self, event, data, namespace, room=room, skip_sid=skip_sid)

    def _has_local(self, namespace: str, room: str | list[str]) -> bool:
        rooms = self.rooms.get(namespace)
        if not rooms:
            return False
        return any(rooms.get(name) for name in ([room] if isinstance(room, str) else room))

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        batch = message.get(BATCH)
        if batch is None:
            await super()._handle_emit(message)  # the library's own (one event)
            return
        namespace = message.get("namespace") or "/"
        if isinstance(batch, list) and isinstance(namespace, str):
            await self._emit_local(namespace, [
                (emit[0], emit[1], emit[2], emit[3]) for emit in batch if _well_formed(emit)
            ])

    async def _listen(self) -> AsyncIterator[Any]:
        # What `_publish` writes for a dict that starts with our host_id, up to that value.
        own = self.json.dumps({"host_id": self.host_id})[:-1].encode()
        async for data in super()._listen():
            if isinstance(data, bytes) and data.startswith(own):
                continue  # delivered here before it was published
            yield data


def _well_formed(emit: Any) -> bool:
    """[event, data, room or rooms, skip_sid]: anything else is dropped. A missing room in
    particular, which socket.io would read as "every connection"."""
    if not (isinstance(emit, list) and len(emit) == 4 and isinstance(emit[0], str)):
        return False
    room, skip_sid = emit[2], emit[3]
    rooms_ok = isinstance(room, str) or (
        isinstance(room, list) and bool(room) and all(isinstance(r, str) for r in room))
    return rooms_ok and (skip_sid is None or isinstance(skip_sid, str))
