"""Test support for the conversation area: a small world of sites, site keys and accounts
made through the accounts service (real PBKDF2 material, real scrypt, invitation + TOTP for
counsellors), a real server on a real port, socket.io clients, and messages encrypted with the
Python protocol implementation exactly as a browser would.

Making accounts is slow on purpose (scrypt, PBKDF2), so each database gets its world once:
SQLite from a session template copied per test, PostgreSQL by building into the session
database and deleting only the conversation tables between tests.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import socketio
from aiohttp.test_utils import TestServer
from sqlalchemy import select, text

from server.app import create_app
from server.config import AppConfig
from server.crypto import primitives as prim
from server.crypto.conversation import (
    encrypt_message,
    new_conversation_key,
    open_conversation_key,
    open_envelope,
    seal_conversation_key,
)
from server.crypto.keys import KeyPairs
from server.crypto.sites import SiteKey as CryptoSiteKey
from server.crypto.sites import create_site_key
from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.keys import SIO
from server.services.accounts import Accounts, NewIdentity, NewPassword
from server.services.clock import SystemClock
from server.services.rate_limit import SourceLimiter
from server.services.sessions import resolve_session
from server.services.site_keys import find_pending, store_certificates
from server.services.sites import seed_topics
from server.storage import migrate
from server.storage.db import Sessions, create_engine, create_sessions
from server.storage.models import Account, Site, SiteKey
from server.storage.models.accounts import SCOPE_TOTP_SETUP
from tests.account_material import Material, material
from tests.conftest import free_port, make_config

CONVERSATION_TABLES = (
    "messages", "conversation_keys", "conversation_members", "conversation_notes",
    "canned_responses", "counsellor_status", "conversations",
)
ONLINE_SLUG = "conv-test-online"
LOCAL_SLUG = "conv-test-trier"


@dataclass(frozen=True)
class Person:
    id: str
    nickname: str
    role: str
    token: str = field(repr=False)
    keys: KeyPairs = field(repr=False)
    display_name: str = ""


@dataclass(frozen=True)
class World:
    online_site: str  # the nationwide online team (gets enquiries without a location)
    local_site: str  # JMD Trier (54290)
    online_key: CryptoSiteKey
    local_key: CryptoSiteKey
    young: Person
    young2: Person
    counsellor: Person  # online team
    counsellor2: Person  # online team
    local_counsellor: Person  # Trier: another site


# --- building the world through the services ---------------------------------------------------


def _identity(m: Material, nickname: str, display_name: str = "") -> NewIdentity:
    return NewIdentity(
        nickname=nickname,
        password=NewPassword(m.salt, m.iterations, m.auth_key, m.key_blob),
        recovery_blob=m.recovery_blob, recovery_auth_key=m.recovery_auth_key,
        x25519_public=m.identity.x25519_public, ed25519_public=m.identity.ed25519_public,
        locale="de", age_group="15-17" if not display_name else None, display_name=display_name,
    )


async def _site(sessions: Sessions, slug: str, *, online: bool, point: tuple[float, float] | None,
                languages: list[str]) -> str:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with sessions.begin() as db:
        site = Site(
            slug=slug, name=slug.replace("-", " ").title(), provider="", street="",
            postcode="54290" if point else "", city="Trier" if point else "Online", state="",
            latitude=point[0] if point else None, longitude=point[1] if point else None,
            languages=languages, topics=[], opening_hours={}, runs_quartier=False,
            takes_online=True, is_online_team=online, phone="", email="", website="",
            active=True, created_at=now, updated_at=now,
        )
        db.add(site)
        await db.flush()
        return site.id


async def _site_key(sessions: Sessions, site_id: str) -> CryptoSiteKey:
    key = create_site_key(site_id, 1)
    async with sessions.begin() as db:
        db.add(SiteKey(
            site_id=site_id, version=1, x25519_public=key.keys.x25519_public,
            ed25519_public=key.keys.ed25519_public, certificate=None,
            certificate_expires_at=None, created_by=None, created_at=datetime.now(UTC),
        ))
    return key


async def _young(service: Accounts, name: str, nickname: str) -> Person:
    m = await asyncio.to_thread(material, name)
    result = await service.register(_identity(m, nickname), source=f"test-{nickname}")
    return Person(result.account["id"], nickname, "young_person", result.session.token,
                  m.identity)


async def _counsellor(service: Accounts, sessions: Sessions, name: str, nickname: str,
                      site_slug: str, display_name: str) -> Person:
    m = await asyncio.to_thread(material, name)
    invitation = await service.create_invitation("counsellor", site_slug, display_name,
                                                 nickname=nickname)
    accepted = await service.accept_invitation(invitation.token,
                                               _identity(m, nickname, display_name))
    clock = SystemClock()
    context = await resolve_session(sessions, accepted.session.token, clock.now(),
                                    SCOPE_TOTP_SETUP)
    assert context is not None
    secret = totp_secret_from_base32(accepted.totp_secret)
    full = await service.confirm_totp(context, totp_code(secret, clock.now().timestamp()),
                                      f"test-{nickname}")
    return Person(accepted.account["id"], nickname, "counsellor", full.session.token,
                  m.identity, display_name)


async def build_world(url: str) -> World:
    config = make_config(url)
    engine = create_engine(config.database)
    sessions = create_sessions(engine)
    try:
        await seed_topics(sessions)
        online = await _site(sessions, ONLINE_SLUG, online=True, point=None,
                             languages=["de", "ar", "fa", "en"])
        local = await _site(sessions, LOCAL_SLUG, online=False, point=(49.7557, 6.6394),
                            languages=["de", "ar"])
        online_key = await _site_key(sessions, online)
        local_key = await _site_key(sessions, local)
        service = Accounts(sessions, config, SystemClock(), SourceLimiter())
        tag = uuid.uuid4().hex[:6]
        young = await _young(service, "yp-a", f"yp-a-{tag}")
        young2 = await _young(service, "yp-b", f"yp-b-{tag}")
        counsellor = await _counsellor(service, sessions, "co-a", f"co-a-{tag}", ONLINE_SLUG,
                                       "Amira")
        counsellor2 = await _counsellor(service, sessions, "co-b", f"co-b-{tag}", ONLINE_SLUG,
                                        "Jonas")
        local_counsellor = await _counsellor(service, sessions, "co-c", f"co-c-{tag}",
                                             LOCAL_SLUG, "Lena")
        now = datetime.now(UTC)
        org_seed = prim.random_bytes(32)
        await store_certificates(sessions, org_seed, await find_pending(sessions, now), now)
        return World(online, local, online_key, local_key, young, young2, counsellor,
                     counsellor2, local_counsellor)
    finally:
        await engine.dispose()


_WORLDS: dict[str, World] = {}
_SQLITE_TEMPLATES: dict[str, Path] = {}


async def clear_tables(url: str, tables: tuple[str, ...]) -> None:
    """Delete every row of `tables` (in this order: children first)."""
    engine = create_engine(make_config(url).database)
    try:
        async with engine.begin() as connection:
            for table in tables:
                await connection.execute(text(f"DELETE FROM {table}"))
    finally:
        await engine.dispose()


async def clear_conversations(url: str) -> None:
    await clear_tables(url, CONVERSATION_TABLES)


async def _world_present(url: str, world: World) -> bool:
    engine = create_engine(make_config(url).database)
    try:
        async with create_sessions(engine).begin() as db:
            found = await db.execute(select(Account.id).where(Account.id == world.young.id))
            return found.scalar_one_or_none() is not None
    finally:
        await engine.dispose()


async def world_for(kind: str, url_or_tmp: str, tmp_path: Path, template_dir: Path) -> tuple[
    str, World
]:
    """A database with the world in it and no conversations: (url, world)."""
    if kind == "sqlite":
        template = _SQLITE_TEMPLATES.get("sqlite")
        if template is None:
            template = template_dir / "world.db"
            migrate.upgrade(f"sqlite+aiosqlite:///{template}")
            _WORLDS["sqlite"] = await build_world(f"sqlite+aiosqlite:///{template}")
            _SQLITE_TEMPLATES["sqlite"] = template
        target = tmp_path / "conv.db"
        shutil.copyfile(template, target)
        return f"sqlite+aiosqlite:///{target}", _WORLDS["sqlite"]
    url = url_or_tmp
    world = _WORLDS.get(url)
    if world is None or not await _world_present(url, world):
        from tests.conftest import _truncate_all

        await _truncate_all(url)
        world = _WORLDS[url] = await build_world(url)
    await clear_conversations(url)
    return url, world


# --- a real server ------------------------------------------------------------------------------


@dataclass
class Running:
    url: str
    app: Any
    config: AppConfig


@asynccontextmanager
async def running_server(database_url: str, **sections: dict[str, object]) -> AsyncIterator[
    Running
]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = make_config(
        database_url,
        server={"public_url": url, "allowed_origins": (url,)},
        **sections,
    )
    app = create_app(config)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server(shutdown_timeout=2.0)
    try:
        yield Running(url, app, config)
    finally:
        # Let the server see the clients' closes first: aiohttp otherwise waits out the
        # shutdown timeout for websocket handlers that are just finishing.
        sio = app[SIO]
        for _ in range(40):
            if not sio.eio.sockets:
                break
            await asyncio.sleep(0.05)
        await server.close()


# --- socket clients -------------------------------------------------------------------------------


class Client:
    """A socket.io client that records every server event."""

    def __init__(self, person: Person) -> None:
        self.person = person
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._changed = asyncio.Event()
        self.sio.on("*", self._record)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events[event].append(data)
        self._changed.set()

    async def connect(self, url: str) -> Client:
        cookie = f"jmdchat_session={self.person.token}"
        await self.sio.connect(url, transports=["websocket"], headers={"Cookie": cookie},
                               wait_timeout=10)
        return self

    async def call(self, event: str, payload: Any = None, within: float = 20) -> dict[str, Any]:
        args = payload if payload is not None else {}
        result = await self.sio.call(event, args, timeout=within)
        assert isinstance(result, dict), result
        return result

    async def wait_for(
        self, event: str, predicate: Callable[[dict[str, Any]], bool] = lambda _e: True,
        within: float = 10,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for item in self.events[event]:
                if predicate(item):
                    return item
            remaining = deadline - loop.time()
            if remaining <= 0:
                counts = {name: len(items) for name, items in self.events.items()}
                raise TimeoutError(f"no matching {event} event; events so far: {counts}")
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


# --- encryption as the browser does it -----------------------------------------------------------


@dataclass
class Conv:
    """A conversation as one client knows it: id and epoch-1 key."""

    id: str
    key: bytes = field(repr=False)


def enquiry_payload(
    world: World, person: Person, text_: str, *, site_key: CryptoSiteKey | None = None,
    topic: str = "school", language: str = "ar", location: str | None = None,
) -> tuple[dict[str, Any], Conv]:
    """What the client sends for `enquiry.create` (after `GET /api/route`)."""
    site_key = site_key or world.online_key
    conv = Conv(str(uuid.uuid4()), new_conversation_key())
    shares = [
        {"recipient": "self", "sealed": seal_conversation_key(
            conversation_id=conv.id, epoch=1, key=conv.key,
            recipient_x25519_public=person.keys.x25519_public, sender_id=person.id,
            signer=person.keys)},
        {"recipient": "site", "site_key_version": site_key.key_version,
         "sealed": seal_conversation_key(
             conversation_id=conv.id, epoch=1, key=conv.key,
             recipient_x25519_public=site_key.keys.x25519_public, sender_id=person.id,
             signer=person.keys)},
    ]
    payload: dict[str, Any] = {
        "topic": topic, "language": language, "epoch_keys": shares,
        "first_message": encrypt(person, conv, text_),
    }
    if location is not None:
        payload["location"] = location
    return payload, conv


def encrypt(person: Person, conv: Conv, text_: str, mid: str | None = None) -> dict[str, Any]:
    return dict(encrypt_message(
        conversation_id=conv.id, epoch=1, epoch_key=conv.key, sender_id=person.id,
        signer=person.keys, message={"type": "text", "body": text_, "sent_at": 1_767_000_000_000},
        mid=mid,
    ))


def signing_resolver(*people: Person) -> Callable[[str, str], bytes | None]:
    keys = {p.id: p.keys.ed25519_public for p in people}

    def resolve(account_id: str, _skid: str) -> bytes | None:
        return keys.get(account_id)

    return resolve


def open_site_share(site_key: CryptoSiteKey, share: dict[str, Any], conversation_id: str,
                    *people: Person) -> bytes:
    """A counsellor opens the epoch key sealed to the site key (verifying the signature)."""
    return open_conversation_key(
        share, conversation_id=conversation_id,
        recipient_x25519_private=site_key.keys.x25519_private,
        resolve_signing_key=signing_resolver(*people),
    ).key


def read(envelope: dict[str, Any], conv: Conv, *people: Person) -> str:
    opened = open_envelope(envelope, conversation_id=conv.id, epoch_keys={1: conv.key},
                           resolve_signing_key=signing_resolver(*people))
    return str(opened.message["body"])


# --- fixtures (import them into a test module under their fixture names) -------------------------

import pytest  # noqa: E402


@pytest.fixture(name="world_db", params=["sqlite", "postgres"])
async def world_db_fixture(
    request: pytest.FixtureRequest, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, World]:
    """(database url, world) on SQLite and on PostgreSQL, without conversations."""
    if request.param == "sqlite":
        return await world_for("sqlite", "", tmp_path, tmp_path_factory.getbasetemp())
    url = request.getfixturevalue("postgres_url")
    return await world_for("postgres", url, tmp_path, tmp_path_factory.getbasetemp())


@pytest.fixture(name="world_sqlite")
async def world_sqlite_fixture(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, World]:
    """(database url, world) on SQLite only."""
    return await world_for("sqlite", "", tmp_path, tmp_path_factory.getbasetemp())


# --- conversations through the services (no socket) ----------------------------------------------


def context_of(person: Person) -> Any:
    from server.services.access import AccountContext

    return AccountContext(account_id=person.id, role=person.role, locale="de", session_id="test")


async def create_via_service(
    sessions: Sessions, world: World, person: Person, text_: str, *, directory: Any = None,
    **kwargs: Any,
) -> Conv:
    """An enquiry stored through `enquiries.create_enquiry` (what the socket handler calls)."""
    from server.crypto.conversation import validate_envelope_shape, validate_key_share_shape
    from server.services import enquiries
    from server.services.sites import SiteDirectory

    payload, conv = enquiry_payload(world, person, text_, **kwargs)
    if directory is None:
        directory = await SiteDirectory().current(sessions)
    envelope = validate_envelope_shape(payload["first_message"])
    await enquiries.create_enquiry(
        sessions, SystemClock(), directory, context_of(person),
        topic=payload["topic"], language=payload["language"],
        location=payload.get("location"),
        epoch_keys=[
            enquiries.EpochKeyIn(k["recipient"], k.get("site_key_version"),
                                 validate_key_share_shape(k["sealed"]))
            for k in payload["epoch_keys"]
        ],
        first_message=envelope, first_message_json=envelope.to_json(), site_id=None,
    )
    return conv


async def claim_via_service(sessions: Sessions, person: Person, conv: Conv,
                            limit: int = 1000) -> None:
    from server.services import queue

    await queue.claim(sessions, SystemClock(), context_of(person), conv.id, limit=limit)


async def create_many(sessions: Sessions, world: World, person: Person, n: int) -> list[Conv]:
    """`n` waiting enquiries to the online team, stored in ONE transaction with the same rows
    `enquiry.create` writes (test set-up for the races: the enquiry path has its own tests)."""
    from datetime import timedelta

    from server.storage.models import Conversation, ConversationKey, ConversationMember, Message

    start = datetime.now(UTC)
    convs: list[Conv] = []
    async with sessions.begin() as db:
        for i in range(n):
            payload, conv = enquiry_payload(world, person, f"Anfrage {i}")
            convs.append(conv)
            now = start + timedelta(microseconds=i)  # distinct, increasing queue order
            db.add(Conversation(
                id=conv.id, young_person_id=person.id, site_id=world.online_site,
                counsellor_id=None, status="waiting", topic="school", language="ar",
                route_reason={"code": "online_team", "params": {}}, postcode_prefix=None,
                current_epoch=1, last_seq=1, created_at=now, claimed_at=None,
                first_response_at=None, last_activity_at=now, closed_at=None, urgent=False,
                handed_over_from_site_id=None,
            ))
            await db.flush()
            db.add(ConversationMember(
                conversation_id=conv.id, account_id=person.id, role="young_person",
                from_epoch=1, until_epoch=None, last_read_seq=1, active=True, joined_at=now,
            ))
            for share in payload["epoch_keys"]:
                site = share["recipient"] == "site"
                db.add(ConversationKey(
                    conversation_id=conv.id, epoch=1, recipient_kind="site" if site else "account",
                    recipient_id=world.online_site if site else person.id,
                    site_key_version=1 if site else None, sealed=share["sealed"], created_at=now,
                ))
            db.add(Message(
                conversation_id=conv.id, seq=1, mid=payload["first_message"]["mid"],
                sender_id=person.id, epoch=1, kind="message", envelope=payload["first_message"],
                system_code=None, system_params=None, created_at=now,
            ))
    return convs
