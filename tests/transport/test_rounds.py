"""Chat rounds (issue #9) through the API users use: HTTP to schedule and list, socket.io to
join, re-key, send, leave, mute and remove; the Python protocol implementation plays the
browser. SQLite and PostgreSQL; a frozen clock opens and closes the round.

What is pinned here: the rules are required to join; joiners wait until a moderator's client
seals the next epoch to them; a newcomer gets no key of an older epoch; a leaver gets no key of
the next one and cannot open its messages; nobody can send between a departure and the next
epoch; mute and remove; time window; maximum participants; who may do what.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from server.crypto.conversation import new_conversation_key, open_envelope
from server.crypto.errors import BadSignature, UnknownEpoch, WrongConversation
from server.crypto.keys import generate_identity
from server.crypto.rounds import encrypt_round_message, open_round_envelope
from server.services.clock import FrozenClock
from server.storage.db import create_engine, create_sessions
from server.storage.models.rounds import RoundKey
from tests.conftest import make_config
from tests.conversation_support import Client, World, world_db_fixture  # noqa: F401
from tests.rounds_support import (
    RoundPeer,
    clear_rounds,
    clocked_server,
    http,
    schedule,
    third_young,
)


@pytest.fixture
async def rounds_world(world_db: tuple[str, World]) -> tuple[str, World, Any]:
    url, world = world_db
    kind = "sqlite" if url.startswith("sqlite") else "postgres"
    await clear_rounds(url)
    young3 = await third_young(url, kind)
    return url, world, young3


async def _keys_of(url: str, account_id: str, round_id: str) -> list[int]:
    engine = create_engine(make_config(url).database)
    try:
        async with create_sessions(engine).begin() as db:
            rows = await db.execute(select(RoundKey.epoch).where(
                RoundKey.round_id == round_id, RoundKey.account_id == account_id))
            return sorted(rows.scalars())
    finally:
        await engine.dispose()


def test_round_labels_are_separate_from_conversations() -> None:
    """A round envelope never opens as a 1:1 message (distinct labels), nor in another round."""
    keys = generate_identity()
    round_id, member = str(uuid.uuid4()), str(uuid.uuid4())
    key = new_conversation_key()
    env = encrypt_round_message(round_id=round_id, epoch=1, epoch_key=key,
                                sender_member_id=member, signer=keys,
                                message={"type": "text", "body": "hallo", "sent_at": 1})
    resolve = lambda _m, _s: keys.ed25519_public  # noqa: E731
    opened = open_round_envelope(env, round_id=round_id, epoch_keys={1: key},
                                 resolve_signing_key=resolve)
    assert opened.message["body"] == "hallo"
    with pytest.raises(BadSignature):
        open_envelope(env, conversation_id=round_id, epoch_keys={1: key},
                      resolve_signing_key=resolve)
    with pytest.raises(WrongConversation):
        open_round_envelope(env, round_id=str(uuid.uuid4()), epoch_keys={1: key},
                            resolve_signing_key=resolve)


async def test_round_lifecycle_rekeys_on_join_and_leave(
    rounds_world: tuple[str, World, Any],
) -> None:
    url, world, young3 = rounds_world
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with clocked_server(url, clock) as server:
        start = clock.now() + timedelta(minutes=10)
        summary = await schedule(server.url, world.counsellor, world.online_site,
                                 starts_at=start, minutes=60, max_participants=3)
        rid = summary["id"]
        assert summary["state"] == "upcoming" and summary["language"] == "ar"

        # Listing: the young person's own language (de) does not show an Arabic round.
        status, mine = await http("GET", server.url, "/api/rounds", world.young)
        assert status == 200 and rid not in [i["id"] for i in mine["items"]]
        _, arabic = await http("GET", server.url, "/api/rounds?language=ar", world.young)
        assert rid in [i["id"] for i in arabic["items"]]
        _, every = await http("GET", server.url, "/api/rounds?all=1", world.young)
        assert rid in [i["id"] for i in every["items"]]

        clients = [await Client(p).connect(server.url)
                   for p in (world.counsellor, world.young, world.young2, young3)]
        mod, a, b, c = (RoundPeer(cl, rid) for cl in clients)
        try:
            # Rules first.
            refused = await a.join(rules=False)
            assert refused["ok"] is False and refused["code"] == "rules_not_accepted"
            joined = await a.join()
            assert joined["ok"] and joined["me"]["state"] == "waiting" and joined["keys"] == []
            assert (await b.join())["me"]["state"] == "waiting"
            # Participants see nicknames and member ids, never account ids.
            assert world.young.id not in str(joined)
            # Waiting: cannot send yet.
            assert (await a.client.call("round.send", {
                "round_id": rid, "envelope": _dummy(rid, a.member_id)}))["code"] in (
                "not_admitted",)

            # The moderator's client creates epoch 1 for everyone.
            state = await mod.join()
            assert state["ok"] and state["moderator"] and state["rekey_needed"]
            assert (await mod.rekey())["ok"]
            for peer in (a, b):
                await peer.client.wait_for("round.key", lambda e: e["epoch"] == 1)
                await peer.take_keys()
                assert set(peer.keys) == {1}

            # Not open yet.
            early = await a.send("zu früh")
            assert early["ok"] is False and early["code"] == "round_not_open"
            clock.advance(timedelta(minutes=11))

            sent = await a.send("Hallo zusammen")
            assert sent["ok"], sent
            got = await b.wait_message(sent["seq"])
            assert b.read(got["envelope"]) == "Hallo zusammen"
            got_mod = await mod.wait_message(sent["seq"])
            assert mod.read(got_mod["envelope"]) == "Hallo zusammen"
            first_epoch_envelope = got["envelope"]

            # A newcomer: waits, then gets epoch 2 only; no history.
            joined_c = await c.join()
            assert joined_c["me"]["state"] == "waiting"
            assert (await mod.rekey())["ok"]
            await c.client.wait_for("round.key", lambda e: e["epoch"] == 2)
            await c.take_keys()
            assert set(c.keys) == {2}
            assert await _keys_of(url, young3.id, rid) == [2]
            state_c = await c.join()
            assert all(m["epoch"] >= 2 for m in state_c["messages"])
            assert first_epoch_envelope not in [m.get("envelope") for m in state_c["messages"]]
            with pytest.raises(UnknownEpoch):
                c.read(first_epoch_envelope)
            for peer in (a, b):
                await peer.client.wait_for("round.key", lambda e: e["epoch"] == 2)
                await peer.take_keys()
            # Old epoch refused once there is a new one.
            stale = await a.send("alter Schlüssel", epoch=1)
            assert stale["code"] == "wrong_epoch"

            # b leaves: nobody can send until the moderator made epoch 3 without b.
            left = await b.client.call("round.leave", {"round_id": rid})
            assert left["ok"], left
            paused = await a.send("warte")
            assert paused["ok"] is False and paused["code"] == "rekey_pending"
            # A re-key that still includes the leaver is refused.
            with_leaver = await mod.rekey(include=[mod.member_id, a.member_id, c.member_id,
                                                   b.member_id])
            assert with_leaver["ok"] is False and with_leaver["code"] == "members_changed"
            assert (await mod.rekey())["ok"]
            for peer in (a, c):
                await peer.client.wait_for("round.key", lambda e: e["epoch"] == 3)
                await peer.take_keys()
            assert 3 not in await _keys_of(url, world.young2.id, rid)
            after = await a.send("Ohne B weiter")
            assert after["ok"], after
            got_c = await c.wait_message(after["seq"])
            assert c.read(got_c["envelope"]) == "Ohne B weiter"
            # The leaver has no key for epoch 3 and got nothing of it.
            with pytest.raises(UnknownEpoch):
                b.read(got_c["envelope"])
            assert all(e["message"]["seq"] != after["seq"]
                       for e in b.client.events["round.message"])
            assert not [e for e in b.client.events["round.key"] if e["epoch"] == 3]
            # A non-participant can neither send nor read.
            gone = await b.send("bin wieder da?", epoch=2)
            assert gone["ok"] is False and gone["code"] == "not_found"

            # Mute: refused with a neutral notice; a young person cannot mute.
            by_young = await a.client.call("round.mute", {"round_id": rid,
                                                          "member_id": c.member_id,
                                                          "muted": True})
            assert by_young["ok"] is False and by_young["code"] == "not_found"
            assert (await mod.client.call("round.mute", {"round_id": rid,
                                                         "member_id": c.member_id,
                                                         "muted": True}))["ok"]
            muted = await c.send("laut")
            assert muted["ok"] is False and muted["code"] == "muted"
            assert (await mod.client.call("round.mute", {"round_id": rid,
                                                         "member_id": c.member_id,
                                                         "muted": False}))["ok"]
            assert (await c.send("wieder da"))["ok"]

            # Remove: c is out, gets told, and the next epoch excludes c.
            removed = await mod.client.call("round.remove", {"round_id": rid,
                                                             "member_id": c.member_id})
            assert removed["ok"], removed
            await c.client.wait_for("round.removed", lambda e: e["round_id"] == rid)
            assert (await c.send("noch da?"))["code"] == "not_found"
            rejoin = await c.join()
            assert rejoin["ok"] is False and rejoin["code"] == "removed"
            assert (await mod.rekey())["ok"]
            assert 4 not in await _keys_of(url, young3.id, rid)
            await a.client.wait_for("round.key", lambda e: e["epoch"] == 4)
            await a.take_keys()
            assert (await a.send("Epoche vier"))["ok"]

            # Closed after the duration.
            clock.advance(timedelta(minutes=60))
            closed = await a.send("zu spät")
            assert closed["ok"] is False and closed["code"] == "round_closed"
        finally:
            for cl in clients:
                await cl.close()


async def test_round_limits_and_authorization(rounds_world: tuple[str, World, Any]) -> None:
    url, world, _young3 = rounds_world
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with clocked_server(url, clock) as server:
        # A young person cannot schedule; a counsellor not for another team's site.
        status, body = await http("POST", server.url, "/api/rounds", world.young, {
            "site_id": world.online_site, "topic": "Schule", "language": "de",
            "starts_at": clock.now().isoformat(), "duration_minutes": 30,
            "max_participants": 1})
        assert status == 403, body
        status, body = await http("POST", server.url, "/api/rounds", world.local_counsellor, {
            "site_id": world.online_site, "topic": "Schule", "language": "de",
            "starts_at": clock.now().isoformat(), "duration_minutes": 30,
            "max_participants": 1})
        assert status == 403, body
        summary = await schedule(server.url, world.counsellor, world.online_site,
                                 starts_at=clock.now(), minutes=30, max_participants=1,
                                 language="de")
        rid = summary["id"]
        # The young person's own language (de) lists it.
        _, mine = await http("GET", server.url, "/api/rounds", world.young)
        assert rid in [i["id"] for i in mine["items"]]
        # The other team's counsellor does not see it.
        _, theirs = await http("GET", server.url, "/api/rounds", world.local_counsellor)
        assert rid not in [i["id"] for i in theirs["items"]]

        clients = [await Client(p).connect(server.url)
                   for p in (world.counsellor, world.young, world.young2,
                             world.local_counsellor)]
        mod, a, b, other = (RoundPeer(cl, rid) for cl in clients)
        try:
            assert (await a.join())["ok"]
            full = await b.join()
            assert full["ok"] is False and full["code"] == "round_full"
            # Counsellors of another site: as if the round did not exist.
            assert (await other.join())["code"] == "not_found"
            assert (await other.client.call("round.mute", {
                "round_id": rid, "member_id": a.member_id, "muted": True}))["code"] == "not_found"
            assert (await other.client.call("round.remove", {
                "round_id": rid, "member_id": a.member_id}))["code"] == "not_found"
            # A non-participant young person cannot send; a young person cannot re-key.
            assert (await b.client.call("round.send", {
                "round_id": rid, "envelope": _dummy(rid, a.member_id)}))["code"] == "not_found"
            assert (await a.client.call("round.rekey", {
                "round_id": rid, "epoch": 1, "shares": [{"member_id": a.member_id,
                                                         "sealed": _dummy_share(rid)}]}
            ))["code"] == "not_found"
            # A moderator who has not joined cannot re-key.
            assert (await mod.client.call("round.rekey", {
                "round_id": rid, "epoch": 1, "shares": [{"member_id": a.member_id,
                                                         "sealed": _dummy_share(rid)}]}
            ))["code"] == "not_participant"
            # A sender may only send as themselves, in this round.
            assert (await mod.join())["ok"]
            assert (await mod.rekey())["ok"]
            await a.client.wait_for("round.key", lambda e: e["epoch"] == 1)
            await a.take_keys()
            forged = a.envelope("als jemand anderes")
            forged_json = dict(encrypt_round_message(
                round_id=rid, epoch=1, epoch_key=a.keys[1], sender_member_id=mod.member_id,
                signer=a.person.keys, message={"type": "text", "body": "x", "sent_at": 1}))
            assert (await a.client.call("round.send", {"round_id": rid,
                                                       "envelope": forged_json}))["code"] == (
                "invalid")
            assert (await a.client.call("round.send", {"round_id": rid,
                                                       "envelope": forged}))["ok"]
            # Unknown round: not_found, like one you may not see.
            assert (await a.client.call("round.join", {"round_id": str(uuid.uuid4()),
                                                       "rules_accepted": True}))["code"] == (
                "not_found")
        finally:
            for cl in clients:
                await cl.close()


def _dummy(round_id: str, member_id: str) -> dict[str, Any]:
    return dict(encrypt_round_message(
        round_id=round_id, epoch=1, epoch_key=new_conversation_key(),
        sender_member_id=member_id, signer=generate_identity(),
        message={"type": "text", "body": "x", "sent_at": 1}))


def _dummy_share(round_id: str) -> dict[str, Any]:
    from server.crypto.rounds import seal_round_key

    keys = generate_identity()
    return dict(seal_round_key(round_id=round_id, epoch=1, key=new_conversation_key(),
                               recipient_x25519_public=keys.x25519_public,
                               sender_member_id=str(uuid.uuid4()), signer=keys))


async def test_round_across_two_server_processes(
    rounds_world: tuple[str, World, Any], redis_url: str,
) -> None:
    """Two servers (two socket.io servers, one database) joined by Redis: the counsellor and
    young person A on server 1, young person B on server 2. Keys, messages and the re-key after
    B leaves cross between them; B gets nothing of the new epoch."""
    url, world, _young3 = rounds_world
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    redis = {"url": redis_url, "channel": f"jmdchat-test-rounds-{uuid.uuid4().hex[:8]}"}
    async with clocked_server(url, clock, redis=redis) as one, \
            clocked_server(url, clock, redis=redis) as two:
        summary = await schedule(one.url, world.counsellor, world.online_site,
                                 starts_at=clock.now(), minutes=60, language="de")
        rid = summary["id"]
        mod = RoundPeer(await Client(world.counsellor).connect(one.url), rid)
        a = RoundPeer(await Client(world.young).connect(one.url), rid)
        b = RoundPeer(await Client(world.young2).connect(two.url), rid)
        try:
            assert (await a.join())["ok"] and (await b.join())["ok"]
            assert (await mod.join())["ok"]
            assert (await mod.rekey())["ok"]
            for peer in (a, b):
                await peer.client.wait_for("round.key", lambda e: e["epoch"] == 1)
                await peer.take_keys()
            sent = await a.send("von Server eins")
            assert sent["ok"], sent
            assert b.read((await b.wait_message(sent["seq"]))["envelope"]) == "von Server eins"
            back = await b.send("von Server zwei")
            assert back["ok"], back
            assert a.read((await a.wait_message(back["seq"]))["envelope"]) == "von Server zwei"
            assert mod.read((await mod.wait_message(back["seq"]))["envelope"]) == (
                "von Server zwei")

            # B leaves on server 2; the moderator on server 1 re-keys (told through Redis).
            assert (await b.client.call("round.leave", {"round_id": rid}))["ok"]
            await mod.client.wait_for(
                "round.members", lambda e: e["departure_pending"] is True)
            assert (await mod.rekey())["ok"]
            await a.client.wait_for("round.key", lambda e: e["epoch"] == 2)
            await a.take_keys()
            after = await a.send("ohne B")
            assert after["ok"], after
            assert mod.read((await mod.wait_message(after["seq"]))["envelope"]) == "ohne B"
            assert not [e for e in b.client.events["round.key"] if e["epoch"] == 2]
            assert all(e["message"]["seq"] != after["seq"]
                       for e in b.client.events["round.message"])
        finally:
            for peer in (mod, a, b):
                await peer.client.close()


async def test_retention_deletes_messages_of_rounds_that_ended_long_enough_ago(
    rounds_world: tuple[str, World, Any],
) -> None:
    """The `closed_rounds` rule: messages and key shares go `round_message_days` after the end;
    a round that ended more recently keeps them. (Only this rule runs: the others would end the
    world's sessions on a clock eight days ahead.)"""
    from server.services import retention
    from server.services import rounds as rounds_service
    from server.storage.models.rounds import ChatRound, RoundMessage

    url, world, _young3 = rounds_world
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with clocked_server(url, clock) as server:
        old = await schedule(server.url, world.counsellor, world.online_site,
                             starts_at=clock.now(), minutes=30, language="de")
        recent = await schedule(server.url, world.counsellor, world.online_site,
                                starts_at=clock.now(), minutes=480, language="de")
        mod = RoundPeer(await Client(world.counsellor).connect(server.url), old["id"])
        a = RoundPeer(await Client(world.young).connect(server.url), old["id"])
        try:
            for rid in (old["id"], recent["id"]):
                mod.round_id = a.round_id = rid
                mod.keys, a.keys = {}, {}
                assert (await a.join())["ok"] and (await mod.join())["ok"]
                assert (await mod.rekey())["ok"]
                assert (await mod.send("Hallo"))["ok"]
        finally:
            await mod.client.close()
            await a.client.close()
        config = server.config
    # The first round ended 30 minutes from now, the second ends in 8 hours: one hour after
    # the first one's limit, only the first is due.
    later = clock.now() + timedelta(days=config.retention.round_message_days, hours=1)
    engine = create_engine(make_config(url).database)
    try:
        sessions = create_sessions(engine)
        rule = retention.Rule("closed_rounds", *rounds_service.retention_parts(
            later - timedelta(days=config.retention.round_message_days), later))
        summary = retention.RetentionSummary(dry_run=False, started_at=later)
        await retention._run_rule(sessions, rule, 500, summary)
        assert summary.deleted["closed_rounds"] == 1
        async with sessions.begin() as db:
            left = {rid: len((await db.execute(select(RoundMessage.seq).where(
                RoundMessage.round_id == rid))).all()) for rid in (old["id"], recent["id"])}
            purged = await db.get(ChatRound, old["id"])
            assert purged is not None and purged.purged_at is not None
        assert left[old["id"]] == 0 and left[recent["id"]] > 0
        assert await _keys_of(url, world.young.id, old["id"]) == []
        assert await _keys_of(url, world.young.id, recent["id"]) == [1]
    finally:
        await engine.dispose()


async def test_deleting_an_account_leaves_its_rounds_and_deletes_its_messages(
    rounds_world: tuple[str, World, Any],
) -> None:
    """"Delete my account" in the middle of a round: the person leaves (sending pauses until
    the next epoch, the moderator is told), their round messages are deleted, and nothing in
    the round tables names them any more."""
    from server.services.accounts import delete_account_data
    from server.storage.models.rounds import RoundMessage, RoundParticipant
    from tests import rounds_support

    url, world, young3 = rounds_world
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with clocked_server(url, clock) as server:
        summary = await schedule(server.url, world.counsellor, world.online_site,
                                 starts_at=clock.now(), minutes=60, language="de")
        rid = summary["id"]
        mod = RoundPeer(await Client(world.counsellor).connect(server.url), rid)
        a = RoundPeer(await Client(world.young).connect(server.url), rid)
        c = RoundPeer(await Client(young3).connect(server.url), rid)
        try:
            for peer in (a, c, mod):
                assert (await peer.join())["ok"]
            assert (await mod.rekey())["ok"]
            for peer in (a, c):
                await peer.client.wait_for("round.key", lambda e: e["epoch"] == 1)
                await peer.take_keys()
            written = await c.send("bald weg")
            assert written["ok"], written
            from server.keys import SESSIONS

            async with server.app[SESSIONS].begin() as db:
                await delete_account_data(db, young3.id)
            rounds_support._EXTRA.clear()  # the third young person is gone: make a new one
            await mod.client.wait_for("round.members",
                                      lambda e: e["departure_pending"] is True)
            paused = await a.send("noch jemand da?", epoch=1)
            assert paused["code"] == "rekey_pending", paused
            assert (await mod.rekey())["ok"]
            engine = create_engine(make_config(url).database)
            try:
                async with create_sessions(engine).begin() as db:
                    mine = (await db.execute(select(RoundMessage).where(
                        RoundMessage.round_id == rid,
                        RoundMessage.seq == written["seq"]))).scalar_one_or_none()
                    assert mine is None
                    rows = (await db.execute(select(RoundParticipant).where(
                        RoundParticipant.account_id == young3.id))).all()
                    assert rows == []
                    texts = [str(m.system_params) for m in (await db.execute(
                        select(RoundMessage).where(RoundMessage.round_id == rid))).scalars()]
                    assert all(young3.nickname not in t for t in texts)
            finally:
                await engine.dispose()
        finally:
            for peer in (mod, a, c):
                await peer.client.close()
