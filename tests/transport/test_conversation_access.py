"""Only the people of a conversation get at it: another young person and a counsellor of
another site can neither join, read, send, claim, close, mark read, type nor see notes — and
they learn nothing, because every refusal is the same `not_found` as for an id that does not
exist. A colleague of the same site can read (the site key opens it) but cannot write before
taking the conversation."""

from __future__ import annotations

import uuid
from typing import Any

from server.keys import SESSIONS
from tests.conversation_support import (
    Client,
    Conv,
    World,
    create_via_service,
    encrypt,
    running_server,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
)


def attempts(conversation_id: str, envelope: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    ref = {"conversation_id": conversation_id}
    return [
        ("conversation.join", {**ref, "after_seq": 0}),
        ("message.history", {**ref, "before_seq": 100}),
        ("message.send", {**ref, "envelope": envelope}),
        ("message.read", {**ref, "seq": 1}),
        ("typing", {**ref, "active": True}),
        ("conversation.close", ref),
        ("conversation.claim", ref),
        ("note.list", ref),
        ("note.add", {**ref, "sealed_note": "AAAA", "site_key_version": 1}),
    ]


async def test_outsiders_get_the_same_not_found_as_for_nothing(
    world_db: tuple[str, World]
) -> None:
    url, world = world_db
    async with running_server(url) as srv:
        waiting = await create_via_service(srv.app[SESSIONS], world, world.young, "Geheim")
        active = await create_via_service(srv.app[SESSIONS], world, world.young, "Auch geheim")
        owner = await Client(world.counsellor).connect(srv.url)
        assert (await owner.call("conversation.claim", {"conversation_id": active.id}))["ok"]
        nothing = str(uuid.uuid4())
        for outsider in (world.young2, world.local_counsellor):
            client = await Client(outsider).connect(srv.url)
            try:
                for conv in (waiting, active):
                    envelope = encrypt(outsider, conv, "Hallo?")
                    void = encrypt(outsider, Conv(nothing, conv.key), "Hallo?")
                    for (event, payload), (_e, for_nothing) in zip(
                        attempts(conv.id, envelope), attempts(nothing, void), strict=True
                    ):
                        refused = await client.call(event, payload)
                        unknown = await client.call(event, for_nothing)
                        if event in ("conversation.claim", "note.list", "note.add") and \
                                outsider is world.young2:
                            # Young people may not claim or keep notes at all.
                            assert refused["ok"] is False, (event, refused)
                            continue
                        assert refused == unknown, (outsider.nickname, event, refused, unknown)
                        assert refused["code"] == "not_found"
                listed = await client.call("conversation.list", {})
                assert listed["items"] == []
                if outsider is world.local_counsellor:
                    queue = await client.call("queue.list", {})
                    assert queue["items"] == []
                    other_site = await client.call("queue.list", {"site_id": world.online_site})
                    assert other_site["code"] == "not_found"
                assert not client.events.get("queue.added") and not client.events.get(
                    "message.new")
            finally:
                await client.close()

        # A colleague of the site reads (and sees the queue) but cannot write untaken.
        colleague = await Client(world.counsellor2).connect(srv.url)
        joined = await colleague.call("conversation.join",
                                      {"conversation_id": active.id, "after_seq": 0})
        assert joined["ok"] and [k["recipient"] for k in joined["keys"]] == ["site"]
        refused = await colleague.call("message.send", {
            "conversation_id": active.id, "envelope": encrypt(world.counsellor2, active, "Ich")})
        assert refused["code"] == "not_claimed"
        await colleague.close()
        await owner.close()
