"""Block and report (issue #8): a counsellor blocks a young person's account from one
conversation and reports it; the young person sees only a neutral message; the site lead
reviews reports and can block the account from new enquiries at the site.

Through the real server, real socket.io clients and HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from server.crypto import primitives as prim
from server.crypto.encoding import b64url_encode
from server.i18n import get_translator
from server.storage.models import AuditEvent, ConversationBlock, Message
from tests.conversation_support import Client, enquiry_payload
from tests.security_support import SecurityWorld, random_id, security_world

pytestmark = pytest.mark.asyncio

ENDED = "This conversation has ended. If you need help, you can start a new enquiry."
NOT_HERE = (
    "A new enquiry is not possible here at the moment. If you need help now, call "
    "Nummer gegen Kummer on 116 111 (free), or 112 in an emergency."
)


async def connect(world: SecurityWorld, role: str, locale: str = "de") -> Client:
    client = Client(world.actors[role].person())
    cookie = f"jmdchat_session={world.actors[role].token}; jmdchat_locale={locale}"
    await client.sio.connect(world.url, transports=["websocket"], headers={"Cookie": cookie},
                             wait_timeout=10)
    return client


async def scalar(world: SecurityWorld, query: Any) -> Any:
    async with world.sessions.begin() as db:
        return (await db.execute(query)).scalar_one()


async def stored_messages(world: SecurityWorld, conversation_id: str) -> int:
    return int(await scalar(world, select(func.count()).select_from(Message).where(
        Message.conversation_id == conversation_id, Message.kind == "message")))


async def audit_rows(world: SecurityWorld, action: str) -> list[AuditEvent]:
    async with world.sessions.begin() as db:
        rows = await db.execute(select(AuditEvent).where(AuditEvent.action == action))
        return list(rows.scalars())


def send(world: SecurityWorld, client: Client, role: str, conv: Any) -> Any:
    return client.call("message.send", {"conversation_id": conv.id,
                                        "envelope": world.message(role, conv)})


def sealed_note() -> str:
    """Stands for a note sealed to the site key (the server only sees base64url)."""
    return b64url_encode(prim.random_bytes(120))


async def test_block_stops_the_young_person_with_a_neutral_message(db_url: str) -> None:
    async with security_world(db_url) as world:
        conv = await world.fresh_conversation()
        young = await connect(world, "young_a", "de")
        young_ar = await connect(world, "young_a", "ar")
        counsellor = await connect(world, "counsellor_x")
        for client in (young, counsellor):
            assert (await client.call("conversation.join",
                                      {"conversation_id": conv.id, "after_seq": 0}))["ok"]
        assert (await send(world, young, "young_a", conv))["ok"]
        young_id = world.actors["young_a"].account_id
        typing = {"conversation_id": conv.id, "active": True}
        assert (await young.call("typing", typing))["ok"]  # reaches the counsellor ...
        await counsellor.wait_for("typing", lambda e: e["account_id"] == young_id)

        blocked = await counsellor.call("moderation.block",
                                        {"conversation_id": conv.id, "reason": "harassment"})
        assert blocked["ok"] and blocked["changed"], blocked
        assert blocked["block"]["reason"] == "harassment"
        assert blocked["conversation"]["status"] == "closed"
        # The young person learns only that the conversation ended (a neutral system event).
        event = await young.wait_for("message.new", lambda e: e["message"]["kind"] == "system"
                                     and e["message"]["system"]["code"] == "ended")
        assert event["message"]["system"]["params"] == {}
        await young.wait_for("conversation.updated",
                             lambda e: e["conversation"]["status"] == "closed")
        before = await stored_messages(world, conv.id)
        # ... but not once blocked; the young person's client is answered as usual.
        typed_before = len(counsellor.events["typing"])
        assert (await young.call("typing", typing))["ok"]
        for client, locale in ((young, "de"), (young_ar, "ar")):
            refused = await send(world, client, "young_a", conv)
            assert refused["ok"] is False and refused["code"] == "conversation_ended", refused
            assert refused["message"] == get_translator(locale).gettext(ENDED)
            for word in ("block", "report", "sperr", "meld"):
                assert word not in refused["message"].lower()
        # Also when the connection had not written here before (no cached access).
        fresh = await connect(world, "young_a")
        assert (await send(world, fresh, "young_a", conv))["code"] == "conversation_ended"
        assert await stored_messages(world, conv.id) == before  # nothing stored
        assert (await scalar(world, select(func.count()).select_from(ConversationBlock))) == 1
        # Reading the history still works; the young person can start a new enquiry.
        joined = await young.call("conversation.join", {"conversation_id": conv.id,
                                                        "after_seq": 0})
        assert joined["ok"] and joined["conversation"]["status"] == "closed"
        payload, _new = enquiry_payload(None, world.actors["young_a"].person(),  # type: ignore[arg-type]
                                        "Neue Frage", site_key=world.key_x)
        assert (await young.call("enquiry.create", payload))["ok"]
        # Blocking again changes nothing; the counsellor sees the block.
        again = await counsellor.call("moderation.block",
                                      {"conversation_id": conv.id, "reason": "spam"})
        assert again["ok"] and again["changed"] is False
        state = await counsellor.call("moderation.status", {"conversation_id": conv.id})
        assert state["ok"] and state["block"]["reason"] == "harassment"
        rows = await audit_rows(world, "account_blocked")
        assert len(rows) == 1
        assert rows[0].site_id == world.site_x
        assert rows[0].subject_id == world.actors["young_a"].account_id
        assert rows[0].actor_id == world.actors["counsellor_x"].account_id
        assert rows[0].details == {"scope": "conversation", "conversation_id": conv.id,
                                   "reason": "harassment"}

        # The site lead lifts the block: the young person can write again.
        lead = await connect(world, "lead_x")
        lifted = await lead.call("moderation.unblock", {"conversation_id": conv.id})
        assert lifted["ok"] and lifted["changed"], lifted
        await young.wait_for("message.new", lambda e: e["message"]["kind"] == "system"
                             and e["message"]["system"]["code"] == "reopened")
        # Room events reach the counsellor in the order they were emitted: once "reopened"
        # is there, a typing event emitted during the block would have arrived before it.
        await counsellor.wait_for("message.new", lambda e: e["message"]["kind"] == "system"
                                  and e["message"]["system"]["code"] == "reopened")
        assert len(counsellor.events["typing"]) == typed_before
        assert (await young.call("typing", typing))["ok"]  # unblocked: typing reaches again
        await counsellor.wait_for(
            "typing", lambda e: len(counsellor.events["typing"]) > typed_before)
        assert (await send(world, young, "young_a", conv))["ok"]
        assert await stored_messages(world, conv.id) == before + 1
        unblocked = await audit_rows(world, "account_unblocked")
        assert [r.site_id for r in unblocked] == [world.site_x]
        for client in (young, young_ar, counsellor, fresh, lead):
            await client.close()


async def test_report_and_site_block(db_url: str) -> None:
    async with security_world(db_url) as world:
        conv = await world.fresh_conversation(owner="young_b")
        counsellor = await connect(world, "counsellor_x")
        note = sealed_note()
        answer = await counsellor.call("moderation.report", {
            "conversation_id": conv.id, "reason": "threats", "sealed_note": note,
            "site_key_version": 1})
        assert answer["ok"], answer
        report = answer["report"]
        assert report["reason"] == "threats" and report["status"] == "open"
        assert report["sealed_note"] == note
        # A note needs its key version and the version must exist.
        for bad in ({"sealed_note": note}, {"sealed_note": note, "site_key_version": 9}):
            refused = await counsellor.call("moderation.report", {
                "conversation_id": conv.id, "reason": "other", **bad})
            assert refused["ok"] is False and refused["code"] == "invalid", refused
        plain = await counsellor.call("moderation.report",
                                      {"conversation_id": conv.id, "reason": "spam"})
        assert plain["ok"] and plain["report"]["sealed_note"] is None
        reported = await audit_rows(world, "account_reported")
        assert len(reported) == 2 and {r.site_id for r in reported} == {world.site_x}
        assert all("note" not in str(r.details) for r in reported)

        # Reports go to the site lead and admins, not to counsellors.
        listing = await world.request("GET", "/api/reports", role="lead_x")
        assert listing.status == 200, listing.body
        ids = [item["id"] for item in listing.body["items"]]
        assert report["id"] in ids and plain["report"]["id"] in ids
        item = next(i for i in listing.body["items"] if i["id"] == report["id"])
        assert item["nickname"] == world.actors["young_b"].nickname
        assert item["site_blocked"] is False
        assert (await world.request("GET", "/api/reports", role="admin")).status == 200
        for role in ("counsellor_x", "counsellor_y", "young_b"):
            assert (await world.request("GET", "/api/reports", role=role)).status == 403
        assert (await world.request("GET", "/api/reports")).status == 401

        # The lead blocks the account from new enquiries at the site.
        path = f"/api/reports/{report['id']}/resolve"
        done = await world.request("POST", path, role="lead_x", json={"action": "block_site"})
        assert done.status == 200, done.body
        assert done.body["report"]["status"] == "actioned"
        assert done.body["report"]["site_blocked"] is True
        young = await connect(world, "young_b", "ar")
        payload, _new = enquiry_payload(None, world.actors["young_b"].person(),  # type: ignore[arg-type]
                                        "Hallo", site_key=world.key_x)
        refused = await young.call("enquiry.create", payload)
        assert refused["ok"] is False and refused["code"] == "enquiry_not_possible", refused
        assert refused["message"] == get_translator("ar").gettext(NOT_HERE)
        site_blocks = [r for r in await audit_rows(world, "account_blocked")
                       if r.details.get("scope") == "site"]
        assert [r.site_id for r in site_blocks] == [world.site_x]
        # Unblock at the site: enquiries are possible again.
        undone = await world.request("POST", path, role="lead_x",
                                     json={"action": "unblock_site"})
        assert undone.status == 200 and undone.body["report"]["site_blocked"] is False
        assert (await young.call("enquiry.create", payload))["ok"]
        # Dismiss the other report.
        dismissed = await world.request("POST", f"/api/reports/{plain['report']['id']}/resolve",
                                        role="admin", json={"action": "dismiss"})
        assert dismissed.status == 200 and dismissed.body["report"]["status"] == "dismissed"
        closed = await world.request("GET", "/api/reports?state=closed", role="lead_x")
        assert {i["id"] for i in closed.body["items"]} == {report["id"], plain["report"]["id"]}
        opened = await world.request("GET", "/api/reports", role="lead_x")
        assert opened.body["items"] == []
        bad = await world.request("POST", path, role="lead_x", json={"action": "delete"})
        assert bad.status == 400
        for client in (counsellor, young):
            await client.close()


async def test_only_counsellors_of_the_site_can_block_or_report(db_url: str) -> None:
    async with security_world(db_url) as world:
        conv = await world.fresh_conversation()
        payloads = {
            "moderation.block": {"conversation_id": conv.id, "reason": "spam"},
            "moderation.unblock": {"conversation_id": conv.id},
            "moderation.report": {"conversation_id": conv.id, "reason": "spam"},
            "moderation.status": {"conversation_id": conv.id},
        }
        for role in ("counsellor_y", "young_a", "young_b", "admin"):
            client = await connect(world, role)
            for event, payload in payloads.items():
                answer = await client.call(event, payload)
                unknown = await client.call(event, {**payload, "conversation_id": random_id()})
                assert answer["ok"] is False and answer["code"] == "not_found", (role, event)
                assert answer == unknown  # a refusal reveals nothing about the conversation
            await client.close()
        assert (await scalar(world, select(func.count()).select_from(ConversationBlock))) == 0
        assert await audit_rows(world, "account_reported") == []
        # A report of site X is invisible to the counsellor of Y and cannot be resolved by them.
        counsellor = await connect(world, "counsellor_x")
        report = (await counsellor.call("moderation.report",
                                        {"conversation_id": conv.id, "reason": "hate"}))["report"]
        path = f"/api/reports/{report['id']}/resolve"
        for role in ("counsellor_y", "counsellor_x", "young_a"):
            refused = await world.request("POST", path, role=role, json={"action": "dismiss"})
            unknown = await world.request("POST", f"/api/reports/{random_id()}/resolve",
                                          role=role, json={"action": "dismiss"})
            assert refused.status == 404 and refused.body == unknown.body, role
        await counsellor.close()
        await asyncio.sleep(0)
