"""The live queue of a site: list waiting enquiries, and claim one — exactly one winner.

The claim is one conditional UPDATE (`... WHERE id = :id AND status = 'waiting'`): whoever's
statement changes the row wins, everybody else gets `already_taken`, whatever process they
are connected to. The per-counsellor limit of open conversations is enforced in the same
transaction: the counsellor's status row is written first (on PostgreSQL a row lock that
serialises that counsellor's parallel claims; SQLite serialises all writers with
BEGIN IMMEDIATE), then their active conversations are counted. Two claims by one counsellor
can therefore never both pass the limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.crypto.conversation import KeyShare
from server.crypto.keys import key_id
from server.i18n import lazy_gettext as _
from server.services import key_freshness
from server.services.access import (
    AccountContext,
    access_conversation_for,
    require_counsellor,
)
from server.services.clock import Clock
from server.services.conversation_views import (
    append_system_message,
    broadcast_of,
    position_notices,
    queue_items,
    summary,
)
from server.services.errors import Conflict, ServiceError, not_found
from server.services.events import (
    ConversationSummary,
    ConversationUpdated,
    MessageNew,
    Notice,
    QueueItem,
    QueueRemoved,
    account_room,
    conversation_room,
    queue_room,
)
from server.storage.db import Sessions
from server.storage.models import ConversationKey, ConversationMember
from server.storage.models.conversations import MEMBER_COUNSELLOR, RECIPIENT_ACCOUNT
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import conversations as repo


def already_taken() -> Conflict:
    return Conflict("already_taken", _("A colleague has already taken this enquiry."))


def limit_reached(limit: int) -> Conflict:
    return Conflict(
        "limit_reached",
        _("You have reached the limit of open conversations ({limit}). Please close one first."),
        limit=limit,
    )


@dataclass(frozen=True)
class ClaimResult:
    conversation: ConversationSummary
    notices: list[Notice]


async def list_queue(
    sessions: Sessions,
    clock: Clock,
    account: AccountContext,
    *,
    site_id: str | None = None,
    language: str | None = None,
    topic: str | None = None,
) -> list[QueueItem]:
    """Waiting enquiries of the counsellor's sites (or one of them), queue order."""
    require_counsellor(account)
    now = clock.now()
    async with sessions.begin() as db:
        sites = await repo.site_ids_of(db, account.account_id)
        if site_id is not None:
            if site_id not in sites:
                raise not_found()
            sites = [site_id]
        rows = await repo.queue_items(db, sites, language=language, topic=topic)
        return await queue_items(db, rows, now)


async def queue_sites(sessions: Sessions, account: AccountContext) -> list[str]:
    """The sites whose queue room a connection joins (none for young people and admins)."""
    if not account.is_counsellor:
        return []
    async with sessions.begin() as db:
        return await repo.site_ids_of(db, account.account_id)


def _check_own_share(
    account_id: str, conversation_id: str, epoch: int, x25519_public: bytes, share: KeyShare
) -> None:
    """The claimer may re-seal the current epoch key to itself (signed by itself)."""
    if (
        share.conv != conversation_id
        or share.epoch != epoch
        or share.sender != account_id
        or share.to != key_id("x25519", x25519_public)
    ):
        raise ServiceError("invalid", _("The field {field} is not valid."), field="sealed_for_me")


async def claim(
    sessions: Sessions,
    clock: Clock,
    account: AccountContext,
    conversation_id: str,
    *,
    limit: int,
    sealed_for_me: KeyShare | None = None,
    new_epoch: list[key_freshness.NewEpochShare] | None = None,
) -> ClaimResult:
    """Take a waiting enquiry. Exactly one of any number of concurrent claims succeeds."""
    require_counsellor(account)
    now = clock.now()
    async with sessions.begin() as db:
        # Take the write lock before reading (SQLite); a no-op on PostgreSQL.
        await repo.begin_write(db)
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        if access.role != "counsellor":
            raise not_found()
        conversation = access.conversation
        me = await accounts_repo.get_account(db, account.account_id)
        if me is None:
            raise not_found()
        if sealed_for_me is not None:
            _check_own_share(account.account_id, conversation.id, conversation.current_epoch,
                             me.x25519_public, sealed_for_me)
        await repo.lock_counsellor(db, account.account_id, now)
        if await repo.count_active_of_counsellor(db, account.account_id) >= limit:
            raise limit_reached(limit)
        if not await repo.claim(db, conversation.id, account.account_id, now):
            raise already_taken()
        # The UPDATE changed the row behind the ORM's back: load the committed-to-be state.
        await db.refresh(conversation)
        member = await repo.get_member(db, conversation.id, account.account_id)
        if member is None:
            repo.add_member(db, ConversationMember(
                conversation_id=conversation.id, account_id=account.account_id,
                role=MEMBER_COUNSELLOR, from_epoch=conversation.current_epoch,
                until_epoch=None, last_read_seq=0, active=True, joined_at=now,
            ))
        else:  # came back to a conversation they had before
            member.active, member.until_epoch = True, None
        if sealed_for_me is not None:
            repo.add_key(db, ConversationKey(
                conversation_id=conversation.id, epoch=conversation.current_epoch,
                recipient_kind=RECIPIENT_ACCOUNT, recipient_id=account.account_id,
                site_key_version=None, sealed=sealed_for_me.to_json(), created_at=now,
            ))
        # Issue #3: a new epoch when somebody who left could read the current one.
        await key_freshness.epoch_for_claim(db, me, conversation, new_epoch, now)
        await db.flush()
        event = await append_system_message(
            db, conversation, "claimed",
            {"counsellor_id": me.id, "display_name": me.display_name}, now,
        )
        mine = await summary(db, conversation, viewer_id=account.account_id, now=now)
        broadcast = broadcast_of(mine)
        site = await accounts_repo.get_site(db, conversation.site_id)
        assert site is not None
        positions = await position_notices(db, site, now)
    room = conversation_room(conversation.id)
    updated_rooms = [room] + (
        [account_room(conversation.young_person_id)] if conversation.young_person_id else []
    )
    notices = [
        Notice(queue_room(conversation.site_id), "queue.removed",
               QueueRemoved(conversation_id=conversation.id, reason="claimed",
                            by_display_name=me.display_name)),
        Notice(room, "message.new", MessageNew(conversation_id=conversation.id, message=event)),
        Notice(updated_rooms, "conversation.updated", ConversationUpdated(conversation=broadcast)),
        *positions,
    ]
    return ClaimResult(conversation=mine, notices=notices)
