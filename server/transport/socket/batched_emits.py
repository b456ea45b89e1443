"""The events of one Emitter batch cross to the other server processes together, not one Redis
message per event.

python-socketio's pub/sub manager publishes every `emit` on its own: one Redis round trip
for the sender, and in every process one Redis reply to parse, one JSON document to decode
and one packet to encode, even where no connection of the room lives (its own messages
included: each process reads back everything it published and only then drops it). With two
processes that tripled the server CPU per delivered message (bench/README.md). The message
writer hands the Emitter a whole commit's events at once, so here they are delivered to this
process's connections and then published together: `{"host_id", "method": "emit",
"namespace", "batch": [[packet, room, skip_sid], ...]}` (at most 64 events each), where
`packet` is the socket.io packet exactly as a client receives it (local_delivery.py): it is
encoded once, in the process that stored the message, and the other processes hand the same
string to their connections without decoding or encoding the event again.
Every process applies a batch in list order; the channel is one ordered stream, so order
against `leave_room` and other messages on it is kept as before.

A process drops its own batches before decoding them (the JSON starts with its `host_id`).
An entry must be an EVENT packet (`2…`) with a room: anything else is dropped.

Every process of an installation must run this code: a process with the library's plain
manager cannot read a batch (it logs a handler error and its clients miss those events
until they reconnect), as during any upgrade that changes the event channel.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from socketio import packet as sio_packet
from socketio.async_pubsub_manager import AsyncPubSubManager

from server.transport.socket.local_delivery import Encoded, send_encoded

#: The extra field of a published `emit` that carries several events.
BATCH = "batch"

#: At most this many events per Redis message. A message is held whole in Redis's output buffer
#: of every subscriber, whose default hard limit for pub/sub is 32 MB (`client-output-buffer-
#: limit pubsub 32mb 8mb 60`; over it, Redis drops the subscriber). A writer batch may hold
#: 500 messages of up to `limits.max_socket_message_bytes` (96 KiB); 64 of them stay under 8 MB.
MAX_EVENTS_PER_MESSAGE = 64

#: The first character of a socket.io EVENT packet, the only kind a batch may carry.
_EVENT = str(sio_packet.EVENT)


class BatchedEmits(AsyncPubSubManager):  # type: ignore[misc]
    """Mixin for a pub/sub client manager: `emit_batch` and the receiving side (see above)."""

    async def emit_batch(self, namespace: str, events: Sequence[Encoded]) -> None:
        """Deliver `events` to this process's connections, in order, then publish them for the
        other processes: one message per `MAX_EVENTS_PER_MESSAGE` events, in order."""
        await send_encoded(self.server, namespace, events)
        for start in range(0, len(events), MAX_EVENTS_PER_MESSAGE):
            # host_id first: the other processes' `_listen` recognises a process's own
            # batches by that prefix without decoding them (the JSON keeps insertion order).
            await self._publish({
                "host_id": self.host_id, "method": "emit", "namespace": namespace,
                BATCH: list(events[start:start + MAX_EVENTS_PER_MESSAGE]),
            })

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        batch = message.get(BATCH)
        if batch is None:
            await super()._handle_emit(message)  # the library's own (one event)
            return
        namespace = message.get("namespace") or "/"
        if isinstance(batch, list) and isinstance(namespace, str):
            await send_encoded(self.server, namespace, [
                (entry[0], entry[1], entry[2]) for entry in batch if _well_formed(entry)
            ])

    async def _listen(self) -> AsyncIterator[Any]:
        # What `_publish` writes for a dict that starts with our host_id, up to that value.
        own = self.json.dumps({"host_id": self.host_id})[:-1].encode()
        async for data in super()._listen():
            if isinstance(data, bytes) and data.startswith(own):
                continue  # delivered here before it was published
            yield data


def _well_formed(entry: Any) -> bool:
    """[EVENT packet, room or rooms, skip_sid]: anything else is dropped. A missing room in
    particular, which socket.io would read as "every connection", and any other packet type
    (a CONNECT or DISCONNECT must never reach a client through the channel)."""
    if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
            and entry[0].startswith(_EVENT)):
        return False
    room, skip_sid = entry[1], entry[2]
    rooms_ok = isinstance(room, str) or (
        isinstance(room, list) and bool(room) and all(isinstance(r, str) for r in room))
    return rooms_ok and (skip_sid is None or isinstance(skip_sid, str))
