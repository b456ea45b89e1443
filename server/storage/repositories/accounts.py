"""Queries for accounts, sessions, invitations, site memberships, site keys and throttling.

Functions take an `AsyncSession`, never commit, and know no rules: the services decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import (
    Account,
    AuthSession,
    Invitation,
    LoginThrottle,
    Site,
    SiteKey,
    SiteKeyBox,
    SiteMembership,
)

# --- accounts ---------------------------------------------------------------------------------


async def get_account(db: AsyncSession, account_id: str) -> Account | None:
    return await db.get(Account, account_id)


async def get_account_for_update(db: AsyncSession, account_id: str) -> Account | None:
    # FOR UPDATE on PostgreSQL serialises concurrent changes (password change vs. login);
    # SQLite ignores it and serialises writers anyway.
    result = await db.execute(select(Account).where(Account.id == account_id).with_for_update())
    return result.scalar_one_or_none()


async def get_account_by_nickname_key(db: AsyncSession, nickname_key: str) -> Account | None:
    result = await db.execute(select(Account).where(Account.nickname_key == nickname_key))
    return result.scalar_one_or_none()


async def nickname_key_taken(db: AsyncSession, nickname_key: str) -> bool:
    result = await db.execute(
        select(func.count()).select_from(Account).where(Account.nickname_key == nickname_key)
    )
    return int(result.scalar_one()) > 0


def add_account(db: AsyncSession, account: Account) -> None:
    db.add(account)


async def delete_account_row(db: AsyncSession, account_id: str) -> None:
    await db.execute(delete(Account).where(Account.id == account_id))


async def list_accounts_by_role(db: AsyncSession, roles: Sequence[str]) -> list[Account]:
    result = await db.execute(
        select(Account).where(Account.role.in_(roles)).order_by(Account.created_at, Account.id)
    )
    return list(result.scalars())


# --- memberships ------------------------------------------------------------------------------


def add_membership(db: AsyncSession, membership: SiteMembership) -> None:
    db.add(membership)


async def get_membership(db: AsyncSession, account_id: str, site_id: str) -> SiteMembership | None:
    return await db.get(SiteMembership, (account_id, site_id))


async def sites_of_account(db: AsyncSession, account_id: str) -> list[tuple[Site, bool]]:
    """The sites an account works in, with `is_lead`, ordered by slug."""
    result = await db.execute(
        select(Site, SiteMembership.is_lead)
        .join(SiteMembership, SiteMembership.site_id == Site.id)
        .where(SiteMembership.account_id == account_id)
        .order_by(Site.slug)
    )
    return [(site, bool(is_lead)) for site, is_lead in result.all()]


async def members_of_site(db: AsyncSession, site_id: str) -> list[tuple[Account, bool]]:
    result = await db.execute(
        select(Account, SiteMembership.is_lead)
        .join(SiteMembership, SiteMembership.account_id == Account.id)
        .where(SiteMembership.site_id == site_id)
        .order_by(Account.created_at, Account.id)
    )
    return [(account, bool(is_lead)) for account, is_lead in result.all()]


async def delete_memberships(db: AsyncSession, account_id: str) -> None:
    await db.execute(delete(SiteMembership).where(SiteMembership.account_id == account_id))


# --- sites (read-only here; the sites area owns them) -----------------------------------------


async def get_site(db: AsyncSession, site_id: str) -> Site | None:
    return await db.get(Site, site_id)


async def get_site_by_slug(db: AsyncSession, slug: str) -> Site | None:
    result = await db.execute(select(Site).where(Site.slug == slug))
    return result.scalar_one_or_none()


# --- sessions and tokens ----------------------------------------------------------------------


def add_session(db: AsyncSession, session: AuthSession) -> None:
    db.add(session)


async def get_session_by_hash(db: AsyncSession, token_hash: str) -> AuthSession | None:
    result = await db.execute(select(AuthSession).where(AuthSession.token_hash == token_hash))
    return result.scalar_one_or_none()


async def delete_session(db: AsyncSession, session_id: str) -> None:
    await db.execute(delete(AuthSession).where(AuthSession.id == session_id))


async def session_ids_of_account(db: AsyncSession, account_id: str) -> list[str]:
    result = await db.execute(select(AuthSession.id).where(AuthSession.account_id == account_id))
    return list(result.scalars())


async def delete_sessions_of_account(
    db: AsyncSession, account_id: str, *, keep_session_id: str | None = None,
    scopes: Sequence[str] | None = None,
) -> list[str]:
    """Delete an account's sessions (optionally all but one, or only some scopes); returns ids."""
    condition = AuthSession.account_id == account_id
    query = select(AuthSession.id).where(condition)
    if keep_session_id is not None:
        query = query.where(AuthSession.id != keep_session_id)
    if scopes is not None:
        query = query.where(AuthSession.scope.in_(scopes))
    ids = list((await db.execute(query)).scalars())
    if ids:
        await db.execute(delete(AuthSession).where(AuthSession.id.in_(ids)))
    return ids


async def delete_expired_sessions(db: AsyncSession, now: datetime) -> int:
    result = await db.execute(delete(AuthSession).where(AuthSession.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


# --- invitations ------------------------------------------------------------------------------


def add_invitation(db: AsyncSession, invitation: Invitation) -> None:
    db.add(invitation)


async def get_invitation_by_hash(db: AsyncSession, token_hash: str) -> Invitation | None:
    result = await db.execute(select(Invitation).where(Invitation.token_hash == token_hash))
    return result.scalar_one_or_none()


async def get_invitation_of_account(db: AsyncSession, account_id: str) -> Invitation | None:
    result = await db.execute(select(Invitation).where(Invitation.account_id == account_id))
    return result.scalars().first()


async def delete_expired_invitations(db: AsyncSession, now: datetime) -> int:
    result = await db.execute(
        delete(Invitation).where(Invitation.expires_at <= now, Invitation.completed_at.is_(None))
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- site keys --------------------------------------------------------------------------------


def add_site_key(db: AsyncSession, key: SiteKey) -> None:
    db.add(key)


async def site_keys_of_site(db: AsyncSession, site_id: str) -> list[SiteKey]:
    result = await db.execute(
        select(SiteKey).where(SiteKey.site_id == site_id).order_by(SiteKey.version)
    )
    return list(result.scalars())


async def get_site_key(db: AsyncSession, site_id: str, version: int) -> SiteKey | None:
    result = await db.execute(
        select(SiteKey).where(SiteKey.site_id == site_id, SiteKey.version == version)
    )
    return result.scalar_one_or_none()


async def max_site_key_version(db: AsyncSession, site_id: str) -> int:
    result = await db.execute(
        select(func.max(SiteKey.version)).where(SiteKey.site_id == site_id)
    )
    value = result.scalar_one()
    return int(value) if value is not None else 0


async def uncertified_site_keys(db: AsyncSession) -> list[tuple[SiteKey, Site]]:
    result = await db.execute(
        select(SiteKey, Site)
        .join(Site, Site.id == SiteKey.site_id)
        .where(SiteKey.certificate.is_(None))
        .order_by(Site.slug, SiteKey.version)
    )
    return [(key, site) for key, site in result.all()]


async def get_box(db: AsyncSession, site_key_id: str, account_id: str) -> SiteKeyBox | None:
    return await db.get(SiteKeyBox, (site_key_id, account_id))


def add_box(db: AsyncSession, box: SiteKeyBox) -> None:
    db.add(box)


async def boxes_of_account(db: AsyncSession, account_id: str) -> list[tuple[SiteKeyBox, SiteKey]]:
    """Boxes sealed to the account, only for sites it is (still) a member of."""
    result = await db.execute(
        select(SiteKeyBox, SiteKey)
        .join(SiteKey, SiteKey.id == SiteKeyBox.site_key_id)
        .join(
            SiteMembership,
            (SiteMembership.site_id == SiteKey.site_id)
            & (SiteMembership.account_id == SiteKeyBox.account_id),
        )
        .where(SiteKeyBox.account_id == account_id)
        .order_by(SiteKey.site_id, SiteKey.version)
    )
    return [(box, key) for box, key in result.all()]


async def delete_boxes_of_account(db: AsyncSession, account_id: str) -> None:
    await db.execute(delete(SiteKeyBox).where(SiteKeyBox.account_id == account_id))


# --- login throttle ---------------------------------------------------------------------------


async def get_throttle(db: AsyncSession, key: str) -> LoginThrottle | None:
    return await db.get(LoginThrottle, key)


def add_throttle(db: AsyncSession, row: LoginThrottle) -> None:
    db.add(row)


async def delete_throttle(db: AsyncSession, key: str) -> None:
    await db.execute(delete(LoginThrottle).where(LoginThrottle.key == key))


async def delete_stale_throttles(db: AsyncSession, window_start_before: datetime) -> int:
    result = await db.execute(
        delete(LoginThrottle).where(
            LoginThrottle.window_start < window_start_before,
            (LoginThrottle.blocked_until.is_(None))
            | (LoginThrottle.blocked_until < window_start_before),
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def touch_account(db: AsyncSession, account_id: str, now: datetime) -> None:
    await db.execute(update(Account).where(Account.id == account_id).values(updated_at=now))
