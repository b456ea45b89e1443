"""Blocks and reports (server/storage/models/moderation.py). Functions take a session and
never commit; the moderation service owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import Conversation, ConversationMember, SiteMembership
from server.storage.models.moderation import AccountReport, ConversationBlock, SiteBlock


async def get_conversation_block(
    db: AsyncSession, conversation_id: str
) -> ConversationBlock | None:
    return await db.get(ConversationBlock, conversation_id)


def add_conversation_block(db: AsyncSession, block: ConversationBlock) -> None:
    db.add(block)


async def delete_conversation_block(db: AsyncSession, conversation_id: str) -> bool:
    result = await db.execute(
        delete(ConversationBlock).where(ConversationBlock.conversation_id == conversation_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def get_site_block(db: AsyncSession, site_id: str, account_id: str) -> SiteBlock | None:
    return await db.get(SiteBlock, (site_id, account_id))


def add_site_block(db: AsyncSession, block: SiteBlock) -> None:
    db.add(block)


async def delete_site_block(db: AsyncSession, site_id: str, account_id: str) -> bool:
    result = await db.execute(
        delete(SiteBlock).where(SiteBlock.site_id == site_id, SiteBlock.account_id == account_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def site_blocks_of(
    db: AsyncSession, site_id: str, account_ids: Sequence[str]
) -> set[str]:
    """Which of `account_ids` are blocked from new enquiries at `site_id`."""
    if not account_ids:
        return set()
    rows = await db.execute(
        select(SiteBlock.account_id).where(
            SiteBlock.site_id == site_id, SiteBlock.account_id.in_(list(account_ids))
        )
    )
    return set(rows.scalars())


async def get_member(
    db: AsyncSession, conversation_id: str, account_id: str
) -> ConversationMember | None:
    return await db.get(ConversationMember, (conversation_id, account_id))


def add_report(db: AsyncSession, report: AccountReport) -> None:
    db.add(report)


async def get_report(db: AsyncSession, report_id: str) -> AccountReport | None:
    return await db.get(AccountReport, report_id)


async def reports_of_conversation(
    db: AsyncSession, conversation_id: str, site_id: str
) -> list[AccountReport]:
    rows = await db.execute(
        select(AccountReport)
        .where(AccountReport.conversation_id == conversation_id,
               AccountReport.site_id == site_id)
        .order_by(AccountReport.created_at)
    )
    return list(rows.scalars())


async def reports_for_sites(
    db: AsyncSession, site_ids: Sequence[str] | None, statuses: Sequence[str], limit: int = 200
) -> list[AccountReport]:
    """Reports of the given sites (None: every site), newest first."""
    query = select(AccountReport).where(AccountReport.status.in_(list(statuses)))
    if site_ids is not None:
        query = query.where(AccountReport.site_id.in_(list(site_ids)))
    rows = await db.execute(query.order_by(AccountReport.created_at.desc()).limit(limit))
    return list(rows.scalars())


async def enquiries_since(
    db: AsyncSession, account_id: str, since: datetime
) -> tuple[int, datetime | None]:
    """How many conversations `account_id` started after `since`, and the oldest of them."""
    row = (
        await db.execute(
            select(func.count(), func.min(Conversation.created_at)).where(
                Conversation.young_person_id == account_id, Conversation.created_at > since
            )
        )
    ).one()
    oldest = row[1]
    if isinstance(oldest, datetime) and oldest.tzinfo is None:  # SQLite aggregate: naive
        oldest = oldest.replace(tzinfo=UTC)
    return int(row[0]), oldest


async def led_site_ids(db: AsyncSession, account_id: str) -> list[str]:
    rows = await db.execute(
        select(SiteMembership.site_id).where(
            SiteMembership.account_id == account_id, SiteMembership.is_lead.is_(True)
        )
    )
    return list(rows.scalars())
