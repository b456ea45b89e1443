"""Safeguarding over socket.io on a real server (SQLite and PostgreSQL): a counsellor marks an
enquiry as urgent (risk to life) with `conversation.urgent`; it moves to the top of the site's
queue, the site lead and the site's counsellors are told live (the young person is not), the
waiting young people get their new places, an audit event records who/when/which (nothing
else), and with `[mail]` enabled the site's address gets a mail without any content. Only
counsellors of the conversation's site may mark it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, update

from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.keys import CONFIG, LIMITER, SESSIONS
from server.services.accounts import Accounts, delete_account_data
from server.services.clock import SystemClock
from server.services.sessions import resolve_session
from server.storage.db import Sessions
from server.storage.models import AuditEvent, Site
from server.storage.models.accounts import SCOPE_TOTP_SETUP
from tests.account_material import material
from tests.conftest import free_port
from tests.conversation_support import (
    ONLINE_SLUG,
    Client,
    Conv,
    Person,
    World,
    _identity,
    create_via_service,
    running_server,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
)

SITE_EMAIL = "team-online@jmd.example"


class Inbox:
    """An SMTP server on localhost that keeps what it receives."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox() -> AsyncIterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


async def make_lead(service: Accounts, sessions: Sessions) -> Person:
    """A site lead of the online team, through invitation, acceptance and TOTP."""
    m = material("urgent-lead")
    nickname = f"lead-{uuid.uuid4().hex[:6]}"
    invitation = await service.create_invitation("site_lead", ONLINE_SLUG, "Leitung",
                                                 nickname=nickname)
    accepted = await service.accept_invitation(invitation.token,
                                               _identity(m, nickname, "Leitung"))
    now = SystemClock().now()
    context = await resolve_session(sessions, accepted.session.token, now, SCOPE_TOTP_SETUP)
    assert context is not None
    code = totp_code(totp_secret_from_base32(accepted.totp_secret), now.timestamp())
    full = await service.confirm_totp(context, code, "test-lead")
    return Person(accepted.account["id"], nickname, "site_lead", full.session.token,
                  m.identity, "Leitung")


async def set_site_email(sessions: Sessions, site_id: str, email: str) -> None:
    async with sessions.begin() as db:
        await db.execute(update(Site).where(Site.id == site_id).values(email=email))


def ok(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["ok"] is True, answer
    return answer


async def queue_ids(client: Client) -> list[tuple[str, bool]]:
    items = ok(await client.call("queue.list", {}))["items"]
    return [(item["conversation_id"], item["urgent"]) for item in items]


async def audit_rows(sessions: Sessions, conversation_id: str) -> list[AuditEvent]:
    async with sessions.begin() as db:
        rows = await db.execute(
            select(AuditEvent).where(AuditEvent.subject_id == conversation_id)
            .order_by(AuditEvent.at)
        )
        return list(rows.scalars())


async def test_marking_urgent_sorts_notifies_audits_and_mails(
    world_db: tuple[str, World], inbox: tuple[Inbox, int],
) -> None:
    url, world = world_db
    received, smtp_port = inbox
    mail = {"enabled": True, "host": "127.0.0.1", "port": smtp_port,
            "sender": "jmdchat@jmd.example"}
    async with running_server(url, mail=mail) as server:
        sessions = server.app[SESSIONS]
        accounts = Accounts(sessions, server.app[CONFIG], SystemClock(), server.app[LIMITER])
        lead = await make_lead(accounts, sessions)
        await set_site_email(sessions, world.online_site, SITE_EMAIL)
        clients: list[Client] = []
        try:
            first = await create_via_service(sessions, world, world.young, "Erste Anfrage")
            second = await create_via_service(sessions, world, world.young2, "Zweite Anfrage")
            third: Conv = await create_via_service(sessions, world, world.young, "Dritte")
            counsellor, colleague, lead_client, young, other_site = clients[:] = [
                await Client(p).connect(server.url)
                for p in (world.counsellor, world.counsellor2, lead, world.young,
                          world.local_counsellor)
            ]
            assert await queue_ids(counsellor) == [
                (first.id, False), (second.id, False), (third.id, False)]
            started = datetime.now(UTC)

            marked = ok(await counsellor.call("conversation.urgent",
                                              {"conversation_id": third.id, "urgent": True}))
            assert marked["urgent"] is True and marked["changed"] is True

            # Urgent first in the queue, for everybody of the site.
            assert await queue_ids(colleague) == [
                (third.id, True), (first.id, False), (second.id, False)]
            # The lead and the colleagues are told live, with who marked it.
            for client in (lead_client, colleague):
                event = await client.wait_for("conversation.urgent",
                                              lambda e: e["conversation_id"] == third.id)
                assert event == {"conversation_id": third.id, "site_id": world.online_site,
                                 "urgent": True, "status": "waiting",
                                 "by_display_name": world.counsellor.display_name}
            # The young person's enquiry is now first in line, and that is all they learn.
            await young.wait_for("queue.position", lambda e: e["conversation_id"] == third.id
                                 and e["position"] == 1)
            await asyncio.sleep(0.3)
            assert "conversation.urgent" not in young.events
            assert "conversation.urgent" not in other_site.events

            # Audit: who, when, which conversation; nothing else.
            [row] = await audit_rows(sessions, third.id)
            assert (row.action, row.subject_type, row.actor_id, row.site_id, row.details) == (
                "conversation_marked_urgent", "conversation", world.counsellor.id,
                world.online_site, {})
            assert row.at >= started.replace(microsecond=0)

            # The mail says nothing but "log in".
            for _ in range(100):
                if received.messages:
                    break
                await asyncio.sleep(0.05)
            [mail_message] = received.messages
            assert mail_message["To"] == SITE_EMAIL
            body = mail_message.get_payload(decode=True).decode()
            assert server.url in body
            for secret in (third.id, world.young.id, world.young.nickname, "Dritte",
                           world.counsellor.display_name):
                assert secret not in body and secret not in str(mail_message["Subject"])

            # Again: nothing changes, nobody is told twice.
            again = ok(await counsellor.call("conversation.urgent",
                                             {"conversation_id": third.id, "urgent": True}))
            assert again["changed"] is False
            assert len(await audit_rows(sessions, third.id)) == 1

            # Not for young people, not for counsellors of another site.
            refused = await young.call("conversation.urgent",
                                       {"conversation_id": third.id, "urgent": False})
            assert refused["ok"] is False and refused["code"] == "forbidden"
            refused = await other_site.call("conversation.urgent",
                                            {"conversation_id": third.id, "urgent": False})
            assert refused["ok"] is False and refused["code"] == "not_found"
            invalid = await counsellor.call("conversation.urgent",
                                            {"conversation_id": third.id, "urgent": "yes"})
            assert invalid["ok"] is False and invalid["code"] == "invalid"

            # Clearing the mark restores the order and is audited too; no mail for that.
            ok(await lead_client.call("conversation.urgent",
                                      {"conversation_id": third.id, "urgent": False}))
            assert await queue_ids(counsellor) == [
                (first.id, False), (second.id, False), (third.id, False)]
            assert [r.action for r in await audit_rows(sessions, third.id)] == [
                "conversation_marked_urgent", "conversation_urgent_removed"]
            await asyncio.sleep(0.2)
            assert len(received.messages) == 1
        finally:
            for client in clients:
                await client.close()
            # The PostgreSQL world is shared by the session: leave it as it was.
            await set_site_email(sessions, world.online_site, "")
            async with sessions.begin() as db:
                await delete_account_data(db, lead.id)
