"""Storage of chat rounds: rounds, participants, epoch-key shares, messages.

Functions take a session and never commit; the rounds service owns the transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import Account, Site
from server.storage.models.rounds import (
    ACTIVE_STATES,
    PARTICIPANT_YOUNG_PERSON,
    ChatRound,
    RoundKey,
    RoundMessage,
    RoundParticipant,
)

NO_SYNC = {"synchronize_session": False}


async def lock_round(db: AsyncSession, round_id: str) -> None:
    """Take the round's row lock (PostgreSQL) for a membership/epoch change; on SQLite the
    transaction already holds the write lock (`begin_write`)."""
    await db.execute(
        update(ChatRound).where(ChatRound.id == round_id)
        .values(last_seq=ChatRound.last_seq).execution_options(**NO_SYNC)
    )


async def list_rounds(
    db: AsyncSession, *, ends_after: datetime, language: str | None = None,
    site_ids: Sequence[str] | None = None,
) -> list[tuple[ChatRound, Site]]:
    query = (
        select(ChatRound, Site).join(Site, Site.id == ChatRound.site_id)
        .where(ChatRound.ends_at > ends_after, ChatRound.purged_at.is_(None))
        .order_by(ChatRound.starts_at, ChatRound.id).limit(200)
    )
    if language is not None:
        query = query.where(ChatRound.language == language)
    if site_ids is not None:
        query = query.where(ChatRound.site_id.in_(list(site_ids)))
    return [(r, s) for r, s in (await db.execute(query)).all()]


async def young_counts(db: AsyncSession, round_ids: Sequence[str]) -> dict[str, int]:
    if not round_ids:
        return {}
    rows = await db.execute(
        select(RoundParticipant.round_id, func.count())
        .where(RoundParticipant.round_id.in_(list(round_ids)),
               RoundParticipant.role == PARTICIPANT_YOUNG_PERSON,
               RoundParticipant.state.in_(ACTIVE_STATES))
        .group_by(RoundParticipant.round_id)
    )
    return {rid: int(n) for rid, n in rows.all()}


async def my_states(db: AsyncSession, account_id: str, round_ids: Sequence[str]) -> dict[str, str]:
    if not round_ids:
        return {}
    rows = await db.execute(
        select(RoundParticipant.round_id, RoundParticipant.state)
        .where(RoundParticipant.round_id.in_(list(round_ids)),
               RoundParticipant.account_id == account_id)
    )
    return {rid: state for rid, state in rows.all()}


async def participants(
    db: AsyncSession, round_id: str
) -> list[tuple[RoundParticipant, Account]]:
    rows = await db.execute(
        select(RoundParticipant, Account).join(Account, Account.id == RoundParticipant.account_id)
        .where(RoundParticipant.round_id == round_id)
        .order_by(RoundParticipant.joined_at, RoundParticipant.member_id)
    )
    return [(p, a) for p, a in rows.all()]


async def participant_by_member(
    db: AsyncSession, round_id: str, member_id: str
) -> RoundParticipant | None:
    return (await db.execute(
        select(RoundParticipant).where(RoundParticipant.round_id == round_id,
                                       RoundParticipant.member_id == member_id)
    )).scalar_one_or_none()


async def next_seq(db: AsyncSession, round_id: str) -> int:
    """Reserve the next gap-free sequence number (row-locked on PostgreSQL)."""
    result = await db.execute(
        update(ChatRound).where(ChatRound.id == round_id)
        .values(last_seq=ChatRound.last_seq + 1).returning(ChatRound.last_seq)
        .execution_options(**NO_SYNC)
    )
    return int(result.scalar_one())


async def add_system(
    db: AsyncSession, round_id: str, epoch: int, code: str, params: dict[str, Any],
    now: datetime, mid: str,
) -> RoundMessage:
    message = RoundMessage(
        round_id=round_id, seq=await next_seq(db, round_id), mid=mid, sender_member_id=None,
        epoch=epoch, kind="system", envelope=None, system_code=code, system_params=params,
        created_at=now,
    )
    db.add(message)
    return message


async def message_by_mid(db: AsyncSession, round_id: str, mid: str) -> RoundMessage | None:
    return (await db.execute(
        select(RoundMessage).where(RoundMessage.round_id == round_id, RoundMessage.mid == mid)
    )).scalar_one_or_none()


async def messages_after(
    db: AsyncSession, round_id: str, after_seq: int, from_epoch: int, until_epoch: int | None,
    limit: int,
) -> list[RoundMessage]:
    query = (
        select(RoundMessage)
        .where(RoundMessage.round_id == round_id, RoundMessage.seq > after_seq,
               RoundMessage.epoch >= from_epoch)
        .order_by(RoundMessage.seq).limit(limit)
    )
    if until_epoch is not None:
        query = query.where(RoundMessage.epoch <= until_epoch)
    return list((await db.execute(query)).scalars())


async def keys_of(
    db: AsyncSession, round_id: str, account_id: str, from_epoch: int, until_epoch: int | None
) -> list[RoundKey]:
    query = (
        select(RoundKey)
        .where(RoundKey.round_id == round_id, RoundKey.account_id == account_id,
               RoundKey.epoch >= from_epoch)
        .order_by(RoundKey.epoch)
    )
    if until_epoch is not None:
        query = query.where(RoundKey.epoch <= until_epoch)
    return list((await db.execute(query)).scalars())


async def set_epoch(db: AsyncSession, round_id: str, previous: int, epoch: int) -> bool:
    """Move the round to `epoch` if it is still at `previous` (one winner among moderators)."""
    result = await db.execute(
        update(ChatRound).where(ChatRound.id == round_id, ChatRound.current_epoch == previous)
        .values(current_epoch=epoch, rekey_needed=False, departure_pending=False)
        .execution_options(**NO_SYNC)
    )
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


def closed_rounds(cutoff: datetime) -> Select[str]:
    """Rounds that ended before `cutoff` and were not purged yet (retention candidates)."""
    return select(ChatRound.id).where(ChatRound.ends_at <= cutoff, ChatRound.purged_at.is_(None))


async def purge_rounds(db: AsyncSession, ids: Sequence[str], now: datetime) -> dict[str, int]:
    """Delete the messages and key shares of these rounds and mark them purged."""
    if not ids:
        return {}
    messages = await db.execute(delete(RoundMessage).where(RoundMessage.round_id.in_(list(ids))))
    keys = await db.execute(delete(RoundKey).where(RoundKey.round_id.in_(list(ids))))
    await db.execute(
        update(ChatRound).where(ChatRound.id.in_(list(ids))).values(purged_at=now)
        .execution_options(**NO_SYNC)
    )
    return {"round_messages": _count(messages), "round_keys": _count(keys)}


def _count(result: Any) -> int:
    return max(0, int(getattr(result, "rowcount", 0) or 0))


async def participations_of(db: AsyncSession, account_id: str) -> list[RoundParticipant]:
    """Every round participation of one account."""
    rows = await db.execute(
        select(RoundParticipant).where(RoundParticipant.account_id == account_id))
    return list(rows.scalars().all())


async def delete_messages_of_member(db: AsyncSession, round_id: str, member_id: str) -> None:
    await db.execute(delete(RoundMessage).where(
        RoundMessage.round_id == round_id, RoundMessage.sender_member_id == member_id))
