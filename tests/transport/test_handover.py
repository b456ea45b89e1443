"""Handover (issue #6) through the API users use: a real server on a real port, real socket.io
clients, messages and key shares made with the Python protocol implementation exactly as the
browser makes them, on SQLite and PostgreSQL.

World (tests/conversation_support.py): the online team (Amira, Jonas) and JMD Trier (Lena);
young people A and B.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update

from server.app import create_app
from server.crypto.conversation import (
    new_conversation_key,
    open_envelope,
    seal_conversation_key,
)
from server.crypto.encoding import b64url_encode
from server.crypto.errors import UnknownEpoch
from server.crypto.protocol import encrypt_message
from server.keys import SESSIONS, SIO
from server.services.clock import FrozenClock
from server.storage.models import (
    Account,
    AuditEvent,
    Conversation,
    ConversationKey,
    ConversationMember,
    HandoverProposal,
    Message,
    SiteMembership,
)
from tests.conftest import free_port, make_config
from tests.conversation_support import (
    Client,
    Conv,
    Person,
    World,
    enquiry_payload,
    open_site_share,
    signing_resolver,
    world_db_fixture,  # noqa: F401  (fixture)
    world_sqlite_fixture,  # noqa: F401  (fixture)
)

_URLS: dict[int, str] = {}
NOTE = b64url_encode(b"sealed-note-placeholder-opaque-to-the-server")


@asynccontextmanager
async def server(url: str, clock: FrozenClock | None = None, **sections: dict[str, object]
                 ) -> AsyncIterator[Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    config = make_config(url, server={"public_url": base, "allowed_origins": (base,)},
                         **sections)
    app = create_app(config, clock)
    test_server = TestServer(app, host="127.0.0.1", port=port)
    await test_server.start_server(shutdown_timeout=2.0)
    _URLS[id(app)] = base
    try:
        yield app
    finally:
        sio = app[SIO]
        for _ in range(40):
            if not sio.eio.sockets:
                break
            await asyncio.sleep(0.05)
        await test_server.close()


def url_of(app: Any) -> str:
    return _URLS[id(app)]


async def connect(app: Any, person: Person) -> Client:
    return await Client(person).connect(url_of(app))


def message(person: Person, conv: Conv, text: str, epoch: int = 1,
            key: bytes | None = None) -> dict[str, Any]:
    return dict(encrypt_message(
        conversation_id=conv.id, epoch=epoch, epoch_key=key or conv.key, sender_id=person.id,
        signer=person.keys, message={"type": "text", "body": text, "sent_at": 1_767_000_000_000},
    ))


def body(envelope: dict[str, Any], conv_id: str, keys: dict[int, bytes], *people: Person) -> str:
    opened = open_envelope(envelope, conversation_id=conv_id, epoch_keys=keys,
                           resolve_signing_key=signing_resolver(*people))
    return str(opened.message["body"])


@asynccontextmanager
async def active_conversation(app: Any, world: World, young: Person | None = None
                              ) -> AsyncIterator[tuple[Conv, Client, Client]]:
    """Young person A writes to the online team; Amira takes it and answers."""
    young = young or world.young
    yp = await connect(app, young)
    amira = await connect(app, world.counsellor)
    try:
        payload, conv = enquiry_payload(world, young, "مرحبا، أحتاج مساعدة")
        created = await yp.call("enquiry.create", payload)
        assert created["ok"], created
        claimed = await amira.call("conversation.claim", {"conversation_id": conv.id})
        assert claimed["ok"], claimed
        joined = await amira.call("conversation.join", {"conversation_id": conv.id,
                                                        "after_seq": 0})
        assert joined["ok"], joined
        sent = await amira.call("message.send", {"conversation_id": conv.id,
                                                 "envelope": message(world.counsellor, conv,
                                                                     "Hallo, ich bin Amira")})
        assert sent["ok"], sent
        yield conv, yp, amira
    finally:
        await yp.close()
        await amira.close()


async def propose(amira: Client, world: World, conv: Conv, note: bool = True
                  ) -> dict[str, Any]:
    payload: dict[str, Any] = {"conversation_id": conv.id, "to_site_id": world.local_site}
    if note:
        payload |= {"sealed_note": NOTE, "note_site_key_version": 1}
    answer = await amira.call("handover.propose", payload)
    assert answer["ok"], answer
    return dict(answer["proposal"])


def accept_payload(world: World, young: Person, conv: Conv, proposal_id: str, *,
                   history: bool, epoch: int = 2) -> tuple[dict[str, Any], bytes]:
    """What the young person's client sends on consent: a new epoch key sealed to itself and
    the new site, and (only with `history`) the earlier epoch keys sealed to the new site."""
    new_key = new_conversation_key()
    site_pub = world.local_key.keys.x25519_public

    def seal(e: int, key: bytes, to: bytes) -> dict[str, object]:
        return seal_conversation_key(conversation_id=conv.id, epoch=e, key=key,
                                     recipient_x25519_public=to, sender_id=young.id,
                                     signer=young.keys)

    payload = {
        "proposal_id": proposal_id, "allow_history": history,
        "epoch_keys": [
            {"recipient": "self", "sealed": seal(epoch, new_key, young.keys.x25519_public)},
            {"recipient": "site", "site_key_version": 1, "sealed": seal(epoch, new_key,
                                                                         site_pub)},
        ],
        "history_keys": [{"epoch": 1, "sealed": seal(1, conv.key, site_pub)}] if history else [],
    }
    return payload, new_key


async def db_state(app: Any, conversation_id: str) -> dict[str, Any]:
    """Everything about a conversation that a handover could change."""
    async with app[SESSIONS].begin() as db:
        conv = await db.get(Conversation, conversation_id)
        assert conv is not None
        keys = (await db.execute(select(ConversationKey).where(
            ConversationKey.conversation_id == conversation_id))).scalars().all()
        members = (await db.execute(select(ConversationMember).where(
            ConversationMember.conversation_id == conversation_id))).scalars().all()
        return {
            "site": conv.site_id, "status": conv.status, "counsellor": conv.counsellor_id,
            "epoch": conv.current_epoch, "from": conv.handed_over_from_site_id,
            "keys": sorted((k.epoch, k.recipient_kind, k.recipient_id) for k in keys),
            "members": sorted((m.account_id, m.active, m.from_epoch, m.until_epoch)
                              for m in members),
        }


async def audit_rows(app: Any, conversation_id: str) -> list[AuditEvent]:
    async with app[SESSIONS].begin() as db:
        rows = await db.execute(select(AuditEvent).where(
            AuditEvent.subject_id == conversation_id).order_by(AuditEvent.at))
        return list(rows.scalars())


def added_items(client: Client) -> list[dict[str, Any]]:
    return [e["item"] for e in client.events["queue.added"]]


def new_messages(client: Client, conversation_id: str) -> list[dict[str, Any]]:
    return [e for e in client.events["message.new"] if e["conversation_id"] == conversation_id]


# =============================================================================================
# To another site
# =============================================================================================


async def test_handover_to_another_site_with_history(world_db: tuple[str, World]) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, yp, amira):
        lena = await connect(app, world.local_counsellor)
        try:
            proposal = await propose(amira, world, conv)
            assert proposal["to_site"]["id"] == world.local_site
            assert proposal["site_key"]["version"] == 1
            shown = await yp.wait_for("handover.proposed",
                                      lambda e: e["conversation_id"] == conv.id)
            assert shown["proposal"]["id"] == proposal["id"]
            # Before consent the new site sees nothing.
            assert (await lena.call("conversation.join", {"conversation_id": conv.id,
                                                          "after_seq": 0}))["code"] == "not_found"
            queue = await lena.call("queue.list", {})
            assert conv.id not in [i["conversation_id"] for i in queue["items"]]

            payload, new_key = accept_payload(world, world.young, conv, proposal["id"],
                                              history=True)
            amira_seen = len(new_messages(amira, conv.id))
            accepted = await yp.call("handover.accept", payload)
            assert accepted["ok"], accepted
            assert accepted["conversation"]["site"]["id"] == world.local_site
            assert accepted["conversation"]["status"] == "waiting"
            assert accepted["conversation"]["current_epoch"] == 2

            # The new site's queue: marked with its origin and the sealed note.
            added = await lena.wait_for("queue.added",
                                        lambda e: e["item"]["conversation_id"] == conv.id)
            origin = added["item"]["handover_from"]
            assert origin["site_name"] == "Conv Test Online"
            assert origin["note"] == {"sealed": NOTE, "site_key_version": 1}
            await amira.wait_for("conversation.access_changed",
                                 lambda e: e["conversation_id"] == conv.id)

            # Lena takes it, reads the old messages (history allowed) and answers.
            assert (await lena.call("conversation.claim", {"conversation_id": conv.id}))["ok"]
            joined = await lena.call("conversation.join", {"conversation_id": conv.id,
                                                           "after_seq": 0})
            assert joined["ok"], joined
            people = (world.young, world.counsellor, world.local_counsellor)
            keys = {k["epoch"]: open_site_share(world.local_key, k["sealed"], conv.id, *people)
                    for k in joined["keys"] if k["recipient"] == "site"}
            assert keys == {1: conv.key, 2: new_key}
            texts = [body(m["envelope"], conv.id, keys, *people)
                     for m in joined["messages"] if m["kind"] == "message"]
            assert texts == ["مرحبا، أحتاج مساعدة", "Hallo, ich bin Amira"]
            systems = [m["system"]["code"] for m in joined["messages"] if m["kind"] == "system"]
            assert "handed_over" in systems
            # Who signed the earlier messages: Amira, certified for the site it came from.
            former = await lena.call("handover.former", {"conversation_id": conv.id})
            assert [(f["id"], f["sites"], f["until_epoch"]) for f in former["items"]] == [
                (world.counsellor.id, [world.online_site], 1)]
            assert former["items"][0]["certificate"]
            answer = message(world.local_counsellor, conv, "Hallo aus Trier", 2, new_key)
            assert (await lena.call("message.send", {"conversation_id": conv.id,
                                                     "envelope": answer}))["ok"]

            # The young person's client re-joins (access_changed) and gets the answer.
            await yp.wait_for("conversation.access_changed",
                              lambda e: e["conversation_id"] == conv.id)
            rejoined = await yp.call("conversation.join", {"conversation_id": conv.id,
                                                           "after_seq": 0})
            last = [m for m in rejoined["messages"] if m["kind"] == "message"][-1]
            assert body(last["envelope"], conv.id, {2: new_key}, *people) == "Hallo aus Trier"
            reply = message(world.young, conv, "شكرا", 2, new_key)
            assert (await yp.call("message.send", {"conversation_id": conv.id,
                                                   "envelope": reply}))["ok"]
            await lena.wait_for("message.new", lambda e: e["message"].get("envelope") == reply)

            # Amira received nothing after the handover, cannot write, keeps what she had.
            assert len(new_messages(amira, conv.id)) == amira_seen
            refused = await amira.call("message.send", {
                "conversation_id": conv.id, "envelope": message(world.counsellor, conv, "x")})
            assert refused["code"] == "not_found"
            old = await amira.call("conversation.join", {"conversation_id": conv.id,
                                                         "after_seq": 0})
            assert old["ok"]
            assert {k["epoch"] for k in old["keys"]} == {1}
            assert all(m["epoch"] == 1 for m in old["messages"])
            await asyncio.sleep(0.3)  # anything still in flight would arrive now
            assert len(new_messages(amira, conv.id)) == amira_seen

            [row] = [r for r in await audit_rows(app, conv.id)
                     if r.action == "conversation_handed_over"]
            assert row.site_id == world.online_site
            assert row.details["to_site"] == world.local_site
            assert row.details["history"] is True
            assert "conversation_handover_proposed" in [
                r.action for r in await audit_rows(app, conv.id)]
        finally:
            await lena.close()


async def test_history_not_allowed_leaves_old_epochs_unreadable(
    world_db: tuple[str, World],
) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, yp, amira):
        lena = await connect(app, world.local_counsellor)
        try:
            proposal = await propose(amira, world, conv, note=False)
            payload, new_key = accept_payload(world, world.young, conv, proposal["id"],
                                              history=False)
            # History shares without consent to history are refused.
            sneaky, _ = accept_payload(world, world.young, conv, proposal["id"], history=True)
            sneaky["allow_history"] = False
            assert (await yp.call("handover.accept", sneaky))["code"] == "invalid"
            accepted = await yp.call("handover.accept", payload)
            assert accepted["ok"], accepted

            # No key share of an old epoch exists for the new site on the server.
            async with app[SESSIONS].begin() as db:
                shares = (await db.execute(select(ConversationKey).where(
                    ConversationKey.conversation_id == conv.id,
                    ConversationKey.recipient_id == world.local_site,
                ))).scalars().all()
            assert [s.epoch for s in shares] == [2]

            await lena.wait_for("queue.added", lambda e: e["item"]["conversation_id"] == conv.id)
            assert (await lena.call("conversation.claim", {"conversation_id": conv.id}))["ok"]
            joined = await lena.call("conversation.join", {"conversation_id": conv.id,
                                                           "after_seq": 0})
            people = (world.young, world.counsellor, world.local_counsellor)
            keys = {k["epoch"]: open_site_share(world.local_key, k["sealed"], conv.id, *people)
                    for k in joined["keys"]}
            assert keys == {2: new_key}
            # Not even the old ciphertext reaches the new site (join, history, queue item).
            assert {m["epoch"] for m in joined["messages"]} == {2}
            older = await lena.call("message.history", {"conversation_id": conv.id,
                                                        "before_seq": 1000, "limit": 100})
            assert {m["epoch"] for m in older["messages"]} == {2}
            [item] = [i for i in added_items(lena) if i["conversation_id"] == conv.id]
            assert item["first_message"] is None
            assert {k["epoch"] for k in item["epoch_keys"]} == {2}
            # And whatever old envelope Lena might get hold of, she cannot open it.
            async with app[SESSIONS].begin() as db:
                stored = (await db.execute(select(Message).where(
                    Message.conversation_id == conv.id, Message.epoch == 1,
                    Message.kind == "message"))).scalars().all()
            assert stored
            for row in stored:
                assert row.envelope is not None
                with pytest.raises(UnknownEpoch):
                    body(row.envelope, conv.id, keys, *people)
            [row] = [r for r in await audit_rows(app, conv.id)
                     if r.action == "conversation_handed_over"]
            assert row.details["history"] is False
        finally:
            await lena.close()


async def test_without_consent_nothing_changes_and_decline_leaves_everything(
    world_db: tuple[str, World],
) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, yp, amira):
        before = await db_state(app, conv.id)
        proposal = await propose(amira, world, conv)
        assert await db_state(app, conv.id) == before  # a proposal alone changes nothing
        # Amira can still write, the young person still gets it.
        note = message(world.counsellor, conv, "Noch da")
        assert (await amira.call("message.send", {"conversation_id": conv.id,
                                                  "envelope": note}))["ok"]
        await yp.call("conversation.join", {"conversation_id": conv.id, "after_seq": 0})

        declined = await yp.call("handover.decline", {"proposal_id": proposal["id"]})
        assert declined["ok"], declined
        assert declined["proposal"]["status"] == "declined"
        assert await db_state(app, conv.id) == before
        await amira.wait_for("handover.decided", lambda e: e["conversation_id"] == conv.id)
        payload, _ = accept_payload(world, world.young, conv, proposal["id"], history=True)
        assert (await yp.call("handover.accept", payload))["code"] == "handover_not_pending"
        assert (await yp.call("handover.pending", {"conversation_id": conv.id}))["proposal"] \
            is None
        assert (await amira.call("message.send", {
            "conversation_id": conv.id,
            "envelope": message(world.counsellor, conv, "Weiter")}))["ok"]
        actions = [r.action for r in await audit_rows(app, conv.id)]
        assert "conversation_handover_declined" in actions
        assert "conversation_handed_over" not in actions


async def test_an_expired_proposal_cannot_be_accepted(world_db: tuple[str, World]) -> None:
    url, world = world_db
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    async with server(url, clock, handover={"proposal_ttl_hours": 2}) as app, \
            active_conversation(app, world) as (conv, yp, amira):
        proposal = await propose(amira, world, conv)
        before = await db_state(app, conv.id)
        clock.advance(timedelta(hours=2, minutes=1))
        assert (await yp.call("handover.pending", {"conversation_id": conv.id}))["proposal"] \
            is None
        payload, _ = accept_payload(world, world.young, conv, proposal["id"], history=True)
        assert (await yp.call("handover.accept", payload))["code"] == "handover_expired"
        assert await db_state(app, conv.id) == before
        async with app[SESSIONS].begin() as db:
            row = await db.get(HandoverProposal, proposal["id"])
            assert row is not None and row.status == "expired"
        assert (await yp.call("handover.accept", payload))["code"] == "handover_not_pending"


async def test_pending_proposal_survives_a_reconnect(world_db: tuple[str, World]) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, yp, amira):
        await yp.close()
        proposal = await propose(amira, world, conv)
        again = await connect(app, world.young)
        try:
            pending = await again.call("handover.pending", {"conversation_id": conv.id})
            assert pending["proposal"]["id"] == proposal["id"]
            assert pending["proposal"]["to_site"]["city"] == "Trier"
            payload, _ = accept_payload(world, world.young, conv, proposal["id"], history=True)
            assert (await again.call("handover.accept", payload))["ok"]
        finally:
            await again.close()


# =============================================================================================
# Authorization
# =============================================================================================


async def test_others_cannot_propose_accept_or_read(world_db: tuple[str, World]) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, yp, amira):
        lena = await connect(app, world.local_counsellor)
        other = await connect(app, world.young2)
        try:
            refused = await lena.call("handover.propose", {"conversation_id": conv.id,
                                                           "to_site_id": world.local_site})
            assert refused["code"] == "not_found"
            unknown = await lena.call("handover.propose", {"conversation_id": str(uuid.uuid4()),
                                                           "to_site_id": world.local_site})
            assert unknown == refused  # no hint that the conversation exists
            assert (await yp.call("handover.propose", {
                "conversation_id": conv.id, "to_site_id": world.local_site}))["code"] \
                == "forbidden"
            proposal = await propose(amira, world, conv)
            for client in (lena, other):
                assert (await client.call("handover.pending", {"conversation_id": conv.id})
                        )["code"] == "not_found"
                assert (await client.call("conversation.join", {
                    "conversation_id": conv.id, "after_seq": 0}))["code"] == "not_found"
            for client, person in ((lena, world.local_counsellor), (other, world.young2),
                                   (amira, world.counsellor)):
                payload, _ = accept_payload(world, person, conv, proposal["id"], history=True)
                assert (await client.call("handover.accept", payload))["code"] == "not_found"
                assert (await client.call("handover.decline", {"proposal_id": proposal["id"]})
                        )["code"] == "not_found"
            # Shares signed by someone else than the young person are refused.
            forged, _ = accept_payload(world, world.young2, conv, proposal["id"], history=True)
            assert (await yp.call("handover.accept", forged))["code"] == "invalid"
            assert (await yp.call("handover.pending", {"conversation_id": conv.id})
                    )["proposal"]["status"] == "pending"
            # Lena cannot hand a conversation of the online team to a colleague either.
            assert (await lena.call("handover.colleague", {
                "conversation_id": conv.id, "to_account_id": world.local_counsellor.id})
                )["code"] == "not_found"
        finally:
            await lena.close()
            await other.close()


async def test_proposal_checks_its_target(world_db: tuple[str, World]) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, _yp, amira):
        same = await amira.call("handover.propose", {"conversation_id": conv.id,
                                                     "to_site_id": world.online_site})
        assert same["code"] == "same_site"
        nowhere = await amira.call("handover.propose", {"conversation_id": conv.id,
                                                        "to_site_id": str(uuid.uuid4())})
        assert nowhere["code"] == "site_unavailable"
        bad_note = await amira.call("handover.propose", {
            "conversation_id": conv.id, "to_site_id": world.local_site, "sealed_note": NOTE,
            "note_site_key_version": 7})
        assert bad_note["code"] == "invalid"
        found = await amira.call("handover.sites", {"query": "trier"})
        assert [s["id"] for s in found["items"]] == [world.local_site]
        assert found["items"][0]["site_key"]["version"] == 1
        by_postcode = await amira.call("handover.sites", {"query": "5429", "language": "ar"})
        assert [s["id"] for s in by_postcode["items"]] == [world.local_site]


# =============================================================================================
# Colleague handover and site-lead reassignment
# =============================================================================================


async def test_handover_to_a_colleague_and_back_to_the_queue(world_db: tuple[str, World]
                                                             ) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, yp, amira):
        jonas = await connect(app, world.counsellor2)
        try:
            listed = await amira.call("handover.colleagues", {"conversation_id": conv.id})
            assert world.counsellor2.id in [c["id"] for c in listed["items"]]
            await yp.call("conversation.join", {"conversation_id": conv.id, "after_seq": 0})
            # Jonas is not the assigned counsellor: he cannot pass it on.
            assert (await jonas.call("handover.colleague", {
                "conversation_id": conv.id, "to_account_id": world.counsellor2.id})
                )["code"] == "not_assigned"
            moved = await amira.call("handover.colleague", {
                "conversation_id": conv.id, "to_account_id": world.counsellor2.id,
                "sealed_note": NOTE, "note_site_key_version": 1})
            assert moved["ok"], moved
            assert moved["conversation"]["counsellor"]["display_name"] == "Jonas"
            told = await yp.wait_for("message.new", lambda e: e["conversation_id"] == conv.id
                                     and e["message"]["kind"] == "system"
                                     and e["message"]["system"]["code"] == "reassigned")
            assert told["message"]["system"]["params"]["display_name"] == "Jonas"
            notes = await jonas.call("note.list", {"conversation_id": conv.id})
            assert [n["sealed"] for n in notes["notes"]] == [NOTE]
            # Jonas writes; Amira no longer can.
            assert (await jonas.call("message.send", {
                "conversation_id": conv.id,
                "envelope": message(world.counsellor2, conv, "Hier ist Jonas")}))["ok"]
            assert (await amira.call("message.send", {
                "conversation_id": conv.id,
                "envelope": message(world.counsellor, conv, "x")}))["code"] == "not_found"
            # Back to the site's queue.
            back = await jonas.call("handover.colleague", {"conversation_id": conv.id,
                                                           "to_account_id": None})
            assert back["ok"], back
            assert back["conversation"]["status"] == "waiting"
            await amira.wait_for("queue.added",
                                 lambda e: e["item"]["conversation_id"] == conv.id)
            assert (await amira.call("conversation.claim", {"conversation_id": conv.id}))["ok"]
            actions = [(r.action, r.details.get("to")) for r in await audit_rows(app, conv.id)]
            assert ("conversation_reassigned", world.counsellor2.id) in actions
            assert ("conversation_reassigned", None) in actions
        finally:
            await jonas.close()


async def test_site_lead_reassigns_an_absent_counsellors_conversation(
    world_db: tuple[str, World],
) -> None:
    url, world = world_db
    async with server(url) as app:
        lead = world.counsellor2

        async def make_lead(value: bool) -> None:
            async with app[SESSIONS].begin() as db:
                await db.execute(update(SiteMembership).where(
                    SiteMembership.account_id == lead.id).values(is_lead=value))
                await db.execute(update(Account).where(Account.id == lead.id).values(
                    role="site_lead" if value else "counsellor"))

        async with active_conversation(app, world) as (conv, yp, amira):
            jonas = await connect(app, lead)
            try:
                # Not (yet) a lead: reassigning is refused.
                assert (await jonas.call("handover.reassign", {
                    "conversation_id": conv.id, "to_account_id": lead.id}))["code"] == "not_lead"
                await jonas.close()
                await make_lead(True)
                jonas = await connect(app, lead)
                assert (await amira.call("absence.set", {"until": "2099-01-01T10:00:00+00:00"})
                        )["ok"]
                await yp.call("conversation.join", {"conversation_id": conv.id, "after_seq": 0})
                moved = await jonas.call("handover.reassign", {"conversation_id": conv.id,
                                                               "to_account_id": lead.id})
                assert moved["ok"], moved
                await yp.wait_for("message.new", lambda e: e["conversation_id"] == conv.id
                                  and e["message"]["kind"] == "system"
                                  and e["message"]["system"]["code"] == "reassigned")
                await amira.wait_for("conversation.access_changed",
                                     lambda e: e["conversation_id"] == conv.id)
                [row] = [r for r in await audit_rows(app, conv.id)
                         if r.action == "conversation_reassigned"]
                assert row.details == {"from": world.counsellor.id, "to": lead.id,
                                       "by_lead": True}
                assert row.site_id == world.online_site
                assert (await amira.call("absence.set", {"until": None}))["ok"]
                # The lead's handover audit of the site (HTTP, metadata only).
                async with aiohttp.ClientSession() as http, http.get(
                    f"{url_of(app)}/api/sites/{world.online_site}/handovers",
                    headers={"Cookie": f"jmdchat_session={lead.token}"},
                ) as response:
                    assert response.status == 200
                    listed = await response.json()
                mine = [i for i in listed["items"] if i["conversation_id"] == conv.id]
                assert [(i["action"], i["to_name"], i["by_lead"]) for i in mine] == [
                    ("conversation_reassigned", "Jonas", True)]
                assert mine[0]["from_name"] == "Amira"
            finally:
                await jonas.close()
                await make_lead(False)


# =============================================================================================
# Two server processes (Redis): every step crosses between them
# =============================================================================================


@pytest.fixture
async def world_pg(request: pytest.FixtureRequest, tmp_path: Any,
                   tmp_path_factory: pytest.TempPathFactory) -> tuple[str, World]:
    from tests.conversation_support import world_for

    url = request.getfixturevalue("postgres_url")
    return await world_for("postgres", url, tmp_path, tmp_path_factory.getbasetemp())


async def test_handover_across_two_processes(world_pg: tuple[str, World], redis_url: str,
                                             tmp_path: Any) -> None:
    """The young person is on process A, the counsellors on process B: the proposal made on
    B reaches A; the consent given on A puts the conversation into Trier's queue on B."""
    from tests.conftest import start_server, stop_server

    url, world = world_pg
    env = {"JMDCHAT_REDIS_URL": redis_url,
           "JMDCHAT_REDIS_CHANNEL": f"jmdchat-test-{uuid.uuid4().hex}",
           "JMDCHAT_SERVER_LOG_LEVEL": "WARNING",
           "JMDCHAT_SECURITY_SECRET_KEY": "test-secret-" + "x" * 32,
           "JMDCHAT_RATE_LIMITS_ENABLED": "false"}
    a = start_server(tmp_path, url, env, demo=False)
    b = start_server(tmp_path, url, env, demo=False)
    clients: list[Client] = []
    try:
        yp = await Client(world.young).connect(a.url)
        amira = await Client(world.counsellor).connect(b.url)
        lena = await Client(world.local_counsellor).connect(b.url)
        clients += [yp, amira, lena]
        payload, conv = enquiry_payload(world, world.young, "مرحبا")
        created = await yp.call("enquiry.create", payload)
        assert created["ok"], created
        assert (await amira.call("conversation.claim", {"conversation_id": conv.id}))["ok"]
        assert (await amira.call("conversation.join", {"conversation_id": conv.id,
                                                       "after_seq": 0}))["ok"]

        proposal = await propose(amira, world, conv)  # on B
        shown = await yp.wait_for("handover.proposed",  # on A, through Redis
                                  lambda e: e["conversation_id"] == conv.id, within=15)
        assert shown["proposal"]["id"] == proposal["id"]

        accept, new_key = accept_payload(world, world.young, conv, proposal["id"], history=True)
        amira_seen = len(new_messages(amira, conv.id))
        assert (await yp.call("handover.accept", accept))["ok"]  # on A
        added = await lena.wait_for("queue.added",  # on B
                                    lambda e: e["item"]["conversation_id"] == conv.id,
                                    within=15)
        assert added["item"]["handover_from"]["site_name"] == "Conv Test Online"
        await amira.wait_for("conversation.access_changed",
                             lambda e: e["conversation_id"] == conv.id, within=15)
        # The room was closed in both processes: Lena's answer reaches the young person on
        # A after its re-join, and Amira on B hears nothing of it.
        assert (await lena.call("conversation.claim", {"conversation_id": conv.id}))["ok"]
        assert (await yp.call("conversation.join", {"conversation_id": conv.id,
                                                    "after_seq": 0}))["ok"]
        answer = message(world.local_counsellor, conv, "Hallo aus Trier", 2, new_key)
        assert (await lena.call("message.send", {"conversation_id": conv.id,
                                                 "envelope": answer}))["ok"]
        await yp.wait_for("message.new", lambda e: e["message"].get("envelope") == answer,
                          within=15)
        assert len(new_messages(amira, conv.id)) == amira_seen
    finally:
        for client in clients:
            await client.close()
        stop_server(a)
        stop_server(b)


async def test_deleting_the_account_removes_its_proposals(world_sqlite: tuple[str, World]
                                                          ) -> None:
    """"Delete my account": the proposals (with their sealed notes) of the young person's
    conversations go with it (SQLite only: the account is gone afterwards)."""
    from server.services.accounts import delete_account_data

    url, world = world_sqlite
    async with server(url) as app, \
            active_conversation(app, world, world.young2) as (conv, _yp, amira):
        await propose(amira, world, conv)
        async with app[SESSIONS].begin() as db:
            await delete_account_data(db, world.young2.id)
        async with app[SESSIONS].begin() as db:
            left = (await db.execute(select(HandoverProposal).where(
                HandoverProposal.conversation_id == conv.id))).scalars().all()
        assert left == []


async def test_a_waiting_enquiry_moves_from_queue_to_queue(world_db: tuple[str, World]) -> None:
    """Nobody took it yet: a counsellor of the site proposes, the young person agrees; it
    leaves the online team's queue and enters Trier's, marked with its origin."""
    url, world = world_db
    async with server(url) as app:
        yp = await connect(app, world.young)
        amira = await connect(app, world.counsellor)
        lena = await connect(app, world.local_counsellor)
        try:
            payload, conv = enquiry_payload(world, world.young, "مرحبا")
            assert (await yp.call("enquiry.create", payload))["ok"]
            proposal = await propose(amira, world, conv, note=False)
            accept, _ = accept_payload(world, world.young, conv, proposal["id"], history=True)
            assert (await yp.call("handover.accept", accept))["ok"]
            await amira.wait_for("queue.removed", lambda e: e["conversation_id"] == conv.id
                                 and e["reason"] == "handed_over")
            await lena.wait_for("queue.added", lambda e: e["item"]["conversation_id"] == conv.id)
            online = await amira.call("queue.list", {})
            assert conv.id not in [i["conversation_id"] for i in online["items"]]
            [item] = [i for i in (await lena.call("queue.list", {}))["items"]
                      if i["conversation_id"] == conv.id]
            assert item["handover_from"] == {"site_name": "Conv Test Online", "note": None}
            assert item["first_message"] is not None  # history allowed: the enquiry text too
            found = await amira.call("handover.sites", {"query": "%"})  # literal, no wildcard
            assert found["items"] == []
        finally:
            for client in (yp, amira, lena):
                await client.close()


async def test_only_the_holder_or_the_lead_proposes(world_db: tuple[str, World]) -> None:
    url, world = world_db
    async with server(url) as app, active_conversation(app, world) as (conv, _yp, _amira):
        jonas = await connect(app, world.counsellor2)  # same site, did not take it
        try:
            refused = await jonas.call("handover.propose", {"conversation_id": conv.id,
                                                            "to_site_id": world.local_site})
            assert refused["code"] == "not_assigned"
        finally:
            await jonas.close()
