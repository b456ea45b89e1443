"""Room membership changes that reach every server process.

python-socketio keeps rooms per process. Its pub/sub managers (5.x; checked for 5.18 in
`socketio/async_pubsub_manager.py`) forward `emit`, `disconnect`, `close_room`, and
`enter_room` / `leave_room` *of one known sid* to the other processes — but a process only
knows the sids of its own connections, so "every connection of account X leaves room R" (a
participant removed from a chat round, or leaving it from one of several tabs) cannot be
expressed with them: the sids on the other processes are unknown here.

`sockets_leave(of_room, room)` (socket.io's `io.in(of_room).socketsLeave(room)` in Node) does
exactly that: every connection in `of_room` (e.g. `account:<id>`), on every process, leaves
`room`. It is applied here at once and published on the manager's channel as a `leave_room`
message with an extra field `of_room` instead of a `sid`; each process's manager
(`CrossProcessRooms`) takes its own matching connections out of the room. A process that runs
the library's plain manager ignores that message (its `leave_room` handler looks the missing
sid up and finds nobody), so a mixed deployment during an upgrade degrades to "this process
only", never to a wrong room change.

`sockets_disconnect(room)` (Node's `io.in(room).disconnectSockets()`) is the same for
ending connections: every connection in `room` (e.g. `session:<id>` after a logout), on every
process, is disconnected by the server (DISCONNECT packet, the `disconnect` handler runs, the
connection leaves all its rooms). It is published as a `disconnect` message with `of_room`
instead of a `sid`; a plain manager's handler finds no such sid and does nothing. Ending a
session must not rely on the client reacting to `session.ended`: a modified client would
otherwise stay in its conversation, queue and round rooms on the other processes.

Order: the channel is one ordered stream and every process handles it in order, so when the
caller publishes the leave *before* the events about the change (the Emitter does, after the
commit), no process delivers those events — or anything published later — to the connections
that left.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio
from socketio.async_pubsub_manager import AsyncPubSubManager

log = logging.getLogger("jmdchat.socket")

#: The extra field that marks a published `leave_room` as "every connection in this room".
OF_ROOM = "of_room"


def leave_local(manager: Any, namespace: str, of_room: str, room: str) -> int:
    """This process: every connection in `of_room` leaves `room`. Returns how many."""
    sids = [sid for sid, _eio_sid in manager.get_participants(namespace, of_room)]
    for sid in sids:
        manager.basic_leave_room(sid, namespace, room)
    return len(sids)


async def disconnect_local(manager: Any, namespace: str, room: str) -> int:
    """This process: disconnect every connection in `room`. Returns how many."""
    sids = [sid for sid, _eio_sid in manager.get_participants(namespace, room)]
    for sid in sids:
        try:
            # Only here (`ignore_queue`): the caller publishes one message for the room.
            await manager.server.disconnect(sid, namespace=namespace, ignore_queue=True)
        except Exception:  # one broken transport must not keep the others connected
            log.exception("disconnecting a connection failed")
    return len(sids)


class CrossProcessRooms(AsyncPubSubManager):  # type: ignore[misc]
    """Mixin for a pub/sub client manager: `sockets_leave` across processes (see above)."""

    async def sockets_leave(self, namespace: str, of_room: str, room: str) -> None:
        leave_local(self, namespace, of_room, room)
        await self._publish({"method": "leave_room", OF_ROOM: of_room, "room": room,
                             "namespace": namespace, "host_id": self.host_id})

    async def sockets_disconnect(self, namespace: str, room: str) -> None:
        await disconnect_local(self, namespace, room)
        await self._publish({"method": "disconnect", OF_ROOM: room,
                             "namespace": namespace, "host_id": self.host_id})

    async def _handle_disconnect(self, message: dict[str, Any]) -> None:
        room = message.get(OF_ROOM)
        if not isinstance(room, str):
            await super()._handle_disconnect(message)  # the library's own (one sid)
            return
        namespace = message.get("namespace") or "/"
        if isinstance(namespace, str):
            await disconnect_local(self, namespace, room)

    async def _handle_leave_room(self, message: dict[str, Any]) -> None:
        of_room = message.get(OF_ROOM)
        if not isinstance(of_room, str):
            await super()._handle_leave_room(message)  # the library's own (one sid)
            return
        room = message.get("room")
        namespace = message.get("namespace") or "/"
        if isinstance(room, str) and isinstance(namespace, str):
            leave_local(self, namespace, of_room, room)


async def sockets_leave(sio: socketio.AsyncServer, namespace: str, of_room: str,
                        room: str) -> None:
    """Every connection in `of_room`, on every process, leaves `room` (one process without
    Redis: just here)."""
    manager = sio.manager
    if isinstance(manager, CrossProcessRooms):
        await manager.sockets_leave(namespace, of_room, room)
    else:
        leave_local(manager, namespace, of_room, room)


async def sockets_disconnect(sio: socketio.AsyncServer, namespace: str, room: str) -> None:
    """Disconnect every connection in `room`, on every process (one process without Redis:
    just here)."""
    manager = sio.manager
    if isinstance(manager, CrossProcessRooms):
        await manager.sockets_disconnect(namespace, room)
    else:
        await disconnect_local(manager, namespace, room)
