"""Enquiries: the young person's first message, routed to a site and put into its queue.

The client first asks `GET /api/route` (`route_for`) which site will answer and which
certified site key to seal to. It then picks the conversation id (a fresh UUID: the id is part
of the encrypted, signed first message and of the key shares, which exist before the row),
seals the epoch-1 key to itself and to that site key, encrypts the first message and sends
`enquiry.create`. `create_enquiry` checks everything it can check without keys, routes again
(the directory may have changed) and stores conversation, membership, both key shares and the
first message (seq 1) in ONE transaction. The postcode is never stored: only the route, its
reason and at most the first two postcode digits.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.crypto.conversation import Envelope, KeyShare
from server.crypto.encoding import b64url_encode
from server.crypto.keys import key_id
from server.i18n import get_translator
from server.i18n import lazy_gettext as _
from server.services import key_freshness, moderation
from server.services import mail as mail_service
from server.services.access import AccountContext, require_role
from server.services.clock import Clock
from server.services.conversation_views import (
    queue_items,
    site_ref,
    summary,
)
from server.services.errors import Conflict, ServiceError, not_found
from server.services.events import (
    Coded,
    ConversationSummary,
    Notice,
    QueueAdded,
    QueuePosition,
    SiteRef,
    account_room,
    queue_room,
)
from server.services.routing import Candidate, normalize_language
from server.services.sites import Directory, route_enquiry
from server.storage.db import Sessions
from server.storage.models import (
    Conversation,
    ConversationKey,
    ConversationMember,
    Site,
    SiteKey,
)
from server.storage.models.conversations import (
    KIND_MESSAGE,
    MEMBER_YOUNG_PERSON,
    RECIPIENT_ACCOUNT,
    RECIPIENT_SITE,
    STATUS_ACTIVE,
    STATUS_WAITING,
)
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import conversations as repo
from server.storage.repositories import messages as messages_repo

log = logging.getLogger("jmdchat.enquiries")

#: A young person may have this many waiting or active conversations at once (spam brake).
MAX_OPEN_PER_YOUNG_PERSON = 5
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def invalid(field: str) -> ServiceError:
    return ServiceError("invalid", _("The field {field} is not valid."), field=field)


def no_site() -> ServiceError:
    return ServiceError(
        "no_site", _("No team can receive enquiries right now. Please try again later.")
    )


def route_changed() -> Conflict:
    return Conflict(
        "route_changed", _("The answering team has changed. Please send your message again.")
    )


def too_many_open() -> Conflict:
    return Conflict(
        "too_many_open",
        _("You already have several open conversations. Please continue one of them."),
    )


@dataclass(frozen=True)
class SiteKeyInfo:
    version: int
    x25519_public: str
    ed25519_public: str
    certificate: str


@dataclass(frozen=True)
class RouteAnswer:
    """What `GET /api/route` returns: who answers, why, and which key to seal to."""

    site: SiteRef
    slug: str
    reason: Coded
    site_key: SiteKeyInfo

    def as_json(self) -> dict[str, Any]:
        return {
            "site": {**self.site.model_dump(mode="json"), "slug": self.slug},
            "reason": self.reason.model_dump(mode="json"),
            "site_key": {
                "version": self.site_key.version,
                "x25519_public": self.site_key.x25519_public,
                "ed25519_public": self.site_key.ed25519_public,
                "certificate": self.site_key.certificate,
            },
        }


@dataclass(frozen=True)
class EpochKeyIn:
    """One epoch-1 key share of an enquiry, shape-checked by the transport."""

    recipient: Literal["self", "site"]
    site_key_version: int | None
    share: KeyShare


@dataclass(frozen=True)
class EnquiryResult:
    conversation: ConversationSummary
    notices: list[Notice]
    # Content-free notification mails to send after the commit (see `_queue_mail`).
    mails: list[mail_service.Mail] = field(default_factory=list)


def _queue_mail(config: AppConfig, to: str, site_name: str) -> mail_service.Mail:
    """In the installation's default language; nothing about the person or the enquiry."""
    translator = get_translator(config.i18n.default_locale)
    return mail_service.Mail(
        to=to,
        subject=translator.gettext(_("jmdchat: a new enquiry is waiting")),
        body=translator.gettext(
            _(
                "A new enquiry is waiting in the queue of {site}. "
                "Please log in to jmdchat to answer it: {url}\n\n"
                "This e-mail contains no details on purpose."
            ),
            site=site_name,
            url=config.server.public_url,
        ),
    )


async def send_mails(config: AppConfig, mails: list[mail_service.Mail]) -> None:
    """Deliver notification mails (after the commit, off the request's path); a failure is
    logged, never raised: the live queue is what counts, mail is a bonus."""
    for item in mails:
        try:
            await mail_service.send(config.mail, item)
        except Exception:
            log.exception("new enquiry notification mail failed")


def _reason(candidate: Candidate) -> Coded:
    return Coded(code=candidate.reason.code, params=dict(candidate.reason.params))


async def _current_site_key(db: AsyncSession, site_id: str, now: datetime) -> SiteKey | None:
    """The newest certified, unexpired version of a site's key (what clients seal to)."""
    keys = [
        k for k in await accounts_repo.site_keys_of_site(db, site_id)
        if k.certificate is not None
        and (k.certificate_expires_at is None or k.certificate_expires_at > now)
    ]
    return max(keys, key=lambda k: k.version, default=None)


async def _pick(
    db: AsyncSession, candidates: tuple[Candidate, ...], wanted_site: str | None, now: datetime
) -> tuple[Candidate, Site, SiteKey]:
    """The first candidate (or the one the client chose among them) that can receive
    encrypted enquiries, i.e. has a certified site key."""
    for candidate in candidates:
        if wanted_site is not None and candidate.site.id != wanted_site:
            continue
        site = await accounts_repo.get_site(db, candidate.site.id)
        key = await _current_site_key(db, candidate.site.id, now) if site else None
        if site is not None and site.active and key is not None:
            return candidate, site, key
    if wanted_site is not None:
        raise route_changed()
    raise no_site()


def _language(value: str) -> str:
    code = normalize_language(value)
    if code is None:
        raise invalid("language")
    return code


async def route_for(
    sessions: Sessions, clock: Clock, directory: Directory, location: str | None,
    language: str, topic: str,
) -> RouteAnswer:
    """Which site answers an enquiry with these inputs, and its current certified key."""
    decided = route_enquiry(directory, location, _language(language), topic)
    async with sessions.begin() as db:
        candidate, site, key = await _pick(db, decided.candidates, None, clock.now())
    assert key.certificate is not None
    return RouteAnswer(
        site=site_ref(site),
        slug=site.slug,
        reason=_reason(candidate),
        site_key=SiteKeyInfo(
            version=key.version,
            x25519_public=b64url_encode(key.x25519_public),
            ed25519_public=b64url_encode(key.ed25519_public),
            certificate=b64url_encode(key.certificate.encode("utf-8")),
        ),
    )


def _check_first_message(account: AccountContext, envelope: Envelope) -> str:
    """The conversation id is the first message's `conv`; returns it."""
    if _UUID.fullmatch(envelope.conv) is None:
        raise invalid("first_message.conv")
    if envelope.sender != account.account_id:
        raise invalid("first_message.sender")
    if envelope.epoch != 1:
        raise invalid("first_message.epoch")
    return envelope.conv


def _check_shares(
    account_id: str, conversation_id: str, epoch_keys: list[EpochKeyIn]
) -> tuple[EpochKeyIn, EpochKeyIn]:
    by_recipient = {k.recipient: k for k in epoch_keys}
    if len(epoch_keys) != 2 or set(by_recipient) != {"self", "site"}:
        raise invalid("epoch_keys")
    for index, key in enumerate(epoch_keys):
        share = key.share
        if share.conv != conversation_id or share.epoch != 1 or share.sender != account_id:
            raise invalid(f"epoch_keys.{index}.sealed")
    if by_recipient["site"].site_key_version is None:
        raise invalid("epoch_keys.site_key_version")
    return by_recipient["self"], by_recipient["site"]


async def create_enquiry(
    sessions: Sessions,
    clock: Clock,
    directory: Directory,
    account: AccountContext,
    *,
    topic: str,
    language: str,
    location: str | None,
    epoch_keys: list[EpochKeyIn],
    first_message: Envelope,
    first_message_json: dict[str, Any],
    site_id: str | None,
    config: AppConfig | None = None,
) -> EnquiryResult:
    """Store a new enquiry in ONE transaction; returns the young person's summary and the
    events (queue.added to the site's counsellors, queue.position to the young person).

    Repeating the same request (same conversation id and first message, e.g. after a lost
    ack) returns the stored conversation instead of a second one. With `[mail]` enabled and a
    site address, the site gets a content-free mail when its queue was empty until now (one
    mail per busy spell, not one per enquiry).
    """
    require_role(account, "young_person")
    conversation_id = _check_first_message(account, first_message)
    own_share, site_share = _check_shares(account.account_id, conversation_id, epoch_keys)
    decided = route_enquiry(directory, location, _language(language), topic)
    now = clock.now()
    async with sessions.begin() as db:
        await repo.begin_write(db)
        existing = await repo.get_conversation(db, conversation_id)
        if existing is not None:
            return await _repeat(db, account, existing, first_message, now)
        me = await accounts_repo.get_account(db, account.account_id)
        if me is None:
            raise not_found()
        if own_share.share.to != key_id("x25519", me.x25519_public):
            raise invalid("epoch_keys.self")
        candidate, site, key = await _pick(db, decided.candidates, site_id, now)
        if (
            site_share.site_key_version != key.version
            or site_share.share.to != key_id("x25519", key.x25519_public)
        ):
            if site_id == site.id:
                # The right site, but not its newest certified key (issue #3): the client
                # fetches the keys again and reseals (`stale_site_key`).
                key_freshness.require_current(key, site_share.site_key_version,
                                              site_share.share.to)
            # Sealed to another site or an older key version: route again and reseal.
            raise route_changed()
        open_now = await repo.count_open_of_young_person(db, account.account_id)
        if open_now >= MAX_OPEN_PER_YOUNG_PERSON:
            raise too_many_open()
        # Abuse (issue #8): blocked at this site, or too many enquiries today.
        await moderation.check_new_enquiry(db, config.rate_limits if config else None,
                                           account.account_id, site.id, now)
        conversation = Conversation(
            id=conversation_id,
            young_person_id=account.account_id,
            site_id=site.id,
            counsellor_id=None,
            status=STATUS_WAITING,
            topic=decided.topic or topic,
            language=decided.language or language,
            route_reason={"code": candidate.reason.code, "params": dict(candidate.reason.params)},
            postcode_prefix=(decided.postcode_prefix or None) and decided.postcode_prefix[:2],
            current_epoch=1,
            last_seq=1,
            created_at=now,
            claimed_at=None,
            first_response_at=None,
            last_activity_at=now,
            closed_at=None,
            urgent=False,
            handed_over_from_site_id=None,
            age_group=me.age_group,  # statistics (issue #9): coarse group, kept after deletion
        )
        repo.add_conversation(db, conversation)
        repo.add_member(db, ConversationMember(
            conversation_id=conversation_id, account_id=account.account_id,
            role=MEMBER_YOUNG_PERSON, from_epoch=1, until_epoch=None, last_read_seq=1,
            active=True, joined_at=now,
        ))
        repo.add_key(db, ConversationKey(
            conversation_id=conversation_id, epoch=1, recipient_kind=RECIPIENT_ACCOUNT,
            recipient_id=account.account_id, site_key_version=None,
            sealed=own_share.share.to_json(), created_at=now,
        ))
        repo.add_key(db, ConversationKey(
            conversation_id=conversation_id, epoch=1, recipient_kind=RECIPIENT_SITE,
            recipient_id=site.id, site_key_version=key.version,
            sealed=site_share.share.to_json(), created_at=now,
        ))
        await db.flush()  # the conversation row must exist before the message's foreign key
        await messages_repo.insert_messages(db, [{
            "conversation_id": conversation_id, "seq": 1, "mid": first_message.mid,
            "sender_id": account.account_id, "epoch": 1, "kind": KIND_MESSAGE,
            "envelope": first_message_json, "system_code": None, "system_params": None,
            "created_at": now,
        }])
        mine = await summary(db, conversation, viewer_id=account.account_id, now=now,
                             with_queue=True)
        [item] = await queue_items(db, [(conversation, me.nickname)], now)
        only_waiting = len(await repo.waiting_people_of_site(db, site.id, limit=2)) == 1
    notices = [Notice(queue_room(site.id), "queue.added", QueueAdded(item=item))]
    mails = (
        [_queue_mail(config, site.email, site.name)]
        if config is not None and config.mail.enabled and site.email
        and mine.queue_position == 1 and only_waiting else []
    )
    if mine.queue_position is not None and mine.expected_answer is not None:
        notices.append(Notice(
            account_room(account.account_id), "queue.position",
            QueuePosition(conversation_id=conversation_id, position=mine.queue_position,
                          expected_answer=mine.expected_answer),
        ))
    return EnquiryResult(conversation=mine, notices=notices, mails=mails)


async def _repeat(
    db: AsyncSession, account: AccountContext, existing: Conversation, first_message: Envelope,
    now: datetime,
) -> EnquiryResult:
    """A resent `enquiry.create`: the same young person and first message get the stored
    conversation; anything else looks like any other unknown id."""
    if existing.young_person_id != account.account_id:
        raise not_found()
    first = await messages_repo.get_by_seq(db, existing.id, 1)
    if first is None or first.mid != first_message.mid:
        raise Conflict("conversation_exists", _("Please start the enquiry again."))
    mine = await summary(db, existing, viewer_id=account.account_id, now=now,
                         with_queue=existing.status in (STATUS_WAITING, STATUS_ACTIVE))
    return EnquiryResult(conversation=mine, notices=[])

