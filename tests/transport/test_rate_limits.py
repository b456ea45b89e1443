"""Abuse limits (issue #8, `[rate_limits]`): registrations per source, enquiries per account
and day, messages per account and per connection, every socket.io event per connection.

Through the real server (socket.io clients, HTTP) on a frozen, injected clock: each limit
triggers exactly at its configured number with a translated refusal (de and ar) that carries
`retry_after`; nothing beyond the limit is stored; other clients go on; nobody is
disconnected; after the window the same client is served again (the clock moves, nobody
sleeps).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from server.i18n import get_translator
from server.storage.models import Account, Conversation, Message
from tests.conversation_support import Client, enquiry_payload
from tests.security_support import SecurityWorld, fresh_identity_fields, security_world, unique

pytestmark = pytest.mark.asyncio

MESSAGE_TOO_FAST = (
    "You are sending messages very quickly. Your message will be sent in {seconds} s."
)
EVENTS_TOO_FAST = "Too many requests at once. Please wait {seconds} s and try again."
TOO_MANY_ATTEMPTS = "Too many attempts. Please wait {minutes} min and try again."
TOO_MANY_ENQUIRIES = (
    "You have started many enquiries today. Please continue in one of your "
    "conversations, or try again in {hours} h."
)


def limits(**values: object) -> dict[str, object]:
    base: dict[str, object] = {
        "enabled": True,
        "registrations_per_source_per_hour": 1000,
        "enquiries_per_account_per_day": 1000,
        "messages_per_account_per_minute": 1000,
        "messages_per_connection_per_10s": 1000,
        "events_per_connection_per_10s": 1000,
    }
    base.update(values)
    return base


async def connect(world: SecurityWorld, role: str, locale: str) -> Client:
    """A socket.io client of `role` whose connection speaks `locale` (language cookie)."""
    client = Client(world.actors[role].person())
    cookie = f"jmdchat_session={world.actors[role].token}; jmdchat_locale={locale}"
    await client.sio.connect(world.url, transports=["websocket"], headers={"Cookie": cookie},
                             wait_timeout=10)
    return client


async def count(world: SecurityWorld, query: Any) -> int:
    async with world.sessions.begin() as db:
        return int((await db.execute(query)).scalar_one())


async def messages_in(world: SecurityWorld, conversation_id: str) -> int:
    return await count(world, select(func.count()).select_from(Message).where(
        Message.conversation_id == conversation_id, Message.kind == "message"))


def assert_refused(answer: dict[str, Any], locale: str, message: str, **params: object) -> None:
    assert answer["ok"] is False, answer
    assert answer["code"] == "rate_limited", answer
    assert isinstance(answer["retry_after"], int) and answer["retry_after"] >= 1, answer
    assert answer["message"] == get_translator(locale).gettext(message, **params), answer


async def test_messages_per_connection_and_per_account(db_url: str) -> None:
    async with security_world(db_url, rate_limits=limits(
        messages_per_connection_per_10s=3, messages_per_account_per_minute=5,
    )) as world:
        conv = await world.fresh_conversation()
        other = await world.fresh_conversation(owner="young_b")
        de = await connect(world, "young_a", "de")
        ar = await connect(world, "young_a", "ar")
        bystander = await connect(world, "young_b", "de")
        counsellor = await connect(world, "counsellor_x", "de")
        base = await messages_in(world, conv.id)

        def send(client: Client, role: str = "young_a", target: Any = conv) -> Any:
            return client.call("message.send", {
                "conversation_id": target.id, "envelope": world.message(role, target)})

        # Per connection: the 4th message within 10 s is refused (3 per 10 s).
        for _ in range(3):
            assert (await send(de))["ok"]
        refused = await send(de)
        assert_refused(refused, "de", MESSAGE_TOO_FAST, seconds=refused["retry_after"])
        assert refused["retry_after"] <= 10
        assert await messages_in(world, conv.id) == base + 3
        # The same account on another connection: 2 more until the account's 5 per minute.
        for _ in range(2):
            assert (await send(ar))["ok"]
        refused_ar = await send(ar)
        assert_refused(refused_ar, "ar", MESSAGE_TOO_FAST, seconds=refused_ar["retry_after"])
        assert refused_ar["message"] != refused["message"] or (
            get_translator("ar").gettext(MESSAGE_TOO_FAST) == MESSAGE_TOO_FAST
        )
        assert await messages_in(world, conv.id) == base + 5
        # Nobody else is affected, nobody was disconnected.
        assert (await send(bystander, "young_b", other))["ok"]
        assert (await send(counsellor, "counsellor_x"))["ok"]
        assert de.sio.connected and ar.sio.connected
        assert (await de.call("server.info"))["ok"]

        # Recovery: 10 s later the connection has room again, but the account does not yet.
        world.clock.advance(timedelta(seconds=10))
        assert (await send(de))["code"] == "rate_limited"
        # A minute after the burst the account is served again.
        world.clock.advance(timedelta(seconds=50))
        assert (await send(de))["ok"]
        assert (await send(ar))["ok"]
        assert await messages_in(world, conv.id) == base + 8
        for client in (de, ar, bystander, counsellor):
            await client.close()


async def test_event_budget_per_connection(db_url: str) -> None:
    async with security_world(db_url, rate_limits=limits(events_per_connection_per_10s=5)
                              ) as world:
        conv = await world.fresh_conversation()
        spammer = await connect(world, "young_a", "ar")
        calm = await connect(world, "young_a", "de")
        counsellor = await connect(world, "counsellor_x", "de")
        await counsellor.call("conversation.join", {"conversation_id": conv.id, "after_seq": 0})
        typing = {"conversation_id": conv.id, "active": True}
        for _ in range(4):
            assert (await spammer.call("typing", typing))["ok"]
        assert (await spammer.call("server.info"))["ok"]  # the 5th event
        # Any event beyond the budget — typing, lists, unknown names — is refused unrun.
        for event, payload in (("typing", typing), ("conversation.list", {}),
                               ("no.such.event", {})):
            refused = await spammer.call(event, payload)
            assert_refused(refused, "ar", EVENTS_TOO_FAST, seconds=refused["retry_after"])
        await asyncio.sleep(0.2)
        assert len(counsellor.events["typing"]) == 4  # the refused typing never went out
        # Other connections (even of the same account) have their own budget.
        assert (await calm.call("conversation.list", {}))["ok"]
        assert spammer.sio.connected
        world.clock.advance(timedelta(seconds=2))  # one event back (5 per 10 s)
        assert (await spammer.call("server.info"))["ok"]
        assert (await spammer.call("server.info"))["code"] == "rate_limited"
        world.clock.advance(timedelta(seconds=10))
        for _ in range(5):
            assert (await spammer.call("server.info"))["ok"]
        for client in (spammer, calm, counsellor):
            await client.close()


async def test_registrations_per_source(db_url: str) -> None:
    # Building the world registers 3 young people from this address, then moves the clock on
    # by more than the session lifetime: the hour starts afresh here.
    async with security_world(db_url, rate_limits=limits(registrations_per_source_per_hour=5)
                              ) as world:
        accounts = select(func.count()).select_from(Account)
        for _ in range(5):
            done = await world.request("POST", "/api/auth/register",
                                       json=fresh_identity_fields(unique("neu")))
            assert done.status == 201, done.body
        before = await count(world, accounts)
        for locale in ("de", "ar"):
            refused = await world.request(
                "POST", "/api/auth/register", json=fresh_identity_fields(unique("neu")),
                headers={"Accept-Language": locale},
            )
            assert refused.status == 429, refused.body
            retry = int(refused.headers["Retry-After"])
            assert retry == 720 and refused.body["retry_after"] == retry  # 1 h / 5
            assert refused.body["code"] == "rate_limited"
            minutes = -(-retry // 60)
            expected = get_translator(locale).gettext(TOO_MANY_ATTEMPTS, minutes=minutes)
            assert refused.body["message"] == expected
            assert expected != TOO_MANY_ATTEMPTS.format(minutes=minutes)  # really translated
        assert await count(world, accounts) == before  # nothing stored
        # Login and everything else still work for existing accounts.
        assert (await world.request("GET", "/api/auth/me", role="young_a")).status == 200
        world.clock.advance(timedelta(hours=1))
        again = await world.request("POST", "/api/auth/register",
                                    json=fresh_identity_fields(unique("neu")))
        assert again.status == 201, again.body


async def test_enquiries_per_account_and_day(db_url: str) -> None:
    async with security_world(db_url, rate_limits=limits(enquiries_per_account_per_day=2)
                              ) as world:
        clients = [await connect(world, "young_b", "ar")]
        person = world.actors["young_b"].person()

        async def create() -> dict[str, Any]:
            client = clients[-1]
            payload, _conv = enquiry_payload(None, person, "Hallo",  # type: ignore[arg-type]
                                             site_key=world.key_x)
            return await client.call("enquiry.create", payload)

        mine = select(func.count()).select_from(Conversation).where(
            Conversation.young_person_id == person.id)
        assert (await create())["ok"]
        world.clock.advance(timedelta(hours=3))
        assert (await create())["ok"]
        refused = await create()
        # The oldest of the two leaves the 24-hour window in 21 hours.
        assert refused["ok"] is False and refused["code"] == "rate_limited", refused
        assert refused["retry_after"] == 21 * 3600
        assert refused["message"] == get_translator("ar").gettext(TOO_MANY_ENQUIRIES, hours=21)
        assert await count(world, mine) == 2
        # Another young person is not affected.
        assert (await world.fresh_conversation()) is not None
        assert clients[0].sio.connected
        await clients[0].close()
        world.clock.advance(timedelta(hours=21))
        # (a new session: the old one ended with the 12-hour session lifetime)
        world.actors["young_b"].token = await world.extra_session("young_b")
        clients.append(await connect(world, "young_b", "de"))
        assert (await create())["ok"]
        assert await count(world, mine) == 3
        await clients[-1].close()


async def test_disabled_limits_do_not_count(db_url: str) -> None:
    async with security_world(db_url, rate_limits=limits(
        enabled=False, messages_per_connection_per_10s=1, events_per_connection_per_10s=1,
    )) as world:
        conv = await world.fresh_conversation()
        client = await connect(world, "young_a", "de")
        for _ in range(3):
            assert (await client.call("message.send", {
                "conversation_id": conv.id, "envelope": world.message("young_a", conv)}))["ok"]
        await client.close()
