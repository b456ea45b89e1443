"""Queries for conversations, their members, key shares, notes, canned responses and the
counsellor status row. Messages have their own module (`messages.py`).

Functions take an `AsyncSession`, never commit, and know no rules: the services decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    Table,
    and_,
    any_,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from server.storage.models import (
    Account,
    CannedResponse,
    Conversation,
    ConversationKey,
    ConversationMember,
    ConversationNote,
    CounsellorStatus,
    Site,
    SiteMembership,
)
from server.storage.models.base import UTCDateTime
from server.storage.models.conversations import (
    MEMBER_COUNSELLOR,
    RECIPIENT_ACCOUNT,
    RECIPIENT_SITE,
    STATUS_ACTIVE,
    STATUS_WAITING,
)

# --- transactions -----------------------------------------------------------------------------


async def begin_write(db: AsyncSession) -> None:
    """Call first in a transaction that will write (before any read).

    SQLite starts transactions DEFERRED: a transaction that read first and then wants to write
    after another writer committed fails at once with "database is locked" (the busy timeout
    does not apply to that upgrade). `BEGIN IMMEDIATE` takes the write lock up front and waits
    for it with the busy timeout instead. PostgreSQL needs nothing: row locks do the work.
    """
    if db.get_bind().dialect.name == "sqlite":
        await db.execute(text("BEGIN IMMEDIATE"))


#: Our UPDATEs are plain SQL for the ORM: it need not find and refresh loaded objects (the
#: callers set what they need with `set_committed_value`). Saves most of an UPDATE's CPU.
NO_SYNC = {"synchronize_session": False}


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)
    return int(result.rowcount)


# --- conversations ----------------------------------------------------------------------------


async def get_conversation(db: AsyncSession, conversation_id: str) -> Conversation | None:
    return await db.get(Conversation, conversation_id)


async def get_conversations(db: AsyncSession, ids: Iterable[str]) -> dict[str, Conversation]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await db.execute(select(Conversation).where(Conversation.id.in_(wanted)))
    return {c.id: c for c in rows.scalars()}


def add_conversation(db: AsyncSession, conversation: Conversation) -> None:
    db.add(conversation)


async def reserve_seqs(
    db: AsyncSession, conversation_id: str, count: int, now: datetime
) -> int | None:
    """Reserve `count` sequence numbers; returns the new last_seq (None: no such row).

    One atomic UPDATE: on PostgreSQL it row-locks the conversation until the transaction ends,
    so writers in other processes queue behind it; SQLite serialises writers anyway. The numbers
    are rolled back with the transaction, so they stay gap-free.
    """
    result = await db.execute(
        update(Conversation)
        .execution_options(**NO_SYNC)
        .where(Conversation.id == conversation_id)
        .values(last_seq=Conversation.last_seq + count, last_activity_at=now)
        .returning(Conversation.last_seq)
    )
    value = result.scalar_one_or_none()
    return None if value is None else int(value)


async def lock_conversations(db: AsyncSession, ids: list[str]) -> None:
    """PostgreSQL: row-lock conversations in id order, so that transactions touching several
    conversations (the writer's batches) always lock in the same order and never deadlock.
    SQLite: nothing to do (`begin_write` took the database's write lock)."""
    if ids and db.get_bind().dialect.name == "postgresql":
        await db.execute(
            select(Conversation.id).where(Conversation.id.in_(ids))
            .order_by(Conversation.id).with_for_update()
        )


async def lock_and_load_conversations(
    db: AsyncSession, ids: Iterable[str]
) -> dict[str, Conversation]:
    """The message writer's first statement: load the batch's conversations and, on
    PostgreSQL, row-lock them in id order (`SELECT … ORDER BY id FOR UPDATE`), so that writers
    of several processes lock in the same order and never deadlock, and every check after it
    sees the committed state (status, `last_seq`) that nobody can change until the commit.
    SQLite: `begin_write` already took the database's write lock."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if db.get_bind().dialect.name == "postgresql":
        rows = await db.execute(_PG_LOCK_CONVERSATIONS, {"ids": wanted})
    else:
        rows = await db.execute(_LOAD_CONVERSATIONS, {"ids": wanted})
    return {c.id: c for c in rows.scalars()}


def _any_of(name: str) -> ColumnElement[Any]:
    """`= ANY(:name)` with a text-array parameter (PostgreSQL). Unlike `IN (…)`, whose SQL
    text grows with the number of values, the statement is the same for every batch size:
    asyncpg prepares it once instead of once per size (a round trip and a plan each time)."""
    return any_(bindparam(name, type_=postgresql.ARRAY(String)))


# The writer's per-batch statements are built once, here. Building them per batch cost CPU
# and, worse, left reference cycles (SQLAlchemy's types and comparators point at each other)
# for the garbage collector: ~40 objects per batch, whose collections paused the event loop
# (server/gc_pauses.py). Executed with parameters, they hit the compiled cache every time.
_PG_LOCK_CONVERSATIONS = (
    select(Conversation).where(Conversation.id == _any_of("ids"))
    .order_by(Conversation.id).with_for_update()
)
_LOAD_CONVERSATIONS = select(Conversation).where(
    Conversation.id.in_(bindparam("ids", expanding=True))
)
_MEMBER_ACCESS = (
    select(
        ConversationMember.conversation_id, ConversationMember.account_id,
        ConversationMember.role, ConversationMember.from_epoch,
        ConversationMember.until_epoch, ConversationMember.active,
        SiteMembership.account_id,
    )
    .join(Conversation, Conversation.id == ConversationMember.conversation_id)
    .outerjoin(
        SiteMembership,
        and_(
            SiteMembership.account_id == ConversationMember.account_id,
            SiteMembership.site_id == Conversation.site_id,
        ),
    )
)
_PG_MEMBER_ACCESS = _MEMBER_ACCESS.where(
    ConversationMember.conversation_id == _any_of("member_convs"),
    ConversationMember.account_id == _any_of("member_accounts"),
)
_SQLITE_MEMBER_ACCESS = _MEMBER_ACCESS.where(
    ConversationMember.conversation_id.in_(bindparam("member_convs", expanding=True)),
    ConversationMember.account_id.in_(bindparam("member_accounts", expanding=True)),
)


#: Constant statements for the writer's batches: the same SQL text whatever the batch size, so
#: SQLAlchemy's compiled cache and asyncpg's prepared statements are hit every time. The
#: earlier `CASE id WHEN … END` form built a new N-branch statement per batch and made
#: PostgreSQL compare N branches for each of N rows (bench/README.md, "Where the time goes").
_PG_SET_LAST_SEQS = text(
    "UPDATE conversations SET last_seq = v.n, last_activity_at = :now "
    "FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:ns AS INTEGER[])) AS v(id, n) "
    "WHERE conversations.id = v.id"
).bindparams(
    bindparam("ids", type_=postgresql.ARRAY(String)),
    bindparam("ns", type_=postgresql.ARRAY(Integer)),
    bindparam("now", type_=UTCDateTime()),
)
_CONVERSATIONS = cast(Table, Conversation.__table__)
_MEMBERS = cast(Table, ConversationMember.__table__)
_SET_LAST_SEQ = (
    update(_CONVERSATIONS)
    .where(_CONVERSATIONS.c.id == bindparam("c"))
    .values(last_seq=bindparam("n"), last_activity_at=bindparam("t"))
)
_PG_ADVANCE_READS = text(
    "UPDATE conversation_members SET last_read_seq = v.s "
    "FROM unnest(CAST(:cs AS VARCHAR[]), CAST(:accs AS VARCHAR[]), CAST(:ss AS INTEGER[])) "
    "AS v(c, a, s) "
    "WHERE conversation_members.conversation_id = v.c "
    "AND conversation_members.account_id = v.a AND conversation_members.last_read_seq < v.s"
).bindparams(
    bindparam("cs", type_=postgresql.ARRAY(String)),
    bindparam("accs", type_=postgresql.ARRAY(String)),
    bindparam("ss", type_=postgresql.ARRAY(Integer)),
)
_ADVANCE_READ = (
    update(_MEMBERS)
    .where(and_(
        _MEMBERS.c.conversation_id == bindparam("c"),
        _MEMBERS.c.account_id == bindparam("a"),
        _MEMBERS.c.last_read_seq < bindparam("s"),
    ))
    .values(last_read_seq=bindparam("s"))
)


async def set_last_seqs(db: AsyncSession, last: dict[str, int], now: datetime) -> None:
    """Store the writer's new `last_seq` (and activity time) of each conversation of a batch.

    The caller locked the rows (`lock_and_load_conversations`) and computed the numbers from
    the locked `last_seq` in the same transaction, so they are gap-free across processes and
    roll back with the transaction. PostgreSQL: ONE `UPDATE … FROM unnest(ids, numbers)`;
    SQLite: one executemany of a constant UPDATE (in-process, no round trips)."""
    if not last:
        return
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(_PG_SET_LAST_SEQS, {"ids": list(last), "ns": list(last.values()),
                                             "now": now})
        return
    connection = await db.connection()
    await connection.execute(
        _SET_LAST_SEQ, [{"c": conv, "n": n, "t": now} for conv, n in last.items()]
    )


async def advance_reads(db: AsyncSession, marks: dict[tuple[str, str], int]) -> None:
    """`advance_read` for many (conversation, account) pairs (never moves a marker back):
    PostgreSQL ONE `UPDATE … FROM unnest(…)`, SQLite one executemany."""
    if not marks:
        return
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(_PG_ADVANCE_READS, {
            "cs": [c for c, _a in marks], "accs": [a for _c, a in marks],
            "ss": list(marks.values()),
        })
        return
    connection = await db.connection()
    await connection.execute(
        _ADVANCE_READ, [{"c": c, "a": a, "s": s} for (c, a), s in marks.items()]
    )


async def claim(db: AsyncSession, conversation_id: str, counsellor_id: str, now: datetime) -> bool:
    """The one atomic claim: True for exactly one caller per waiting conversation."""
    result = await db.execute(
        update(Conversation)
        .execution_options(**NO_SYNC)
        .where(Conversation.id == conversation_id, Conversation.status == STATUS_WAITING)
        .values(counsellor_id=counsellor_id, status=STATUS_ACTIVE, claimed_at=now,
                last_activity_at=now)
    )
    return _rowcount(result) == 1


async def set_status(
    db: AsyncSession, conversation_id: str, *, from_statuses: Sequence[str], values: dict[str, Any]
) -> bool:
    """Conditional status change; True if this call changed the row."""
    result = await db.execute(
        update(Conversation)
        .execution_options(**NO_SYNC)
        .where(Conversation.id == conversation_id, Conversation.status.in_(list(from_statuses)))
        .values(**values)
    )
    return _rowcount(result) == 1


async def mark_first_response(db: AsyncSession, conversation_id: str, now: datetime) -> None:
    await db.execute(
        update(Conversation)
        .execution_options(**NO_SYNC)
        .where(Conversation.id == conversation_id, Conversation.first_response_at.is_(None))
        .values(first_response_at=now)
    )


async def waiting_people_of_site(
    db: AsyncSession, site_id: str, limit: int = 1000
) -> list[tuple[str, str | None]]:
    """(conversation id, young person id) of a site's waiting conversations, queue order."""
    rows = await db.execute(
        select(Conversation.id, Conversation.young_person_id)
        .where(Conversation.site_id == site_id, Conversation.status == STATUS_WAITING)
        .order_by(Conversation.urgent.desc(), Conversation.created_at, Conversation.id)
        .limit(limit)
    )
    return [(conv, young) for conv, young in rows.all()]


async def queue_position(db: AsyncSession, conversation: Conversation) -> int:
    """1-based place of a waiting conversation in its site's queue (same order as
    `waiting_people_of_site`)."""
    earlier = and_(
        Conversation.urgent == conversation.urgent,
        or_(
            Conversation.created_at < conversation.created_at,
            and_(
                Conversation.created_at == conversation.created_at,
                Conversation.id < conversation.id,
            ),
        ),
    )
    # Urgent enquiries go first: a non-urgent one also waits behind every urgent one.
    ahead = earlier if conversation.urgent else or_(Conversation.urgent.is_(True), earlier)
    result = await db.execute(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.site_id == conversation.site_id,
            Conversation.status == STATUS_WAITING,
            ahead,
        )
    )
    return int(result.scalar_one()) + 1


async def recent_first_response_seconds(db: AsyncSession, site_id: str, n: int) -> list[float]:
    """How long the last `n` answered enquiries of a site waited for their first answer."""
    rows = await db.execute(
        select(Conversation.created_at, Conversation.first_response_at)
        .where(Conversation.site_id == site_id, Conversation.first_response_at.is_not(None))
        .order_by(Conversation.first_response_at.desc())
        .limit(n)
    )
    return [
        max(0.0, (answered - created).total_seconds())
        for created, answered in rows.all()
        if answered is not None
    ]


async def queue_items(
    db: AsyncSession,
    site_ids: Sequence[str],
    *,
    language: str | None = None,
    topic: str | None = None,
    limit: int = 200,
) -> list[tuple[Conversation, str | None]]:
    """Waiting conversations of the sites with the young person's nickname (None: deleted)."""
    if not site_ids:
        return []
    query = (
        select(Conversation, Account.nickname)
        .outerjoin(Account, Account.id == Conversation.young_person_id)
        .where(Conversation.site_id.in_(list(site_ids)), Conversation.status == STATUS_WAITING)
    )
    if language is not None:
        query = query.where(Conversation.language == language)
    if topic is not None:
        query = query.where(Conversation.topic == topic)
    rows = await db.execute(
        query.order_by(Conversation.urgent.desc(), Conversation.created_at, Conversation.id)
        .limit(limit)
    )
    return [(conv, nickname) for conv, nickname in rows.all()]


async def conversations_of_young_person(
    db: AsyncSession, account_id: str, statuses: Sequence[str], limit: int = 200
) -> list[Conversation]:
    rows = await db.execute(
        select(Conversation)
        .where(Conversation.young_person_id == account_id, Conversation.status.in_(statuses))
        .order_by(Conversation.last_activity_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def count_open_of_young_person(db: AsyncSession, account_id: str) -> int:
    result = await db.execute(
        select(func.count())
        .select_from(Conversation)
        .where(
            Conversation.young_person_id == account_id,
            Conversation.status.in_([STATUS_WAITING, STATUS_ACTIVE]),
        )
    )
    return int(result.scalar_one())


async def conversations_for_counsellor(
    db: AsyncSession, account_id: str, site_ids: Sequence[str], statuses: Sequence[str],
    limit: int = 200,
) -> list[Conversation]:
    """The counsellor's own conversations and those of their sites (not the waiting queue)."""
    mine = select(ConversationMember.conversation_id).where(
        ConversationMember.account_id == account_id
    )
    rows = await db.execute(
        select(Conversation)
        .where(
            Conversation.status.in_(statuses),
            or_(
                Conversation.counsellor_id == account_id,
                Conversation.id.in_(mine),
                and_(
                    Conversation.site_id.in_(list(site_ids)),
                    Conversation.status != STATUS_WAITING,
                ),
            ),
        )
        .order_by(Conversation.last_activity_at.desc())
        .limit(limit)
    )
    return list(rows.scalars())


async def count_active_of_counsellor(db: AsyncSession, account_id: str) -> int:
    result = await db.execute(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.counsellor_id == account_id, Conversation.status == STATUS_ACTIVE)
    )
    return int(result.scalar_one())


async def active_of_counsellor(db: AsyncSession, account_id: str) -> list[Conversation]:
    rows = await db.execute(
        select(Conversation).where(
            Conversation.counsellor_id == account_id, Conversation.status == STATUS_ACTIVE
        )
    )
    return list(rows.scalars())


# --- members ----------------------------------------------------------------------------------


def add_member(db: AsyncSession, member: ConversationMember) -> None:
    db.add(member)


async def get_member(
    db: AsyncSession, conversation_id: str, account_id: str
) -> ConversationMember | None:
    return await db.get(ConversationMember, (conversation_id, account_id))


class MemberAccess(NamedTuple):
    """What the message writer checks of a sender's member row (plain columns, no ORM object)."""

    role: str
    from_epoch: int
    until_epoch: int | None
    active: bool
    works_in_site: bool  # the account works in the conversation's current site


async def members_with_site_access(
    db: AsyncSession, pairs: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], MemberAccess]:
    """For (conversation_id, account_id) pairs: the member row's access facts and whether the
    account works in the conversation's current site. One query for a whole writer batch."""
    wanted = set(pairs)
    if not wanted:
        return {}
    conv_ids = sorted({c for c, _ in wanted})
    account_ids = sorted({a for _, a in wanted})
    query = (_PG_MEMBER_ACCESS if db.get_bind().dialect.name == "postgresql"
             else _SQLITE_MEMBER_ACCESS)
    rows = await db.execute(query, {"member_convs": conv_ids, "member_accounts": account_ids})
    found: dict[tuple[str, str], MemberAccess] = {}
    for conv, account, role, from_epoch, until_epoch, active, site_member in rows.all():
        key = (conv, account)
        if key in wanted:
            found[key] = MemberAccess(role, int(from_epoch), until_epoch, bool(active),
                                      site_member is not None)
    return found


async def advance_read(
    db: AsyncSession, conversation_id: str, account_id: str, seq: int
) -> bool:
    """Move the read marker forward (never back); True if it moved."""
    result = await db.execute(
        update(ConversationMember)
        .execution_options(**NO_SYNC)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.account_id == account_id,
            ConversationMember.last_read_seq < seq,
        )
        .values(last_read_seq=seq)
    )
    return _rowcount(result) == 1


async def read_markers(
    db: AsyncSession, conversation_ids: Sequence[str], account_id: str
) -> dict[str, int]:
    if not conversation_ids:
        return {}
    rows = await db.execute(
        select(ConversationMember.conversation_id, ConversationMember.last_read_seq).where(
            ConversationMember.conversation_id.in_(list(conversation_ids)),
            ConversationMember.account_id == account_id,
        )
    )
    return {conv: int(seq) for conv, seq in rows.all()}


# --- key shares -------------------------------------------------------------------------------


def add_key(db: AsyncSession, key: ConversationKey) -> None:
    db.add(key)


async def keys_for(
    db: AsyncSession,
    conversation_id: str,
    *,
    account_id: str,
    site_ids: Sequence[str],
    from_epoch: int = 1,
    until_epoch: int | None = None,
) -> list[ConversationKey]:
    """Shares sealed to the account or to one of `site_ids`, within the epoch range."""
    recipient = or_(
        and_(
            ConversationKey.recipient_kind == RECIPIENT_ACCOUNT,
            ConversationKey.recipient_id == account_id,
        ),
        and_(
            ConversationKey.recipient_kind == RECIPIENT_SITE,
            ConversationKey.recipient_id.in_(list(site_ids)),
        ),
    )
    query = select(ConversationKey).where(
        ConversationKey.conversation_id == conversation_id,
        ConversationKey.epoch >= from_epoch,
        recipient,
    )
    if until_epoch is not None:
        query = query.where(ConversationKey.epoch <= until_epoch)
    rows = await db.execute(query.order_by(ConversationKey.epoch, ConversationKey.recipient_kind))
    return list(rows.scalars())


async def site_keys_of(
    db: AsyncSession, conversation_ids: Sequence[str]
) -> dict[str, list[ConversationKey]]:
    """Shares sealed to the conversation's site (for queue items), by conversation."""
    if not conversation_ids:
        return {}
    rows = await db.execute(
        select(ConversationKey)
        .where(
            ConversationKey.conversation_id.in_(list(conversation_ids)),
            ConversationKey.recipient_kind == RECIPIENT_SITE,
        )
        .order_by(ConversationKey.epoch)
    )
    found: dict[str, list[ConversationKey]] = {}
    for key in rows.scalars():
        found.setdefault(key.conversation_id, []).append(key)
    return found


# --- sites and accounts, as the conversation area needs them -----------------------------------


async def sites_by_id(db: AsyncSession, ids: Iterable[str]) -> dict[str, Site]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    rows = await db.execute(select(Site).where(Site.id.in_(wanted)))
    return {s.id: s for s in rows.scalars()}


async def accounts_by_id(db: AsyncSession, ids: Iterable[str | None]) -> dict[str, Account]:
    wanted = list({i for i in ids if i is not None})
    if not wanted:
        return {}
    rows = await db.execute(select(Account).where(Account.id.in_(wanted)))
    return {a.id: a for a in rows.scalars()}


async def site_ids_of(db: AsyncSession, account_id: str) -> list[str]:
    rows = await db.execute(
        select(SiteMembership.site_id).where(SiteMembership.account_id == account_id)
    )
    return [str(s) for s in rows.scalars()]


async def works_in_site(db: AsyncSession, account_id: str, site_id: str) -> bool:
    return await db.get(SiteMembership, (account_id, site_id)) is not None


# --- counsellor status ------------------------------------------------------------------------


async def lock_counsellor(db: AsyncSession, account_id: str, now: datetime) -> None:
    """Upsert and thereby write the counsellor's status row: on PostgreSQL the row stays locked
    until the transaction ends, which serialises one counsellor's concurrent claims."""
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(CounsellorStatus).values(
        account_id=account_id, absent_until=None, last_claim_at=now
    )
    await db.execute(statement.on_conflict_do_update(
        index_elements=[CounsellorStatus.account_id], set_={"last_claim_at": now}
    ))


async def get_counsellor_status(db: AsyncSession, account_id: str) -> CounsellorStatus | None:
    return await db.get(CounsellorStatus, account_id)


async def absences(db: AsyncSession, account_ids: Iterable[str | None]) -> dict[str, datetime]:
    wanted = list({i for i in account_ids if i is not None})
    if not wanted:
        return {}
    rows = await db.execute(
        select(CounsellorStatus.account_id, CounsellorStatus.absent_until).where(
            CounsellorStatus.account_id.in_(wanted), CounsellorStatus.absent_until.is_not(None)
        )
    )
    return {a: until for a, until in rows.all() if until is not None}


async def set_absence(db: AsyncSession, account_id: str, until: datetime | None) -> None:
    dialect = postgresql if db.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(CounsellorStatus).values(
        account_id=account_id, absent_until=until, last_claim_at=None
    )
    await db.execute(statement.on_conflict_do_update(
        index_elements=[CounsellorStatus.account_id], set_={"absent_until": until}
    ))


# --- notes ------------------------------------------------------------------------------------


def add_note(db: AsyncSession, note: ConversationNote) -> None:
    db.add(note)


async def notes_of(db: AsyncSession, conversation_id: str, site_id: str) -> list[ConversationNote]:
    rows = await db.execute(
        select(ConversationNote)
        .where(
            ConversationNote.conversation_id == conversation_id,
            ConversationNote.site_id == site_id,
        )
        .order_by(ConversationNote.created_at, ConversationNote.id)
    )
    return list(rows.scalars())


# --- canned responses -------------------------------------------------------------------------


def add_canned(db: AsyncSession, canned: CannedResponse) -> None:
    db.add(canned)


async def get_canned(db: AsyncSession, canned_id: str) -> CannedResponse | None:
    return await db.get(CannedResponse, canned_id)


async def canned_for(
    db: AsyncSession, account_id: str, site_ids: Sequence[str]
) -> list[CannedResponse]:
    rows = await db.execute(
        select(CannedResponse)
        .where(
            or_(
                CannedResponse.owner_id == account_id,
                CannedResponse.site_id.in_(list(site_ids)),
            )
        )
        .order_by(CannedResponse.language, CannedResponse.created_at, CannedResponse.id)
    )
    return list(rows.scalars())


async def delete_canned(db: AsyncSession, canned_id: str) -> None:
    await db.execute(delete(CannedResponse).where(CannedResponse.id == canned_id))


async def counsellor_left_holding_epoch(
    db: AsyncSession, conversation_id: str, site_id: str, epoch: int
) -> bool:
    """Did a counsellor member who no longer works in `site_id` hold `epoch` of the
    conversation (their member row covers it, their site membership is gone)?"""
    gone = await db.execute(
        select(ConversationMember.account_id)
        .outerjoin(SiteMembership, (SiteMembership.account_id == ConversationMember.account_id)
                   & (SiteMembership.site_id == site_id))
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.role == MEMBER_COUNSELLOR,
            SiteMembership.account_id.is_(None),
            (ConversationMember.until_epoch.is_(None))
            | (ConversationMember.until_epoch >= epoch),
            ConversationMember.from_epoch <= epoch,
        )
        .limit(1)
    )
    return gone.first() is not None


async def site_share_versions(
    db: AsyncSession, conversation_id: str, epoch: int, site_id: str
) -> list[int | None]:
    """The site key versions the site's shares of one epoch are sealed to."""
    rows = await db.execute(
        select(ConversationKey.site_key_version).where(
            ConversationKey.conversation_id == conversation_id,
            ConversationKey.epoch == epoch,
            ConversationKey.recipient_kind == RECIPIENT_SITE,
            ConversationKey.recipient_id == site_id,
        )
    )
    return list(rows.scalars().all())
