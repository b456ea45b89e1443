"""Optional mail to a site when its empty queue gets an enquiry (`[mail]`, off by default),
tested against a local SMTP server: the mail names the team and the login address — no
message content, no nickname, no id — and a second enquiry while the first waits sends none."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message as EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from server.keys import SESSIONS
from server.storage.models import Site
from tests.conftest import free_port
from tests.conversation_support import (
    Client,
    World,
    enquiry_payload,
    running_server,
    world_sqlite_fixture,  # noqa: F401  (fixture "world_sqlite")
)

TEAM = "queue-online@jmd.example"
SECRET = "Mein Geheimnis 4711"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


async def test_first_enquiry_in_an_empty_queue_mails_the_team(
    world_sqlite: tuple[str, World], inbox: tuple[Inbox, int]
) -> None:
    url, world = world_sqlite
    handler, port = inbox
    mail = {"enabled": True, "host": "127.0.0.1", "port": port, "sender": "chat@jmd.example"}
    async with running_server(url, mail=mail) as srv:
        async with srv.app[SESSIONS].begin() as db:
            await db.execute(update(Site).where(Site.id == world.online_site).values(email=TEAM))
        young = await Client(world.young).connect(srv.url)
        for text in (SECRET, f"{SECRET} (2)"):
            payload, conv = enquiry_payload(world, world.young, text)
            assert (await young.call("enquiry.create", payload))["ok"]
        for _ in range(100):
            if handler.messages:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a second mail would have arrived by now
        await young.close()
    assert len(handler.messages) == 1
    message = handler.messages[0]
    assert message["To"] == TEAM and message["From"] == "chat@jmd.example"
    body = message.get_payload(decode=True).decode()
    assert "Conv Test Online" in body and srv.url in body
    for secret in (SECRET, world.young.nickname, conv.id, world.young.id):
        assert secret not in body and secret not in str(message["Subject"])


async def test_no_mail_when_mail_is_off(
    world_sqlite: tuple[str, World], inbox: tuple[Inbox, int]
) -> None:
    url, world = world_sqlite
    handler, port = inbox
    async with running_server(url, mail={"port": port}) as srv:
        async with srv.app[SESSIONS].begin() as db:
            await db.execute(update(Site).where(Site.id == world.online_site).values(email=TEAM))
        young = await Client(world.young).connect(srv.url)
        payload, _conv = enquiry_payload(world, world.young, SECRET)
        assert (await young.call("enquiry.create", payload))["ok"]
        await asyncio.sleep(0.3)
        await young.close()
    assert handler.messages == []
