"""Test support for chat rounds: a third young person, a server with a frozen clock, and a
protocol client that does what the browser client does (join, open key shares, re-key as a
moderator, encrypt and open round messages with the Python protocol implementation)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from server.app import create_app
from server.crypto.conversation import new_conversation_key
from server.crypto.encoding import b64url_decode
from server.crypto.rounds import (
    encrypt_round_message,
    open_round_envelope,
    open_round_key,
    seal_round_key,
)
from server.keys import SIO
from server.services.accounts import Accounts
from server.services.clock import FrozenClock, SystemClock
from server.services.rate_limit import SourceLimiter
from server.storage.db import create_engine, create_sessions
from tests.conftest import free_port, make_config
from tests.conversation_support import Client, Person, Running, _young, clear_tables

ROUND_TABLES = ("round_messages", "round_keys", "round_participants", "chat_rounds")
_EXTRA: dict[str, Person] = {}


async def clear_rounds(url: str) -> None:
    await clear_tables(url, ROUND_TABLES)


async def third_young(url: str, kind: str) -> Person:
    """A third young person in the world's database (made once per database)."""
    key = url if kind == "postgres" else "sqlite"
    person = _EXTRA.get(key)
    if person is not None and kind == "postgres":
        return person
    config = make_config(url)
    engine = create_engine(config.database)
    try:
        service = Accounts(create_sessions(engine), config, SystemClock(), SourceLimiter())
        person = await _young(service, "yp-c", f"yp-c-{uuid.uuid4().hex[:6]}")
    finally:
        await engine.dispose()
    _EXTRA[key] = person
    return person


@asynccontextmanager
async def clocked_server(database_url: str, clock: FrozenClock,
                         **sections: dict[str, object]) -> AsyncIterator[Running]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = make_config(database_url, server={"public_url": url, "allowed_origins": (url,)},
                         **sections)
    app = create_app(config, clock)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server(shutdown_timeout=2.0)
    try:
        yield Running(url, app, config)
    finally:
        sio = app[SIO]
        for _ in range(40):
            if not sio.eio.sockets:
                break
            await asyncio.sleep(0.05)
        await server.close()


async def http(method: str, base: str, path: str, person: Person,
               body: Any = None) -> tuple[int, dict[str, Any]]:
    headers = {"Cookie": f"jmdchat_session={person.token}", "Origin": base}
    async with aiohttp.ClientSession() as session, session.request(
        method, base + path, json=body, headers=headers
    ) as response:
        return response.status, await response.json()


async def schedule(base: str, counsellor: Person, site_id: str, *, starts_at: datetime,
                   minutes: int = 60, max_participants: int = 5, language: str = "ar",
                   topic: str = "Ausbildung finden") -> dict[str, Any]:
    status, data = await http("POST", base, "/api/rounds", counsellor, {
        "site_id": site_id, "topic": topic, "language": language,
        "starts_at": starts_at.isoformat(), "duration_minutes": minutes,
        "max_participants": max_participants,
    })
    assert status == 201, data
    return dict(data["round"])


@dataclass
class RoundPeer:
    """One participant's client state for one round."""

    client: Client
    round_id: str
    member_id: str = ""
    keys: dict[int, bytes] = field(default_factory=dict, repr=False)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)

    @property
    def person(self) -> Person:
        return self.client.person

    def resolver(self) -> Any:
        def resolve(member_id: str, _skid: str) -> bytes | None:
            member = self.members.get(member_id)
            return b64url_decode(member["ed25519_public"]) if member else None
        return resolve

    def _learn(self, ack: dict[str, Any]) -> None:
        self.members = {m["member_id"]: m for m in ack["members"]}
        if ack.get("me"):
            self.member_id = ack["me"]["member_id"]
        for item in ack.get("keys", []):
            self.open_share(item["sealed"])

    def open_share(self, sealed: dict[str, Any]) -> int:
        opened = open_round_key(sealed, round_id=self.round_id,
                                recipient_x25519_private=self.person.keys.x25519_private,
                                resolve_signing_key=self.resolver())
        self.keys[opened.epoch] = opened.key
        return opened.epoch

    async def join(self, rules: bool = True, after_seq: int = 0) -> dict[str, Any]:
        ack = await self.client.call("round.join", {"round_id": self.round_id,
                                                    "rules_accepted": rules,
                                                    "after_seq": after_seq})
        if ack.get("ok"):
            self._learn(ack)
            self.last = ack
        return ack

    async def take_keys(self) -> None:
        """Open every `round.key` event received so far (refresh members first)."""
        for event in list(self.client.events["round.members"]):
            if event["round_id"] == self.round_id:
                self.members = {m["member_id"]: m for m in event["members"]}
        for event in self.client.events["round.key"]:
            if event["round_id"] == self.round_id and event["epoch"] not in self.keys:
                self.open_share(event["sealed"])

    async def rekey(self, *, include: list[str] | None = None) -> dict[str, Any]:
        """As a moderator: create the next epoch and seal it to every active participant."""
        state = await self.join()
        assert state["ok"], state
        epoch = state["round"]["current_epoch"] + 1
        key = new_conversation_key()
        targets = [m for m in state["members"] if m["state"] in ("waiting", "admitted")]
        if include is not None:
            targets = [m for m in state["members"] if m["member_id"] in include]
        shares = [{
            "member_id": m["member_id"],
            "sealed": seal_round_key(
                round_id=self.round_id, epoch=epoch, key=key,
                recipient_x25519_public=b64url_decode(m["x25519_public"]),
                sender_member_id=self.member_id, signer=self.person.keys),
        } for m in targets]
        ack = await self.client.call("round.rekey", {"round_id": self.round_id,
                                                     "epoch": epoch, "shares": shares})
        if ack.get("ok"):
            self.keys[epoch] = key
        return ack

    def envelope(self, body: str, epoch: int | None = None) -> dict[str, Any]:
        epoch = epoch if epoch is not None else max(self.keys)
        return encrypt_round_message(
            round_id=self.round_id, epoch=epoch, epoch_key=self.keys[epoch],
            sender_member_id=self.member_id, signer=self.person.keys,
            message={"type": "text", "body": body, "sent_at": 1_767_000_000_000},
        )

    async def send(self, body: str, epoch: int | None = None) -> dict[str, Any]:
        return await self.client.call("round.send", {"round_id": self.round_id,
                                                     "envelope": self.envelope(body, epoch)})

    def read(self, envelope: dict[str, Any]) -> str:
        opened = open_round_envelope(envelope, round_id=self.round_id, epoch_keys=self.keys,
                                     resolve_signing_key=self.resolver())
        return str(opened.message["body"])

    async def wait_message(self, seq: int, within: float = 10) -> dict[str, Any]:
        event = await self.client.wait_for(
            "round.message",
            lambda e: e["round_id"] == self.round_id and e["message"]["seq"] == seq,
            within=within)
        return dict(event["message"])


def later(clock: FrozenClock, minutes: int) -> datetime:
    return clock.now() + timedelta(minutes=minutes)
