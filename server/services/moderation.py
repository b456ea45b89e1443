"""Moderation (issue #8): a counsellor blocks a young person's account from a conversation,
reports it to the site lead; the site lead (or an admin) reviews reports and can block the
account from new enquiries at the site. Plus the enquiry limit per account and day.

Blocking a conversation, in ONE transaction:
1. a `conversation_blocks` row (who, when, reason category) — metadata only;
2. the young person's member row is deactivated, so the message writer refuses their messages
   in its own transaction (no extra query on the message hot path; `explain_refused_send`
   turns that refusal into the neutral `conversation_ended` answer);
3. the conversation is closed and gets the system event `ended` — both clients render it in
   their language; the young person's client shows a NEUTRAL text ("This conversation has
   ended. If you need help, you can start a new enquiry."), never that they were blocked or
   reported;
4. an audit row `account_blocked` (site_id, reason category; never content or nicknames).

Unblocking (a counsellor of the site or its lead) deletes the row, reactivates the member,
reopens the conversation to its counsellor and adds the system event `reopened`.
Reports carry a reason category and optionally a note the client sealed to the site key
(docs/protocol.md, "report notes"); the server stores the ciphertext only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from server.config.models import RateLimitsConfig
from server.i18n import lazy_gettext as _
from server.services import rate_limit
from server.services.access import (
    AccountContext,
    access_moderation_for,
    access_report_for,
    report_site_ids_for,
)
from server.services.accounts import audit
from server.services.clock import Clock
from server.services.conversation_views import (
    append_system_message,
    broadcast_of,
    position_notices,
    summary,
)
from server.services.errors import Conflict, ServiceError, not_found
from server.services.events import (
    ConversationUpdated,
    MessageNew,
    Notice,
    QueueRemoved,
    account_room,
    conversation_room,
    queue_room,
)
from server.storage.db import Sessions
from server.storage.models import Conversation
from server.storage.models.accounts import ROLE_YOUNG_PERSON
from server.storage.models.conversations import STATUS_ACTIVE, STATUS_CLOSED, STATUS_WAITING
from server.storage.models.moderation import (
    REPORT_ACTIONED,
    REPORT_DISMISSED,
    REPORT_OPEN,
    AccountReport,
    ConversationBlock,
    SiteBlock,
)
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import conversations as conversations_repo
from server.storage.repositories import moderation as repo

ReportAction = Literal["dismiss", "block_site", "unblock_site"]


@dataclass(frozen=True)
class Outcome:
    """What the acting user gets back, plus the events to emit after the commit."""

    data: dict[str, Any]
    notices: list[Notice]


# --- errors the users see -----------------------------------------------------------------------


def conversation_ended() -> Conflict:
    """What a blocked young person is told: neutral, no word of a block or a report."""
    return Conflict(
        "conversation_ended",
        _("This conversation has ended. If you need help, you can start a new enquiry."),
    )


def enquiry_not_possible_here() -> Conflict:
    """A new enquiry at a site that blocked the account: neutral as well."""
    return Conflict(
        "enquiry_not_possible",
        _("A new enquiry is not possible here at the moment. If you need help now, call "
          "Nummer gegen Kummer on 116 111 (free), or 112 in an emergency."),
    )


def no_young_person() -> ServiceError:
    return ServiceError(
        "account_deleted", _("The young person has deleted their account.")
    )


# --- JSON ---------------------------------------------------------------------------------------


def block_json(block: ConversationBlock) -> dict[str, Any]:
    return {
        "conversation_id": block.conversation_id, "account_id": block.account_id,
        "site_id": block.site_id, "reason": block.reason, "blocked_by": block.blocked_by,
        "created_at": block.created_at.isoformat(),
    }


def report_json(
    report: AccountReport, *, nickname: str | None = None, site_blocked: bool | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": report.id, "account_id": report.account_id, "site_id": report.site_id,
        "conversation_id": report.conversation_id, "reported_by": report.reported_by,
        "reason": report.reason, "sealed_note": report.sealed_note,
        "site_key_version": report.site_key_version, "status": report.status,
        "created_at": report.created_at.isoformat(),
        "resolved_at": report.resolved_at.isoformat() if report.resolved_at else None,
    }
    if nickname is not None or site_blocked is not None:
        data["nickname"] = nickname
        data["site_blocked"] = bool(site_blocked)
    return data


# --- the send path (called by the socket transport) ---------------------------------------------


async def explain_refused_send(
    sessions: Sessions, account: AccountContext, conversation_id: str
) -> None:
    """The message writer refused a message with `not_found`. For a young person blocked from
    this conversation, raise the neutral `conversation_ended` instead (only on this error path,
    so the hot path costs nothing); otherwise return and let the caller re-raise."""
    if account.role != ROLE_YOUNG_PERSON:
        return
    async with sessions.begin() as db:
        blocked = await blocked_from(db, conversation_id, account.account_id)
    if blocked:
        raise conversation_ended()


async def blocked_from(db: AsyncSession, conversation_id: str, account_id: str) -> bool:
    """Whether `account_id` is the young person blocked from this conversation."""
    block = await repo.get_conversation_block(db, conversation_id)
    return block is not None and block.account_id == account_id


async def check_new_enquiry(
    db: AsyncSession, limits: RateLimitsConfig | None, account_id: str, site_id: str,
    now: datetime,
) -> None:
    """Inside the enquiry's transaction: refuse when the site blocked the account, or when
    the account started `enquiries_per_account_per_day` enquiries in the last 24 hours
    (counted in the database, so exact across processes)."""
    if await repo.get_site_block(db, site_id, account_id) is not None:
        raise enquiry_not_possible_here()
    if limits is None or not limits.enabled:  # no config: a CLI or test calling the service
        return
    count, oldest = await repo.enquiries_since(db, account_id, now - rate_limit.DAY)
    if count >= limits.enquiries_per_account_per_day and oldest is not None:
        raise rate_limit.too_many_enquiries(oldest + rate_limit.DAY - now)


# --- block, unblock, report, status (counsellors of the conversation's site) --------------------


def _rooms_of(conversation: Conversation) -> list[str]:
    rooms = [conversation_room(conversation.id)]
    for account_id in (conversation.young_person_id, conversation.counsellor_id):
        if account_id is not None:
            rooms.append(account_room(account_id))
    return rooms


async def _system_event(
    db: AsyncSession, conversation: Conversation, code: str, now: datetime, viewer_id: str
) -> tuple[dict[str, Any], list[Notice]]:
    event = await append_system_message(db, conversation, code, {}, now)
    mine = await summary(db, conversation, viewer_id=viewer_id, now=now)
    notices = [
        Notice(conversation_room(conversation.id), "message.new",
               MessageNew(conversation_id=conversation.id, message=event)),
        Notice(_rooms_of(conversation), "conversation.updated",
               ConversationUpdated(conversation=broadcast_of(mine))),
    ]
    return mine.model_dump(mode="json"), notices


async def block(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str,
    reason: str,
) -> Outcome:
    """Block the conversation's young person from it (idempotent) and close it."""
    now = clock.now()
    async with sessions.begin() as db:
        await conversations_repo.begin_write(db)
        access = await access_moderation_for(db, account, conversation_id)
        conversation = access.conversation
        young_person_id = conversation.young_person_id
        if young_person_id is None:
            raise no_young_person()
        existing = await repo.get_conversation_block(db, conversation_id)
        if existing is not None:
            return Outcome({"block": block_json(existing), "changed": False}, [])
        row = ConversationBlock(
            conversation_id=conversation_id, account_id=young_person_id,
            site_id=conversation.site_id, reason=reason, blocked_by=account.account_id,
            created_at=now,
        )
        repo.add_conversation_block(db, row)
        member = await repo.get_member(db, conversation_id, young_person_id)
        if member is not None:
            member.active = False
        was = conversation.status
        if was != STATUS_CLOSED:
            await conversations_repo.set_status(
                db, conversation_id, from_statuses=[STATUS_WAITING, STATUS_ACTIVE],
                values={"status": STATUS_CLOSED, "closed_at": now, "last_activity_at": now},
            )
        await db.flush()
        await db.refresh(conversation)
        mine, notices = await _system_event(db, conversation, "ended", now, account.account_id)
        if was == STATUS_WAITING:
            notices.append(Notice(queue_room(conversation.site_id), "queue.removed",
                                  QueueRemoved(conversation_id=conversation_id,
                                               reason="closed")))
            site = await accounts_repo.get_site(db, conversation.site_id)
            if site is not None:
                notices.extend(await position_notices(db, site, now))
        audit(db, now, "account_blocked", "account", young_person_id,
              actor_id=account.account_id, site_id=conversation.site_id,
              details={"scope": "conversation", "conversation_id": conversation_id,
                       "reason": reason})
        return Outcome({"block": block_json(row), "changed": True, "conversation": mine},
                       notices)


async def unblock(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str
) -> Outcome:
    """Lift the block (idempotent): the young person may write again; the conversation
    reopens to its counsellor."""
    now = clock.now()
    async with sessions.begin() as db:
        await conversations_repo.begin_write(db)
        access = await access_moderation_for(db, account, conversation_id)
        conversation = access.conversation
        existing = await repo.get_conversation_block(db, conversation_id)
        if existing is None:
            return Outcome({"changed": False}, [])
        await repo.delete_conversation_block(db, conversation_id)
        member = await repo.get_member(db, conversation_id, existing.account_id)
        if member is not None:
            member.active = True
        if conversation.status == STATUS_CLOSED and conversation.counsellor_id is not None:
            await conversations_repo.set_status(
                db, conversation_id, from_statuses=[STATUS_CLOSED],
                values={"status": STATUS_ACTIVE, "closed_at": None, "last_activity_at": now},
            )
        await db.flush()
        await db.refresh(conversation)
        mine, notices = await _system_event(db, conversation, "reopened", now,
                                            account.account_id)
        audit(db, now, "account_unblocked", "account", existing.account_id,
              actor_id=account.account_id, site_id=conversation.site_id,
              details={"scope": "conversation", "conversation_id": conversation_id})
        return Outcome({"changed": True, "conversation": mine}, notices)


async def report(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str,
    reason: str, sealed_note: str | None, site_key_version: int | None,
) -> dict[str, Any]:
    """Report the conversation's young person to the site lead."""
    if (sealed_note is None) != (site_key_version is None):
        raise ServiceError("invalid", _("The field {field} is not valid."),
                           field="site_key_version")
    now = clock.now()
    async with sessions.begin() as db:
        await conversations_repo.begin_write(db)
        access = await access_moderation_for(db, account, conversation_id)
        conversation = access.conversation
        if conversation.young_person_id is None:
            raise no_young_person()
        if site_key_version is not None and await accounts_repo.get_site_key(
            db, conversation.site_id, site_key_version
        ) is None:
            raise ServiceError("invalid", _("The field {field} is not valid."),
                               field="site_key_version")
        row = AccountReport(
            account_id=conversation.young_person_id, site_id=conversation.site_id,
            conversation_id=conversation_id, reported_by=account.account_id, reason=reason,
            sealed_note=sealed_note, site_key_version=site_key_version, status=REPORT_OPEN,
            created_at=now, resolved_at=None, resolved_by=None,
        )
        repo.add_report(db, row)
        await db.flush()
        audit(db, now, "account_reported", "account", conversation.young_person_id,
              actor_id=account.account_id, site_id=conversation.site_id,
              details={"conversation_id": conversation_id, "report_id": row.id,
                       "reason": reason})
        return report_json(row)


async def status(
    sessions: Sessions, account: AccountContext, conversation_id: str
) -> dict[str, Any]:
    """The block (or null) and the reports of a conversation, for its site's counsellors."""
    async with sessions.begin() as db:
        access = await access_moderation_for(db, account, conversation_id)
        existing = await repo.get_conversation_block(db, conversation_id)
        reports = await repo.reports_of_conversation(db, conversation_id,
                                                     access.conversation.site_id)
        return {
            "block": block_json(existing) if existing is not None else None,
            "reports": [report_json(r) for r in reports],
        }


# --- reports for the site lead / admin ----------------------------------------------------------


async def list_reports(
    sessions: Sessions, account: AccountContext, state: Literal["open", "closed", "all"]
) -> list[dict[str, Any]]:
    statuses = {
        "open": [REPORT_OPEN], "closed": [REPORT_DISMISSED, REPORT_ACTIONED],
        "all": [REPORT_OPEN, REPORT_DISMISSED, REPORT_ACTIONED],
    }[state]
    async with sessions.begin() as db:
        site_ids = await report_site_ids_for(db, account)
        if site_ids is not None and not site_ids:
            return []
        rows = await repo.reports_for_sites(db, site_ids, statuses)
        people = await conversations_repo.accounts_by_id(db, list({r.account_id for r in rows}))
        out = []
        for r in rows:
            blocked = await repo.get_site_block(db, r.site_id, r.account_id) is not None
            person = people.get(r.account_id)
            out.append(report_json(r, nickname=person.nickname if person else "",
                                   site_blocked=blocked))
        return out


async def resolve_report(
    sessions: Sessions, clock: Clock, account: AccountContext, report_id: str,
    action: ReportAction,
) -> dict[str, Any]:
    """Dismiss a report, or block / unblock its account from new enquiries at the site."""
    now = clock.now()
    async with sessions.begin() as db:
        row = await access_report_for(db, account, report_id)
        if action == "dismiss":
            if row.status == REPORT_OPEN:
                row.status, row.resolved_at, row.resolved_by = (
                    REPORT_DISMISSED, now, account.account_id)
                audit(db, now, "report_dismissed", "account", row.account_id,
                      actor_id=account.account_id, site_id=row.site_id,
                      details={"report_id": row.id})
        elif action == "block_site":
            if await repo.get_site_block(db, row.site_id, row.account_id) is None:
                repo.add_site_block(db, SiteBlock(
                    site_id=row.site_id, account_id=row.account_id, reason=row.reason,
                    blocked_by=account.account_id, created_at=now,
                ))
                audit(db, now, "account_blocked", "account", row.account_id,
                      actor_id=account.account_id, site_id=row.site_id,
                      details={"scope": "site", "report_id": row.id, "reason": row.reason})
            if row.status == REPORT_OPEN:
                row.status, row.resolved_at, row.resolved_by = (
                    REPORT_ACTIONED, now, account.account_id)
        elif action == "unblock_site":
            if await repo.delete_site_block(db, row.site_id, row.account_id):
                audit(db, now, "account_unblocked", "account", row.account_id,
                      actor_id=account.account_id, site_id=row.site_id,
                      details={"scope": "site", "report_id": row.id})
        else:  # pragma: no cover - the transport's Literal allows nothing else
            raise not_found()
        await db.flush()
        blocked = await repo.get_site_block(db, row.site_id, row.account_id) is not None
        return report_json(row, nickname="", site_blocked=blocked)
