"""The message writer: group commit with gap-free, ordered sequence numbers per conversation,
dedupe of resends (also inside one batch), authorization inside the batch's transaction, and
a failed batch that fails only its own senders — on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select, update

from server.services.clock import SystemClock
from server.services.errors import ServiceError
from server.services.events import MessageNew, Notice
from server.services.message_writer import MessageWriter
from server.storage.db import Sessions, create_engine, create_sessions
from server.storage.models import Conversation, ConversationMember, Message
from server.storage.repositories import conversations as repo
from tests.conftest import make_config
from tests.conversation_support import (
    Conv,
    World,
    claim_via_service,
    create_via_service,
    encrypt,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
)


class Setup:
    def __init__(self, sessions: Sessions, world: World, writer: MessageWriter,
                 published: list[Notice], url: str) -> None:
        self.url = url
        self.sessions = sessions
        self.world = world
        self.writer = writer
        self.published = published


@pytest.fixture
async def setup(world_db: tuple[str, World]) -> AsyncIterator[Setup]:
    url, world = world_db
    engine = create_engine(make_config(url).database)
    sessions = create_sessions(engine)
    published: list[Notice] = []

    async def publish(notices: list[Notice]) -> None:
        published.extend(notices)

    writer = MessageWriter(sessions, SystemClock(), publish, queue_size=64, wait_seconds=30)
    await writer.start()
    try:
        yield Setup(sessions, world, writer, published, url)
    finally:
        await writer.stop()
        await engine.dispose()


async def _active(s: Setup, text: str = "Hallo") -> Conv:
    conv = await create_via_service(s.sessions, s.world, s.world.young, text)
    await claim_via_service(s.sessions, s.world.counsellor, conv)
    return conv


async def _seqs(sessions: Sessions, conversation_id: str) -> list[int]:
    async with sessions.begin() as db:
        rows = await db.execute(
            select(Message.seq).where(Message.conversation_id == conversation_id)
            .order_by(Message.seq)
        )
        return [int(s) for s in rows.scalars()]


def _new_messages(published: list[Notice], conversation_id: str) -> list[dict[str, Any]]:
    return [
        n.event.message.model_dump() for n in published
        if isinstance(n.event, MessageNew) and n.event.conversation_id == conversation_id
    ]


async def test_group_commit_assigns_gap_free_seqs_in_queue_order(setup: Setup) -> None:
    conv = await _active(setup)  # seq 1 enquiry, seq 2 "claimed"
    world = setup.world
    senders = [world.young, world.counsellor] * 150
    envelopes = [encrypt(p, conv, f"Nachricht {i}") for i, p in enumerate(senders)]
    # Started in this order; the bounded queue (64) makes later senders wait (backpressure)
    # and lets them in first come, first served.
    tasks = [
        asyncio.create_task(setup.writer.submit(conv.id, p.id, env))
        for p, env in zip(senders, envelopes, strict=True)
    ]
    results = await asyncio.gather(*tasks)
    assert [r.seq for r in results] == list(range(3, 303))
    assert not any(r.duplicate for r in results)
    assert await _seqs(setup.sessions, conv.id) == list(range(1, 303))
    # Grouped: far fewer transactions than messages.
    assert setup.writer.stats.largest_batch > 1
    assert setup.writer.stats.batches < len(senders)
    # Events went out after the commit, in seq order, with the stored envelope.
    live = _new_messages(setup.published, conv.id)
    assert [m["seq"] for m in live if m["kind"] == "message"] == list(range(3, 303))
    assert [m["mid"] for m in live if m["kind"] == "message"] == [e["mid"] for e in envelopes]


async def test_resends_return_the_stored_seq_and_never_a_second_row(setup: Setup) -> None:
    conv = await _active(setup)
    world = setup.world
    first = encrypt(world.young, conv, "einmal")
    stored = await setup.writer.submit(conv.id, world.young.id, first)
    again = await setup.writer.submit(conv.id, world.young.id, dict(first))
    assert (again.seq, again.duplicate) == (stored.seq, True)
    # Two copies in the same batch: one row, the same seq for both senders.
    twin = encrypt(world.young, conv, "doppelt")
    a, b, c = await asyncio.gather(
        setup.writer.submit(conv.id, world.young.id, twin),
        setup.writer.submit(conv.id, world.young.id, dict(twin)),
        setup.writer.submit(conv.id, world.counsellor.id, encrypt(world.counsellor, conv, "x")),
    )
    assert a.seq == b.seq and c.seq == a.seq + 1
    assert await _seqs(setup.sessions, conv.id) == list(range(1, c.seq + 1))
    async with setup.sessions.begin() as db:
        count = await db.execute(select(func.count()).select_from(Message).where(
            Message.conversation_id == conv.id, Message.mid == twin["mid"]))
        assert count.scalar_one() == 1
    # Another account cannot take over a stored mid.
    forged = encrypt(world.counsellor, conv, "gleiche mid", mid=first["mid"])
    with pytest.raises(ServiceError) as caught:
        await setup.writer.submit(conv.id, world.counsellor.id, forged)
    assert caught.value.code == "duplicate_mid"


async def test_authorization_inside_the_batch_fails_only_the_bad_item(setup: Setup) -> None:
    conv = await _active(setup)
    world = setup.world
    good = [encrypt(world.young, conv, f"gut {i}") for i in range(5)]
    outsider = encrypt(world.young2, conv, "fremd")  # not a member of this conversation
    colleague = encrypt(world.counsellor2, conv, "Kollegin")  # did not take it
    outcomes = await asyncio.gather(
        *[setup.writer.submit(conv.id, world.young.id, e) for e in good[:3]],
        setup.writer.submit(conv.id, world.young2.id, outsider),
        setup.writer.submit(conv.id, world.counsellor2.id, colleague),
        *[setup.writer.submit(conv.id, world.young.id, e) for e in good[3:]],
        return_exceptions=True,
    )
    codes = [o.code if isinstance(o, ServiceError) else o.seq for o in outcomes]  # type: ignore[union-attr]
    assert codes == [3, 4, 5, "not_claimed", "not_claimed", 6, 7]


async def test_a_failed_batch_fails_its_senders_and_the_writer_goes_on(setup: Setup) -> None:
    conv = await _active(setup)
    world = setup.world
    lost = [encrypt(world.young, conv, f"verloren {i}") for i in range(4)]
    setup.writer.fail_next_batches = 100  # the batch and every one-by-one retry fail
    outcomes = await asyncio.gather(
        *[setup.writer.submit(conv.id, world.young.id, e) for e in lost],
        return_exceptions=True,
    )
    assert all(isinstance(o, ServiceError) and o.code == "busy" for o in outcomes)
    assert setup.writer.stats.failed_batches >= 1
    setup.writer.fail_next_batches = 0
    # Nothing of the failed batch was stored, no number was used up: still gap-free.
    after = await setup.writer.submit(conv.id, world.counsellor.id,
                                      encrypt(world.counsellor, conv, "weiter"))
    assert after.seq == 3
    # The clients retry with the same mids.
    retried = [await setup.writer.submit(conv.id, world.young.id, e) for e in lost]
    assert [r.seq for r in retried] == [4, 5, 6, 7]
    assert await _seqs(setup.sessions, conv.id) == list(range(1, 8))


async def test_throughput_of_the_writer(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quick local figure (printed with -s): 1,000 messages into 8 conversations
    (8: the enquiries-per-day limit of one young person)."""
    monkeypatch.setattr("server.services.enquiries.MAX_OPEN_PER_YOUNG_PERSON", 100)
    world = setup.world
    convs = [await _active(setup, f"Anfrage {i}") for i in range(8)]
    envelopes = [(c, encrypt(world.young, c, f"m{i}")) for i in range(125) for c in convs]
    started = time.perf_counter()
    results = await asyncio.gather(
        *[setup.writer.submit(c.id, world.young.id, e) for c, e in envelopes]
    )
    elapsed = time.perf_counter() - started
    print(f"\nwriter: {len(results)} messages in {elapsed:.2f} s = "
          f"{len(results) / elapsed:.0f} messages/s, {setup.writer.stats.batches} batches, "
          f"largest {setup.writer.stats.largest_batch}")
    for conv in convs:
        assert await _seqs(setup.sessions, conv.id) == list(range(1, 128))
    assert len({(r.seq, c.id) for r, (c, _e) in zip(results, envelopes, strict=True)}) == 1000
    assert uuid.UUID(envelopes[0][1]["mid"])  # mids are the clients' UUIDs


async def test_one_batch_over_many_conversations_stores_last_seq_and_read_markers(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The set-based statements (one UPDATE for all conversations' last_seq, one for all read
    markers) write exactly each conversation's own numbers, and never move a marker back."""
    monkeypatch.setattr("server.services.enquiries.MAX_OPEN_PER_YOUNG_PERSON", 100)
    world = setup.world
    convs = [await _active(setup, f"Anfrage {i}") for i in range(6)]
    # Conversation i gets i + 1 messages from the young person, and (odd i) one answer.
    plan = [(c, world.young) for i, c in enumerate(convs) for _ in range(i + 1)]
    plan += [(c, world.counsellor) for i, c in enumerate(convs) if i % 2]
    results = await asyncio.gather(*[
        setup.writer.submit(c.id, p.id, encrypt(p, c, "x")) for c, p in plan
    ])
    assert setup.writer.stats.largest_batch > 1
    async with setup.sessions.begin() as db:
        last = dict((await db.execute(
            select(Conversation.id, Conversation.last_seq)
            .where(Conversation.id.in_([c.id for c in convs]))
        )).all())
        marks = {(c, a): s for c, a, s in (await db.execute(
            select(ConversationMember.conversation_id, ConversationMember.account_id,
                   ConversationMember.last_read_seq)
            .where(ConversationMember.conversation_id.in_([c.id for c in convs]))
        )).all()}
    for i, conv in enumerate(convs):
        sent = [r.seq for r, (c, _p) in zip(results, plan, strict=True) if c is conv]
        expected_last = 2 + (i + 1) + (i % 2)
        assert sorted(sent) == list(range(3, expected_last + 1))
        assert last[conv.id] == expected_last
        assert await _seqs(setup.sessions, conv.id) == list(range(1, expected_last + 1))
        mine = [r.seq for r, (c, p) in zip(results, plan, strict=True)
                if c is conv and p is world.young]
        assert marks[(conv.id, world.young.id)] == max(mine)
        if i % 2:
            theirs = [r.seq for r, (c, p) in zip(results, plan, strict=True)
                      if c is conv and p is world.counsellor]
            assert marks[(conv.id, world.counsellor.id)] == max(theirs)
    # A marker further ahead (read up to a later message) is never moved back by a send.
    conv = convs[0]
    async with setup.sessions.begin() as db:
        await db.execute(
            update(ConversationMember)
            .where(ConversationMember.conversation_id == conv.id,
                   ConversationMember.account_id == world.young.id)
            .values(last_read_seq=1000)
        )
    await setup.writer.submit(conv.id, world.young.id, encrypt(world.young, conv, "y"))
    async with setup.sessions.begin() as db:
        member = await db.get(ConversationMember, (conv.id, world.young.id))
        assert member is not None and member.last_read_seq == 1000


async def test_two_writers_on_the_same_conversations_stay_gap_free(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two writers with their own engines (two server processes) store messages of the same
    conversations at the same time: every number once, no gaps, no deadlock, no busy."""
    monkeypatch.setattr("server.services.enquiries.MAX_OPEN_PER_YOUNG_PERSON", 100)
    world = setup.world
    convs = [await _active(setup, f"Anfrage {i}") for i in range(8)]
    engine = create_engine(make_config(setup.url).database)
    published: list[Notice] = []

    async def publish(notices: list[Notice]) -> None:
        published.extend(notices)

    other = MessageWriter(create_sessions(engine), SystemClock(), publish, queue_size=64,
                          wait_seconds=30)
    await other.start()
    try:
        # Each writer gets every conversation, in opposite orders (the deadlock shape).
        jobs = []
        for n in range(25):
            for c in convs:
                jobs.append(setup.writer.submit(c.id, world.young.id, encrypt(world.young, c,
                                                                               f"a{n}")))
            for c in reversed(convs):
                jobs.append(other.submit(c.id, world.counsellor.id,
                                         encrypt(world.counsellor, c, f"b{n}")))
        results = await asyncio.gather(*jobs)
    finally:
        await other.stop()
        await engine.dispose()
    assert not any(r.duplicate for r in results)
    for conv in convs:
        assert await _seqs(setup.sessions, conv.id) == list(range(1, 53))


async def test_a_commit_slower_than_wait_seconds_answers_busy_and_the_resend_is_stored_once(
    setup: Setup,
) -> None:
    """Another transaction holds the conversation (its row lock on PostgreSQL, the write lock
    on SQLite) longer than the sender may wait: the sender hears `busy` in time instead of
    hanging; once the lock is gone, the client's resend with the same mid leaves exactly one
    stored copy."""
    conv = await _active(setup)
    world = setup.world
    slow = MessageWriter(setup.sessions, SystemClock(), setup.writer.publish, wait_seconds=0.5)
    await slow.start()
    try:
        envelope = encrypt(world.young, conv, "Hörst du mich?")
        async with setup.sessions.begin() as db:
            await repo.begin_write(db)
            await repo.lock_and_load_conversations(db, [conv.id])
            started = time.monotonic()
            with pytest.raises(ServiceError) as caught:
                await slow.submit(conv.id, world.young.id, envelope)
            waited = time.monotonic() - started
        assert caught.value.code == "busy"
        assert waited < 5, waited  # told within its wait, not after the lock was released
        resent = await slow.submit(conv.id, world.young.id, envelope)
    finally:
        await slow.stop()
    seqs = await _seqs(setup.sessions, conv.id)
    assert seqs == list(range(1, resent.seq + 1))
    async with setup.sessions.begin() as db:
        copies = await db.scalar(select(func.count()).select_from(Message).where(
            Message.conversation_id == conv.id, Message.mid == envelope["mid"]))
    assert copies == 1
