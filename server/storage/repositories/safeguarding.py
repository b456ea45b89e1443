"""Queries of safeguarding (server/services/safeguarding.py): the urgent flag and site leads.

Functions take an `AsyncSession`, never commit, and know no rules: the service decides.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import Conversation, SiteMembership


async def set_urgent(db: AsyncSession, conversation_id: str, urgent: bool) -> bool:
    """Set the flag; True if this call changed it (a repeated request changes nothing)."""
    result = await db.execute(
        update(Conversation)
        .execution_options(synchronize_session=False)
        .where(Conversation.id == conversation_id, Conversation.urgent.is_not(urgent))
        .values(urgent=urgent)
    )
    assert isinstance(result, CursorResult)
    return int(result.rowcount) == 1


async def site_lead_ids(db: AsyncSession, site_id: str) -> list[str]:
    rows = await db.execute(
        select(SiteMembership.account_id)
        .where(SiteMembership.site_id == site_id, SiteMembership.is_lead.is_(True))
        .order_by(SiteMembership.account_id)
    )
    return [str(account_id) for account_id in rows.scalars()]
