"""Safeguarding: a counsellor marks a conversation as urgent (risk to life).

What marking does:

* the flag `conversations.urgent` is set (or cleared); urgent enquiries come first in the site's
  queue — the queue's ORDER BY (`repositories/conversations.py`: `queue_items`,
  `waiting_people_of_site`, `queue_position`) sorts by `urgent DESC` before age, so no other
  change is needed there;
* `conversation.urgent` goes to the site's queue room (every counsellor screen of the site
  re-sorts), to each site lead's `account:<id>` room and to the assigned counsellor — never to
  the young person: the flag is the counsellors' assessment, not a message to them;
* waiting young people of the site get their new queue positions;
* an audit event records who, when, which conversation — metadata only;
* if `[mail]` is enabled and the site has a contact address, a mail without any content asks
  the team to log in (staff accounts store no e-mail addresses, so the site's address it is).

Only counsellors who work in the conversation's current site may mark it (the one access path:
`access_conversation_for`); a repeated request changes nothing and tells nobody again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict

from server.config import AppConfig
from server.i18n import get_translator
from server.i18n import lazy_gettext as _
from server.services import mail as mail_service
from server.services.access import AccountContext, access_conversation_for, require_counsellor
from server.services.accounts import audit
from server.services.clock import Clock
from server.services.conversation_views import position_notices
from server.services.errors import Conflict, not_found
from server.services.events import Notice, account_room, queue_room
from server.storage.db import Sessions
from server.storage.models.conversations import STATUS_WAITING
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import conversations as conversations_repo
from server.storage.repositories import safeguarding as repo

log = logging.getLogger("jmdchat.safeguarding")


class ConversationUrgent(BaseModel):
    """Server → client `conversation.urgent` (counsellors of the site and its leads)."""

    model_config = ConfigDict(frozen=True)
    conversation_id: str
    site_id: str
    urgent: bool
    status: Literal["waiting", "active", "closed"]
    by_display_name: str | None = None


@dataclass(frozen=True)
class UrgentResult:
    urgent: bool
    changed: bool
    notices: list[Notice]
    # Content-free notification mails to send after the commit.
    mails: list[mail_service.Mail] = field(default_factory=list)


def account_deleted() -> Conflict:
    return Conflict("account_deleted", _("The young person has deleted their account."))


def _lead_mail(config: AppConfig, to: str, site_name: str) -> mail_service.Mail:
    """In the installation's default language; nothing about the person or the conversation."""
    translator = get_translator(config.i18n.default_locale)
    return mail_service.Mail(
        to=to,
        subject=translator.gettext(_("jmdchat: a conversation was marked as urgent")),
        body=translator.gettext(
            _(
                "A counsellor of {site} has marked a conversation as urgent (risk to life). "
                "Please log in to jmdchat now: {url}\n\n"
                "This e-mail contains no details on purpose."
            ),
            site=site_name,
            url=config.server.public_url,
        ),
    )


async def set_urgent(
    sessions: Sessions, clock: Clock, config: AppConfig, account: AccountContext,
    conversation_id: str, urgent: bool,
) -> UrgentResult:
    require_counsellor(account)
    now = clock.now()
    async with sessions.begin() as db:
        await conversations_repo.begin_write(db)
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        if access.role != "counsellor":
            raise not_found()
        access.require("mark_urgent")  # any counsellor of the site (colleague rule)
        conversation = access.conversation
        if urgent and conversation.young_person_id is None:
            raise account_deleted()
        if not await repo.set_urgent(db, conversation_id, urgent):
            return UrgentResult(urgent=urgent, changed=False, notices=[])
        await db.refresh(conversation)
        me = await accounts_repo.get_account(db, account.account_id)
        site = await accounts_repo.get_site(db, conversation.site_id)
        assert site is not None
        audit(
            db, now, "conversation_marked_urgent" if urgent else "conversation_urgent_removed",
            "conversation", conversation_id, actor_id=account.account_id, site_id=site.id,
        )
        leads = await repo.site_lead_ids(db, site.id)
        rooms = [queue_room(site.id), *(account_room(lead) for lead in leads)]
        if conversation.counsellor_id is not None:
            rooms.append(account_room(conversation.counsellor_id))
        notices = [Notice(
            rooms, "conversation.urgent",
            ConversationUrgent(
                conversation_id=conversation_id, site_id=site.id, urgent=urgent,
                status=conversation.status,  # the CHECK constraint keeps it one of three
                by_display_name=me.display_name if me is not None else None,
            ),
        )]
        if conversation.status == STATUS_WAITING:
            notices.extend(await position_notices(db, site, now))
        mails = (
            [_lead_mail(config, site.email, site.name)]
            if urgent and config.mail.enabled and site.email else []
        )
    log.info("conversation urgent flag changed", extra={"urgent": urgent})
    return UrgentResult(urgent=urgent, changed=True, notices=notices, mails=mails)


async def send_mails(config: AppConfig, mails: list[mail_service.Mail]) -> None:
    """Deliver the notification mails (call after the commit, off the request's path)."""
    for item in mails:
        try:
            await mail_service.send(config.mail, item)
        except Exception:  # the flag and the live event are what count; mail is a bonus
            log.exception("urgent notification mail failed")
