"""Events to this process's connections: each encoded once, handed to its connections in order.

python-socketio's `emit` builds and encodes a packet per call even for a room without a
connection here, starts one task per recipient and waits for them all. A writer batch holds
hundreds of events and most rooms have one or two connections, so most of that machinery
is overhead. Here an
event is encoded once as the socket.io packet it is on the wire (`2["name",{…}]`, the same
string also crosses Redis, see batched_emits.py) and handed to each connection's send queue
with engine.io's public `send_packet`, one event after the other: order per connection is
plain program order, and nothing is encoded for a room without a recipient here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

log = logging.getLogger("jmdchat.emitter")

#: One encoded event: the socket.io packet, its room (or rooms), the sid to skip.
Encoded = tuple[str, str | list[str], str | None]


def encode_event(sio: socketio.AsyncServer, namespace: str, name: str, data: Any) -> str:
    """The socket.io EVENT packet of `name` with JSON `data`, as sent to the client."""
    packet = sio.packet_class(sio_packet.EVENT, namespace=namespace, data=[name, data],
                              binary=False)
    encoded: str = packet.encode()
    return encoded


def recipients(sio: socketio.AsyncServer, namespace: str, room: str | list[str],
               skip_sid: str | None) -> list[str]:
    """engine.io ids of this process's connections in `room` (in any of the rooms: each
    connection once), without `skip_sid`."""
    return [eio_sid for sid, eio_sid in sio.manager.get_participants(namespace, room)
            if sid != skip_sid]


async def send_encoded(sio: socketio.AsyncServer, namespace: str,
                       events: Sequence[Encoded]) -> None:
    """Hand each event to its local recipients, in list order."""
    for encoded, room, skip_sid in events:
        targets = recipients(sio, namespace, room, skip_sid)
        if targets:
            await send_to(sio, targets, encoded)


async def send_to(sio: socketio.AsyncServer, eio_sids: list[str], encoded: str) -> None:
    packet = eio_packet.Packet(eio_packet.MESSAGE, encoded)
    for eio_sid in eio_sids:
        try:
            # Queues the packet on the connection (its writer task sends it); a connection
            # that is gone is skipped by engine.io itself.
            await sio.eio.send_packet(eio_sid, packet)
        except Exception:  # one broken connection must not cost the others their events
            log.warning("event not handed to a connection", exc_info=True)
