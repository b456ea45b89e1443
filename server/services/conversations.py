"""Conversations after the enquiry: list, join with catch-up, history pages, read receipts,
typing, close, notes, canned responses and counsellor absence.

Messages themselves are written by `message_writer` (group commit); everything here that
writes uses short transactions that start with `begin_write` (see the repository) and
returns the events to emit after the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from server.i18n import lazy_gettext as _
from server.services import moderation
from server.services.access import (
    AccountContext,
    ConversationAccess,
    access_conversation_for,
    require_counsellor,
)
from server.services.clock import Clock
from server.services.conversation_views import (
    append_system_message,
    broadcast_of,
    position_notices,
    stored_message,
    summaries,
    summary,
)
from server.services.errors import ServiceError, not_found
from server.services.events import (
    ConversationSummary,
    ConversationUpdated,
    EpochKey,
    MessageNew,
    MessageRead,
    Notice,
    QueueRemoved,
    StoredMessage,
    Typing,
    account_room,
    conversation_room,
    queue_room,
)
from server.storage.db import Sessions
from server.storage.models import CannedResponse, Conversation, ConversationNote
from server.storage.models.accounts import ROLE_YOUNG_PERSON
from server.storage.models.conversations import (
    RECIPIENT_SITE,
    STATUS_ACTIVE,
    STATUS_CLOSED,
    STATUS_WAITING,
)
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import conversations as repo
from server.storage.repositories import messages as messages_repo

#: `conversation.join` returns at most this many messages; the client joins again for more.
JOIN_PAGE = 200
HISTORY_PAGE = 100


@dataclass(frozen=True)
class JoinResult:
    conversation: ConversationSummary
    keys: list[EpochKey]
    messages: list[StoredMessage]
    has_more: bool


@dataclass(frozen=True)
class Page:
    messages: list[StoredMessage]
    has_more: bool


@dataclass(frozen=True)
class Changed:
    """A change seen by the acting user (`conversation`) plus the events for everybody."""

    conversation: ConversationSummary
    notices: list[Notice]


# --- listing ------------------------------------------------------------------------------------


async def list_conversations(
    sessions: Sessions, clock: Clock, account: AccountContext,
    status: Literal["open", "closed"] | None,
) -> list[ConversationSummary]:
    """Young person: their own. Counsellor: their own and those of their sites (the waiting
    ones are the queue: `queue.list`). Newest activity first."""
    statuses = {
        "open": [STATUS_WAITING, STATUS_ACTIVE],
        "closed": [STATUS_CLOSED],
        None: [STATUS_WAITING, STATUS_ACTIVE, STATUS_CLOSED],
    }[status]
    now = clock.now()
    async with sessions.begin() as db:
        if account.role == ROLE_YOUNG_PERSON:
            rows = await repo.conversations_of_young_person(db, account.account_id, statuses)
            return await summaries(db, rows, viewer_id=account.account_id, now=now,
                                   with_queue=True)
        if not account.is_counsellor:
            return []
        sites = await repo.site_ids_of(db, account.account_id)
        rows = await repo.conversations_for_counsellor(db, account.account_id, sites, statuses)
        return await summaries(db, rows, viewer_id=account.account_id, now=now)


# --- join, catch-up and history -------------------------------------------------------------


def _epoch_keys(access: ConversationAccess, keys: list[Any]) -> list[EpochKey]:
    return [
        EpochKey(
            epoch=k.epoch,
            recipient="site" if k.recipient_kind == RECIPIENT_SITE else "self",
            site_key_version=k.site_key_version,
            sealed=k.sealed,
        )
        for k in keys
    ]


async def _readable_from(db: AsyncSession, access: ConversationAccess) -> int:
    """Counsellors of a site the conversation was handed over to without the earlier messages
    (issue #6) see it from the epoch the move started, not even the old ciphertext."""
    if access.role != "counsellor":
        return access.from_epoch
    from server.storage.repositories.handover import site_from_epoch

    return max(access.from_epoch, await site_from_epoch(db, access.conversation))


async def join(
    sessions: Sessions,
    clock: Clock,
    account: AccountContext,
    conversation_id: str,
    after_seq: int,
    enter_room: Callable[[], Awaitable[None]],
) -> JoinResult:
    """Authorize, enter the live room, then read what was missed.

    The order matters: the room is entered *before* the catch-up query runs, in a second
    transaction (SQLite fixes a read snapshot at a transaction's first read). A message
    committed in between arrives both live and in the page — clients drop the duplicate by
    seq — but none can fall between the two. Read-only former members get no live room.
    """
    async with sessions.begin() as db:
        access = await access_conversation_for(db, account, conversation_id)
    if access.writable:
        await enter_room()
    now = clock.now()
    async with sessions.begin() as db:
        conversation = await repo.get_conversation(db, conversation_id)
        if conversation is None:  # deleted in between
            raise not_found()
        site_ids = access.site_ids
        if access.role == "former_member":
            # After a handover (issue #6): the shares sealed to the sites they still work in,
            # within the epochs they had — what they could read before, and no more.
            site_ids = tuple(await repo.site_ids_of(db, account.account_id))
        from_epoch = await _readable_from(db, access)
        keys = await repo.keys_for(
            db, conversation_id, account_id=account.account_id, site_ids=site_ids,
            from_epoch=from_epoch, until_epoch=access.until_epoch,
        )
        rows = await messages_repo.after(
            db, conversation_id, after_seq, JOIN_PAGE + 1,
            from_epoch=from_epoch, until_epoch=access.until_epoch,
        )
        mine = await summary(db, conversation, viewer_id=account.account_id, now=now,
                             with_queue=access.role == "young_person")
    return JoinResult(
        conversation=mine,
        keys=_epoch_keys(access, keys),
        messages=[stored_message(r) for r in rows[:JOIN_PAGE]],
        has_more=len(rows) > JOIN_PAGE,
    )


async def history(
    sessions: Sessions, account: AccountContext, conversation_id: str, before_seq: int,
    limit: int,
) -> Page:
    """Older messages, newest page first (each page oldest-first)."""
    limit = max(1, min(limit, HISTORY_PAGE))
    async with sessions.begin() as db:
        access = await access_conversation_for(db, account, conversation_id)
        rows = await messages_repo.before(
            db, conversation_id, before_seq, limit + 1,
            from_epoch=await _readable_from(db, access), until_epoch=access.until_epoch,
        )
    has_more = len(rows) > limit
    return Page(messages=[stored_message(r) for r in rows[-limit:]], has_more=has_more)


# --- read receipts and typing ---------------------------------------------------------------


async def mark_read(
    sessions: Sessions, account: AccountContext, conversation_id: str, seq: int
) -> list[Notice]:
    """Move the reader's marker forward; tells the room. Non-members (colleagues who only
    look in) have no marker: nothing happens for them."""
    async with sessions.begin() as db:
        await repo.begin_write(db)
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        seq = min(seq, access.conversation.last_seq)
        if seq <= 0 or not await repo.advance_read(db, conversation_id, account.account_id, seq):
            return []
    return [Notice(
        conversation_room(conversation_id), "message.read",
        MessageRead(conversation_id=conversation_id, account_id=account.account_id, seq=seq),
    )]


async def typing(
    sessions: Sessions, account: AccountContext, conversation_id: str, active: bool,
    sid: str | None,
) -> list[Notice]:
    """Typing is never stored; it only goes to the others in the room. Only the young person
    and the counsellor who holds the conversation type into it (colleague rule, access.py)."""
    async with sessions.begin() as db:
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        access.require("type")
        # A young person blocked from the conversation (it is closed then: the check costs
        # nothing on open ones) types to nobody, and is answered as usual, so the client
        # learns nothing of the block (services/moderation.py).
        if (access.role == "young_person" and access.conversation.status == STATUS_CLOSED
                and await moderation.blocked_from(db, conversation_id, account.account_id)):
            return []
    return [Notice(
        conversation_room(conversation_id), "typing",
        Typing(conversation_id=conversation_id, account_id=account.account_id, active=active),
        skip_sid=sid,
    )]


# --- close ------------------------------------------------------------------------------------


def _rooms_of(conversation: Conversation) -> list[str]:
    """The room and the participants' own rooms (they may not have joined the room)."""
    rooms = [conversation_room(conversation.id)]
    for account_id in (conversation.young_person_id, conversation.counsellor_id):
        if account_id is not None:
            rooms.append(account_room(account_id))
    return rooms


async def close(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str
) -> Changed:
    """Either side closes: the young person, the counsellor who holds the conversation, or
    the lead of its site (colleague rule, access.py); a new message from the young person
    reopens (message writer). Closing a closed conversation changes nothing."""
    now = clock.now()
    async with sessions.begin() as db:
        await repo.begin_write(db)
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        access.require("close")
        conversation = access.conversation
        was = conversation.status
        if was == STATUS_CLOSED:
            mine = await summary(db, conversation, viewer_id=account.account_id, now=now)
            return Changed(conversation=mine, notices=[])
        await repo.set_status(
            db, conversation_id, from_statuses=[STATUS_WAITING, STATUS_ACTIVE],
            values={"status": STATUS_CLOSED, "closed_at": now, "last_activity_at": now},
        )
        await db.refresh(conversation)
        by = "young_person" if access.role == "young_person" else "counsellor"
        event = await append_system_message(db, conversation, "closed", {"by": by}, now)
        mine = await summary(db, conversation, viewer_id=account.account_id, now=now)
        broadcast = broadcast_of(mine)
        notices = [
            Notice(conversation_room(conversation_id), "message.new",
                   MessageNew(conversation_id=conversation_id, message=event)),
            Notice(_rooms_of(conversation), "conversation.updated",
                   ConversationUpdated(conversation=broadcast)),
        ]
        if was == STATUS_WAITING:
            notices.append(Notice(queue_room(conversation.site_id), "queue.removed",
                                  QueueRemoved(conversation_id=conversation_id, reason="closed")))
            site = await accounts_repo.get_site(db, conversation.site_id)
            assert site is not None
            notices.extend(await position_notices(db, site, now))
    return Changed(conversation=mine, notices=notices)


# --- notes --------------------------------------------------------------------------------------


async def _site_counsellor_access(
    db: AsyncSession, account: AccountContext, conversation_id: str
) -> ConversationAccess:
    access = await access_conversation_for(db, account, conversation_id)
    if access.role != "counsellor":
        raise not_found()
    return access


def _note_json(note: ConversationNote) -> dict[str, Any]:
    return {
        "id": note.id, "author_id": note.author_id, "site_key_version": note.site_key_version,
        "sealed": note.sealed, "created_at": note.created_at.isoformat(),
    }


async def add_note(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str,
    sealed: str, site_key_version: int,
) -> dict[str, Any]:
    """A note for the site's counsellors, sealed by the client to the site key."""
    async with sessions.begin() as db:
        await repo.begin_write(db)
        access = await _site_counsellor_access(db, account, conversation_id)
        if await accounts_repo.get_site_key(db, access.conversation.site_id,
                                            site_key_version) is None:
            raise ServiceError("invalid", _("The field {field} is not valid."),
                               field="site_key_version")
        note = ConversationNote(
            conversation_id=conversation_id, site_id=access.conversation.site_id,
            site_key_version=site_key_version, author_id=account.account_id, sealed=sealed,
            created_at=clock.now(),
        )
        repo.add_note(db, note)
        await db.flush()
        return _note_json(note)


async def list_notes(
    sessions: Sessions, account: AccountContext, conversation_id: str
) -> list[dict[str, Any]]:
    async with sessions.begin() as db:
        access = await _site_counsellor_access(db, account, conversation_id)
        return [_note_json(n) for n in await repo.notes_of(db, conversation_id,
                                                             access.conversation.site_id)]


# --- canned responses ---------------------------------------------------------------------------


def _canned_json(canned: CannedResponse) -> dict[str, Any]:
    return {
        "id": canned.id, "site_id": canned.site_id, "owner_id": canned.owner_id,
        "site_key_version": canned.site_key_version, "language": canned.language,
        "sealed": canned.sealed, "updated_at": canned.updated_at.isoformat(),
    }


async def list_canned(
    sessions: Sessions, account: AccountContext, site_id: str | None
) -> list[dict[str, Any]]:
    """Personal canned responses and those of the counsellor's sites (or of one site)."""
    require_counsellor(account)
    async with sessions.begin() as db:
        sites = await repo.site_ids_of(db, account.account_id)
        if site_id is not None:
            if site_id not in sites:
                raise not_found()
            sites = [site_id]
        return [_canned_json(c) for c in await repo.canned_for(db, account.account_id, sites)]


async def _canned_for_change(
    db: AsyncSession, account: AccountContext, canned_id: str
) -> CannedResponse:
    canned = await repo.get_canned(db, canned_id)
    if canned is None:
        raise not_found()
    if canned.owner_id is not None and canned.owner_id != account.account_id:
        raise not_found()
    if canned.site_id is not None and not await repo.works_in_site(
        db, account.account_id, canned.site_id
    ):
        raise not_found()
    return canned


async def save_canned(
    sessions: Sessions, clock: Clock, account: AccountContext, *, canned_id: str | None,
    site_id: str | None, language: str, sealed: str, site_key_version: int | None,
) -> dict[str, Any]:
    """Create or replace a canned response: of a site (sealed to its key, `site_key_version`
    required) or personal (sealed to the counsellor's own key)."""
    require_counsellor(account)
    now = clock.now()
    if (site_id is None) != (site_key_version is None):
        raise ServiceError("invalid", _("The field {field} is not valid."),
                           field="site_key_version")
    async with sessions.begin() as db:
        await repo.begin_write(db)
        if site_id is not None:
            if not await repo.works_in_site(db, account.account_id, site_id):
                raise not_found()
            assert site_key_version is not None
            if await accounts_repo.get_site_key(db, site_id, site_key_version) is None:
                raise ServiceError("invalid", _("The field {field} is not valid."),
                                   field="site_key_version")
        if canned_id is not None:
            canned = await _canned_for_change(db, account, canned_id)
            if canned.site_id != site_id:
                raise ServiceError("invalid", _("The field {field} is not valid."),
                                   field="site_id")
            canned.language, canned.sealed = language, sealed
            canned.site_key_version, canned.updated_at = site_key_version, now
        else:
            canned = CannedResponse(
                site_id=site_id, owner_id=None if site_id else account.account_id,
                site_key_version=site_key_version, language=language, sealed=sealed,
                created_by=account.account_id, created_at=now, updated_at=now,
            )
            repo.add_canned(db, canned)
        await db.flush()
        return _canned_json(canned)


async def delete_canned(sessions: Sessions, account: AccountContext, canned_id: str) -> None:
    require_counsellor(account)
    async with sessions.begin() as db:
        await repo.begin_write(db)
        await _canned_for_change(db, account, canned_id)
        await repo.delete_canned(db, canned_id)


# --- absence ------------------------------------------------------------------------------------


async def set_absence(
    sessions: Sessions, clock: Clock, account: AccountContext, until: datetime | None
) -> list[Notice]:
    """A counsellor is away until `until` (None: back). Each of their open conversations gets
    an `absence` event, so the young person knows why no answer comes."""
    require_counsellor(account)
    now = clock.now()
    if until is not None:
        until = until.astimezone(UTC) if until > now else None
    notices: list[Notice] = []
    async with sessions.begin() as db:
        await repo.begin_write(db)
        await repo.set_absence(db, account.account_id, until)
        params = {"counsellor_id": account.account_id,
                  "until": until.isoformat() if until else None}
        active = sorted(await repo.active_of_counsellor(db, account.account_id),
                        key=lambda c: c.id)
        # The writer's lock order (by id): several rows in one transaction, no deadlock.
        await repo.lock_conversations(db, [c.id for c in active])
        for conversation in active:
            event = await append_system_message(db, conversation, "absence", params, now)
            broadcast = await summary(db, conversation, viewer_id=None, now=now)
            notices.append(Notice(conversation_room(conversation.id), "message.new",
                                  MessageNew(conversation_id=conversation.id, message=event)))
            notices.append(Notice(_rooms_of(conversation), "conversation.updated",
                                  ConversationUpdated(conversation=broadcast)))
    return notices
