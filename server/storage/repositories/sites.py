"""Queries on sites and topics. Take an `AsyncSession`, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import Site, Topic


async def all_sites(session: AsyncSession, *, active_only: bool = False) -> Sequence[Site]:
    query = select(Site).order_by(Site.slug)
    if active_only:
        query = query.where(Site.active.is_(True))
    return (await session.scalars(query)).all()


async def site_by_slug(session: AsyncSession, slug: str) -> Site | None:
    return await session.scalar(select(Site).where(Site.slug == slug))


async def site_by_id(session: AsyncSession, site_id: str) -> Site | None:
    return await session.get(Site, site_id)


def add_site(session: AsyncSession, site: Site) -> None:
    session.add(site)


async def fingerprint(session: AsyncSession) -> tuple[int, datetime | None]:
    """Changes whenever a site is added, changed or deleted: every write sets `updated_at`
    to the (monotonic enough) clock, and a deletion changes the count."""
    row = (await session.execute(select(func.count(Site.id), func.max(Site.updated_at)))).one()
    count, latest = row
    if isinstance(latest, str):  # SQLite returns max() of a DateTime column as text
        latest = datetime.fromisoformat(latest)
    return int(count), latest


async def all_topics(session: AsyncSession, *, active_only: bool = False) -> Sequence[Topic]:
    query = select(Topic).order_by(Topic.sort_order, Topic.key)
    if active_only:
        query = query.where(Topic.active.is_(True))
    return (await session.scalars(query)).all()


def add_topic(session: AsyncSession, topic: Topic) -> None:
    session.add(topic)
