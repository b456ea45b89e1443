"""Queries for the admin screens: settings, topic name overrides, the audit trail and which
sites an account leads. Take an `AsyncSession`, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import (
    Account,
    AdminSetting,
    AuditEvent,
    Site,
    SiteMembership,
    TopicNameOverride,
)
from server.storage.models.accounts import STAFF_ROLES

# --- settings -------------------------------------------------------------------------------


async def get_setting(db: AsyncSession, key: str) -> dict[str, Any] | None:
    row = await db.get(AdminSetting, key)
    return dict(row.value) if row is not None else None


async def put_setting(db: AsyncSession, key: str, value: dict[str, Any], now: datetime) -> None:
    row = await db.get(AdminSetting, key)
    if row is None:
        db.add(AdminSetting(key=key, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now


# --- topic name overrides -------------------------------------------------------------------


async def topic_overrides(db: AsyncSession) -> Sequence[TopicNameOverride]:
    query = select(TopicNameOverride).order_by(TopicNameOverride.topic_key,
                                               TopicNameOverride.locale)
    return (await db.scalars(query)).all()


async def set_topic_override(db: AsyncSession, topic_key: str, locale: str, name: str,
                             now: datetime) -> None:
    row = await db.get(TopicNameOverride, (topic_key, locale))
    if row is None:
        db.add(TopicNameOverride(topic_key=topic_key, locale=locale, name=name, updated_at=now))
    else:
        row.name = name
        row.updated_at = now


async def delete_topic_override(db: AsyncSession, topic_key: str, locale: str) -> None:
    await db.execute(delete(TopicNameOverride).where(
        TopicNameOverride.topic_key == topic_key, TopicNameOverride.locale == locale))


# --- sites an account leads -----------------------------------------------------------------


async def led_site_ids(db: AsyncSession, account_id: str) -> list[str]:
    query = (select(SiteMembership.site_id)
             .where(SiteMembership.account_id == account_id, SiteMembership.is_lead.is_(True)))
    return list((await db.scalars(query)).all())


async def sites_by_ids(db: AsyncSession, ids: Sequence[str]) -> dict[str, Site]:
    if not ids:
        return {}
    rows = (await db.scalars(select(Site).where(Site.id.in_(list(ids))))).all()
    return {site.id: site for site in rows}


# --- audit trail ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditFilter:
    site_ids: Sequence[str] | None  # None: every site (admins); else only these sites' events
    action: str | None = None
    site_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def _audit_query(flt: AuditFilter) -> Select[AuditEvent]:
    query = select(AuditEvent)
    if flt.site_ids is not None:
        query = query.where(AuditEvent.site_id.in_(list(flt.site_ids)))
    if flt.action:
        query = query.where(AuditEvent.action == flt.action)
    if flt.site_id:
        query = query.where(AuditEvent.site_id == flt.site_id)
    if flt.since is not None:
        query = query.where(AuditEvent.at >= flt.since)
    if flt.until is not None:
        query = query.where(AuditEvent.at < flt.until)
    return query


async def audit_page(db: AsyncSession, flt: AuditFilter, offset: int, limit: int
                     ) -> tuple[Sequence[AuditEvent], int]:
    """One page of events, newest first, and how many match in all."""
    query = _audit_query(flt)
    total = await db.scalar(select(func.count()).select_from(query.subquery()))
    rows = (await db.scalars(
        query.order_by(AuditEvent.at.desc(), AuditEvent.id).offset(offset).limit(limit)
    )).all()
    return rows, int(total or 0)


async def audit_actions(db: AsyncSession, site_ids: Sequence[str] | None) -> list[str]:
    query = select(AuditEvent.action).distinct().order_by(AuditEvent.action)
    if site_ids is not None:
        query = query.where(AuditEvent.site_id.in_(list(site_ids)))
    return list((await db.scalars(query)).all())


async def staff_names(db: AsyncSession, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """id → (display name, role) of staff accounts only: a young person's nickname is never
    looked up here."""
    if not ids:
        return {}
    rows = (await db.execute(
        select(Account.id, Account.display_name, Account.role)
        .where(Account.id.in_(list(ids)), Account.role.in_(STAFF_ROLES))
    )).all()
    return {row[0]: (row[1], row[2]) for row in rows}
