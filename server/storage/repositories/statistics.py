"""Reads for the statistics (issue #9): metadata only, never content, never who.

Every function returns plain tuples of counting metadata (times, site ids, topic / language /
age-group codes). No account id, nickname, message or postcode leaves these queries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from typing import Literal

from sqlalchemy import ColumnElement, and_, case, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from server.storage.models import Account, AuditEvent, Conversation, Site, SiteMembership
from server.storage.models.conversations import STATUS_WAITING

#: The audit action a handover writes (site_id = the team that handed over).
ACTION_HANDED_OVER = "conversation_handed_over"


def _in_sites(column: InstrumentedAttribute[str] | InstrumentedAttribute[str | None],
              site_ids: Sequence[str] | None) -> ColumnElement[bool]:
    return true() if site_ids is None else column.in_(list(site_ids))


def _enquiries_in(start: datetime, end: datetime, site_ids: Sequence[str] | None
                  ) -> list[ColumnElement[bool]]:
    return [Conversation.created_at >= start, Conversation.created_at < end,
            _in_sites(Conversation.site_id, site_ids)]


async def weekly_counts(
    db: AsyncSession, bounds: Sequence[datetime], site_ids: Sequence[str] | None
) -> list[int]:
    """Enquiries created in each [bounds[i], bounds[i + 1]): one pass, counted in the database
    (a conditional sum per week; the same SQL on SQLite and PostgreSQL)."""
    columns = [
        func.coalesce(func.sum(case(
            (and_(Conversation.created_at >= a, Conversation.created_at < b), 1), else_=0
        )), 0)
        for a, b in pairwise(bounds)
    ]
    row = (await db.execute(
        select(*columns).where(*_enquiries_in(bounds[0], bounds[-1], site_ids))
    )).one()
    return [int(value) for value in row]


#: What the enquiries can be counted by.
Dimension = Literal["site", "topic", "language", "age_group"]


async def enquiry_counts(
    db: AsyncSession, by: Dimension, start: datetime, end: datetime,
    site_ids: Sequence[str] | None,
) -> dict[str | None, int]:
    """Enquiries created in [start, end) per site id / topic / language / age group (GROUP BY
    in the database). The age group is the one stored with the enquiry, or (older rows) the
    account's; None: not given."""
    columns: dict[str, ColumnElement[str] | ColumnElement[str | None]] = {
        "site": Conversation.site_id.expression,
        "topic": Conversation.topic.expression,
        "language": Conversation.language.expression,
        "age_group": func.coalesce(Conversation.age_group, Account.age_group),
    }
    column = columns[by]
    query = select(column, func.count()).select_from(Conversation)
    if by == "age_group":
        query = query.outerjoin(Account, Account.id == Conversation.young_person_id)
    rows = await db.execute(
        query.where(*_enquiries_in(start, end, site_ids)).group_by(column)
    )
    return {key: int(n) for key, n in rows.all()}


async def first_responses(
    db: AsyncSession, start: datetime, end: datetime, site_ids: Sequence[str] | None
) -> list[tuple[datetime, datetime]]:
    """(created_at, first_response_at) of answered enquiries created in [start, end)."""
    query = select(Conversation.created_at, Conversation.first_response_at).where(
        *_enquiries_in(start, end, site_ids), Conversation.first_response_at.is_not(None),
    )
    rows = await db.execute(query)
    return [(created, answered) for created, answered in rows.all()
            if answered is not None]


async def handover_counts(
    db: AsyncSession, start: datetime, end: datetime, site_ids: Sequence[str] | None
) -> dict[str | None, int]:
    """Handovers to another team in [start, end), per handing-over site id."""
    rows = await db.execute(
        select(AuditEvent.site_id, func.count())
        .where(
            AuditEvent.action == ACTION_HANDED_OVER, AuditEvent.at >= start, AuditEvent.at < end,
            _in_sites(AuditEvent.site_id, site_ids),
        )
        .group_by(AuditEvent.site_id)
    )
    return {site: int(n) for site, n in rows.all()}


async def sites(db: AsyncSession, site_ids: Sequence[str] | None) -> list[Site]:
    query = select(Site).order_by(Site.name)
    if site_ids is not None:
        query = query.where(Site.id.in_(list(site_ids)))
    return list((await db.execute(query)).scalars())


async def site_by_slug(db: AsyncSession, slug: str) -> Site | None:
    return (await db.execute(select(Site).where(Site.slug == slug))).scalar_one_or_none()


async def led_site_ids(db: AsyncSession, account_id: str) -> list[str]:
    rows = await db.execute(
        select(SiteMembership.site_id).where(
            SiteMembership.account_id == account_id, SiteMembership.is_lead.is_(True)
        )
    )
    return list(rows.scalars())


async def waiting_by_site(db: AsyncSession) -> list[tuple[str, int, datetime]]:
    """(site slug, waiting enquiries, oldest created_at) of every site with a queue."""
    rows = await db.execute(
        select(Site.slug, func.count(), func.min(Conversation.created_at))
        .join(Site, Site.id == Conversation.site_id)
        .where(Conversation.status == STATUS_WAITING)
        .group_by(Site.slug)
    )
    return [(slug, int(n), oldest) for slug, n, oldest in rows.all()]
