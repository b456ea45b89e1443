"""Queries for messages: bulk insert, dedupe by client message id, pages by sequence number.

Functions take an `AsyncSession`, never commit, and know no rules: the services decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Integer, String, Table, bindparam, insert, select, text, tuple_
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import Message
from server.storage.models.base import UTCDateTime

_MESSAGES = cast(Table, Message.__table__)
#: Built once (see repositories/conversations.py: statements of the writer's batches).
_INSERT_MESSAGES = insert(_MESSAGES)


async def insert_messages(db: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """One executemany INSERT for a whole batch: a Core insert into the table, so neither the
    ORM's identity map nor its bulk-insert bookkeeping runs per row (same stored values)."""
    if rows:
        await db.execute(_INSERT_MESSAGES, list(rows))


#: PostgreSQL: one constant statement whatever the batch size (prepared once by asyncpg).
_PG_EXISTING_MIDS = (
    text(
        "SELECT m.conversation_id, m.mid, m.seq, m.sender_id, m.created_at FROM messages AS m "
        "JOIN unnest(CAST(:cs AS VARCHAR[]), CAST(:ms AS VARCHAR[])) AS v(c, mid) "
        "ON m.conversation_id = v.c AND m.mid = v.mid"
    )
    .bindparams(
        bindparam("cs", type_=postgresql.ARRAY(String)),
        bindparam("ms", type_=postgresql.ARRAY(String)),
    )
    .columns(conversation_id=String, mid=String, seq=Integer, sender_id=String,
             created_at=UTCDateTime())
)


#: SQLite: constant too (an expanding IN of pairs), so nothing is built per batch.
_EXISTING_MIDS = select(
    Message.conversation_id, Message.mid, Message.seq, Message.sender_id, Message.created_at
).where(tuple_(Message.conversation_id, Message.mid).in_(bindparam("pairs", expanding=True)))


async def existing_mids(
    db: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, str | None, datetime]]:
    """(conversation_id, mid) → (seq, sender_id, created_at) of messages already stored."""
    wanted = list(set(pairs))
    if not wanted:
        return {}
    found: dict[tuple[str, str], tuple[int, str | None, datetime]] = {}
    if db.get_bind().dialect.name == "postgresql":
        rows = await db.execute(
            _PG_EXISTING_MIDS, {"cs": [c for c, _m in wanted], "ms": [m for _c, m in wanted]}
        )
        for conv, mid, seq, sender, created in rows.all():
            found[(conv, mid)] = (int(seq), sender, created)
        return found
    # Chunked: keeps the statement (and SQLite's variable count) bounded for big batches.
    for start in range(0, len(wanted), 400):
        chunk = wanted[start : start + 400]
        rows = await db.execute(_EXISTING_MIDS, {"pairs": chunk})
        for conv, mid, seq, sender, created in rows.all():
            found[(conv, mid)] = (int(seq), sender, created)
    return found


async def get_by_seq(db: AsyncSession, conversation_id: str, seq: int) -> Message | None:
    return await db.get(Message, (conversation_id, seq))


async def after(
    db: AsyncSession,
    conversation_id: str,
    after_seq: int,
    limit: int,
    *,
    from_epoch: int = 1,
    until_epoch: int | None = None,
) -> list[Message]:
    """Up to `limit` messages with seq > after_seq, oldest first (epoch range: see access)."""
    query = select(Message).where(
        Message.conversation_id == conversation_id,
        Message.seq > after_seq,
        Message.epoch >= from_epoch,
    )
    if until_epoch is not None:
        query = query.where(Message.epoch <= until_epoch)
    rows = await db.execute(query.order_by(Message.seq).limit(limit))
    return list(rows.scalars())


async def before(
    db: AsyncSession,
    conversation_id: str,
    before_seq: int,
    limit: int,
    *,
    from_epoch: int = 1,
    until_epoch: int | None = None,
) -> list[Message]:
    """Up to `limit` messages with seq < before_seq, returned oldest first."""
    query = select(Message).where(
        Message.conversation_id == conversation_id,
        Message.seq < before_seq,
        Message.epoch >= from_epoch,
    )
    if until_epoch is not None:
        query = query.where(Message.epoch <= until_epoch)
    rows = await db.execute(query.order_by(Message.seq.desc()).limit(limit))
    return list(reversed(list(rows.scalars())))


async def first_messages(db: AsyncSession, conversation_ids: Sequence[str]) -> dict[str, Message]:
    """The enquiry text (seq 1) of each conversation, for queue items."""
    if not conversation_ids:
        return {}
    rows = await db.execute(
        select(Message).where(
            Message.conversation_id.in_(list(conversation_ids)), Message.seq == 1
        )
    )
    return {m.conversation_id: m for m in rows.scalars()}
