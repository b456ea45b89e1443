"""Handover of a conversation: to a colleague of the same site, or to another site with the
young person's consent (issue #6; docs/protocol.md "Handover", docs/socket-events.md).

* **Colleague / back to the queue** (`hand_to_colleague`): the assigned counsellor (or a site
  lead of the site, `as_lead=True`: reassigning the conversations of an absent counsellor)
  names a colleague of the same site, or nobody (back to the site's queue). No new epoch: both
  work in the site and the site key already opens every epoch of the conversation. An optional
  note, sealed by the client to the site key, is stored as a conversation note.
* **Another site** (`propose` → `accept` / `decline`): a counsellor of the conversation's site
  proposes a target site with a note sealed to the *target* site's key. Nothing changes until
  the young person accepts in their conversation view. Their client then starts a new epoch
  (a fresh key sealed to themselves and to the target site's current key) and, only if they
  allow it, seals the keys of every earlier epoch to the target site as well — the server
  never holds a key it could open, it only checks the shares' shape and addressing. On accept,
  in ONE transaction: the conversation moves to the target site's queue (marked with its
  origin and the note), the previous counsellors' memberships end at the old epoch (they keep
  what they had, read-only, and receive nothing new), the proposal is closed and an audit row
  (metadata only) is written. The transport then closes the conversation's live room in every
  process, so nobody of the old site receives later events; the young person's clients
  re-join on `conversation.access_changed`.
* Proposals expire after `[handover] proposal_ttl_hours`; an expired proposal can neither be
  accepted nor declined. All state lives in the database, so every step works across server
  processes and after a reconnect (`handover.pending`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from server.crypto.conversation import KeyShare
from server.crypto.encoding import b64url_encode
from server.crypto.keys import key_id
from server.i18n import lazy_gettext as _
from server.services.access import (
    AccountContext,
    access_conversation_for,
    access_site_for,
    require_counsellor,
)
from server.services.accounts import ACCOUNT_DELETION_HOOKS, audit
from server.services.clock import Clock
from server.services.conversation_views import (
    append_system_message,
    broadcast_of,
    position_notices,
    queue_items,
    summary,
)
from server.services.errors import Conflict, Forbidden, ServiceError, forbidden, not_found
from server.services.events import (
    AccessChanged,
    ConversationUpdated,
    MessageNew,
    Notice,
    QueueAdded,
    QueueRemoved,
    account_room,
    conversation_room,
    queue_room,
)
from server.storage.db import Sessions
from server.storage.models import (
    ConversationKey,
    ConversationMember,
    ConversationNote,
    HandoverProposal,
    Site,
    SiteKey,
)
from server.storage.models.accounts import COUNSELLOR_ROLES, ROLE_ADMIN, ROLE_YOUNG_PERSON
from server.storage.models.conversations import (
    MEMBER_COUNSELLOR,
    RECIPIENT_ACCOUNT,
    RECIPIENT_SITE,
    STATUS_ACTIVE,
    STATUS_CLOSED,
    STATUS_WAITING,
)
from server.storage.models.handover import (
    PROPOSAL_ACCEPTED,
    PROPOSAL_DECLINED,
    PROPOSAL_PENDING,
)
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import conversations as repo
from server.storage.repositories import handover as handover_repo

ACTION_PROPOSED = "conversation_handover_proposed"
ACTION_HANDED_OVER = "conversation_handed_over"
ACTION_DECLINED = "conversation_handover_declined"
ACTION_REASSIGNED = "conversation_reassigned"


# --- errors -----------------------------------------------------------------------------------


def invalid(field_name: str) -> ServiceError:
    return ServiceError("invalid", _("The field {field} is not valid."), field=field_name)


def not_pending() -> Conflict:
    return Conflict("handover_not_pending", _("This handover proposal is no longer open."))


def expired() -> Conflict:
    return Conflict("handover_expired",
                    _("This handover proposal has expired. Nothing was changed."))


def same_site() -> ServiceError:
    return ServiceError("same_site", _("The conversation is already with this team."))


def site_unavailable() -> ServiceError:
    return ServiceError("site_unavailable", _("This team cannot take over conversations."))


def not_assigned() -> Forbidden:
    return Forbidden(
        "not_assigned", _("Only the counsellor of this conversation can hand it over.")
    )


def not_open() -> Conflict:
    return Conflict("conversation_closed", _("This conversation is closed."))


def site_moved() -> Conflict:
    return Conflict("handover_not_pending", _("This handover proposal is no longer open."))


# --- results ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What the acting user gets, the events for everybody, and live rooms to close (after
    the commit, before the events go out)."""

    result: dict[str, Any]
    notices: list[Notice]
    close_rooms: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NewEpochShare:
    recipient: Literal["self", "site"]
    site_key_version: int | None
    share: KeyShare


@dataclass(frozen=True)
class HistoryShare:
    epoch: int
    share: KeyShare


# --- helpers ----------------------------------------------------------------------------------


async def current_site_key(db: AsyncSession, site_id: str, now: datetime) -> SiteKey | None:
    """The newest certified, unexpired key version of a site (what clients seal to)."""
    keys = [
        k for k in await accounts_repo.site_keys_of_site(db, site_id)
        if k.certificate is not None
        and (k.certificate_expires_at is None or k.certificate_expires_at > now)
    ]
    return max(keys, key=lambda k: k.version, default=None)


def site_key_json(key: SiteKey | None) -> dict[str, Any] | None:
    if key is None or key.certificate is None:
        return None
    return {
        "version": key.version,
        "x25519_public": b64url_encode(key.x25519_public),
        "ed25519_public": b64url_encode(key.ed25519_public),
        "certificate": b64url_encode(key.certificate.encode("utf-8")),
    }


def site_json(site: Site) -> dict[str, Any]:
    """What a young person may see of the target site (public directory data)."""
    return {
        "id": site.id, "name": site.name, "city": site.city, "street": site.street,
        "postcode": site.postcode, "phone": site.phone, "email": site.email,
        "website": site.website, "languages": list(site.languages or []),
        "opening_hours": dict(site.opening_hours or {}),
    }


def _is_expired(proposal: HandoverProposal, now: datetime) -> bool:
    return now >= proposal.expires_at


async def proposal_json(
    db: AsyncSession, proposal: HandoverProposal, now: datetime
) -> dict[str, Any]:
    sites = await repo.sites_by_id(db, [proposal.to_site_id, proposal.from_site_id])
    to_site = sites[proposal.to_site_id]
    from_site = sites.get(proposal.from_site_id)
    status = proposal.status
    if status == PROPOSAL_PENDING and _is_expired(proposal, now):
        status = "expired"
    return {
        "id": proposal.id,
        "conversation_id": proposal.conversation_id,
        "status": status,
        "created_at": proposal.created_at.isoformat(),
        "expires_at": proposal.expires_at.isoformat(),
        "from_site": {"id": proposal.from_site_id,
                      "name": from_site.name if from_site else ""},
        "to_site": site_json(to_site),
        "site_key": site_key_json(await current_site_key(db, to_site.id, now)),
    }


class HandoverEvent(BaseModel):
    """`handover.proposed` / `handover.decided`: `{conversation_id, proposal}`."""

    model_config = ConfigDict(frozen=True)
    conversation_id: str
    proposal: dict[str, Any]


def _handover_event(
    conversation_id: str, name: str, payload: dict[str, Any], rooms: list[str]
) -> Notice:
    return Notice(rooms, name, HandoverEvent(conversation_id=conversation_id, proposal=payload))


def _young_rooms(young_person_id: str | None) -> list[str]:
    return [account_room(young_person_id)] if young_person_id else []


async def _end_counsellor_memberships(
    db: AsyncSession, conversation_id: str, until_epoch: int, keep: str | None = None
) -> list[str]:
    """End the active counsellor memberships at `until_epoch` (read-only from then on)."""
    ended = []
    for member in await handover_repo.counsellor_members(db, conversation_id):
        if member.account_id == keep or member.until_epoch is not None:
            continue
        member.active, member.until_epoch = False, until_epoch
        ended.append(member.account_id)
    return ended


# --- the site directory, as a counsellor searches it -----------------------------------------


async def search_sites(
    sessions: Sessions, clock: Clock, account: AccountContext, query: str | None,
    language: str | None,
) -> list[dict[str, Any]]:
    """Active sites matching name, city or postcode (and a language), each with its current
    certified key (the counsellor's client seals the handover note to it)."""
    require_counsellor(account)
    now = clock.now()
    async with sessions.begin() as db:
        sites = await handover_repo.search_sites(db, query=query, language=language)
        found = []
        for site in sites:
            key = site_key_json(await current_site_key(db, site.id, now))
            found.append({**site_json(site), "takes_online": site.takes_online,
                          "site_key": key})
        return found


# --- propose ----------------------------------------------------------------------------------


async def propose(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str,
    to_site_id: str, *, note_sealed: str | None, note_site_key_version: int | None,
    ttl: timedelta,
) -> Outcome:
    """A counsellor of the conversation's site (the one who took it, or the team lead; anyone
    of the site while it waits in the queue) proposes to move it to `to_site_id`. Replaces a
    pending proposal of the conversation. Nothing else changes until the young person
    accepts."""
    require_counsellor(account)
    if (note_sealed is None) != (note_site_key_version is None):
        raise invalid("note_site_key_version")
    now = clock.now()
    async with sessions.begin() as db:
        await repo.begin_write(db)
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        if access.role != "counsellor":
            raise not_found()
        conversation = access.conversation
        if conversation.counsellor_id not in (None, account.account_id):
            # Taken by a colleague: theirs to propose, or the team lead's.
            membership = await accounts_repo.get_membership(db, account.account_id,
                                                            conversation.site_id)
            if membership is None or not membership.is_lead:
                raise not_assigned()
        if conversation.status == STATUS_CLOSED:
            raise not_open()
        if conversation.young_person_id is None:
            raise not_open()
        if to_site_id == conversation.site_id:
            raise same_site()
        target = await accounts_repo.get_site(db, to_site_id)
        if target is None or not target.active:
            raise site_unavailable()
        key = await current_site_key(db, to_site_id, now)
        if key is None:
            raise site_unavailable()
        if note_site_key_version is not None and await accounts_repo.get_site_key(
            db, to_site_id, note_site_key_version
        ) is None:
            raise invalid("note_site_key_version")
        await handover_repo.cancel_pending(db, conversation.id, now)
        proposal = HandoverProposal(
            conversation_id=conversation.id, from_site_id=conversation.site_id,
            to_site_id=to_site_id, proposed_by=account.account_id, status=PROPOSAL_PENDING,
            note_sealed=note_sealed, note_site_key_version=note_site_key_version,
            allow_history=None, created_at=now, expires_at=now + ttl, decided_at=None,
        )
        handover_repo.add_proposal(db, proposal)
        await db.flush()
        event = await append_system_message(
            db, conversation, "handover_proposed",
            {"proposal_id": proposal.id, "to_site_id": target.id, "to_site_name": target.name,
             "expires_at": proposal.expires_at.isoformat()}, now,
        )
        audit(db, now, ACTION_PROPOSED, "conversation", conversation.id,
              actor_id=account.account_id, site_id=conversation.site_id,
              details={"to_site": target.id})
        payload = await proposal_json(db, proposal, now)
    room = conversation_room(conversation.id)
    notices = [
        Notice(room, "message.new", MessageNew(conversation_id=conversation.id, message=event)),
        _handover_event(conversation.id, "handover.proposed", payload,
                        [room, *_young_rooms(conversation.young_person_id)]),
    ]
    return Outcome(result={"proposal": payload}, notices=notices)


# --- what is pending (after a reconnect) ------------------------------------------------------


async def pending(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str
) -> dict[str, Any] | None:
    """The open (unexpired) proposal of a conversation, for the young person and the
    counsellors of its site; None if there is none."""
    now = clock.now()
    async with sessions.begin() as db:
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        proposal = await handover_repo.pending_of(db, access.conversation.id)
        if proposal is None or _is_expired(proposal, now):
            return None
        return await proposal_json(db, proposal, now)


# --- the young person's answer ---------------------------------------------------------------


async def _own_proposal(
    db: AsyncSession, account: AccountContext, proposal_id: str
) -> tuple[HandoverProposal, Any]:
    """The proposal, if it concerns a conversation of this young person (else not_found,
    the same answer as for an unknown id)."""
    if account.role != ROLE_YOUNG_PERSON:
        raise not_found()
    proposal = await handover_repo.get_proposal(db, proposal_id)
    if proposal is None:
        raise not_found()
    access = await access_conversation_for(db, account, proposal.conversation_id, for_write=True)
    if access.role != "young_person":
        raise not_found()
    await repo.lock_conversations(db, [proposal.conversation_id])
    await db.refresh(access.conversation)
    return proposal, access.conversation


def _check_new_epoch_shares(
    account_id: str, young_x25519: bytes, conversation_id: str, epoch: int, key: SiteKey,
    shares: list[NewEpochShare],
) -> tuple[NewEpochShare, NewEpochShare]:
    by_recipient = {s.recipient: s for s in shares}
    if len(shares) != 2 or set(by_recipient) != {"self", "site"}:
        raise invalid("epoch_keys")
    for index, item in enumerate(shares):
        share = item.share
        if share.conv != conversation_id or share.epoch != epoch or share.sender != account_id:
            raise invalid(f"epoch_keys.{index}.sealed")
    own, site = by_recipient["self"], by_recipient["site"]
    if own.share.to != key_id("x25519", young_x25519):
        raise invalid("epoch_keys.self")
    if site.site_key_version != key.version or site.share.to != key_id("x25519",
                                                                          key.x25519_public):
        raise Conflict("route_changed",
                       _("The answering team has changed. Please send your message again."))
    return own, site


def _check_history_shares(
    account_id: str, conversation_id: str, up_to_epoch: int, key: SiteKey, allow: bool,
    shares: list[HistoryShare],
) -> None:
    if not allow:
        if shares:
            raise invalid("history_keys")
        return
    epochs = sorted(s.epoch for s in shares)
    if epochs != list(range(1, up_to_epoch + 1)):
        raise invalid("history_keys")
    target = key_id("x25519", key.x25519_public)
    for index, item in enumerate(shares):
        share = item.share
        if (share.conv != conversation_id or share.epoch != item.epoch
                or share.sender != account_id or share.to != target):
            raise invalid(f"history_keys.{index}.sealed")


async def accept(
    sessions: Sessions, clock: Clock, account: AccountContext, proposal_id: str, *,
    allow_history: bool, epoch_keys: list[NewEpochShare], history_keys: list[HistoryShare],
) -> Outcome:
    """The young person consents. See the module docstring for what happens."""
    now = clock.now()
    outcome: Outcome | None = None
    async with sessions.begin() as db:
        await repo.begin_write(db)
        proposal, conversation = await _own_proposal(db, account, proposal_id)
        if proposal.status != PROPOSAL_PENDING:
            raise not_pending()
        if proposal.from_site_id != conversation.site_id:
            raise site_moved()
        if _is_expired(proposal, now):
            await handover_repo.expire(db, proposal.id, now)
        else:
            outcome = await _move(db, account, proposal, conversation, now,
                                  allow_history=allow_history, epoch_keys=epoch_keys,
                                  history_keys=history_keys)
    if outcome is None:
        raise expired()  # the expiry is committed; nothing else changed
    return outcome


async def _move(
    db: AsyncSession, account: AccountContext, proposal: HandoverProposal, conversation: Any,
    now: datetime, *, allow_history: bool, epoch_keys: list[NewEpochShare],
    history_keys: list[HistoryShare],
) -> Outcome:
    me = await accounts_repo.get_account(db, account.account_id)
    target = await accounts_repo.get_site(db, proposal.to_site_id)
    origin = await accounts_repo.get_site(db, proposal.from_site_id)
    key = await current_site_key(db, proposal.to_site_id, now)
    if me is None or origin is None:
        raise not_found()
    if target is None or not target.active or key is None:
        raise site_unavailable()
    old_epoch = conversation.current_epoch
    new_epoch = old_epoch + 1
    own, site_share = _check_new_epoch_shares(
        account.account_id, me.x25519_public, conversation.id, new_epoch, key, epoch_keys)
    _check_history_shares(account.account_id, conversation.id, old_epoch, key, allow_history,
                          history_keys)
    if not await handover_repo.decide(db, proposal.id, PROPOSAL_ACCEPTED, now, allow_history):
        raise not_pending()
    was_waiting = conversation.status == STATUS_WAITING
    old_counsellor = conversation.counsellor_id
    ended = await _end_counsellor_memberships(db, conversation.id, old_epoch)
    conversation.site_id = target.id
    conversation.handed_over_from_site_id = origin.id
    conversation.status = STATUS_WAITING
    conversation.counsellor_id = None
    conversation.claimed_at = None
    conversation.closed_at = None
    conversation.current_epoch = new_epoch
    conversation.last_activity_at = now
    repo.add_key(db, ConversationKey(
        conversation_id=conversation.id, epoch=new_epoch, recipient_kind=RECIPIENT_ACCOUNT,
        recipient_id=account.account_id, site_key_version=None, sealed=own.share.to_json(),
        created_at=now,
    ))
    repo.add_key(db, ConversationKey(
        conversation_id=conversation.id, epoch=new_epoch, recipient_kind=RECIPIENT_SITE,
        recipient_id=target.id, site_key_version=key.version,
        sealed=site_share.share.to_json(), created_at=now,
    ))
    for history in history_keys:
        repo.add_key(db, ConversationKey(
            conversation_id=conversation.id, epoch=history.epoch, recipient_kind=RECIPIENT_SITE,
            recipient_id=target.id, site_key_version=key.version,
            sealed=history.share.to_json(), created_at=now,
        ))
    if proposal.note_sealed is not None and proposal.note_site_key_version is not None:
        repo.add_note(db, ConversationNote(
            conversation_id=conversation.id, site_id=target.id,
            site_key_version=proposal.note_site_key_version, author_id=proposal.proposed_by,
            sealed=proposal.note_sealed, created_at=now,
        ))
    await db.flush()
    event = await append_system_message(
        db, conversation, "handed_over",
        {"from_site_name": origin.name, "to_site_id": target.id, "to_site_name": target.name,
         "history": allow_history}, now,
    )
    audit(db, now, ACTION_HANDED_OVER, "conversation", conversation.id,
          actor_id=account.account_id, site_id=origin.id,
          details={"to_site": target.id, "history": allow_history,
                   "proposal": proposal.id, "proposed_by": proposal.proposed_by})
    mine = await summary(db, conversation, viewer_id=account.account_id, now=now,
                         with_queue=True)
    [item] = await queue_items(db, [(conversation, me.nickname)], now)
    positions = await position_notices(db, target, now)
    if was_waiting:
        positions.extend(await position_notices(db, origin, now))
    payload = await proposal_json(db, proposal, now)
    payload["status"] = PROPOSAL_ACCEPTED
    young = _young_rooms(conversation.young_person_id)
    leavers = [account_room(a) for a in sorted(set(ended) | ({old_counsellor} - {None}))]
    notices = [
        # The live room is closed before these go out: the young person hears it through
        # their own room and re-joins; the old site hears nothing more of the conversation.
        Notice(young, "message.new", MessageNew(conversation_id=conversation.id, message=event)),
        Notice(young, "conversation.updated",
               ConversationUpdated(conversation=broadcast_of(mine))),
        _handover_event(conversation.id, "handover.decided", payload, young),
        Notice(young + leavers, "conversation.access_changed",
               AccessChanged(conversation_id=conversation.id)),
        Notice(queue_room(target.id), "queue.added", QueueAdded(item=item)),
        *positions,
    ]
    if was_waiting:
        notices.insert(0, Notice(queue_room(origin.id), "queue.removed",
                                 QueueRemoved(conversation_id=conversation.id,
                                              reason="handed_over")))
    return Outcome(result={"conversation": mine.model_dump(mode="json"), "proposal": payload},
                   notices=notices, close_rooms=[conversation_room(conversation.id)])


async def decline(
    sessions: Sessions, clock: Clock, account: AccountContext, proposal_id: str
) -> Outcome:
    """The young person says no: the proposal is closed, nothing else changes."""
    now = clock.now()
    payload: dict[str, Any] | None = None
    async with sessions.begin() as db:
        await repo.begin_write(db)
        proposal, conversation = await _own_proposal(db, account, proposal_id)
        if proposal.status != PROPOSAL_PENDING:
            raise not_pending()
        if _is_expired(proposal, now):
            await handover_repo.expire(db, proposal.id, now)
        else:
            if not await handover_repo.decide(db, proposal.id, PROPOSAL_DECLINED, now):
                raise not_pending()
            target = await accounts_repo.get_site(db, proposal.to_site_id)
            event = await append_system_message(
                db, conversation, "handover_declined",
                {"proposal_id": proposal.id,
                 "to_site_name": target.name if target is not None else ""}, now,
            )
            audit(db, now, ACTION_DECLINED, "conversation", conversation.id,
                  actor_id=account.account_id, site_id=proposal.from_site_id,
                  details={"to_site": proposal.to_site_id, "proposal": proposal.id})
            payload = await proposal_json(db, proposal, now)
            payload["status"] = PROPOSAL_DECLINED
    if payload is None:
        raise expired()
    room = conversation_room(conversation.id)
    notices = [
        Notice(room, "message.new", MessageNew(conversation_id=conversation.id, message=event)),
        _handover_event(conversation.id, "handover.decided", payload,
                        [room, *_young_rooms(conversation.young_person_id)]),
    ]
    return Outcome(result={"proposal": payload}, notices=notices)


# --- to a colleague of the same site, or back to the queue ------------------------------------


async def hand_to_colleague(
    sessions: Sessions, clock: Clock, account: AccountContext, conversation_id: str,
    to_account_id: str | None, *, note_sealed: str | None, note_site_key_version: int | None,
    as_lead: bool,
) -> Outcome:
    """The assigned counsellor (or, `as_lead`, a site lead of the site) hands an active
    conversation to a colleague of the site, or back to the site's queue (`None`)."""
    require_counsellor(account)
    if (note_sealed is None) != (note_site_key_version is None):
        raise invalid("note_site_key_version")
    now = clock.now()
    async with sessions.begin() as db:
        await repo.begin_write(db)
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        if access.role != "counsellor":
            raise not_found()
        conversation = access.conversation
        await repo.lock_conversations(db, [conversation.id])
        await db.refresh(conversation)
        site_id = conversation.site_id
        if as_lead:
            await access_site_for(db, account, site_id, need="lead")
        elif conversation.counsellor_id != account.account_id:
            raise not_assigned()
        if conversation.status != STATUS_ACTIVE:
            raise Conflict("not_active", _("Only an ongoing conversation can be handed over."))
        if to_account_id is not None:
            if to_account_id == conversation.counsellor_id:
                raise invalid("to_account_id")
            colleague = await accounts_repo.get_account(db, to_account_id)
            if (colleague is None or colleague.role not in COUNSELLOR_ROLES
                    or await accounts_repo.get_membership(db, to_account_id, site_id) is None):
                raise invalid("to_account_id")
        else:
            colleague = None
        if note_site_key_version is not None and await accounts_repo.get_site_key(
            db, site_id, note_site_key_version
        ) is None:
            raise invalid("note_site_key_version")
        old_counsellor = conversation.counsellor_id
        epoch = conversation.current_epoch
        await _end_counsellor_memberships(db, conversation.id, epoch,
                                          keep=to_account_id)
        if colleague is not None:
            member = await repo.get_member(db, conversation.id, colleague.id)
            if member is None:
                repo.add_member(db, ConversationMember(
                    conversation_id=conversation.id, account_id=colleague.id,
                    role=MEMBER_COUNSELLOR, from_epoch=epoch, until_epoch=None,
                    last_read_seq=0, active=True, joined_at=now,
                ))
            else:
                member.active, member.until_epoch = True, None
            conversation.counsellor_id = colleague.id
            conversation.claimed_at = now
        else:
            conversation.counsellor_id = None
            conversation.claimed_at = None
            conversation.status = STATUS_WAITING
        conversation.last_activity_at = now
        if note_sealed is not None and note_site_key_version is not None:
            repo.add_note(db, ConversationNote(
                conversation_id=conversation.id, site_id=site_id,
                site_key_version=note_site_key_version, author_id=account.account_id,
                sealed=note_sealed, created_at=now,
            ))
        await db.flush()
        if colleague is not None:
            event = await append_system_message(
                db, conversation, "reassigned",
                {"counsellor_id": colleague.id, "display_name": colleague.display_name}, now)
        else:
            event = await append_system_message(db, conversation, "returned_to_queue", {}, now)
        audit(db, now, ACTION_REASSIGNED, "conversation", conversation.id,
              actor_id=account.account_id, site_id=site_id,
              details={"from": old_counsellor, "to": to_account_id, "by_lead": as_lead})
        mine = await summary(db, conversation, viewer_id=account.account_id, now=now)
        extra: list[Notice] = []
        if colleague is None:
            people = await repo.accounts_by_id(db, [conversation.young_person_id])
            young = people.get(conversation.young_person_id or "")
            [queued] = await queue_items(
                db, [(conversation, young.nickname if young else None)], now)
            extra.append(Notice(queue_room(site_id), "queue.added", QueueAdded(item=queued)))
            site = await accounts_repo.get_site(db, site_id)
            assert site is not None
            extra.extend(await position_notices(db, site, now))
    room = conversation_room(conversation.id)
    people_rooms = sorted({account_room(a) for a in (
        conversation.young_person_id, old_counsellor, to_account_id) if a})
    notices = [
        Notice(room, "message.new", MessageNew(conversation_id=conversation.id, message=event)),
        Notice([room, *people_rooms], "conversation.updated",
               ConversationUpdated(conversation=broadcast_of(mine))),
        *([Notice(account_room(old_counsellor), "conversation.access_changed",
                  AccessChanged(conversation_id=conversation.id))] if old_counsellor else []),
        *extra,
    ]
    return Outcome(result={"conversation": mine.model_dump(mode="json")}, notices=notices)


async def colleagues(
    sessions: Sessions, account: AccountContext, conversation_id: str
) -> list[dict[str, Any]]:
    """Counsellors of the conversation's site a counsellor may hand it to."""
    require_counsellor(account)
    async with sessions.begin() as db:
        access = await access_conversation_for(db, account, conversation_id, for_write=True)
        if access.role != "counsellor":
            raise not_found()
        members = await accounts_repo.members_of_site(db, access.conversation.site_id)
        return [
            {"id": person.id, "display_name": person.display_name, "is_lead": is_lead}
            for person, is_lead in members
            if person.role in COUNSELLOR_ROLES and person.id != access.conversation.counsellor_id
        ]


# --- who wrote the earlier epochs (for the new site's counsellors) -----------------------------


async def former_counsellors(
    sessions: Sessions, account: AccountContext, conversation_id: str
) -> list[dict[str, Any]]:
    """Counsellors who took part before the conversation came to this site, with their
    certificates and the sites it was handed over from: the new site's clients verify the
    signatures of the earlier messages against these (docs/protocol.md 8.7). Counsellors of the
    conversation's current site only."""
    require_counsellor(account)
    async with sessions.begin() as db:
        access = await access_conversation_for(db, account, conversation_id)
        if access.role != "counsellor":
            raise not_found()
        conversation = access.conversation
        if conversation.handed_over_from_site_id is None:
            return []
        sites = sorted(await handover_repo.origin_sites(db, conversation.id))
        members = [m for m in await handover_repo.counsellor_members(db, conversation.id)
                   if m.until_epoch is not None]
        people = await repo.accounts_by_id(db, [m.account_id for m in members])
        found = []
        for member in members:
            person = people.get(member.account_id)
            if person is None or not person.certificate:
                continue
            found.append({
                "id": person.id, "display_name": person.display_name,
                "certificate": b64url_encode(person.certificate.encode("utf-8")),
                "sites": sites, "until_epoch": member.until_epoch,
            })
        return found


# --- audit for site leads ---------------------------------------------------------------------


async def site_handovers(
    sessions: Sessions, account: AccountContext, site_id: str
) -> list[dict[str, Any]]:
    """Handover audit entries of a site (metadata only): site leads of the site, admins."""
    async with sessions.begin() as db:
        if account.role == ROLE_ADMIN:
            if await accounts_repo.get_site(db, site_id) is None:
                raise not_found()
        elif account.role in COUNSELLOR_ROLES:
            await access_site_for(db, account, site_id, need="lead")
        else:
            raise forbidden()
        events = await handover_repo.handover_audit(db, site_id)
        site_ids = {e.site_id for e in events if e.site_id} | {
            str((e.details or {}).get("to_site")) for e in events
            if (e.details or {}).get("to_site")
        }
        sites = await repo.sites_by_id(db, site_ids)
        people = await repo.accounts_by_id(db, [e.actor_id for e in events] + [
            str(v) for e in events for k, v in (e.details or {}).items()
            if k in ("from", "to") and isinstance(v, str)
        ])

        def name_of_account(account_id: object) -> str | None:
            if not isinstance(account_id, str):
                return None
            person = people.get(account_id)
            # Young people stay anonymous in the audit view (their nickname is not shown).
            if person is None or person.role == ROLE_YOUNG_PERSON:
                return None
            return person.display_name

        def name_of_site(value: object) -> str | None:
            site = sites.get(value) if isinstance(value, str) else None
            return site.name if site is not None else None

        items = []
        for e in events:
            details = dict(e.details or {})
            items.append({
                "id": e.id, "at": e.at.isoformat(), "action": e.action,
                "conversation_id": e.subject_id,
                "actor_id": e.actor_id, "actor_name": name_of_account(e.actor_id),
                "site_id": e.site_id, "site_name": name_of_site(e.site_id),
                "to_site": details.get("to_site"),
                "to_site_name": name_of_site(details.get("to_site")),
                "history": details.get("history"),
                "from_name": name_of_account(details.get("from")),
                "to_name": name_of_account(details.get("to")),
                "by_lead": details.get("by_lead"),
            })
        return items


# --- account deletion -------------------------------------------------------------------------


async def erase_proposals_of(db: AsyncSession, account_id: str) -> None:
    """"Delete my account": the handover proposals of a young person's conversations go too
    (their sealed notes are about the young person). Runs before the erasure hook, which
    detaches the conversations from the account."""
    await handover_repo.delete_of_young_person(db, account_id)


if erase_proposals_of not in ACCOUNT_DELETION_HOOKS:
    ACCOUNT_DELETION_HOOKS.insert(0, erase_proposals_of)
