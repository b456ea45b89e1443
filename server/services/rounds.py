"""Chat rounds: scheduled, end-to-end encrypted group chats (issue #9; docs/protocol.md 8.6).

The rules in one place:

* A counsellor of a site schedules a round (topic title, language, start, duration, maximum
  number of young people). Young people see rounds that have not ended, in their language
  unless they ask for all, and join with their account after accepting the chat rules.
* Keys: the server never creates or sees a round key. A **moderator** (a counsellor of the
  site who joined the round) creates epoch n+1 with `rekey` and seals it to *every* active
  participant (the set must match the server's exactly, checked in the transaction that moves
  the epoch). Every join, leave or removal sets `rekey_needed`; joiners wait ("waiting to be
  admitted") until a moderator's client seals the next epoch to them, and then see only
  that epoch onwards (no history). A leave or removal of an admitted participant also sets
  `departure_pending`: nobody can send until the new epoch exists, so nothing is written under
  a key the leaver holds. Without a moderator's client online, joins wait and, after a
  departure, the round is paused — honest, and documented in docs/protocol.md.
* Opening and closing on time is a lazy check against the injected clock: messages are refused
  before `starts_at` and from `ends_at` on; clients show "starts in", "open", "closed".
* Participants see each other under a per-round `member_id` with their nickname (counsellors:
  display name), never the account id. Moderators can mute (messages refused, the muted person
  sees a neutral notice) and remove (a leave that cannot be undone, plus re-keying).
* Every event leaves through the Emitter after the commit (the caller sends `notices`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.crypto.conversation import KeyShare
from server.crypto.encoding import b64url_encode
from server.crypto.keys import key_id
from server.crypto.rounds import RoundEnvelope
from server.i18n import lazy_gettext as _
from server.services.access import (
    AccountContext,
    RoundAccess,
    access_round_for,
    access_site_for,
    require_counsellor,
)
from server.services.accounts import ACCOUNT_DELETION_HOOKS
from server.services.clock import Clock, SystemClock
from server.services.errors import Conflict, Forbidden, ServiceError, not_found
from server.services.events import Notice, account_room
from server.storage.db import Sessions
from server.storage.models import Account, Site
from server.storage.models.accounts import COUNSELLOR_ROLES
from server.storage.models.rounds import (
    ACTIVE_STATES,
    PARTICIPANT_COUNSELLOR,
    PARTICIPANT_YOUNG_PERSON,
    STATE_ADMITTED,
    STATE_LEFT,
    STATE_REMOVED,
    STATE_WAITING,
    ChatRound,
    RoundKey,
    RoundMessage,
    RoundParticipant,
)
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import rounds as repo
from server.storage.repositories.conversations import begin_write

MAX_DURATION_MINUTES = 8 * 60
PAGE = 200


def round_room(round_id: str) -> str:
    return f"round:{round_id}"


# --- shapes the client sees ---------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RoundSite(_Model):
    id: str
    name: str


class RoundSummary(_Model):
    id: str
    topic: str
    language: str
    site: RoundSite
    starts_at: datetime
    ends_at: datetime
    duration_minutes: int
    max_participants: int
    participants: int
    state: Literal["upcoming", "open", "closed"]
    current_epoch: int
    my_state: str | None = None


class Member(_Model):
    """A participant as the others see them: no account id."""

    member_id: str
    role: str
    name: str
    state: str
    muted: bool
    from_epoch: int
    until_epoch: int | None
    x25519_public: str
    ed25519_public: str
    certificate: str | None = None


class RoundMessageOut(_Model):
    seq: int
    mid: str
    sender: str | None
    epoch: int
    created_at: datetime
    kind: Literal["message", "system"]
    envelope: dict[str, Any] | None = None
    system: dict[str, Any] | None = None


class RoundKeyOut(_Model):
    epoch: int
    sealed: dict[str, Any]


class Me(_Model):
    member_id: str
    role: str
    state: str
    muted: bool
    from_epoch: int


class RoundMembers(_Model):
    """Server → client `round.members` (room `round:<id>`): membership, mutes, epoch."""

    round_id: str
    current_epoch: int
    rekey_needed: bool
    departure_pending: bool
    members: list[Member]


class RoundMessageEvent(_Model):
    """Server → client `round.message` (room `round:<id>`)."""

    round_id: str
    message: RoundMessageOut


class RoundKeyEvent(_Model):
    """Server → client `round.key` (to `account:<id>` of each recipient)."""

    round_id: str
    epoch: int
    sealed: dict[str, Any]


class RoundRemoved(_Model):
    """Server → client `round.removed` (to `account:<id>` of the removed person)."""

    round_id: str


@dataclass(frozen=True)
class JoinResult:
    round: RoundSummary
    me: Me | None
    members: list[Member]
    keys: list[RoundKeyOut]
    messages: list[RoundMessageOut]
    has_more: bool
    rekey_needed: bool
    departure_pending: bool
    moderator: bool
    notices: list[Notice] = field(default_factory=list)


@dataclass(frozen=True)
class SendResult:
    seq: int
    created_at: datetime
    notices: list[Notice]


# --- errors -----------------------------------------------------------------------------------


def _closed() -> Conflict:
    return Conflict("round_closed", _("This chat round has ended."))


def _not_open() -> Conflict:
    return Conflict("round_not_open", _("This chat round has not started yet."))


# --- helpers ----------------------------------------------------------------------------------


def _state(chat_round: ChatRound, now: datetime) -> Literal["upcoming", "open", "closed"]:
    if now < chat_round.starts_at:
        return "upcoming"
    return "open" if now < chat_round.ends_at else "closed"


def _summary(chat_round: ChatRound, site: Site, count: int, now: datetime,
             my_state: str | None) -> RoundSummary:
    return RoundSummary(
        id=chat_round.id, topic=chat_round.topic, language=chat_round.language,
        site=RoundSite(id=site.id, name=site.name), starts_at=chat_round.starts_at,
        ends_at=chat_round.ends_at,
        duration_minutes=int((chat_round.ends_at - chat_round.starts_at).total_seconds() // 60),
        max_participants=chat_round.max_participants, participants=count,
        state=_state(chat_round, now), current_epoch=chat_round.current_epoch, my_state=my_state,
    )


def _member(p: RoundParticipant, a: Account) -> Member:
    counsellor = p.role == PARTICIPANT_COUNSELLOR
    return Member(
        member_id=p.member_id, role=p.role,
        name=(a.display_name or a.nickname) if counsellor else a.nickname,
        state=p.state, muted=p.muted, from_epoch=p.from_epoch, until_epoch=p.until_epoch,
        x25519_public=b64url_encode(a.x25519_public),
        ed25519_public=b64url_encode(a.ed25519_public),
        certificate=a.certificate if counsellor else None,
    )


def _message_out(m: RoundMessage) -> RoundMessageOut:
    return RoundMessageOut(
        seq=m.seq, mid=m.mid, sender=m.sender_member_id, epoch=m.epoch, created_at=m.created_at,
        kind="system" if m.kind == "system" else "message", envelope=m.envelope,
        system=({"code": m.system_code, "params": m.system_params or {}}
                if m.kind == "system" else None),
    )


async def _members_notice(db: Any, chat_round: ChatRound) -> tuple[list[Member], Notice]:
    rows = await repo.participants(db, chat_round.id)
    members = [_member(p, a) for p, a in rows]
    event = RoundMembers(
        round_id=chat_round.id, current_epoch=chat_round.current_epoch,
        rekey_needed=chat_round.rekey_needed, departure_pending=chat_round.departure_pending,
        members=members,
    )
    return members, Notice(round_room(chat_round.id), "round.members", event)


async def _system(db: Any, chat_round: ChatRound, code: str, params: dict[str, Any],
                  now: datetime) -> Notice:
    message = await repo.add_system(db, chat_round.id, chat_round.current_epoch, code, params,
                                    now, str(uuid.uuid4()))
    await db.flush()
    return Notice(round_room(chat_round.id), "round.message",
                  RoundMessageEvent(round_id=chat_round.id, message=_message_out(message)))


# --- scheduling and listing ------------------------------------------------------------------


async def schedule(
    sessions: Sessions, clock: Clock, account: AccountContext, *, site_id: str, topic: str,
    language: str, starts_at: datetime, duration_minutes: int, max_participants: int,
) -> RoundSummary:
    require_counsellor(account)
    now = clock.now()
    if starts_at + timedelta(minutes=duration_minutes) <= now:
        raise ServiceError("in_the_past", _("This time is already over."))
    async with sessions.begin() as db:
        site = await access_site_for(db, account, site_id)
        chat_round = ChatRound(
            site_id=site.id, created_by=account.account_id, topic=topic.strip(),
            language=language, starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=duration_minutes),
            max_participants=max_participants, current_epoch=0, last_seq=0,
            rekey_needed=False, departure_pending=False, created_at=now, purged_at=None,
        )
        db.add(chat_round)
        await db.flush()
        return _summary(chat_round, site, 0, now, None)


async def list_rounds(
    sessions: Sessions, clock: Clock, account: AccountContext, *, language: str | None,
    all_languages: bool,
) -> list[RoundSummary]:
    """Young people: rounds that have not ended, in `language` (default: the account's own
    language) or in all languages. Counsellors: their sites' rounds of the last day onwards."""
    now = clock.now()
    async with sessions.begin() as db:
        if account.role in COUNSELLOR_ROLES:
            site_ids = [s.id for s, _lead in
                        await accounts_repo.sites_of_account(db, account.account_id)]
            rows = await repo.list_rounds(db, ends_after=now - timedelta(days=1),
                                          site_ids=site_ids,
                                          language=None if all_languages else language)
        elif account.role == PARTICIPANT_YOUNG_PERSON:
            wanted = None if all_languages else (language or account.locale)
            rows = await repo.list_rounds(db, ends_after=now, language=wanted)
        else:
            raise Forbidden("forbidden", _("You are not allowed to do this."))
        ids = [r.id for r, _s in rows]
        counts = await repo.young_counts(db, ids)
        mine = await repo.my_states(db, account.account_id, ids)
        return [_summary(r, s, counts.get(r.id, 0), now, mine.get(r.id)) for r, s in rows]


# --- joining and reading ---------------------------------------------------------------------


async def join(
    sessions: Sessions, clock: Clock, account: AccountContext, round_id: str, *,
    rules_accepted: bool, after_seq: int,
) -> JoinResult:
    """Join (or re-enter after a reconnect) a round. Young people must accept the rules.
    Moderators who do not take part may also look in (`me` is then None)."""
    now = clock.now()
    notices: list[Notice] = []
    async with sessions.begin() as db:
        await begin_write(db)
        access = await access_round_for(db, account, round_id)
        chat_round = access.round
        participant = access.participant
        if participant is not None and participant.state == STATE_REMOVED:
            raise Forbidden("removed", _("You were removed from this chat round."))
        if participant is None or participant.state == STATE_LEFT:
            if now >= chat_round.ends_at:
                raise _closed()
            if not rules_accepted and not access.moderator:
                raise ServiceError("rules_not_accepted",
                                   _("Please accept the chat rules first."))
            await repo.lock_round(db, round_id)
            role = PARTICIPANT_COUNSELLOR if access.moderator else PARTICIPANT_YOUNG_PERSON
            if role == PARTICIPANT_YOUNG_PERSON:
                counts = await repo.young_counts(db, [round_id])
                if counts.get(round_id, 0) >= chat_round.max_participants:
                    raise Conflict("round_full", _("This chat round is full."))
            if participant is None:
                participant = RoundParticipant(
                    round_id=round_id, account_id=account.account_id,
                    member_id=str(uuid.uuid4()), role=role, state=STATE_WAITING, from_epoch=0,
                    until_epoch=None, muted=False, rules_accepted_at=now, joined_at=now,
                )
                db.add(participant)
            else:  # came back after leaving: the same member id, a new start, no history
                participant.state = STATE_WAITING
                participant.from_epoch = 0
                participant.until_epoch = None
                participant.rules_accepted_at = now
            chat_round.rekey_needed = True
            await db.flush()
            notices.append(await _system(db, chat_round, "joined",
                                         {"member_id": participant.member_id}, now))
            _members, members_notice = await _members_notice(db, chat_round)
            notices.append(members_notice)
        return await _view(db, chat_round, access, participant, after_seq, now, notices)


async def _view(
    db: Any, chat_round: ChatRound, access: RoundAccess, participant: RoundParticipant | None,
    after_seq: int, now: datetime, notices: list[Notice],
) -> JoinResult:
    site = await accounts_repo.get_site(db, chat_round.site_id)
    assert site is not None
    rows = await repo.participants(db, chat_round.id)
    members = [_member(p, a) for p, a in rows]
    young = sum(1 for p, _a in rows
                if p.role == PARTICIPANT_YOUNG_PERSON and p.state in ACTIVE_STATES)
    keys: list[RoundKeyOut] = []
    messages: list[RoundMessageOut] = []
    has_more = False
    me = None
    if participant is not None:
        me = Me(member_id=participant.member_id, role=participant.role, state=participant.state,
                muted=participant.muted, from_epoch=participant.from_epoch)
        if participant.state == STATE_ADMITTED:
            keys = [RoundKeyOut(epoch=k.epoch, sealed=k.sealed) for k in await repo.keys_of(
                db, chat_round.id, participant.account_id, participant.from_epoch, None)]
            found = await repo.messages_after(db, chat_round.id, after_seq,
                                              participant.from_epoch, None, PAGE + 1)
            has_more = len(found) > PAGE
            messages = [_message_out(m) for m in found[:PAGE]]
    return JoinResult(
        round=_summary(chat_round, site, young, now, participant.state if participant else None),
        me=me, members=members, keys=keys, messages=messages, has_more=has_more,
        rekey_needed=chat_round.rekey_needed, departure_pending=chat_round.departure_pending,
        moderator=access.moderator, notices=notices,
    )


# --- keys -------------------------------------------------------------------------------------


async def rekey(
    sessions: Sessions, clock: Clock, account: AccountContext, round_id: str, epoch: int,
    shares: list[tuple[str, KeyShare, dict[str, Any]]],
) -> tuple[int, list[Notice]]:
    """A moderator's client hands out epoch `epoch` = current + 1 to every active participant.

    `shares` are (member id, shape-checked share, share JSON). The server checks what it can
    without keys: one share per active participant and nobody else, addressed to that
    participant's X25519 key, for this round and epoch, from the caller's member id and key.
    """
    now = clock.now()
    async with sessions.begin() as db:
        await begin_write(db)
        access = await access_round_for(db, account, round_id, need="moderate")
        me = access.participant
        if me is None or me.state not in ACTIVE_STATES:
            raise Forbidden("not_participant", _("Join the chat round first."))
        chat_round = access.round
        if now >= chat_round.ends_at:
            raise _closed()
        if epoch != chat_round.current_epoch + 1:
            raise Conflict("stale_epoch", _("Someone else has just renewed the key."))
        if not await repo.set_epoch(db, round_id, chat_round.current_epoch, epoch):
            raise Conflict("stale_epoch", _("Someone else has just renewed the key."))
        rows = await repo.participants(db, round_id)
        active = {p.member_id: (p, a) for p, a in rows if p.state in ACTIVE_STATES}
        given = [member for member, _s, _j in shares]
        if sorted(given) != sorted(active) or len(set(given)) != len(given):
            raise Conflict("members_changed",
                           _("The participants have changed. Please try again."))
        me_account = active[me.member_id][1]
        my_skid = key_id("ed25519", me_account.ed25519_public)
        notices: list[Notice] = []
        for member, share, share_json in shares:
            participant, person = active[member]
            if (share.conv != round_id or share.epoch != epoch or share.sender != me.member_id
                    or share.fskid != my_skid
                    or share.to != key_id("x25519", person.x25519_public)):
                raise ServiceError("invalid", _("The field {field} is not valid."),
                                   field="shares")
            db.add(RoundKey(round_id=round_id, epoch=epoch, account_id=person.id,
                            sealed=share_json, created_at=now))
            if participant.state == STATE_WAITING:
                participant.state = STATE_ADMITTED
                participant.from_epoch = epoch
            notices.append(Notice(account_room(person.id), "round.key",
                                  RoundKeyEvent(round_id=round_id, epoch=epoch,
                                                sealed=share_json)))
        await db.flush()
        await db.refresh(chat_round)
        notices.append(await _system(db, chat_round, "new_epoch", {"epoch": epoch}, now))
        _members, members_notice = await _members_notice(db, chat_round)
        notices.append(members_notice)
        return epoch, notices


# --- messages ---------------------------------------------------------------------------------


async def send(
    sessions: Sessions, clock: Clock, account: AccountContext, round_id: str,
    envelope: RoundEnvelope, envelope_json: dict[str, Any], skip_sid: str | None = None,
) -> SendResult:
    now = clock.now()
    async with sessions.begin() as db:
        await begin_write(db)
        access = await access_round_for(db, account, round_id, need="participant")
        me = access.participant
        chat_round = access.round
        assert me is not None
        if me.state != STATE_ADMITTED:
            raise Conflict("not_admitted",
                           _("Please wait: a counsellor still has to let you in."))
        if me.rules_accepted_at is None:
            raise ServiceError("rules_not_accepted", _("Please accept the chat rules first."))
        if me.muted:
            raise Forbidden("muted", _("You cannot write in this chat round at the moment."))
        if now < chat_round.starts_at:
            raise _not_open()
        if now >= chat_round.ends_at:
            raise _closed()
        if envelope.conv != round_id or envelope.sender != me.member_id:
            raise ServiceError("invalid", _("The field {field} is not valid."), field="envelope")
        existing = await repo.message_by_mid(db, round_id, envelope.mid)
        if existing is not None:
            if existing.sender_member_id != me.member_id:
                raise Conflict("duplicate_mid", _("This message id is already used."))
            return SendResult(existing.seq, existing.created_at, [])
        if chat_round.departure_pending:
            raise Conflict("rekey_pending",
                           _("Please wait a moment: the key of this chat round is being "
                             "renewed."))
        if envelope.epoch != chat_round.current_epoch:
            raise Conflict("wrong_epoch", _("Please wait a moment: there is a new key."))
        message = RoundMessage(
            round_id=round_id, seq=await repo.next_seq(db, round_id), mid=envelope.mid,
            sender_member_id=me.member_id, epoch=envelope.epoch, kind="message",
            envelope=envelope_json, system_code=None, system_params=None, created_at=now,
        )
        db.add(message)
        await db.flush()
        notice = Notice(round_room(round_id), "round.message",
                        RoundMessageEvent(round_id=round_id, message=_message_out(message)),
                        skip_sid=skip_sid)
        return SendResult(message.seq, now, [notice])


# --- leaving, muting, removing ---------------------------------------------------------------


async def _depart(db: Any, chat_round: ChatRound, participant: RoundParticipant, state: str,
                  now: datetime, code: str) -> list[Notice]:
    await repo.lock_round(db, chat_round.id)
    was_admitted = participant.state == STATE_ADMITTED
    participant.state = state
    participant.until_epoch = chat_round.current_epoch if was_admitted else None
    remaining = [p for p, _a in await repo.participants(db, chat_round.id)
                 if p.state in ACTIVE_STATES and p.account_id != participant.account_id]
    if was_admitted:
        chat_round.departure_pending = bool(remaining)
    waiting = any(p.state == STATE_WAITING for p in remaining)
    chat_round.rekey_needed = bool(remaining) and (was_admitted or waiting)
    await db.flush()
    notices = [await _system(db, chat_round, code, {"member_id": participant.member_id}, now)]
    _members, members_notice = await _members_notice(db, chat_round)
    notices.append(members_notice)
    return notices


async def leave(sessions: Sessions, clock: Clock, account: AccountContext,
                round_id: str) -> list[Notice]:
    now = clock.now()
    async with sessions.begin() as db:
        await begin_write(db)
        access = await access_round_for(db, account, round_id, need="participant")
        assert access.participant is not None
        return await _depart(db, access.round, access.participant, STATE_LEFT, now, "left")


async def _target(db: Any, chat_round: ChatRound, member_id: str) -> tuple[
    RoundParticipant, Account
]:
    target = await repo.participant_by_member(db, chat_round.id, member_id)
    if target is None or target.role != PARTICIPANT_YOUNG_PERSON:
        raise not_found()
    person = await accounts_repo.get_account(db, target.account_id)
    assert person is not None
    return target, person


async def mute(sessions: Sessions, clock: Clock, account: AccountContext, round_id: str,
               member_id: str, muted: bool) -> list[Notice]:
    now = clock.now()
    async with sessions.begin() as db:
        await begin_write(db)
        access = await access_round_for(db, account, round_id, need="moderate")
        target, _person = await _target(db, access.round, member_id)
        if target.muted == muted:
            return []
        target.muted = muted
        await db.flush()
        notices = [await _system(db, access.round, "muted" if muted else "unmuted",
                                 {"member_id": target.member_id}, now)]
        _members, members_notice = await _members_notice(db, access.round)
        notices.append(members_notice)
        return notices


async def remove(sessions: Sessions, clock: Clock, account: AccountContext, round_id: str,
                 member_id: str) -> tuple[str, list[Notice]]:
    """Returns the removed account id (the transport takes its sockets out of the room)."""
    now = clock.now()
    async with sessions.begin() as db:
        await begin_write(db)
        access = await access_round_for(db, account, round_id, need="moderate")
        target, person = await _target(db, access.round, member_id)
        if target.state not in ACTIVE_STATES:
            return person.id, []
        notices = await _depart(db, access.round, target, STATE_REMOVED, now, "removed")
        notices.append(Notice(account_room(person.id), "round.removed",
                              RoundRemoved(round_id=round_id)))
        return person.id, notices


# --- "delete my account" -------------------------------------------------------------------------


async def erase_rounds_of(db: AsyncSession, account_id: str) -> None:
    """Account deletion hook (runs in the deleting transaction, before the account row goes):
    the person leaves every round they take part in (so the next epoch excludes them and nobody
    writes under a key their device held), and every message they wrote in a round is deleted.
    Their participant rows and key shares then go with the account (foreign keys); system
    events name people only by member id, so nothing names them afterwards."""
    from server.services import erasure  # late: erasure imports the accounts service

    rows = await repo.participations_of(db, account_id)
    now = SystemClock().now()
    notices: list[Notice] = []
    for participant in rows:
        chat_round = await db.get(ChatRound, participant.round_id)
        if chat_round is None:
            continue
        await repo.delete_messages_of_member(db, participant.round_id, participant.member_id)
        if participant.state in ACTIVE_STATES:
            notices += await _depart(db, chat_round, participant, STATE_LEFT, now, "left")
    if notices:
        erasure.defer_notices(db, notices)  # sent after the commit, like the conversations' events


ACCOUNT_DELETION_HOOKS.append(erase_rounds_of)


# --- retention --------------------------------------------------------------------------------


def retention_parts(cutoff: datetime, now: datetime) -> tuple[
    Any, Callable[[AsyncSession, Sequence[str]], Awaitable[dict[str, int]]]
]:
    """The `closed_rounds` retention rule (server/services/retention.py): rounds that ended
    before `cutoff` and still have messages or keys; a batch deletes those and marks the round
    `purged_at` (the schedule row itself holds no personal data and stays)."""

    async def purge(db: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
        counts = await repo.purge_rounds(db, ids, now)
        return {"rows": len(ids), **counts}

    return repo.closed_rounds(cutoff), purge


# --- demo data ----------------------------------------------------------------------------------

DEMO_SITE = "jmd-online"
DEMO_MODERATOR = "sami-online"
DEMO_TOPICS = ("Ausbildung finden", "Deutsch lernen im Alltag", "Anerkennung von Zeugnissen")


async def load_demo(config: AppConfig, sessions: Sessions) -> list[str]:
    """`jmdchat demo`: one upcoming round per language of the online team (idempotent), next
    Thursday at 17:00 Berlin time, scheduled by its demo counsellor."""
    from zoneinfo import ZoneInfo

    now = SystemClock().now()
    berlin = now.astimezone(ZoneInfo("Europe/Berlin"))
    days = (3 - berlin.weekday()) % 7 or 7
    start = (berlin + timedelta(days=days)).replace(hour=17, minute=0, second=0, microsecond=0)
    made = 0
    async with sessions.begin() as db:
        site = await accounts_repo.get_site_by_slug(db, DEMO_SITE)
        moderator = await accounts_repo.get_account_by_nickname(db, DEMO_MODERATOR)
        if site is None or moderator is None:
            return []
        existing = {r.language for r, _s in await repo.list_rounds(db, ends_after=now,
                                                                    site_ids=[site.id])}
        for i, language in enumerate(site.languages):
            if language in existing:
                continue
            db.add(ChatRound(
                site_id=site.id, created_by=moderator.id, topic=DEMO_TOPICS[i % len(DEMO_TOPICS)],
                language=language, starts_at=start.astimezone(UTC),
                ends_at=(start + timedelta(minutes=60)).astimezone(UTC), max_participants=8,
                current_epoch=0, last_seq=0, rekey_needed=False, departure_pending=False,
                created_at=now, purged_at=None,
            ))
            made += 1
    return [f"Chat rounds: {made} new demo round(s) at {site.name}, {start:%a %d.%m. %H:%M}"]
