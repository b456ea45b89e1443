"""A chat round across two real server processes (issue #9, "works across server processes").

Two `jmdchat serve` processes (A and B, own ports) share one PostgreSQL database (a database
of its own for this test) and Redis (a channel of its own per test). The counsellor and young
person 1 are connected to A, young person 2 to B; young person 3 has one tab on each. Keys and
messages cross between the processes; then the counsellor on A removes young person 2 and
young person 3 leaves from their tab on A. Each must vanish from the round's room on B too —
before python-socketio could only take connections of the *same* process out of a room, so B
kept delivering the round's later ciphertext and membership to them.

No fixed sleeps as assertions: every positive step waits for its event (generous limits for a
loaded machine); "got nothing" is checked after a later event of the same round reached a
connection on the same process B (the counsellor's second tab there), plus a bounded wait.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import PG_ADMIN_URL, _pg_admin, _run_sync, start_server, stop_server
from tests.conversation_support import Client, build_world
from tests.rounds_support import RoundPeer, schedule, third_young

WITHIN = 30.0  # a positive event on a loaded 2-core machine
QUIET = 2.0  # how long "nothing more arrives" is watched after the later event


@pytest.fixture
def round_database(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of its own (both processes use it), migrated to head."""
    from server.storage import migrate

    name = f"jmdchat_test_rmp_{uuid.uuid4().hex[:8]}"
    _run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    yield url
    _run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _round_events_after(client: Client, round_id: str, seq: int) -> list[tuple[str, Any]]:
    """The round's messages (text or system notes) that reached `client` after message `seq`."""
    found: list[tuple[str, Any]] = []
    for event in client.events["round.message"]:
        if event["round_id"] == round_id and event["message"]["seq"] > seq:
            found.append(("round.message", event["message"]))
    return found


async def _quiet(client: Client, round_id: str, seq: int) -> None:
    """Nothing of the round after `seq` arrives at `client` within `QUIET` seconds."""
    with pytest.raises(TimeoutError):
        await client.wait_for("round.message",
                              lambda e: e["round_id"] == round_id and e["message"]["seq"] > seq,
                              within=QUIET)


async def test_removal_and_leave_reach_every_process(
    round_database: str, redis_url: str, tmp_path: Path
) -> None:
    url = round_database
    world = await build_world(url)
    young3 = await third_young(url, "postgres")
    env = {"JMDCHAT_REDIS_URL": redis_url,
           "JMDCHAT_REDIS_CHANNEL": f"jmdchat-test-rounds-{uuid.uuid4().hex}",
           "JMDCHAT_SERVER_LOG_LEVEL": "WARNING",
           "JMDCHAT_SECURITY_SECRET_KEY": "test-secret-" + "x" * 32}
    a = await asyncio.to_thread(start_server, tmp_path, url, env, False)
    b = await asyncio.to_thread(start_server, tmp_path, url, env, False)
    clients: list[Client] = []

    async def connect(person: Any, server: Any) -> Client:
        client = await Client(person).connect(server.url)
        clients.append(client)
        return client

    try:
        summary = await schedule(a.url, world.counsellor, world.online_site,
                                 starts_at=datetime.now(UTC) - timedelta(minutes=1),
                                 minutes=60, language="de")
        rid = summary["id"]
        mod = RoundPeer(await connect(world.counsellor, a), rid)
        mod_b = RoundPeer(await connect(world.counsellor, b), rid)  # second tab, on B
        y1 = RoundPeer(await connect(world.young, a), rid)
        y2 = RoundPeer(await connect(world.young2, b), rid)
        y3_a = RoundPeer(await connect(young3, a), rid)
        y3_b = RoundPeer(await connect(young3, b), rid)  # the same person's tab on B

        # Join on both processes; the moderator on A admits everyone with epoch 1.
        for peer in (y1, y2, y3_a, y3_b):
            joined = await peer.join()
            assert joined["ok"] and joined["me"]["state"] == "waiting", joined
        assert (await mod.join())["ok"] and (await mod_b.join())["ok"]
        assert (await mod.rekey())["ok"]
        for peer in (y1, y2, y3_a, y3_b, mod_b):
            await peer.client.wait_for("round.key", lambda e: e["epoch"] == 1, within=WITHIN)
            await peer.take_keys()
            assert 1 in peer.keys

        # Encrypted messages both ways between the processes.
        sent = await y1.send("von A")
        assert sent["ok"], sent
        for peer in (y2, y3_b, mod_b):
            got = await peer.wait_message(sent["seq"], within=WITHIN)
            assert peer.read(got["envelope"]) == "von A"
        back = await y2.send("von B")
        assert back["ok"], back
        for peer in (y1, mod, y3_a):
            got = await peer.wait_message(back["seq"], within=WITHIN)
            assert peer.read(got["envelope"]) == "von B"

        # Muting on A reaches B (no membership change: the muted person keeps reading).
        assert (await mod.client.call("round.mute", {"round_id": rid,
                                                     "member_id": y2.member_id,
                                                     "muted": True}))["ok"]
        muted = await y2.client.wait_for(
            "round.message", lambda e: (e["message"].get("system") or {}).get("code") == "muted",
            within=WITHIN)
        refused = await y2.send("laut")
        assert refused["ok"] is False and refused["code"] == "muted"
        y2_last = muted["message"]["seq"]

        # The counsellor on A removes young person 2 (connected to B).
        assert (await mod.client.call("round.remove", {"round_id": rid,
                                                       "member_id": y2.member_id}))["ok"]
        removed = await y2.client.wait_for("round.removed", lambda e: e["round_id"] == rid,
                                           within=WITHIN)
        assert removed == {"round_id": rid}
        assert (await mod.rekey())["ok"]  # epoch 2: moderator, young people 1 and 3
        for peer in (y1, y3_b, mod_b):
            await peer.client.wait_for("round.key", lambda e: e["epoch"] == 2, within=WITHIN)
            await peer.take_keys()
        # Young person 3's tab on B sees epoch 2 begin (the last thing before they leave).
        new_epoch = await y3_b.client.wait_for(
            "round.message", lambda e: (e["message"].get("system") or {}) == {
                "code": "new_epoch", "params": {"epoch": 2}}, within=WITHIN)
        y3_last = new_epoch["message"]["seq"]

        # Young person 3 leaves from the tab on A: the tab on B leaves the room as well.
        assert (await y3_a.client.call("round.leave", {"round_id": rid}))["ok"]
        assert (await mod.rekey())["ok"]  # epoch 3: moderator and young person 1
        for peer in (y1, mod_b):
            await peer.client.wait_for("round.key", lambda e: e["epoch"] == 3, within=WITHIN)
            await peer.take_keys()

        # The others go on under epoch 3, across the processes.
        sentinel = await y1.send("nur noch wir")
        assert sentinel["ok"], sentinel
        got = await mod_b.wait_message(sentinel["seq"], within=WITHIN)  # on B, via Redis
        assert got["epoch"] == 3 and mod_b.read(got["envelope"]) == "nur noch wir"
        reply = await mod_b.send("Antwort von B")
        assert reply["ok"], reply
        assert y1.read((await y1.wait_message(reply["seq"], within=WITHIN))["envelope"]) == (
            "Antwort von B")

        # B delivered the later messages to the counsellor's tab there, yet nothing of them
        # (not the "removed"/"left" notes, epochs 2 and 3, nor the sentinel) to the ones who
        # went, nor the key shares or membership of later epochs.
        await _quiet(y2.client, rid, y2_last)
        await _quiet(y3_b.client, rid, y3_last)
        assert _round_events_after(y2.client, rid, y2_last) == []
        assert _round_events_after(y3_b.client, rid, y3_last) == []
        assert [e["epoch"] for e in y2.client.events["round.key"]] == [1]
        assert [e["epoch"] for e in y3_b.client.events["round.key"]] == [1, 2]
        assert all(m["current_epoch"] < 2 and all(p["state"] != "removed" for p in m["members"])
                   for m in y2.client.events["round.members"])
        assert all(m["current_epoch"] < 3 and all(p["state"] != "left" for p in m["members"])
                   for m in y3_b.client.events["round.members"])
        # And they are really out: no sending, no re-joining after a removal.
        again = await y2.join()
        assert again["ok"] is False and again["code"] == "removed"
    finally:
        for client in clients:
            await client.close()
        stop_server(a)
        stop_server(b)
    assert "Traceback" not in a.log() + b.log(), a.log() + b.log()
