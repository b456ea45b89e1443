"""Shared building blocks of the conversation services: summaries, queue items, stored
messages, system messages, queue positions and the expected answer time.

Only reads and the one write every service needs (`append_system_message`); the rules that
decide *when* to call them live in `enquiries`, `queue`, `conversations` and `message_writer`.
"""

from __future__ import annotations

import math
import statistics
import time as time_module
import uuid
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from server.crypto.encoding import b64url_encode
from server.services.events import (
    Coded,
    ConversationSummary,
    CounsellorRef,
    HandoverFrom,
    Notice,
    QueueItem,
    QueuePosition,
    SiteEpochKey,
    SiteRef,
    StoredMessage,
    YoungPersonRef,
    account_room,
)
from server.storage.models import Conversation, Message, Site
from server.storage.models.conversations import KIND_SYSTEM, STATUS_WAITING
from server.storage.repositories import conversations as repo
from server.storage.repositories import messages as messages_repo

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The service promise: every enquiry gets an answer within 48 hours.
PROMISE = timedelta(hours=48)
#: The expected answer time is the median of this many recent first answers of the site.
RECENT_ANSWERS = 20
#: Fewer samples than this say too little: we then only repeat the promise.
MIN_SAMPLES = 3


# --- stored messages --------------------------------------------------------------------------


def stored_message(row: Message) -> StoredMessage:
    if row.kind == KIND_SYSTEM:
        return StoredMessage(
            seq=row.seq,
            mid=row.mid,
            sender_id=row.sender_id,
            epoch=row.epoch,
            created_at=row.created_at,
            kind="system",
            system=Coded(code=row.system_code or "", params=dict(row.system_params or {})),
        )
    return StoredMessage(
        seq=row.seq,
        mid=row.mid,
        sender_id=row.sender_id,
        epoch=row.epoch,
        created_at=row.created_at,
        kind="message",
        envelope=row.envelope,
    )


async def append_system_message(
    db: AsyncSession,
    conversation: Conversation,
    code: str,
    params: dict[str, Any],
    now: datetime,
) -> StoredMessage:
    """Store a system event as the conversation's next message (a code, rendered by clients)."""
    last = await repo.reserve_seqs(db, conversation.id, 1, now)
    assert last is not None
    row = {
        "conversation_id": conversation.id,
        "seq": last,
        "mid": str(uuid.uuid4()),
        "sender_id": None,
        "epoch": conversation.current_epoch,
        "kind": KIND_SYSTEM,
        "envelope": None,
        "system_code": code,
        "system_params": params,
        "created_at": now,
    }
    await messages_repo.insert_messages(db, [row])
    # The UPDATE already wrote these; tell the ORM without scheduling another UPDATE.
    set_committed_value(conversation, "last_seq", last)
    set_committed_value(conversation, "last_activity_at", now)
    return StoredMessage(
        seq=last,
        mid=row["mid"],
        sender_id=None,
        epoch=conversation.current_epoch,
        created_at=now,
        kind="system",
        system=Coded(code=code, params=params),
    )


# --- expected answer time ---------------------------------------------------------------------


def _parse_minutes(value: object) -> int | None:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        return None
    try:
        hours, minutes = int(value[:2]), int(value[3:])
    except ValueError:
        return None
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or hours * 60 + minutes > 24 * 60:
        return None
    return hours * 60 + minutes


def opening_ranges(hours: dict[str, Any] | None) -> dict[int, list[tuple[int, int]]]:
    """{"mon": [["09:00", "16:00"]]} → {0: [(540, 960)]} (minutes of the local day)."""
    result: dict[int, list[tuple[int, int]]] = {}
    for day, ranges in (hours or {}).items():
        if day not in WEEKDAYS or not isinstance(ranges, list):
            continue
        for pair in ranges:
            if not isinstance(pair, list | tuple) or len(pair) != 2:
                continue
            start, end = _parse_minutes(pair[0]), _parse_minutes(pair[1])
            if start is not None and end is not None and start < end:
                result.setdefault(WEEKDAYS.index(day), []).append((start, end))
    return {day: sorted(ranges) for day, ranges in result.items()}


def next_opening(hours: dict[str, Any] | None, now: datetime) -> datetime | None:
    """`now` if the site is open now, else the next opening within a week (None: no hours)."""
    ranges = opening_ranges(hours)
    if not ranges:
        return None
    local = now.astimezone(BERLIN)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        for start, end in ranges.get(day.weekday(), []):
            opens = datetime.combine(day, time(0), BERLIN) + timedelta(minutes=start)
            closes = datetime.combine(day, time(0), BERLIN) + timedelta(minutes=end)
            if closes <= local:
                continue
            return now if opens <= local else opens.astimezone(now.tzinfo)
    return None


def expected_answer(
    hours: dict[str, Any] | None, recent_waits: Sequence[float], now: datetime
) -> Coded:
    """What we may honestly say about when an answer comes, as a code for the client.

    * `within_minutes {minutes}` / `within_hours {hours}`: the team is open (or publishes no
      hours) and the median of its recent first answers says so (rounded up).
    * `after_opening {opens_at}`: the team is closed now and opens within the promise.
    * `within_48_hours {hours: 48}`: the service promise, whenever we know too little or the
      estimate would exceed it — we never promise more than we keep, nor less than we promise.
    """
    promise = Coded(code="within_48_hours", params={"hours": int(PROMISE.total_seconds() // 3600)})
    opening = next_opening(hours, now)
    has_hours = bool(opening_ranges(hours))
    if has_hours and opening is None:
        return promise
    if opening is not None and opening > now:
        if opening - now >= PROMISE:
            return promise
        return Coded(code="after_opening", params={"opens_at": opening.isoformat()})
    if len(recent_waits) < MIN_SAMPLES:
        return promise
    median = statistics.median(recent_waits)
    if median >= PROMISE.total_seconds():
        return promise
    if median < 3600:
        minutes = max(5, math.ceil(median / 60 / 5) * 5)
        return Coded(code="within_minutes", params={"minutes": minutes})
    return Coded(code="within_hours", params={"hours": math.ceil(median / 3600)})


_recent_waits: dict[str, tuple[float, list[float]]] = {}
#: The median of recent answers moves slowly; re-read it at most this often per site and process.
RECENT_WAITS_TTL = 60.0


async def expected_answer_for(db: AsyncSession, site: Site, now: datetime) -> Coded:
    cached = _recent_waits.get(site.id)
    if cached is None or time_module.monotonic() - cached[0] > RECENT_WAITS_TTL:
        waits = await repo.recent_first_response_seconds(db, site.id, RECENT_ANSWERS)
        cached = _recent_waits[site.id] = (time_module.monotonic(), waits)
    return expected_answer(site.opening_hours, cached[1], now)


async def position_notices(db: AsyncSession, site: Site, now: datetime) -> list[Notice]:
    """`queue.position` for every waiting young person of a site (after the queue changed)."""
    waiting = await repo.waiting_people_of_site(db, site.id)
    if not waiting:
        return []
    expected = await expected_answer_for(db, site, now)
    return [
        Notice(
            account_room(young_person_id),
            "queue.position",
            QueuePosition(
                conversation_id=conversation_id, position=place, expected_answer=expected
            ),
        )
        for place, (conversation_id, young_person_id) in enumerate(waiting, start=1)
        if young_person_id is not None
    ]


# --- summaries and queue items ----------------------------------------------------------------


def site_ref(site: Site) -> SiteRef:
    return SiteRef(id=site.id, name=site.name, city=site.city, languages=list(site.languages))


def _route_reason(value: dict[str, Any]) -> Coded:
    code = value.get("code")
    params = value.get("params")
    return Coded(
        code=code if isinstance(code, str) else "",
        params=params if isinstance(params, dict) else {},
    )


async def summaries(
    db: AsyncSession,
    conversations: Sequence[Conversation],
    *,
    viewer_id: str | None,
    now: datetime,
    with_queue: bool = False,
) -> list[ConversationSummary]:
    """Summaries for one viewer (None: a broadcast; viewer fields are then null).

    `with_queue` adds the queue position and expected answer to waiting conversations (what
    the young person sees).
    """
    sites = await repo.sites_by_id(db, {c.site_id for c in conversations})
    people = await repo.accounts_by_id(
        db, [c.counsellor_id for c in conversations] + [c.young_person_id for c in conversations]
    )
    absences = await repo.absences(db, [c.counsellor_id for c in conversations])
    markers = (
        await repo.read_markers(db, [c.id for c in conversations], viewer_id)
        if viewer_id is not None
        else {}
    )
    expected_by_site: dict[str, Coded] = {}
    result = []
    for conv in conversations:
        site = sites[conv.site_id]
        counsellor = people.get(conv.counsellor_id) if conv.counsellor_id else None
        young = people.get(conv.young_person_id) if conv.young_person_id else None
        read = markers.get(conv.id, 0) if viewer_id is not None else None
        position = expected = None
        if with_queue and conv.status == STATUS_WAITING:
            position = await repo.queue_position(db, conv)
            if site.id not in expected_by_site:
                expected_by_site[site.id] = await expected_answer_for(db, site, now)
            expected = expected_by_site[site.id]
        result.append(
            ConversationSummary(
                id=conv.id,
                status=conv.status,  # the CHECK constraint keeps it one of the three
                site=site_ref(site),
                topic=conv.topic,
                language=conv.language,
                route_reason=_route_reason(conv.route_reason),
                counsellor=(
                    CounsellorRef(
                        id=counsellor.id,
                        display_name=counsellor.display_name,
                        absent_until=absences.get(counsellor.id),
                        certificate=b64url_encode(counsellor.certificate.encode())
                        if counsellor.certificate
                        else None,
                    )
                    if counsellor is not None
                    else None
                ),
                young_person=(
                    YoungPersonRef(
                        id=young.id,
                        nickname=young.nickname,
                        x25519_public=b64url_encode(young.x25519_public),
                        ed25519_public=b64url_encode(young.ed25519_public),
                    )
                    if young is not None
                    else None
                ),
                current_epoch=conv.current_epoch,
                last_seq=conv.last_seq,
                last_read_seq=read,
                unread=None if read is None else max(0, conv.last_seq - read),
                last_activity_at=conv.last_activity_at,
                created_at=conv.created_at,
                queue_position=position,
                expected_answer=expected,
            )
        )
    return result


async def summary(
    db: AsyncSession,
    conversation: Conversation,
    *,
    viewer_id: str | None,
    now: datetime,
    with_queue: bool = False,
) -> ConversationSummary:
    return (
        await summaries(db, [conversation], viewer_id=viewer_id, now=now, with_queue=with_queue)
    )[0]


def broadcast_of(mine: ConversationSummary) -> ConversationSummary:
    """The same summary for a room of several viewers: without anyone's own fields."""
    return mine.model_copy(
        update={
            "last_read_seq": None,
            "unread": None,
            "queue_position": None,
            "expected_answer": None,
        }
    )


def _handover_note(proposal: Any) -> dict[str, Any] | None:
    """{sealed, site_key_version} of an accepted handover proposal's note (None: no note)."""
    if proposal is None or proposal.note_sealed is None:
        return None
    return {"sealed": proposal.note_sealed, "site_key_version": proposal.note_site_key_version}


async def queue_items(
    db: AsyncSession, rows: Sequence[tuple[Conversation, str | None]], now: datetime
) -> list[QueueItem]:
    """Queue items with the enquiry text and its key shares sealed to the site."""
    ids = [conv.id for conv, _ in rows]
    firsts = await messages_repo.first_messages(db, ids)
    keys = await repo.site_keys_of(db, ids)
    origins = await repo.sites_by_id(
        db, [c.handed_over_from_site_id for c, _ in rows if c.handed_over_from_site_id]
    )
    people = await repo.accounts_by_id(db, [conv.young_person_id for conv, _ in rows])
    # Handover (issue #6): the note the previous site sealed to this site's key.
    from server.storage.repositories.handover import accepted_notes

    notes = await accepted_notes(db, [c.id for c, _ in rows if c.handed_over_from_site_id])
    items = []
    for conv, nickname in rows:
        young = people.get(conv.young_person_id or "")
        first = firsts.get(conv.id)
        moved = notes.get(conv.id)
        if moved is not None and not moved.allow_history:
            first = None  # handed over without the earlier messages (issue #6)
        origin = origins.get(conv.handed_over_from_site_id or "")
        items.append(
            QueueItem(
                conversation_id=conv.id,
                site_id=conv.site_id,
                topic=conv.topic,
                language=conv.language,
                created_at=conv.created_at,
                waiting_seconds=max(0, int((now - conv.created_at).total_seconds())),
                nickname=nickname,
                young_person=(
                    YoungPersonRef(
                        id=young.id,
                        nickname=young.nickname,
                        x25519_public=b64url_encode(young.x25519_public),
                        ed25519_public=b64url_encode(young.ed25519_public),
                    )
                    if young is not None
                    else None
                ),
                urgent=conv.urgent,
                first_message=first.envelope if first is not None else None,
                epoch_keys=[
                    SiteEpochKey(
                        epoch=k.epoch, site_key_version=k.site_key_version or 0, sealed=k.sealed
                    )
                    for k in keys.get(conv.id, [])
                    if k.recipient_id == conv.site_id
                ],
                handover_from=HandoverFrom(
                    site_name=origin.name, note=_handover_note(notes.get(conv.id)),
                ) if origin else None,
            )
        )
    return items
