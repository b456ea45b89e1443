"""The one way events leave the server: typed events, emitted after the transaction commits.

Services collect `Outgoing` items while they work; the caller hands them to `Emitter.send`
only once the commit succeeded, so no client ever sees state that was rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass

import socketio
from pydantic import BaseModel


@dataclass(frozen=True)
class Outgoing:
    # Several rooms: socket.io delivers once to each connection that is in any of them.
    room: str | list[str]
    event: BaseModel
    name: str
    skip_sid: str | None = None


class Emitter:
    def __init__(self, sio: socketio.AsyncServer, namespace: str = "/") -> None:
        self.sio = sio
        self.namespace = namespace

    async def send(self, items: list[Outgoing]) -> None:
        for item in items:
            await self.sio.emit(
                item.name,
                item.event.model_dump(mode="json"),
                room=item.room,
                skip_sid=item.skip_sid,
                namespace=self.namespace,
            )
