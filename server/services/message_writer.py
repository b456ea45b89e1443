"""The message writer: one task per process that stores messages with group commit.

Why one writer: a commit costs about a millisecond of CPU, so one commit per message caps a
process at ~500 messages/s, and handlers that each await their own transaction reorder
messages of a room under load (../shared/notes/realtime-facts.md). Instead, senders put their
envelope into a **bounded** queue (a full queue makes them wait: backpressure, not memory
growth) and await a future. The writer takes everything queued meanwhile and stores it in ONE
transaction:

1. load the batch's conversation rows and, on PostgreSQL, lock them in id order with the same
   statement (`SELECT … ORDER BY id FOR UPDATE`; SQLite takes its write lock with
   BEGIN IMMEDIATE), then the senders' member facts (with whether a counsellor still works in
   the site) and the (conversation, mid) pairs already stored — in the same transaction as
   the insert, so authorization and dedupe see what the insert sees, also across processes;
2. number the batch's messages in queue order from each locked row's `last_seq` (gap-free:
   nobody else can change it before the commit, and a rollback returns the numbers) and
   store the new `last_seq`s and the senders' read markers with one constant statement each
   (PostgreSQL: `UPDATE … FROM unnest(…)`, SQLite: executemany) — the same SQL text for
   every batch size, so it is compiled and prepared once;
3. insert all rows with one executemany, commit;
4. only then resolve each sender's future with its seq (the ack) and hand the `message.new`
   events to the publisher (the Emitter).

A resend with a known `mid` resolves to the stored seq and writes nothing (also when both
copies are in the same batch). A failing batch is retried item by item so one bad item cannot
take others down; an item that still fails fails only its own future (the client retries with
the same mid), and the writer goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm.attributes import set_committed_value

from server.i18n import lazy_gettext as _
from server.services.clock import Clock
from server.services.conversation_views import (
    append_system_message,
    position_notices,
    queue_items,
    summary,
)
from server.services.errors import (
    Conflict,
    Forbidden,
    ServiceError,
    busy,
    not_found,
    unavailable,
)
from server.services.events import (
    ConversationUpdated,
    MessageNew,
    Notice,
    QueueAdded,
    StoredMessage,
    account_room,
    conversation_room,
    queue_room,
)
from server.storage.db import Sessions, is_unavailable, log_unavailable
from server.storage.models import Conversation
from server.storage.models.conversations import (
    KIND_MESSAGE,
    MEMBER_COUNSELLOR,
    MEMBER_YOUNG_PERSON,
    STATUS_ACTIVE,
    STATUS_CLOSED,
    STATUS_WAITING,
)
from server.storage.repositories import conversations as repo
from server.storage.repositories import messages as messages_repo

log = logging.getLogger("jmdchat.writer")

Publish = Callable[[list[Notice]], Awaitable[None]]


def wrong_epoch() -> ServiceError:
    return ServiceError("wrong_epoch", _("This message uses an old key. Please reload the chat."))


def not_claimed() -> Forbidden:
    return Forbidden(
        "not_claimed", _("Only the counsellor who took this conversation can write in it.")
    )


def conversation_closed() -> Conflict:
    return Conflict("conversation_closed", _("This conversation is closed."))


def duplicate_mid() -> Conflict:
    return Conflict("duplicate_mid", _("This message was already sent."))


@dataclass(frozen=True)
class SendResult:
    seq: int
    created_at: datetime
    duplicate: bool


@dataclass(eq=False)
class _Pending:
    conversation_id: str
    sender_id: str
    mid: str
    epoch: int
    envelope: dict[str, Any]
    skip_sid: str | None
    future: asyncio.Future[SendResult] = field(repr=False)


class _Stop:
    pass


def _give_up(future: asyncio.Future[SendResult]) -> None:
    """No commit within `wait_seconds`: the sender is told `busy` (its message may still be
    stored; the client resends with the same mid and gets the stored seq)."""
    if not future.done():
        future.set_exception(busy())


@dataclass
class WriterStats:
    batches: int = 0
    messages: int = 0
    failed_batches: int = 0
    largest_batch: int = 0


class MessageWriter:
    """Group-committing writer; `start()`/`stop()` from the app's cleanup context."""

    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        publish: Publish,
        *,
        queue_size: int = 2000,
        max_batch: int = 500,
        wait_seconds: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.publish = publish
        self.max_batch = max_batch
        self.wait_seconds = wait_seconds
        self.stats = WriterStats()
        self._queue: asyncio.Queue[_Pending | _Stop] = asyncio.Queue(maxsize=queue_size)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        #: Test hook: raise from inside the transaction of the next batches.
        self.fail_next_batches = 0

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="message-writer")

    async def stop(self) -> None:
        """Write what is queued, then end the task."""
        if self._task is None:
            return
        self._stopping = True
        await self._queue.put(_Stop())
        await self._task
        self._task = None

    # --- the senders' side --------------------------------------------------------------------

    async def submit(
        self,
        conversation_id: str,
        sender_id: str,
        envelope: dict[str, Any],
        *,
        skip_sid: str | None = None,
    ) -> SendResult:
        """Queue one shape-checked envelope; returns after its batch committed.

        Waits at most `wait_seconds` for room in the queue and for the commit; on timeout it
        raises `busy` (the message may still be stored: a resend with the same mid returns
        its seq, so the client simply retries).
        """
        if self._task is None or self._stopping:
            raise busy()
        loop = asyncio.get_running_loop()
        item = _Pending(
            conversation_id=conversation_id,
            sender_id=sender_id,
            mid=str(envelope["mid"]),
            epoch=int(envelope["epoch"]),
            envelope=envelope,
            skip_sid=skip_sid,
            future=loop.create_future(),
        )
        if not self._queue.full():
            # The common case, without asyncio.wait_for: in Python 3.11 each wait_for makes a
            # task or a future and a timer, which cost ~10 % of the server's CPU per message.
            self._queue.put_nowait(item)
            timer = loop.call_later(self.wait_seconds, _give_up, item.future)
            try:
                return await item.future
            finally:
                timer.cancel()
        deadline = loop.time() + self.wait_seconds
        try:
            await asyncio.wait_for(self._queue.put(item), self.wait_seconds)
            # shield: a sender that gives up must not cancel the shared batch's future.
            return await asyncio.wait_for(
                asyncio.shield(item.future), max(0.0, deadline - loop.time())
            )
        except TimeoutError:
            raise busy() from None

    # --- the writer task ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if isinstance(first, _Stop):
                break
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if isinstance(more, _Stop):
                    stop = True
                    break
                batch.append(more)
            try:
                await self._process(batch)
            except Exception:  # never let the writer die; _process already failed futures
                log.exception("message writer: unexpected error")
            if stop:
                break
        # Anything that arrived after the stop marker: tell the senders to retry.
        while not self._queue.empty():
            left = self._queue.get_nowait()
            if isinstance(left, _Pending) and not left.future.done():
                left.future.set_exception(busy())

    async def _process(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            results, notices = await self._commit(batch)
        except Exception as exc:
            self.stats.failed_batches += 1
            if is_unavailable(exc):
                # The database is down or restarting: retrying item by item would only
                # knock at the closed door once per message. Every sender gets a clear
                # "unavailable" at once and resends with the same mid later.
                log_unavailable("writer", exc)  # rate limited: one line per outage window
                for item in batch:
                    self._fail(item, exc)
                return
            if len(batch) == 1:
                log.warning("message writer: item failed", extra={"error": type(exc).__name__})
                self._fail(batch[0], exc)
                return
            log.warning(
                "message writer: batch failed, retrying one by one",
                extra={"error": type(exc).__name__, "size": len(batch)},
            )
            for item in batch:
                await self._process([item])
            return
        self.stats.batches += 1
        self.stats.messages += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        for item in batch:
            outcome = results[id(item)]
            if isinstance(outcome, SendResult):
                if not item.future.done():
                    item.future.set_result(outcome)
            else:
                self._fail(item, outcome)
        if notices:
            try:  # the app's publish only queues them (Emitter.post): Redis is not awaited here
                await self.publish(notices)
            except Exception:  # stored and acked; clients catch up with conversation.join
                log.exception("message writer: publishing failed")
        log.debug(
            "message writer: batch", extra={"size": len(batch),
                                            "ms": round((time.perf_counter() - started) * 1000)}
        )

    @staticmethod
    def _fail(item: _Pending, exc: BaseException) -> None:
        if item.future.done():
            return
        if isinstance(exc, ServiceError):
            item.future.set_exception(exc)
        elif is_unavailable(exc):  # kept by the client, sent again with the same mid
            item.future.set_exception(unavailable(message_kept=True))
        else:  # a database error: the client retries with the same mid
            item.future.set_exception(busy())

    async def _commit(
        self, batch: list[_Pending]
    ) -> tuple[dict[int, SendResult | ServiceError], list[Notice]]:
        now = self.clock.now()
        results: dict[int, SendResult | ServiceError] = {}
        notices: list[Notice] = []
        async with self.sessions.begin() as db:
            await repo.begin_write(db)
            if self.fail_next_batches > 0:
                self.fail_next_batches -= 1
                raise RuntimeError("injected failure (test hook)")
            # Lock order: by conversation id, the same in every process's writer. In batch
            # order, two writers that both touch conversations X and Y (its two sides are
            # connected to different processes) lock them in opposite orders and deadlock
            # until PostgreSQL aborts one after deadlock_timeout (measured: 33 msg/s with
            # 2 processes instead of ~400). Locking *before* reading also means the checks
            # below see the committed state (status, last_seq, mids of a resend that another
            # process stored meanwhile) and nobody can change it until the commit.
            conversations = await repo.lock_and_load_conversations(
                db, {i.conversation_id for i in batch}
            )
            members = await repo.members_with_site_access(
                db, {(i.conversation_id, i.sender_id) for i in batch}
            )
            stored = await messages_repo.existing_mids(
                db, {(i.conversation_id, i.mid) for i in batch}
            )

            # Decide per item; keep the accepted ones in queue order per conversation.
            accepted: dict[str, list[_Pending]] = {}
            first_of: dict[tuple[str, str], _Pending] = {}
            copies: list[tuple[_Pending, _Pending]] = []
            for item in batch:
                key = (item.conversation_id, item.mid)
                known = stored.get(key)
                if known is not None:
                    seq, sender, created = known
                    results[id(item)] = (
                        SendResult(seq, created, duplicate=True)
                        if sender == item.sender_id else duplicate_mid()
                    )
                    continue
                original = first_of.get(key)
                if original is not None:
                    copies.append((item, original))
                    continue
                problem = self._check(item, conversations.get(item.conversation_id),
                                      members.get((item.conversation_id, item.sender_id)))
                if problem is not None:
                    results[id(item)] = problem
                    continue
                first_of[key] = item
                accepted.setdefault(item.conversation_id, []).append(item)

            rows: list[dict[str, Any]] = []
            # By id, as locked; the order within a conversation stays queue order.
            order = sorted(accepted)
            for conversation_id in order:
                notices.extend(
                    await self._reopen_if_closed(db, conversations[conversation_id], now)
                )
            last_seqs: dict[str, int] = {}
            marks: dict[tuple[str, str], int] = {}
            for conversation_id in order:
                items = accepted[conversation_id]
                conversation = conversations[conversation_id]
                # Locked (or reopened, which set it) in this transaction: current.
                seq = conversation.last_seq + 1
                last = conversation.last_seq + len(items)
                last_seqs[conversation_id] = last
                set_committed_value(conversation, "last_seq", last)
                set_committed_value(conversation, "last_activity_at", now)
                read_up_to: dict[str, int] = {}
                for item in items:
                    rows.append({
                        "conversation_id": conversation_id, "seq": seq, "mid": item.mid,
                        "sender_id": item.sender_id, "epoch": item.epoch, "kind": KIND_MESSAGE,
                        "envelope": item.envelope, "system_code": None, "system_params": None,
                        "created_at": now,
                    })
                    results[id(item)] = SendResult(seq, now, duplicate=False)
                    read_up_to[item.sender_id] = seq
                    notices.append(Notice(
                        conversation_room(conversation_id), "message.new",
                        MessageNew(conversation_id=conversation_id, message=StoredMessage(
                            seq=seq, mid=item.mid, sender_id=item.sender_id, epoch=item.epoch,
                            created_at=now, kind="message", envelope=item.envelope,
                        )),
                        skip_sid=item.skip_sid,
                    ))
                    seq += 1
                # Writing implies having read everything before: keeps `unread` honest.
                for sender_id, up_to in read_up_to.items():
                    marks[(conversation_id, sender_id)] = up_to
                    role = members[(conversation_id, sender_id)].role
                    if role == MEMBER_COUNSELLOR and conversation.first_response_at is None:
                        await repo.mark_first_response(db, conversation_id, now)
                        set_committed_value(conversation, "first_response_at", now)
            # One constant statement each for all conversations of the batch.
            await repo.set_last_seqs(db, last_seqs, now)
            await repo.advance_reads(db, marks)
            await messages_repo.insert_messages(db, rows)
        for copy, original in copies:
            results[id(copy)] = results[id(original)]
        return results, notices

    @staticmethod
    def _check(
        item: _Pending,
        conversation: Conversation | None,
        member: repo.MemberAccess | None,
    ) -> ServiceError | None:
        """Authorization of one message inside the batch's transaction (None: allowed)."""
        if conversation is None:
            return not_found()
        if member is None:
            return not_claimed()
        if not member.active or member.until_epoch is not None:
            return not_found()
        if member.role == MEMBER_COUNSELLOR and not member.works_in_site:
            return not_found()
        if not member.from_epoch <= item.epoch <= conversation.current_epoch:
            return wrong_epoch()
        if member.role == MEMBER_YOUNG_PERSON:
            return None  # writing into a closed conversation reopens it
        if conversation.status == STATUS_CLOSED:
            return conversation_closed()
        if conversation.status == STATUS_WAITING:
            return not_claimed()
        return None

    async def _reopen_if_closed(
        self, db: Any, conversation: Conversation, now: datetime
    ) -> list[Notice]:
        """A young person's new message reopens a closed conversation: back to its counsellor,
        or into the queue when it has none. The `reopened` event precedes the message."""
        if conversation.status != STATUS_CLOSED:
            return []
        status = STATUS_ACTIVE if conversation.counsellor_id else STATUS_WAITING
        changed = await repo.set_status(
            db, conversation.id, from_statuses=[STATUS_CLOSED],
            values={"status": status, "closed_at": None},
        )
        if not changed:
            return []
        set_committed_value(conversation, "status", status)
        set_committed_value(conversation, "closed_at", None)
        event = await append_system_message(db, conversation, "reopened", {}, now)
        room = conversation_room(conversation.id)
        notices = [Notice(room, "message.new",
                          MessageNew(conversation_id=conversation.id, message=event))]
        broadcast = await summary(db, conversation, viewer_id=None, now=now)
        rooms = [room] + (
            [account_room(conversation.counsellor_id)] if conversation.counsellor_id else []
        )
        notices.append(Notice(rooms, "conversation.updated",
                              ConversationUpdated(conversation=broadcast)))
        if status == STATUS_WAITING:
            people = await repo.accounts_by_id(db, [conversation.young_person_id])
            young = people.get(conversation.young_person_id or "")
            nickname = young.nickname if young is not None else None
            items = await queue_items(db, [(conversation, nickname)], now)
            notices.append(Notice(queue_room(conversation.site_id), "queue.added",
                                  QueueAdded(item=items[0])))
            site = (await repo.sites_by_id(db, [conversation.site_id]))[conversation.site_id]
            notices.extend(await position_notices(db, site, now))
        return notices
