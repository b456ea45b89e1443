"""Short disconnects lose nothing and double nothing: the young person's connection is cut in
the middle of a burst of 200 messages (the TCP connection is aborted, as when a phone changes
networks) and so is the counsellor's. After reconnecting, `conversation.join {after_seq}`
plus resending the unacknowledged messages with their original mids gives both sides all 200
messages, in order, each exactly once."""

from __future__ import annotations

import asyncio
from typing import Any

from server.keys import SESSIONS
from tests.conversation_support import (
    Client,
    Conv,
    World,
    claim_via_service,
    create_via_service,
    encrypt,
    read,
    running_server,
    world_sqlite_fixture,  # noqa: F401  (fixture "world_sqlite")
)

BURST = 200


def drop(client: Client) -> None:
    """Abort the TCP connection under the websocket: no close frame, nothing flushed."""
    client.sio.eio.ws._writer.transport.abort()


async def catch_up(client: Client, conv: Conv, after_seq: int) -> list[dict[str, Any]]:
    """What a client does after every reconnect: join with its last seq, page until done."""
    messages: list[dict[str, Any]] = []
    while True:
        ack = await client.call("conversation.join",
                                {"conversation_id": conv.id, "after_seq": after_seq})
        assert ack["ok"], ack
        messages += ack["messages"]
        if not ack["has_more"]:
            return messages
        after_seq = ack["messages"][-1]["seq"]


async def test_burst_survives_dropped_connections(world_sqlite: tuple[str, World]) -> None:
    url, world = world_sqlite
    async with running_server(url) as srv:
        sessions = srv.app[SESSIONS]
        conv = await create_via_service(sessions, world, world.young, "Hallo")
        await claim_via_service(sessions, world.counsellor, conv)  # seq 2: "claimed"
        envelopes = [encrypt(world.young, conv, f"Nachricht {i:03d}") for i in range(BURST)]
        mids = [e["mid"] for e in envelopes]

        counsellor = await Client(world.counsellor).connect(srv.url)
        await catch_up(counsellor, conv, 0)
        young = await Client(world.young).connect(srv.url)
        await catch_up(young, conv, 0)

        # The counsellor's phone loses its connection after 40 live messages.
        seen: dict[int, dict[str, Any]] = {}

        async def counsellor_drops() -> None:
            await counsellor.wait_for("message.new", lambda _e: len(
                counsellor.events["message.new"]) >= 40, within=60)
            drop(counsellor)

        dropping = asyncio.create_task(counsellor_drops())

        # The young person's client pipelines the burst (as a browser does: emit with an ack
        # callback, no waiting), and the connection dies after 70 acks.
        acked: dict[str, int] = {}
        seventy = asyncio.Event()

        def on_ack(mid: str) -> Any:
            def callback(answer: dict[str, Any]) -> None:
                if answer.get("ok"):
                    acked[mid] = answer["seq"]
                if len(acked) >= 70:
                    seventy.set()
            return callback

        for envelope in envelopes:
            await young.sio.emit("message.send", {"conversation_id": conv.id,
                                                  "envelope": envelope},
                                 callback=on_ack(envelope["mid"]))
        await asyncio.wait_for(seventy.wait(), 60)
        drop(young)
        cut_at = len(acked)
        assert cut_at < BURST  # the cut really happened in the middle
        await dropping

        # Reconnect: the young person catches up, then resends what was not acknowledged.
        young = await Client(world.young).connect(srv.url)
        stored = await catch_up(young, conv, max(acked.values()))
        mine = {m["mid"]: m["seq"] for m in stored if m["kind"] == "message"}
        for envelope in envelopes:
            if envelope["mid"] in acked:
                continue
            ack = await young.call("message.send", {"conversation_id": conv.id,
                                                    "envelope": envelope})
            assert ack["ok"], ack
            if envelope["mid"] in mine:  # stored before the cut, ack lost: same seq again
                assert ack["seq"] == mine[envelope["mid"]]
            acked[envelope["mid"]] = ack["seq"]
        assert len(acked) == BURST
        seqs = [acked[mid] for mid in mids]
        assert seqs == sorted(seqs) and len(set(seqs)) == BURST  # in order, no duplicates
        assert seqs == list(range(3, 3 + BURST))  # and gap-free after the enquiry and claim

        # The counsellor comes back and catches up from the last seq it saw live.
        live = [e["message"] for e in counsellor.events["message.new"]]
        for message in live:
            seen[message["seq"]] = message
        counsellor = await Client(world.counsellor).connect(srv.url)
        for message in await catch_up(counsellor, conv, max(seen)):
            seen[message["seq"]] = message
        texts = [
            read(seen[seq]["envelope"], conv, world.young)
            for seq in sorted(seen) if seen[seq]["kind"] == "message"
        ]
        assert texts == [f"Nachricht {i:03d}" for i in range(BURST)]

        # And a fresh device of the young person sees the same history once, in order.
        history = await catch_up(young, conv, 0)
        assert [m["seq"] for m in history] == list(range(1, 3 + BURST))
        assert [m["mid"] for m in history if m["kind"] == "message"][1:] == mids
        await young.close()
        await counsellor.close()
