"""Queries of the retention job (server/services/retention.py): which rows a rule selects, and
deleting a batch of them.

Every rule is a `select(<primary key>)` with its condition, so the same statement answers
"how many?" (dry run), "which ones, at most n, locked?" (a batch) and can be re-checked inside
the deleting transaction. Functions take an `AsyncSession`, never commit, and know no rules
beyond the conditions the service asks for.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, exists, func, or_, select
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import (
    Account,
    AuditEvent,
    AuthSession,
    Conversation,
    ConversationKey,
    ConversationMember,
    ConversationNote,
    Invitation,
    LoginThrottle,
    Message,
)
from server.storage.models.accounts import ROLE_YOUNG_PERSON, STAFF_ROLES
from server.storage.models.conversations import STATUS_CLOSED

#: `select(<primary key>)` with a rule's condition.
Candidates = Select[str]


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return max(0, int(result.rowcount))


# --- conditions (one per rule) -----------------------------------------------------------------


def closed_conversations(cutoff: datetime) -> Candidates:
    """Closed, closed before `cutoff`, no activity since, and no message newer than `cutoff`.

    `last_activity_at` moves with every message (the writer's sequence UPDATE) and a young
    person's message reopens a closed conversation anyway; the message check is a second, cheap
    guard so that nothing written after the cutoff is ever deleted by this rule.
    """
    newer_message = exists().where(
        Message.conversation_id == Conversation.id, Message.created_at > cutoff
    )
    return select(Conversation.id).where(
        Conversation.status == STATUS_CLOSED,
        Conversation.last_activity_at <= cutoff,
        or_(Conversation.closed_at.is_(None), Conversation.closed_at <= cutoff),
        ~newer_message,
    )


def young_people_without_conversations(created_before: datetime, now: datetime) -> Candidates:
    """Young people's accounts older than the cutoff with no conversation at all (never made an
    enquiry, or retention removed all of them) and not logged in right now."""
    return select(Account.id).where(
        Account.role == ROLE_YOUNG_PERSON,
        Account.created_at <= created_before,
        ~exists().where(Conversation.young_person_id == Account.id),
        ~exists().where(AuthSession.account_id == Account.id, AuthSession.expires_at > now),
    )


def unfinished_staff_accounts(created_before: datetime) -> Candidates:
    """Staff accounts whose two-factor set-up was never finished (invitation accepted, code never
    confirmed): they cannot log in and nobody can finish them after the invitation expired."""
    return select(Account.id).where(
        Account.role.in_(STAFF_ROLES),
        Account.totp_enabled.is_(False),
        Account.created_at <= created_before,
    )


def expired_invitations(now: datetime) -> Candidates:
    """Expired invitations, used or not (a used one has done its job; the audit keeps that it
    was used)."""
    return select(Invitation.id).where(Invitation.expires_at <= now)


def expired_sessions(now: datetime) -> Candidates:
    """Login sessions, two-factor set-up sessions and recovery tokens past their expiry."""
    return select(AuthSession.id).where(AuthSession.expires_at <= now)


def stale_throttles(window_start_before: datetime) -> Candidates:
    """Failed-login counters idle since the cutoff and not blocking anymore (same condition as
    `accounts.delete_stale_throttles`)."""
    return select(LoginThrottle.key).where(
        LoginThrottle.window_start < window_start_before,
        or_(
            LoginThrottle.blocked_until.is_(None),
            LoginThrottle.blocked_until < window_start_before,
        ),
    )


def old_audit_events(cutoff: datetime) -> Candidates:
    return select(AuditEvent.id).where(AuditEvent.at <= cutoff)


# --- reading candidates ------------------------------------------------------------------------


async def count(db: AsyncSession, candidates: Candidates) -> int:
    result = await db.execute(select(func.count()).select_from(candidates.subquery()))
    return int(result.scalar_one())


async def first_ids(
    db: AsyncSession, candidates: Candidates, limit: int, *, lock: bool = False
) -> list[str]:
    """Up to `limit` ids. `lock`: row-lock them on PostgreSQL and skip rows another runner has
    locked (two servers running the job take disjoint batches); SQLite serialises writers."""
    statement = candidates.limit(limit)
    if lock:
        statement = statement.with_for_update(skip_locked=True)
    return [str(value) for value in (await db.execute(statement)).scalars()]


async def still_candidates(
    db: AsyncSession, candidates: Candidates, ids: Sequence[str]
) -> set[str]:
    """Which of `ids` the condition still selects, read in the deleting transaction."""
    if not ids:
        return set()
    column = candidates.selected_columns[0]
    rows = await db.execute(candidates.where(column.in_(list(ids))))
    return {str(value) for value in rows.scalars()}


# --- deleting a batch --------------------------------------------------------------------------


async def delete_conversations(db: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    """Conversations with everything in them: messages, key shares, notes, members. Explicit
    deletes (children first), so the result does not depend on foreign key enforcement."""
    wanted = list(ids)
    counts: dict[str, int] = {}
    for name, model in (
        ("messages", Message),
        ("conversation_keys", ConversationKey),
        ("conversation_notes", ConversationNote),
        ("conversation_members", ConversationMember),
    ):
        result = await db.execute(
            delete(model)
            .where(model.conversation_id.in_(wanted))
            .execution_options(synchronize_session=False)
        )
        counts[name] = _rowcount(result)
    result = await db.execute(
        delete(Conversation)
        .where(Conversation.id.in_(wanted))
        .execution_options(synchronize_session=False)
    )
    counts["conversations"] = _rowcount(result)
    return counts


async def delete_sessions(db: AsyncSession, ids: Sequence[str]) -> int:
    result = await db.execute(
        delete(AuthSession)
        .where(AuthSession.id.in_(list(ids)))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def delete_invitations(db: AsyncSession, ids: Sequence[str]) -> int:
    result = await db.execute(
        delete(Invitation)
        .where(Invitation.id.in_(list(ids)))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def delete_throttles(db: AsyncSession, keys: Sequence[str]) -> int:
    result = await db.execute(
        delete(LoginThrottle)
        .where(LoginThrottle.key.in_(list(keys)))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def delete_audit_events(db: AsyncSession, ids: Sequence[str]) -> int:
    result = await db.execute(
        delete(AuditEvent)
        .where(AuditEvent.id.in_(list(ids)))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)
