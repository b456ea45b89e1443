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
    Conversation,
    ConversationMember,
    Invitation,
    LoginThrottle,
    Site,
    SiteKey,
    SiteKeyBox,
    SiteKeyRotation,
    SiteMembership,
    TeamInvitation,
    TeamProfile,
)
from server.storage.models.accounts import COUNSELLOR_ROLES

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


# --- team management (issues #3, #9; server/services/team.py) ------------------------------


async def delete_membership(db: AsyncSession, account_id: str, site_id: str) -> bool:
    result = await db.execute(
        delete(SiteMembership).where(
            SiteMembership.account_id == account_id, SiteMembership.site_id == site_id
        )
    )
    return int(getattr(result, "rowcount", 0) or 0) > 0


async def delete_boxes_of_account_for_site(db: AsyncSession, account_id: str, site_id: str) -> None:
    """Drop the site key boxes of one site sealed to an account (it left the site)."""
    key_ids = select(SiteKey.id).where(SiteKey.site_id == site_id).scalar_subquery()
    await db.execute(
        delete(SiteKeyBox).where(
            SiteKeyBox.account_id == account_id, SiteKeyBox.site_key_id.in_(key_ids)
        )
    )


async def box_versions_of_site(db: AsyncSession, site_id: str) -> dict[str, list[int]]:
    """account id -> the site key versions sealed to it (ascending)."""
    result = await db.execute(
        select(SiteKeyBox.account_id, SiteKey.version)
        .join(SiteKey, SiteKey.id == SiteKeyBox.site_key_id)
        .where(SiteKey.site_id == site_id)
        .order_by(SiteKey.version)
    )
    held: dict[str, list[int]] = {}
    for account_id, version in result.all():
        held.setdefault(str(account_id), []).append(int(version))
    return held


async def last_sign_in(db: AsyncSession, account_ids: Sequence[str]) -> dict[str, datetime]:
    """account id -> when its newest still-stored full session began."""
    if not account_ids:
        return {}
    result = await db.execute(
        select(AuthSession.account_id, func.max(AuthSession.created_at))
        .where(AuthSession.account_id.in_(list(account_ids)), AuthSession.scope == "full")
        .group_by(AuthSession.account_id)
    )
    return {str(a): when for a, when in result.all() if when is not None}


async def team_profiles(db: AsyncSession, account_ids: Sequence[str]) -> dict[str, TeamProfile]:
    if not account_ids:
        return {}
    result = await db.execute(
        select(TeamProfile).where(TeamProfile.account_id.in_(list(account_ids)))
    )
    return {p.account_id: p for p in result.scalars()}


async def get_team_profile(db: AsyncSession, account_id: str) -> TeamProfile | None:
    return await db.get(TeamProfile, account_id)


def add_team_profile(db: AsyncSession, profile: TeamProfile) -> None:
    db.add(profile)


def add_team_invitation(db: AsyncSession, row: TeamInvitation) -> None:
    db.add(row)


async def invited_languages(db: AsyncSession, account_ids: Sequence[str]) -> dict[str, list[str]]:
    """Languages chosen on the Team screen when these accounts were invited."""
    if not account_ids:
        return {}
    result = await db.execute(
        select(Invitation.account_id, TeamInvitation.languages)
        .join(TeamInvitation, TeamInvitation.invitation_id == Invitation.id)
        .where(Invitation.account_id.in_(list(account_ids)))
    )
    return {str(a): list(langs or []) for a, langs in result.all() if a is not None}


async def open_invitations_of_site(
    db: AsyncSession, site_id: str, now: datetime
) -> list[tuple[Invitation, list[str]]]:
    """Invitations of a site that are neither used up nor expired, with their languages."""
    result = await db.execute(
        select(Invitation, TeamInvitation.languages)
        .outerjoin(TeamInvitation, TeamInvitation.invitation_id == Invitation.id)
        .where(
            Invitation.site_id == site_id, Invitation.completed_at.is_(None),
            Invitation.expires_at > now,
        )
        .order_by(Invitation.created_at)
    )
    return [(inv, list(langs or [])) for inv, langs in result.all()]


async def get_invitation(db: AsyncSession, invitation_id: str) -> Invitation | None:
    return await db.get(Invitation, invitation_id)


async def get_rotation(db: AsyncSession, site_id: str) -> SiteKeyRotation | None:
    return await db.get(SiteKeyRotation, site_id)


def add_rotation(db: AsyncSession, row: SiteKeyRotation) -> None:
    db.add(row)


async def conversations_of_counsellor_at_site(
    db: AsyncSession, account_id: str, site_id: str
) -> list[Conversation]:
    """Conversations of a site whose current counsellor is `account_id` (any status)."""
    result = await db.execute(
        select(Conversation).where(
            Conversation.site_id == site_id, Conversation.counsellor_id == account_id
        )
    )
    return list(result.scalars())


async def memberships_in_site_conversations(
    db: AsyncSession, account_id: str, site_id: str
) -> list[tuple[ConversationMember, Conversation]]:
    result = await db.execute(
        select(ConversationMember, Conversation)
        .join(Conversation, Conversation.id == ConversationMember.conversation_id)
        .where(ConversationMember.account_id == account_id, Conversation.site_id == site_id)
    )
    return [(m, c) for m, c in result.all()]


async def sites_with_rotation_due(db: AsyncSession) -> set[str]:
    """Sites where somebody left and no site key version newer than theirs exists yet."""
    newest = (
        select(SiteKey.site_id, func.max(SiteKey.version).label("newest"))
        .group_by(SiteKey.site_id)
        .subquery()
    )
    result = await db.execute(
        select(SiteKeyRotation.site_id)
        .outerjoin(newest, newest.c.site_id == SiteKeyRotation.site_id)
        .where(func.coalesce(newest.c.newest, 0) <= SiteKeyRotation.stale_version)
    )
    return {str(site_id) for site_id in result.scalars()}


async def get_account_by_nickname(db: AsyncSession, nickname: str) -> Account | None:
    """By the stored nickname as written (demo data and staff lookups; logins go by key)."""
    result = await db.execute(select(Account).where(Account.nickname == nickname))
    return result.scalar_one_or_none()


async def all_sites_by_name(db: AsyncSession) -> list[Site]:
    return list((await db.execute(select(Site).order_by(Site.name, Site.slug))).scalars())


async def find_counsellors(db: AsyncSession, needle: str, limit: int) -> list[Account]:
    """Counsellor and site-lead accounts whose display name or nickname contains `needle`
    (lower case; empty: all), by display name."""
    statement = select(Account).where(Account.role.in_(COUNSELLOR_ROLES))
    if needle:
        statement = statement.where(
            func.lower(Account.display_name).contains(needle, autoescape=True)
            | func.lower(Account.nickname).contains(needle, autoescape=True)
        )
    rows = await db.execute(statement.order_by(Account.display_name, Account.id).limit(limit))
    return list(rows.scalars())


async def memberships_of_accounts(
    db: AsyncSession, account_ids: Sequence[str]
) -> list[tuple[str, bool, str, str]]:
    """(account id, is lead, site id, site name) for each membership of the accounts."""
    if not account_ids:
        return []
    rows = await db.execute(
        select(SiteMembership.account_id, SiteMembership.is_lead, Site.id, Site.name)
        .join(Site, Site.id == SiteMembership.site_id)
        .where(SiteMembership.account_id.in_(account_ids))
        .order_by(Site.name, Site.id)
    )
    return [(a, bool(lead), site_id, name) for a, lead, site_id, name in rows]
