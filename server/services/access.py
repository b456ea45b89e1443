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
ConversationAction = Literal["read", "send", "type", "close", "reassign", "mark_urgent"]
YOUNG_PERSON_ACTIONS: frozenset[str] = frozenset({"read", "send", "type", "close"})


@dataclass(frozen=True)
class ConversationAccess:
    """What `access_conversation_for` grants.

    * ``young_person``: the owner; reads everything, may write.
    * ``counsellor``: works in the conversation's current site; reads every epoch (the site key
      opens them). ``writable`` means "may be in the live room and act on the conversation at
      all"; WHICH actions is the colleague rule of `can` (docs/security.md, open item 8):
      only the holder (the counsellor who took it) sends, types and closes; the site's lead
      may also close and reassign; every counsellor of the site may read it and mark it
      urgent (a colleague who reads a risk must be able to raise it).
    * ``former_member``: took part before (e.g. before a handover) and no longer works in the
      site: read-only, and only the epochs they had.
    """

    conversation: Conversation
    role: ConversationRole
    writable: bool
    from_epoch: int
    until_epoch: int | None  # None: every epoch, present and future
    #: The counsellor who holds the conversation (`conversation.counsellor_id`) is the caller.
    holder: bool = False
    #: The caller leads the conversation's current site.
    site_lead: bool = False

    @property
    def site_ids(self) -> tuple[str, ...]:
        """Sites whose key shares the viewer may fetch (the current site, for its counsellors)."""
        return (self.conversation.site_id,) if self.role == "counsellor" else ()

    def can(self, action: ConversationAction) -> bool:
        """The colleague rule, one line per case (see the class docstring)."""
        if action == "read":
            return True
        if not self.writable:
            return False  # former members only read
        if self.role == "young_person":
            return action in YOUNG_PERSON_ACTIONS
        if action == "mark_urgent":
            return True  # any counsellor of the site (safeguarding)
        if action in ("close", "reassign") and self.site_lead:
            return True
        if action == "reassign":
            return False  # the lead's decision, not the holder's (handover is its own flow)
        return self.holder

    def require(self, action: ConversationAction) -> None:
        """Raise a 403 with a translated reason unless `can(action)`."""
        if self.can(action):
            return
        if self.role == "counsellor" and action == "reassign":
            raise Forbidden("not_lead", _("Only the team lead can do this."))
        if self.role == "counsellor":
            raise Forbidden(
                "not_holder",
                _("Only the counsellor who took this conversation (or the team lead, for "
                  "closing) can do this."),
            )
        raise not_found()


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
        return ConversationAccess(conversation, "young_person", True, 1, None, holder=True)
    if account.role not in COUNSELLOR_ROLES:
        raise not_found()
    membership = await repo.get_membership(db, account.account_id, conversation.site_id)
    if membership is not None:
        return ConversationAccess(
            conversation, "counsellor", True, 1, None,
            holder=conversation.counsellor_id == account.account_id,
            site_lead=bool(membership.is_lead),
        )
    member = await db.get(ConversationMember, (conversation.id, account.account_id))
    if member is None:
        raise not_found()
    if for_write:
        raise not_found()
    until = member.until_epoch if member.until_epoch is not None else conversation.current_epoch
    return ConversationAccess(conversation, "former_member", False, member.from_epoch, until)


# =============================================================================================
# Admin screens (issues #4, #9: sites, topics, retention, audit trail).
# This section is maintained by the admin area; it only appends to the module.
# =============================================================================================

from server.storage.models.accounts import ROLE_SITE_LEAD  # noqa: E402
from server.storage.repositories import admin as admin_repo  # noqa: E402


async def admin_scope_for(db: AsyncSession, account: AccountContext) -> list[str] | None:
    """The sites whose administration `account` may see: None means every site (admins);
    site leads get the sites they lead; everybody else is refused."""
    if account.role == ROLE_ADMIN:
        return None
    if account.role != ROLE_SITE_LEAD:
        raise forbidden()
    return await admin_repo.led_site_ids(db, account.account_id)


async def access_admin_site_for(db: AsyncSession, account: AccountContext, site_id: str) -> Site:
    """A site to administer: any site for admins, their own sites for site leads (404 for an
    unknown site, 403 otherwise)."""
    if account.role == ROLE_ADMIN:
        site = await repo.get_site(db, site_id)
        if site is None:
            raise not_found()
        return site
    if account.role != ROLE_SITE_LEAD:
        raise forbidden()
    return await access_site_for(db, account, site_id, need="lead")


# =============================================================================================
# Chat rounds (issue #9: scheduled group chats). Maintained by the rounds area; appended.
# =============================================================================================

from server.storage.models.rounds import (  # noqa: E402
    ACTIVE_STATES,
    ChatRound,
    RoundParticipant,
)

RoundNeed = Literal["view", "participant", "moderate"]


@dataclass(frozen=True)
class RoundAccess:
    """What `access_round_for` grants: the round, the caller's participant row (if any) and
    whether they moderate it (counsellors who work in the round's site)."""

    round: ChatRound
    participant: RoundParticipant | None
    moderator: bool


async def access_round_for(
    db: AsyncSession, account: AccountContext, round_id: str, *, need: RoundNeed = "view"
) -> RoundAccess:
    """The ONLY way to load a chat round for a user; everything not allowed is `not_found()`.

    * ``view``: young people (any round: the list is public to them) and counsellors of the
      round's site.
    * ``participant``: an active participant (waiting or admitted), of either role.
    * ``moderate``: counsellors and site leads who work in the round's site.
    """
    chat_round = await db.get(ChatRound, round_id)
    if chat_round is None:
        raise not_found()
    moderator = False
    if account.role in COUNSELLOR_ROLES:
        membership = await repo.get_membership(db, account.account_id, chat_round.site_id)
        moderator = membership is not None
        if not moderator:
            raise not_found()
    elif account.role != ROLE_YOUNG_PERSON:
        raise not_found()
    participant = await db.get(RoundParticipant, (round_id, account.account_id))
    if need == "moderate" and not moderator:
        raise not_found()
    if need == "participant" and (participant is None or participant.state not in ACTIVE_STATES):
        raise not_found()
    return RoundAccess(chat_round, participant, moderator)


# =============================================================================================
# Team management (issues #3, #9): who may manage a site's counsellors.
# This section is maintained by the team area; it only appends to the module.
# =============================================================================================


async def access_team_for(db: AsyncSession, account: AccountContext, site_id: str) -> Site:
    """The site, if `account` may manage its team: admins (every site) and the site's own
    leads (current membership, read now). Raises 404 for an unknown site, 403 otherwise."""
    site = await repo.get_site(db, site_id)
    if site is None:
        raise not_found()
    if account.role == ROLE_ADMIN:
        return site
    if account.role not in COUNSELLOR_ROLES:
        raise forbidden()
    membership = await repo.get_membership(db, account.account_id, site_id)
    if membership is None:
        raise Forbidden("not_member", _("You do not work in this team."))
    if not membership.is_lead:
        raise Forbidden("not_lead", _("Only the team lead can do this."))
    return site


# =============================================================================================
# Statistics (issue #9): whose counts an account may see.
# This section is maintained by the statistics area; it only appends to the module.
# =============================================================================================


@dataclass(frozen=True)
class StatisticsScope:
    """`site_ids` None: every site (admins); otherwise exactly these sites."""

    site_ids: list[str] | None


async def access_statistics_for(
    db: AsyncSession, account: AccountContext, site_slug: str | None
) -> StatisticsScope:
    """Admins: every site, or the one asked for. Site leads: the sites they lead (current
    membership with `is_lead`), or one of them. Everybody else: 403. An unknown slug is 404
    for admins; for site leads it is the same 403 as a site they do not lead."""
    from server.storage.repositories import statistics as stats_repo

    if account.role == ROLE_ADMIN:
        if site_slug is None:
            return StatisticsScope(None)
        site = await stats_repo.site_by_slug(db, site_slug)
        if site is None:
            raise not_found()
        return StatisticsScope([site.id])
    if account.role != "site_lead":
        raise forbidden()
    led = await stats_repo.led_site_ids(db, account.account_id)
    if site_slug is None:
        return StatisticsScope(led)
    site = await stats_repo.site_by_slug(db, site_slug)
    if site is None or site.id not in led:
        raise Forbidden("not_lead", _("Only the team lead can do this."))
    return StatisticsScope([site.id])


# =============================================================================================
# Moderation (issue #8: block and report young people's accounts). Appended section.
# =============================================================================================

from server.storage.models.moderation import AccountReport  # noqa: E402


async def access_moderation_for(
    db: AsyncSession, account: AccountContext, conversation_id: str
) -> ConversationAccess:
    """Block, unblock, report, moderation status of a conversation: counsellors and site leads
    who work in the conversation's CURRENT site. Everybody else gets the same `not_found` as
    for an unknown id (former members after a handover too)."""
    access = await access_conversation_for(db, account, conversation_id, for_write=True)
    if access.role != "counsellor":
        raise not_found()
    return access


async def access_report_for(
    db: AsyncSession, account: AccountContext, report_id: str
) -> AccountReport:
    """A report, for the lead of the report's site or an admin; `not_found` for anyone else
    (also for counsellors of the site: reports go to the lead)."""
    report = await db.get(AccountReport, report_id)
    if report is None:
        raise not_found()
    if account.role == ROLE_ADMIN:
        return report
    if account.role != "site_lead":
        raise not_found()
    membership = await repo.get_membership(db, account.account_id, report.site_id)
    if membership is None or not membership.is_lead:
        raise not_found()
    return report


async def report_site_ids_for(db: AsyncSession, account: AccountContext) -> list[str] | None:
    """Whose reports `account` may list: None (every site) for admins, the led sites for site
    leads; 403 for everybody else."""
    if account.role == ROLE_ADMIN:
        return None
    if account.role != "site_lead":
        raise forbidden()
    from server.storage.repositories import moderation as moderation_repo

    return await moderation_repo.led_site_ids(db, account.account_id)

