"""The conversation as people use it, over real sockets: route → enquiry → live queue →
claim → messages both ways → read receipts → typing → close → reopened by a new message;
system events are codes; notes, canned responses and absence; and bad input (unknown events,
malformed payloads) gets an error ack without disturbing anybody else."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.primitives import seal
from tests.conversation_support import (
    Client,
    Conv,
    Running,
    World,
    encrypt,
    enquiry_payload,
    open_site_share,
    read,
    running_server,
    world_sqlite_fixture,  # noqa: F401  (fixture "world_sqlite")
)


class Scene:
    def __init__(self, srv: Running, world: World) -> None:
        self.srv = srv
        self.world = world

    async def client(self, who: Any) -> Client:
        return await Client(who).connect(self.srv.url)


@pytest.fixture
async def scene(world_sqlite: tuple[str, World]) -> AsyncIterator[Scene]:
    url, world = world_sqlite
    async with running_server(url) as srv:
        yield Scene(srv, world)


def system_codes(client: Client, conv: Conv) -> list[str]:
    return [
        e["message"]["system"]["code"] for e in client.events["message.new"]
        if e["conversation_id"] == conv.id and e["message"]["kind"] == "system"
    ]


async def start(scene: Scene, young: Client, text: str) -> tuple[Conv, dict[str, Any]]:
    payload, conv = enquiry_payload(scene.world, scene.world.young, text)
    ack = await young.call("enquiry.create", payload)
    assert ack["ok"], ack
    return conv, ack["conversation"]


async def test_route_answers_with_site_reason_and_certified_key(scene: Scene) -> None:
    async with aiohttp.ClientSession() as http:
        online = await (await http.get(
            f"{scene.srv.url}/api/route", params={"language": "ar", "topic": "school"})).json()
        local = await (await http.get(
            f"{scene.srv.url}/api/route",
            params={"location": "54292", "language": "ar", "topic": "school"})).json()
        bad = await http.get(f"{scene.srv.url}/api/route", params={"language": "ar"})
    assert online["ok"] and online["site"]["id"] == scene.world.online_site
    assert online["reason"]["code"] == "online_team"
    assert local["site"]["id"] == scene.world.local_site
    assert local["reason"]["code"] == "nearest_language"
    key = local["site_key"]
    assert key["version"] == 1
    assert b64url_decode(key["x25519_public"]) == scene.world.local_key.keys.x25519_public
    assert b"\"kind\":\"site\"" in b64url_decode(key["certificate"])
    assert bad.status == 400


async def test_enquiry_queue_claim_talk_read_type_close_reopen(scene: Scene) -> None:
    world = scene.world
    counsellor = await scene.client(world.counsellor)
    colleague = await scene.client(world.counsellor2)
    young = await scene.client(world.young)
    young_tab = await scene.client(world.young)  # the same young person on a second device

    conv, summary = await start(scene, young, "Ich brauche Hilfe mit meiner Schule")
    assert summary["status"] == "waiting" and summary["queue_position"] == 1
    assert summary["expected_answer"]["code"] == "within_48_hours"
    assert summary["route_reason"]["code"] == "online_team"
    position = await young.wait_for("queue.position")
    assert position == {"conversation_id": conv.id, "position": 1,
                        "expected_answer": summary["expected_answer"]}

    # Live in the queue of both counsellors of the site, decryptable with the site key.
    added = await counsellor.wait_for("queue.added")
    await colleague.wait_for("queue.added")
    item = added["item"]
    assert item["conversation_id"] == conv.id and item["nickname"] == world.young.nickname
    key = open_site_share(world.online_key, item["epoch_keys"][0]["sealed"], conv.id, world.young)
    assert key == conv.key
    assert read(item["first_message"], conv, world.young) == "Ich brauche Hilfe mit meiner Schule"

    claimed = await counsellor.call("conversation.claim", {"conversation_id": conv.id})
    assert claimed["ok"] and claimed["conversation"]["status"] == "active"
    assert (await colleague.wait_for("queue.removed"))["by_display_name"] == "Amira"
    updated = await young.wait_for("conversation.updated")
    assert updated["conversation"]["counsellor"]["display_name"] == "Amira"
    assert updated["conversation"]["last_read_seq"] is None  # a broadcast: no viewer fields
    await young.wait_for("message.new", lambda e: e["message"]["kind"] == "system")
    assert system_codes(young, conv) == ["claimed"]

    await young_tab.call("conversation.join", {"conversation_id": conv.id, "after_seq": 0})
    # Messages both ways, acked with their seq; the sender's other device gets them too.
    answer = encrypt(world.counsellor, conv, "Hallo! Wie kann ich helfen?")
    sent = await counsellor.call("message.send", {"conversation_id": conv.id, "envelope": answer})
    assert sent["ok"] and sent["seq"] == 3
    got = await young.wait_for("message.new", lambda e: e["message"]["seq"] == 3)
    assert read(got["message"]["envelope"], conv, world.counsellor) == "Hallo! Wie kann ich helfen?"
    reply = encrypt(world.young, conv, "Danke! Es geht um mein Zeugnis.")
    sent = await young.call("message.send", {"conversation_id": conv.id, "envelope": reply})
    assert sent["seq"] == 4
    got = await counsellor.wait_for("message.new", lambda e: e["message"]["seq"] == 4)
    assert read(got["message"]["envelope"], conv, world.young) == "Danke! Es geht um mein Zeugnis."
    await young_tab.wait_for("message.new", lambda e: e["message"]["seq"] == 4)
    assert not [e for e in young.events["message.new"] if e["message"]["seq"] == 4]

    # Read receipts (writing counts as having read what came before) and typing.
    assert (await counsellor.call("message.read", {"conversation_id": conv.id, "seq": 4}))["ok"]
    receipt = await young.wait_for("message.read")
    assert receipt == {"conversation_id": conv.id, "account_id": world.counsellor.id, "seq": 4}
    assert (await counsellor.call("message.read", {"conversation_id": conv.id, "seq": 2}))["ok"]
    assert len(young.events["message.read"]) == 1  # markers never go back
    assert (await counsellor.call("typing", {"conversation_id": conv.id, "active": True}))["ok"]
    typing = await young.wait_for("typing")
    assert typing == {"conversation_id": conv.id, "account_id": world.counsellor.id,
                      "active": True}
    assert "typing" not in counsellor.events
    listed = await young.call("conversation.list", {"status": "open"})
    assert [(c["id"], c["unread"]) for c in listed["items"]] == [(conv.id, 0)]

    # Older pages.
    page = await young.call("message.history",
                            {"conversation_id": conv.id, "before_seq": 4, "limit": 2})
    assert [m["seq"] for m in page["messages"]] == [2, 3] and page["has_more"]

    # Close: a system event; the counsellor cannot write any more; the young person reopens.
    closed = await counsellor.call("conversation.close", {"conversation_id": conv.id})
    assert closed["ok"] and closed["conversation"]["status"] == "closed"
    await young.wait_for("conversation.updated",
                         lambda e: e["conversation"]["status"] == "closed")
    late = await counsellor.call("message.send", {
        "conversation_id": conv.id, "envelope": encrypt(world.counsellor, conv, "Noch was")})
    assert late["code"] == "conversation_closed"
    again = await young.call("message.send", {
        "conversation_id": conv.id, "envelope": encrypt(world.young, conv, "Noch eine Frage")})
    assert again["ok"] and again["seq"] == 7  # 5 closed, 6 reopened, 7 the message
    await counsellor.wait_for("conversation.updated",
                              lambda e: e["conversation"]["status"] == "active")
    await counsellor.wait_for("message.new", lambda e: e["message"]["seq"] == 7)
    assert system_codes(counsellor, conv) == ["claimed", "closed", "reopened"]
    closed_event = next(e for e in counsellor.events["message.new"] if e["message"]["seq"] == 5)
    assert closed_event["message"]["system"] == {"code": "closed",
                                                 "params": {"by": "counsellor"}}
    for client in (counsellor, colleague, young, young_tab):
        await client.close()


async def test_notes_canned_responses_and_absence(scene: Scene) -> None:
    world = scene.world
    counsellor = await scene.client(world.counsellor)
    young = await scene.client(world.young)
    conv, _summary = await start(scene, young, "Hallo")
    await counsellor.call("conversation.claim", {"conversation_id": conv.id})

    sealed = b64url_encode(seal(world.online_key.keys.x25519_public, b"Notiz", b"note"))
    note = await counsellor.call("note.add", {"conversation_id": conv.id, "sealed_note": sealed,
                                              "site_key_version": 1})
    assert note["ok"]
    notes = await counsellor.call("note.list", {"conversation_id": conv.id})
    assert [n["sealed"] for n in notes["notes"]] == [sealed]
    assert (await young.call("note.list", {"conversation_id": conv.id}))["code"] == "not_found"

    saved = await counsellor.call("canned.save", {
        "site_id": world.online_site, "language": "ar", "sealed": sealed, "site_key_version": 1})
    personal = await counsellor.call("canned.save", {"language": "de", "sealed": sealed})
    assert saved["ok"] and personal["ok"]
    colleague = await scene.client(world.counsellor2)
    seen = await colleague.call("canned.list", {})
    assert [c["id"] for c in seen["items"]] == [saved["item"]["id"]]  # not the personal one
    assert (await colleague.call("canned.delete", {"id": personal["item"]["id"]}))["code"] \
        == "not_found"
    assert (await counsellor.call("canned.delete", {"id": personal["item"]["id"]}))["ok"]

    away = await counsellor.call("absence.set", {"until": "2099-01-02T08:00:00+01:00"})
    assert away["ok"]
    update = await young.wait_for(
        "conversation.updated", lambda e: e["conversation"]["counsellor"]["absent_until"])
    assert update["conversation"]["counsellor"]["absent_until"].startswith("2099-01-02T07:00")
    event = await young.wait_for("message.new", lambda e: e["message"]["kind"] == "system"
                                 and e["message"]["system"]["code"] == "absence")
    assert event["message"]["system"]["params"]["until"].startswith("2099-01-02T07:00")
    naive = await counsellor.call("absence.set", {"until": "2099-01-02T08:00:00"})
    assert naive["code"] == "invalid"
    for client in (counsellor, young, colleague):
        await client.close()


async def test_bad_input_gets_error_acks_and_disturbs_nobody(scene: Scene) -> None:
    world = scene.world
    counsellor = await scene.client(world.counsellor)
    young = await scene.client(world.young)
    rogue = await scene.client(world.young2)
    conv, _summary = await start(scene, young, "Hallo")
    await counsellor.call("conversation.claim", {"conversation_id": conv.id})
    good = {"conversation_id": conv.id, "envelope": encrypt(world.young, conv, "ok")}

    bad_calls: list[tuple[str, Any, str]] = [
        ("no.such.event", {}, "unknown_event"),
        ("authenticated", {}, "unknown_event"),  # a hook, not an event
        ("connect", {}, "unknown_event"),
        ("message_send", {}, "invalid"),  # the same handler, still strictly validated
        ("Message.Send", good, "unknown_event"),
        ("__class__", {}, "unknown_event"),
        ("message.send", {"conversation_id": conv.id}, "invalid"),
        ("message.send", {**good, "extra": 1}, "invalid"),
        ("message.send", {**good, "envelope": {**good["envelope"], "ct": "AAAA"}}, "invalid"),
        ("message.send", {**good, "envelope": {**good["envelope"], "v": True}}, "invalid"),
        ("message.send", {**good, "conversation_id": "not-a-uuid"}, "invalid"),
        ("message.send", [1, 2, 3], "invalid"),
        ("message.send", "text", "invalid"),
        ("conversation.join", {"conversation_id": conv.id, "after_seq": -1}, "invalid"),
        ("conversation.join", {"conversation_id": conv.id, "after_seq": "0"}, "invalid"),
        ("message.history", {"conversation_id": conv.id, "before_seq": 5, "limit": 1000},
         "invalid"),
        ("typing", {"conversation_id": conv.id, "active": "yes"}, "invalid"),
        ("enquiry.create", {"topic": "school"}, "invalid"),
        # Someone else's conversation: looks like any unknown id.
        ("message.send", {"conversation_id": conv.id, "envelope": encrypt(
            world.young2, conv, "fremd")}, "not_found"),
    ]
    for event, payload, code in bad_calls:
        answer = await rogue.call(event, payload)
        assert answer["ok"] is False and answer["code"] == code, (event, answer)
        assert answer["message"]  # translated text for people
    assert rogue.sio.connected
    # A frame beyond the transport limit (limits.max_socket_message_bytes) ends only the
    # sender's own connection; everybody else goes on.
    huge = {**good, "envelope": {**good["envelope"], "ct": "A" * 200_000}}
    await rogue.sio.emit("message.send", huge)
    for _ in range(100):
        if not rogue.sio.connected:
            break
        await asyncio.sleep(0.05)
    assert not rogue.sio.connected
    assert young.sio.connected and counsellor.sio.connected
    sent = await young.call("message.send", good)
    assert sent["ok"]
    await counsellor.wait_for("message.new", lambda e: e["message"]["seq"] == sent["seq"])
    # A message for another conversation, or in another's name, is refused.
    other = Conv(str(uuid.uuid4()), conv.key)
    assert (await young.call("message.send", {"conversation_id": conv.id, "envelope": encrypt(
        world.young, other, "woanders")}))["code"] == "invalid"
    for client in (counsellor, young, rogue):
        await client.close()
