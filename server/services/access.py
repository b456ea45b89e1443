"""The one access path: who may do what, in one module.

Every transport (HTTP views, socket handlers) first turns the request into an `AccountContext`
(server/transport/http/auth.py, the socket connect handler) and then asks this module. Later
areas add their checks here (for example `access_conversation_for`), so that the rules can be
reviewed in one place and no handler invents its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from server.i18n import lazy_gettext as _
from server.services.errors import Forbidden, forbidden, not_found
from server.storage.models import Site
from server.storage.models.accounts import (
    COUNSELLOR_ROLES,
    ROLE_ADMIN,
    ROLE_YOUNG_PERSON,
    ROLES,
    STAFF_ROLES,
)
from server.storage.repositories import accounts as repo

Role = Literal["young_person", "counsellor", "site_lead", "admin"]
SiteNeed = Literal["public", "member", "lead"]


@dataclass(frozen=True)
class AccountContext:
    """Who is asking: the result of authenticating a request or a socket connection."""

    account_id: str
    role: str
    locale: str
    session_id: str
    #: When the session ends (absolute lifetime); None where no session is involved.
    expires_at: datetime | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_counsellor(self) -> bool:
        """Counsellors and site leads: they work in sites."""
        return self.role in COUNSELLOR_ROLES


def require_role(account: AccountContext, *roles: Role) -> None:
    """Raise 403 unless the account has one of `roles`."""
    assert all(role in ROLES for role in roles)
    if account.role not in roles:
        raise forbidden()


def require_counsellor(account: AccountContext) -> None:
    require_role(account, "counsellor", "site_lead")


async def access_site_for(
    db: AsyncSession, account: AccountContext, site_id: str, *, need: SiteNeed = "member"
) -> Site:
    """The site, if `account` may use it for `need`; raises 404 / 403 otherwise.

    * ``public``: what is public about a site anyway (its certified public keys): young people,
      admins and the site's own counsellors.
    * ``member``: counsellors and site leads who work in the site.
    * ``lead``: site leads of the site.
    """
    site = await repo.get_site(db, site_id)
    if site is None:
        raise not_found()
    if need == "public" and account.role in (ROLE_YOUNG_PERSON, ROLE_ADMIN):
        return site
    if account.role not in COUNSELLOR_ROLES:
        raise forbidden()
    membership = await repo.get_membership(db, account.account_id, site_id)
    if membership is None:
        raise Forbidden("not_member", _("You do not work in this team."))
    if need == "lead" and not membership.is_lead:
        raise Forbidden("not_lead", _("Only the team lead can do this."))
    return site


# =============================================================================================
# Conversations (issue #5: enquiry, queue and live conversation).
# This section is maintained by the conversation area; it only appends to the module.
# =============================================================================================

from server.storage.models import Conversation, ConversationMember  # noqa: E402

ConversationRole = Literal["young_person", "counsellor", "former_member"]


@dataclass(frozen=True)
class ConversationAccess:
    """What `access_conversation_for` grants.

    * ``young_person``: the owner; reads everything, may write.
    * ``counsellor``: works in the conversation's current site; reads every epoch (the site key
      opens them), may write once they are a member (took the conversation).
    * ``former_member``: took part before (e.g. before a handover) and no longer works in the
      site: read-only, and only the epochs they had.
    """

    conversation: Conversation
    role: ConversationRole
    writable: bool
    from_epoch: int
    until_epoch: int | None  # None: every epoch, present and future

    @property
    def site_ids(self) -> tuple[str, ...]:
        """Sites whose key shares the viewer may fetch (the current site, for its counsellors)."""
        return (self.conversation.site_id,) if self.role == "counsellor" else ()


async def access_conversation_for(
    db: AsyncSession, account: AccountContext, conversation_id: str, *, for_write: bool = False
) -> ConversationAccess:
    """The ONLY way to load a conversation for a user. Everything that is not allowed raises
    the same `not_found()`, so nobody learns whether a conversation exists."""
    conversation = await db.get(Conversation, conversation_id)
    if conversation is None:
        raise not_found()
    if account.role == ROLE_YOUNG_PERSON:
        if conversation.young_person_id != account.account_id:
            raise not_found()
        return ConversationAccess(conversation, "young_person", True, 1, None)
    if account.role not in COUNSELLOR_ROLES:
        raise not_found()
    if await repo.get_membership(db, account.account_id, conversation.site_id) is not None:
        return ConversationAccess(conversation, "counsellor", True, 1, None)
    member = await db.get(ConversationMember, (conversation.id, account.account_id))
    if member is None:
        raise not_found()
    if for_write:
        raise not_found()
    until = member.until_epoch if member.until_epoch is not None else conversation.current_epoch
    return ConversationAccess(conversation, "former_member", False, member.from_epoch, until)
