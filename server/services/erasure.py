"""Erasure on "delete my account" (GDPR Art. 17): what a deleted account leaves behind.

`accounts.delete_account_data` runs every function in `ACCOUNT_DELETION_HOOKS` inside its
deleting transaction, before the account row goes. This module registers one hook (on import;
`server/app.py` and the retention service import it) that removes the conversation side:

* **Any account**: key shares sealed to it (`conversation_keys` with recipient kind
  "account"): nobody else can open them, and they name the account.
* **A young person**, for each of their conversations:
  - messages (every envelope, also the counsellors' answers: they are about the young person),
    all key shares, all notes, and the young person's membership are deleted;
  - a conversation no counsellor ever took part in (still waiting, or closed unanswered) is
    deleted completely: nobody needs a trace of it;
  - otherwise the row stays as an empty shell for the counsellors who worked on it: closed,
    `young_person_id` NULL (clients show "account deleted"), routing details reduced to the
    reason's code (no distance, no postcode digits), no urgent flag, and one system event
    `account_deleted` as its only message. Counsellors' membership rows (who, which epochs,
    read marker) stay so their lists and unread counts remain right. Retention deletes the
    shell `closed_conversation_days` later like any closed conversation.

Staff accounts keep the conversations they worked on (they belong to the young person); the
database's foreign keys null their ids there.

Events: the hook has no way to return events, so it stores them on the session and an
`after_commit` listener hands them to the publisher that the app installed for its engine
(`install`), i.e. only once the deletion is committed. Without an installed publisher (CLI)
they are dropped: no client of that process is listening. The same wiring provides the clock.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from server.services.accounts import ACCOUNT_DELETION_HOOKS
from server.services.clock import Clock, SystemClock
from server.services.conversation_views import (
    append_system_message,
    broadcast_of,
    position_notices,
    summary,
)
from server.services.events import (
    ConversationUpdated,
    MessageNew,
    Notice,
    QueueRemoved,
    account_room,
    conversation_room,
    queue_room,
)
from server.storage.models import (
    Account,
    Conversation,
    ConversationKey,
    ConversationMember,
    ConversationNote,
    Message,
)
from server.storage.models.accounts import ROLE_YOUNG_PERSON
from server.storage.models.conversations import (
    MEMBER_COUNSELLOR,
    RECIPIENT_ACCOUNT,
    STATUS_CLOSED,
    STATUS_WAITING,
)
from server.storage.repositories import accounts as accounts_repo

log = logging.getLogger("jmdchat.erasure")

Publish = Callable[[list[Notice]], Awaitable[None]]
#: Key in `Session.info` under which a transaction's erasure events wait for the commit.
_PENDING = "jmdchat.erasure.notices"


@dataclass(frozen=True)
class _Wiring:
    clock: Clock
    publish: Publish | None


# Per engine (one per app), so that several apps in one process (tests) keep their own clock
# and emitter. Weak: a disposed engine drops its entry.
_wiring: weakref.WeakKeyDictionary[Engine, _Wiring] = weakref.WeakKeyDictionary()
# Publishing tasks in flight (a task without a reference may be garbage-collected).
_tasks: set[asyncio.Task[None]] = set()


def install(engine: AsyncEngine, clock: Clock, publish: Publish | None) -> None:
    """Use `clock` and deliver events through `publish` for deletions on `engine`."""
    _wiring[engine.sync_engine] = _Wiring(clock, publish)


def uninstall(engine: AsyncEngine) -> None:
    _wiring.pop(engine.sync_engine, None)


def _wiring_of(db: AsyncSession) -> _Wiring:
    bind = db.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return _wiring.get(engine) or _Wiring(SystemClock(), None)


def _after_commit(session: Session) -> None:
    notices: list[Notice] = session.info.pop(_PENDING, [])
    bind = session.get_bind()
    wiring = _wiring.get(bind if isinstance(bind, Engine) else bind.engine)
    if not notices or wiring is None or wiring.publish is None:
        return
    # Runs inside the commit (a greenlet of the event loop's thread): schedule, do not await.
    task = asyncio.get_running_loop().create_task(_publish(wiring.publish, notices))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _publish(publish: Publish, notices: list[Notice]) -> None:
    try:
        await publish(notices)
    except Exception:  # the deletion is committed; a lost event is only a stale screen
        log.exception("erasure: publishing events failed")


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def defer_notices(db: AsyncSession, notices: list[Notice]) -> None:
    """Queue events until this transaction commits (and forget them on rollback)."""
    sync = db.sync_session
    if _PENDING not in sync.info:
        sync.info[_PENDING] = []
        event.listen(sync, "after_commit", _after_commit, once=True)
        event.listen(sync, "after_rollback", _after_rollback, once=True)
    sync.info[_PENDING].extend(notices)


# --- the hook -----------------------------------------------------------------------------------


async def erase_conversations_of(db: AsyncSession, account_id: str) -> None:
    """The deletion hook (see the module docstring)."""
    await db.execute(
        delete(ConversationKey)
        .where(
            ConversationKey.recipient_kind == RECIPIENT_ACCOUNT,
            ConversationKey.recipient_id == account_id,
        )
        .execution_options(synchronize_session=False)
    )
    account = await db.get(Account, account_id)
    if account is None or account.role != ROLE_YOUNG_PERSON:
        return
    now = _wiring_of(db).clock.now()
    # Row locks (PostgreSQL): a message the writer is storing right now waits for this
    # transaction and then fails on the deleted sender, instead of landing in an erased shell.
    rows = await db.execute(
        select(Conversation)
        .where(Conversation.young_person_id == account_id)
        .order_by(Conversation.created_at, Conversation.id)
        .with_for_update()
    )
    notices: list[Notice] = []
    touched_sites: set[str] = set()
    for conversation in list(rows.scalars()):
        notices.extend(await _erase_one(db, conversation, account_id, now))
        touched_sites.add(conversation.site_id)
    for site_id in sorted(touched_sites):
        # Places in the queue moved up for everybody still waiting there.
        site = await accounts_repo.get_site(db, site_id)
        if site is not None:
            notices.extend(await position_notices(db, site, now))
    if notices:
        defer_notices(db, notices)


async def _erase_one(
    db: AsyncSession, conversation: Conversation, account_id: str, now: datetime
) -> list[Notice]:
    conversation_id = conversation.id
    was = conversation.status
    for model in (Message, ConversationKey, ConversationNote):
        await db.execute(
            delete(model)
            .where(model.conversation_id == conversation_id)
            .execution_options(synchronize_session=False)
        )
    await db.execute(
        delete(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.account_id == account_id,
        )
        .execution_options(synchronize_session=False)
    )
    counsellors = await db.execute(
        select(ConversationMember.account_id).where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.role == MEMBER_COUNSELLOR,
        )
    )
    notices: list[Notice] = []
    if was == STATUS_WAITING:
        notices.append(Notice(
            queue_room(conversation.site_id), "queue.removed",
            QueueRemoved(conversation_id=conversation_id, reason="closed"),
        ))
    if conversation.counsellor_id is None and not list(counsellors.scalars()):
        await db.delete(conversation)
        await db.flush()
        return notices
    reason = conversation.route_reason if isinstance(conversation.route_reason, dict) else {}
    code = reason.get("code")
    conversation.young_person_id = None
    conversation.status = STATUS_CLOSED
    conversation.closed_at = now
    conversation.urgent = False
    conversation.postcode_prefix = None
    conversation.route_reason = {"code": code if isinstance(code, str) else "", "params": {}}
    await db.flush()
    shown = await append_system_message(db, conversation, "account_deleted", {}, now)
    broadcast = broadcast_of(await summary(db, conversation, viewer_id=None, now=now))
    room = conversation_room(conversation_id)
    rooms = [room] + (
        [account_room(conversation.counsellor_id)] if conversation.counsellor_id else []
    )
    notices.append(Notice(room, "message.new",
                          MessageNew(conversation_id=conversation_id, message=shown)))
    notices.append(Notice(rooms, "conversation.updated",
                          ConversationUpdated(conversation=broadcast)))
    return notices


if erase_conversations_of not in ACCOUNT_DELETION_HOOKS:
    ACCOUNT_DELETION_HOOKS.append(erase_conversations_of)

__all__ = ["erase_conversations_of", "install", "uninstall"]
