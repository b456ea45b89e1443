"""The one way events leave the server: typed events, emitted after the transaction commits.

Services collect `Outgoing` items while they work; the caller hands them to `Emitter.send`
only once the commit succeeded, so no client ever sees state that was rolled back.

Everything the Emitter does (`send`, `post`, `leave_room`, `disconnect_rooms`) goes through ONE
queue per process, worked off by one task in order: events leave in the order they were handed
over (which is commit order for each caller), so the events of a conversation keep their order
and a `leave_room` still precedes the events about it. `send` waits until its items were
delivered (to the local connections and, with Redis, published); `post` only until they are
queued — the message writer uses it, so a slow (not dead) Redis does not slow down storing
messages. The queue is bounded (`max_pending` batches): when it is full, `post` waits too, so a
Redis that does not answer at all brings back-pressure instead of unbounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import socketio
from pydantic import BaseModel

from server.transport.socket.batched_emits import BatchedEmits
from server.transport.socket.local_delivery import encode_event, recipients, send_to
from server.transport.socket.rooms import sockets_disconnect, sockets_leave

log = logging.getLogger("jmdchat.emitter")

#: Batches of events handed over but not yet delivered; beyond this, `post` waits for room.
MAX_PENDING = 256
#: At shutdown, how long the queue may take to drain.
CLOSE_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Outgoing:
    # Several rooms: socket.io delivers once to each connection that is in any of them.
    room: str | list[str]
    event: BaseModel
    name: str
    skip_sid: str | None = None


@dataclass(eq=False)
class _Job:
    work: Callable[[], Awaitable[None]]
    done: asyncio.Future[None] | None = field(default=None)


class Emitter:
    def __init__(self, sio: socketio.AsyncServer, namespace: str = "/",
                 max_pending: int = MAX_PENDING) -> None:
        self.sio = sio
        self.namespace = namespace
        self.max_pending = max_pending
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def send(self, items: list[Outgoing]) -> None:
        """Emit in list order, after everything handed over before; returns when every item
        was handed to its connections. Raises what the delivery raised."""
        if items:
            await self._through_queue(partial(self._deliver, items), wait=True)

    async def post(self, items: list[Outgoing]) -> None:
        """Like `send`, but returns as soon as the items are queued (waits only while the
        queue is full). A delivery that fails is logged; clients catch up with
        `conversation.join {after_seq}`, the database being the source of truth."""
        if items:
            await self._through_queue(partial(self._deliver, items), wait=False)

    async def close(self, wait_seconds: float = CLOSE_WAIT_SECONDS) -> None:
        """Deliver what is queued (for at most `wait_seconds`), then end the task (app
        cleanup, after the message writer stopped)."""
        self._closed = True  # from now on, whatever comes late is delivered directly
        task, queue = self._task, self._queue
        if task is None or queue is None:
            return
        try:
            await asyncio.wait_for(queue.join(), wait_seconds)
        except TimeoutError:
            log.warning("events not delivered at shutdown", extra={"batches": queue.qsize()})
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._task = self._queue = None
        while not queue.empty():
            job = queue.get_nowait()
            if job.done is not None:
                job.done.cancel()

    async def _through_queue(self, work: Callable[[], Awaitable[None]], *, wait: bool) -> None:
        if self._closed:
            await work()
            return
        if self._task is None or self._queue is None:
            self._queue = asyncio.Queue(maxsize=self.max_pending)
            self._task = asyncio.create_task(self._work_off(self._queue), name="emitter")
        done = asyncio.get_running_loop().create_future() if wait else None
        await self._queue.put(_Job(work, done))
        if done is not None:
            await done

    async def _work_off(self, queue: asyncio.Queue[_Job]) -> None:
        while True:
            job = await queue.get()
            try:
                await job.work()
            except Exception as exc:
                if job.done is None:
                    log.exception("emitting events failed")
                elif not job.done.done():
                    job.done.set_exception(exc)
            else:
                if job.done is not None and not job.done.done():
                    job.done.set_result(None)
            finally:
                queue.task_done()

    async def _deliver(self, items: list[Outgoing]) -> None:
        """Emit in list order; returns when every item was handed to its connections (and,
        with Redis, published). Each event is encoded once (local_delivery.py)."""
        manager = self.sio.manager
        if isinstance(manager, BatchedEmits):
            # Redis: delivered here, then published together (server/transport/socket/
            # batched_emits.py); the other processes need the packet even where no
            # connection of the room lives here.
            await manager.emit_batch(self.namespace, [
                (self._encode(item), item.room, item.skip_sid) for item in items
            ])
            return
        for item in items:
            targets = recipients(self.sio, self.namespace, item.room, item.skip_sid)
            if targets:
                await send_to(self.sio, targets, self._encode(item))

    def _encode(self, item: Outgoing) -> str:
        return encode_event(self.sio, self.namespace, item.name,
                            item.event.model_dump(mode="json"))

    async def leave_room(self, of_room: str, room: str) -> None:
        """Every connection in `of_room` (e.g. `account:<id>`), on every server process, leaves
        `room` (server/transport/socket/rooms.py). A membership change: call it after the
        commit and before `send` of the events about it, so none of them, and nothing sent
        later, reaches those connections through `room`. In the queue like the events."""
        await self._through_queue(
            partial(sockets_leave, self.sio, self.namespace, of_room, room), wait=True)

    async def disconnect_rooms(self, rooms: list[str]) -> None:
        """Disconnect every connection in each of `rooms` (e.g. `session:<id>` of ended
        sessions), on every server process (server/transport/socket/rooms.py) — not left to
        the client. Call it after the commit; in the queue like the events, so what was handed
        over before (`session.ended`) still reaches those connections, and nothing after."""
        if rooms:
            await self._through_queue(partial(self._disconnect, rooms), wait=True)

    async def _disconnect(self, rooms: list[str]) -> None:
        for room in rooms:
            await sockets_disconnect(self.sio, self.namespace, room)
