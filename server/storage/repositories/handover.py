"""Queries for handover proposals, the site directory search of a handover and the handover
audit entries. Functions take an `AsyncSession`, never commit and know no rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import (
    AuditEvent,
    Conversation,
    ConversationKey,
    ConversationMember,
    HandoverProposal,
    Site,
)
from server.storage.models.conversations import MEMBER_COUNSELLOR, RECIPIENT_SITE
from server.storage.models.handover import (
    PROPOSAL_ACCEPTED,
    PROPOSAL_CANCELLED,
    PROPOSAL_EXPIRED,
    PROPOSAL_PENDING,
)

#: The audit actions of this area (site_id of each row: the site the conversation left/is at).
HANDOVER_ACTIONS = (
    "conversation_handover_proposed",
    "conversation_handed_over",
    "conversation_handover_declined",
    "conversation_reassigned",
)


def add_proposal(db: AsyncSession, proposal: HandoverProposal) -> None:
    db.add(proposal)


async def get_proposal(db: AsyncSession, proposal_id: str) -> HandoverProposal | None:
    return await db.get(HandoverProposal, proposal_id)


async def pending_of(db: AsyncSession, conversation_id: str) -> HandoverProposal | None:
    """The newest pending proposal of a conversation (expired or not)."""
    rows = await db.execute(
        select(HandoverProposal)
        .where(
            HandoverProposal.conversation_id == conversation_id,
            HandoverProposal.status == PROPOSAL_PENDING,
        )
        .order_by(HandoverProposal.created_at.desc(), HandoverProposal.id)
        .limit(1)
    )
    return rows.scalar_one_or_none()


async def cancel_pending(db: AsyncSession, conversation_id: str, now: datetime) -> int:
    """End every pending proposal of a conversation (a new one replaces it)."""
    result = await db.execute(
        update(HandoverProposal)
        .execution_options(synchronize_session=False)
        .where(
            HandoverProposal.conversation_id == conversation_id,
            HandoverProposal.status == PROPOSAL_PENDING,
        )
        .values(status=PROPOSAL_CANCELLED, decided_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def decide(
    db: AsyncSession, proposal_id: str, status: str, now: datetime,
    allow_history: bool | None = None,
) -> bool:
    """Pending → `status`, exactly once: True for the one caller whose UPDATE changed the row
    (two processes accepting and declining at the same moment cannot both win)."""
    values: dict[str, object] = {"status": status, "decided_at": now}
    if status == PROPOSAL_ACCEPTED:
        values["allow_history"] = allow_history
    result = await db.execute(
        update(HandoverProposal)
        .execution_options(synchronize_session=False)
        .where(HandoverProposal.id == proposal_id, HandoverProposal.status == PROPOSAL_PENDING)
        .values(**values)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


async def expire(db: AsyncSession, proposal_id: str, now: datetime) -> bool:
    return await decide(db, proposal_id, PROPOSAL_EXPIRED, now)


async def accepted_notes(
    db: AsyncSession, conversation_ids: Sequence[str]
) -> dict[str, HandoverProposal]:
    """The latest accepted proposal of each conversation (for the queue's handover note)."""
    if not conversation_ids:
        return {}
    rows = await db.execute(
        select(HandoverProposal)
        .where(
            HandoverProposal.conversation_id.in_(list(conversation_ids)),
            HandoverProposal.status == PROPOSAL_ACCEPTED,
        )
        .order_by(HandoverProposal.decided_at)
    )
    found: dict[str, HandoverProposal] = {}
    for proposal in rows.scalars():
        found[proposal.conversation_id] = proposal  # the last one wins
    return found


async def search_sites(
    db: AsyncSession, *, query: str | None, language: str | None, limit: int = 50
) -> list[Site]:
    """Active sites whose name, city or postcode contains `query` and (optionally) whose
    counsellors speak `language`; alphabetical. Small table: the language filter runs here."""
    statement = select(Site).where(Site.active.is_(True))
    if query:
        # The search text is literal: LIKE's wildcards in it match only themselves.
        literal = query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        statement = statement.where(or_(
            func.lower(Site.name).like(f"%{literal}%", escape="\\"),
            func.lower(Site.city).like(f"%{literal}%", escape="\\"),
            Site.postcode.like(f"{literal}%", escape="\\"),
        ))
    rows = await db.execute(statement.order_by(Site.name, Site.id))
    sites = [s for s in rows.scalars() if language is None or language in (s.languages or [])]
    return sites[:limit]


async def handover_audit(
    db: AsyncSession, site_id: str, *, limit: int = 200
) -> list[AuditEvent]:
    """Handover audit entries that concern a site: rows written for it (it was the site the
    conversation left or was reassigned in) and rows naming it as the target."""
    rows = await db.execute(
        select(AuditEvent)
        .where(AuditEvent.action.in_(HANDOVER_ACTIONS))
        .order_by(AuditEvent.at.desc(), AuditEvent.id)
        .limit(2000)
    )
    found = [
        e for e in rows.scalars()
        if e.site_id == site_id or (e.details or {}).get("to_site") == site_id
    ]
    return found[:limit]


async def site_from_epoch(db: AsyncSession, conversation: Conversation) -> int:
    """The first epoch the conversation's current site holds a key share of: 1 unless it was
    handed over without the earlier messages (then the epoch that started with the move)."""
    if conversation.handed_over_from_site_id is None:
        return 1
    result = await db.execute(
        select(func.min(ConversationKey.epoch)).where(
            ConversationKey.conversation_id == conversation.id,
            ConversationKey.recipient_kind == RECIPIENT_SITE,
            ConversationKey.recipient_id == conversation.site_id,
        )
    )
    first = result.scalar_one_or_none()
    return int(first) if first is not None else conversation.current_epoch


async def origin_sites(db: AsyncSession, conversation_id: str) -> set[str]:
    """Every site an accepted proposal moved the conversation away from."""
    rows = await db.execute(
        select(HandoverProposal.from_site_id).where(
            HandoverProposal.conversation_id == conversation_id,
            HandoverProposal.status == PROPOSAL_ACCEPTED,
        )
    )
    return {str(s) for s in rows.scalars()}


async def delete_of_young_person(db: AsyncSession, account_id: str) -> int:
    """Every proposal of a young person's conversations (account deletion)."""
    mine = select(Conversation.id).where(Conversation.young_person_id == account_id)
    result = await db.execute(
        delete(HandoverProposal)
        .where(HandoverProposal.conversation_id.in_(mine))
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def counsellor_members(db: AsyncSession, conversation_id: str) -> list[ConversationMember]:
    """Every counsellor member row of a conversation (current and former)."""
    rows = await db.execute(
        select(ConversationMember).where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.role == MEMBER_COUNSELLOR,
        )
    )
    return list(rows.scalars())
