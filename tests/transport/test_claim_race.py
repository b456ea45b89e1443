"""Claiming from the live queue has exactly one winner: two counsellors (two socket clients)
claim the same enquiry at the same moment, 100 times; the loser gets `already_taken` and the
`queue.removed` event. The per-counsellor limit holds against parallel claims too. On SQLite
and PostgreSQL; and across two server processes sharing Redis."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from server.keys import SESSIONS
from server.storage.db import Sessions
from server.storage.models import Conversation, ConversationMember, Message
from tests.conversation_support import (
    Client,
    Conv,
    World,
    create_many,
    running_server,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
)

RACES = 100


@pytest.fixture(autouse=True)
def many_open_enquiries(monkeypatch: pytest.MonkeyPatch) -> None:
    # One test young person opens all the enquiries; the spam brake would stop at 5.
    monkeypatch.setattr("server.services.enquiries.MAX_OPEN_PER_YOUNG_PERSON", 10_000)


async def _race(a: Client, b: Client, convs: list[Conv]) -> dict[str, str]:
    """Both claim each conversation at once; returns conversation id → winner account id."""
    winners: dict[str, str] = {}
    for n, conv in enumerate(convs):
        first, second = (a, b) if n % 2 == 0 else (b, a)  # no client always goes first
        payload = {"conversation_id": conv.id}
        r1, r2 = await asyncio.gather(first.call("conversation.claim", payload),
                                      second.call("conversation.claim", payload))
        results = {first: r1, second: r2}
        won = [c for c, r in results.items() if r["ok"]]
        assert len(won) == 1, results
        loser = second if won[0] is first else first
        assert results[loser]["code"] == "already_taken"
        assert results[won[0]]["conversation"]["counsellor"]["id"] == won[0].person.id
        removed = await loser.wait_for(
            "queue.removed", lambda e, cid=conv.id: e["conversation_id"] == cid
        )
        assert removed["reason"] == "claimed"
        assert removed["by_display_name"] == won[0].person.display_name
        winners[conv.id] = won[0].person.id
    return winners


async def _check_database(sessions: Sessions, winners: dict[str, str]) -> None:
    async with sessions.begin() as db:
        rows = (await db.execute(
            select(Conversation.id, Conversation.counsellor_id, Conversation.status)
            .where(Conversation.id.in_(list(winners)))
        )).all()
        assert {cid: (who, status) for cid, who, status in rows} == {
            cid: (who, "active") for cid, who in winners.items()
        }
        claimed = await db.execute(
            select(Message.conversation_id, func.count()).where(
                Message.conversation_id.in_(list(winners)), Message.system_code == "claimed"
            ).group_by(Message.conversation_id)
        )
        assert dict(claimed.all()) == dict.fromkeys(winners, 1)
        counsellors = await db.execute(
            select(ConversationMember.conversation_id, func.count()).where(
                ConversationMember.conversation_id.in_(list(winners)),
                ConversationMember.role == "counsellor",
            ).group_by(ConversationMember.conversation_id)
        )
        assert dict(counsellors.all()) == dict.fromkeys(winners, 1)


async def test_exactly_one_winner_in_each_of_100_races(world_db: tuple[str, World]) -> None:
    url, world = world_db
    async with running_server(url, limits={"max_open_conversations_per_counsellor": 1000}) as srv:
        sessions = srv.app[SESSIONS]
        convs = await create_many(sessions, world, world.young, RACES)
        a = await Client(world.counsellor).connect(srv.url)
        b = await Client(world.counsellor2).connect(srv.url)
        try:
            listed = await a.call("queue.list", {})
            assert {i["conversation_id"] for i in listed["items"]} == {c.id for c in convs}
            winners = await _race(a, b, convs)
        finally:
            await a.close()
            await b.close()
        await _check_database(sessions, winners)


async def test_parallel_claims_of_one_counsellor_respect_the_limit(
    world_db: tuple[str, World]
) -> None:
    url, world = world_db
    async with running_server(url, limits={"max_open_conversations_per_counsellor": 3}) as srv:
        convs = await create_many(srv.app[SESSIONS], world, world.young, 10)
        # The same counsellor on two devices, claiming everything at once.
        tabs = [await Client(world.counsellor).connect(srv.url) for _ in range(2)]
        try:
            results: list[dict[str, Any]] = await asyncio.gather(*[
                tabs[n % 2].call("conversation.claim", {"conversation_id": c.id})
                for n, c in enumerate(convs)
            ])
        finally:
            for tab in tabs:
                await tab.close()
        assert sum(r["ok"] for r in results) == 3
        assert {r["code"] for r in results if not r["ok"]} == {"limit_reached"}


async def test_one_winner_across_two_processes_with_redis(
    world_db: tuple[str, World], redis_url: str
) -> None:
    """Two server instances (separate engines, sockets and Redis-backed managers) on one
    database: counsellor A on the first, B on the second. `queue.removed` crosses via Redis."""
    url, world = world_db
    sections: dict[str, dict[str, object]] = {
        "limits": {"max_open_conversations_per_counsellor": 1000},
        # A channel of its own: parallel test runs on the same Redis must not cross-talk.
        "redis": {"url": redis_url, "channel": f"jmdchat-test-claim-{uuid.uuid4().hex}"},
    }
    async with running_server(url, **sections) as one, running_server(url, **sections) as two:
        convs = await create_many(one.app[SESSIONS], world, world.young, 20)
        a = await Client(world.counsellor).connect(one.url)
        b = await Client(world.counsellor2).connect(two.url)
        try:
            winners = await _race(a, b, convs)
        finally:
            await a.close()
            await b.close()
        await _check_database(one.app[SESSIONS], winners)
