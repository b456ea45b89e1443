"""A small world for the security tests (issue #8): the authorization matrix, fuzzing and the
web security checks run against it.

One real server (aiohttp `TestServer` on a real port, socket.io attached) on a migrated
database, with a `FrozenClock`, and one account per role, made the way the product makes them:

* young people register over HTTP with real key material (`tests/account_material.py`);
* staff are invited through the accounts service, accept the invitation and confirm TOTP over
  HTTP, and get organisation-signed certificates (`store_certificates`), site key boxes sealed
  to their certified keys;
* every role then logs in over HTTP — after the clock was moved past the session lifetime, so
  the first session of young person A is an *expired* session;
* the *deleted* role logged in and deleted its account over HTTP; its cookie is kept.

Objects (conversations, canned responses) are made through the services with the same clock:
`fresh_conversation()` is young person A's enquiry at site X, claimed by the counsellor of X.
"""

from __future__ import annotations

import asyncio
import json as json_module
import logging
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from server.app import create_app
from server.config import AppConfig
from server.crypto import primitives as prim
from server.crypto.conversation import validate_envelope_shape, validate_key_share_shape
from server.crypto.encoding import b64url_encode
from server.crypto.keys import BLOB_LEN, generate_identity
from server.crypto.sites import SiteKey as CryptoSiteKey
from server.crypto.sites import create_site_key, seal_site_key
from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.keys import CLOCK, CONFIG, LIMITER, SESSIONS, SITE_DIRECTORY
from server.services import conversations as conversations_service
from server.services import enquiries
from server.services import queue as queue_service
from server.services.access import AccountContext
from server.services.accounts import Accounts
from server.services.clock import FrozenClock
from server.services.sessions import full_session_ttl, issue_session
from server.services.site_keys import find_pending, store_certificates
from server.services.sites import seed_topics
from server.storage.db import Sessions
from server.storage.models import Base, SiteKey, SiteKeyBox
from server.storage.repositories import accounts as accounts_repo
from tests.account_material import Material, b64, material
from tests.conftest import free_port, make_config
from tests.conversation_support import Client, Conv, Person, _site, encrypt, enquiry_payload

COOKIE = "jmdchat_session"
SLUG_X = "sec-online-x"  # the nationwide online team: gets enquiries without a location
SLUG_Y = "sec-trier-y"
#: Every role of the authorization matrix.
ROLES = (
    "anonymous", "young_a", "young_b", "counsellor_x", "counsellor_y", "lead_x", "admin",
    "deleted", "expired",
)
#: Roles with a live, full session (they can open a socket.io connection).
LIVE_ROLES = ("young_a", "young_b", "counsellor_x", "counsellor_y", "lead_x", "admin")
#: Roles that must be refused everywhere a session is needed.
NO_SESSION_ROLES = ("anonymous", "deleted", "expired")
YOUNG_ROLES = ("young_a", "young_b", "deleted", "expired")


@dataclass
class Actor:
    """An account of one role; `token` is the session cookie value (None: anonymous)."""

    role: str
    account_id: str = ""
    nickname: str = ""
    token: str | None = field(default=None, repr=False)
    material: Material | None = field(default=None, repr=False)
    display_name: str = ""
    totp_secret: str = field(default="", repr=False)

    def person(self) -> Person:
        assert self.material is not None and self.token is not None, self.role
        account_role = {"counsellor_x": "counsellor", "counsellor_y": "counsellor",
                        "lead_x": "site_lead", "admin": "admin"}.get(self.role, "young_person")
        return Person(self.account_id, self.nickname, account_role, self.token,
                      self.material.identity, self.display_name)

    def context(self) -> AccountContext:
        """Who this actor is, for calling services directly (set-up of objects)."""
        return AccountContext(account_id=self.account_id, role=self.person().role,
                              locale="de", session_id="security-test")


@dataclass
class Response:
    status: int
    body: Any  # parsed JSON, or the text when the answer is not JSON
    headers: Any
    cookies: Any


@dataclass
class SecurityWorld:
    url: str
    app: web.Application
    config: AppConfig
    clock: FrozenClock
    http: aiohttp.ClientSession
    site_x: str
    site_y: str
    key_x: CryptoSiteKey
    key_y: CryptoSiteKey
    actors: dict[str, Actor]
    invitation_token: str = field(repr=False)
    clients: dict[str, Client] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints the arguments of a failing example
        return f"SecurityWorld({self.url})"

    @property
    def sessions(self) -> Sessions:
        return self.app[SESSIONS]

    def accounts(self) -> Accounts:
        app = self.app
        return Accounts(app[SESSIONS], app[CONFIG], app[CLOCK], app[LIMITER])

    # --- HTTP ------------------------------------------------------------------------------

    async def request(
        self, method: str, path: str, *, role: str | None = None, token: str | None = None,
        json: Any = None, data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = {"Origin": self.url}
        if role is not None and token is None:
            token = self.actors[role].token
        if token is not None:
            all_headers["Cookie"] = f"{COOKIE}={token}"
        all_headers.update(headers or {})
        kwargs: dict[str, Any] = {"headers": all_headers}
        if json is not None:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
        async with self.http.request(method, self.url + path, allow_redirects=False,
                                     **kwargs) as response:
            raw = await response.read()
            body: Any
            try:
                body = json_module.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            return Response(response.status, body, response.headers, response.cookies)

    # --- socket.io -------------------------------------------------------------------------

    async def client(self, role: str) -> Client:
        """The role's connected socket.io client (one per role, reconnected when needed)."""
        client = self.clients.get(role)
        if client is None or not client.sio.connected:
            client = await Client(self.actors[role].person()).connect(self.url)
            self.clients[role] = client
        return client

    async def connect_refused(self, token: str | None, headers: dict[str, str] | None = None
                              ) -> bool:
        """Does the server refuse a socket.io connection with this cookie?"""
        sio = socketio.AsyncClient(reconnection=False)
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Cookie"] = f"{COOKIE}={token}"
        try:
            await sio.connect(self.url, headers=all_headers, transports=["websocket"],
                              wait_timeout=5)
        except socketio.exceptions.ConnectionError:
            return True
        await sio.disconnect()
        return False

    # --- objects, through the services -----------------------------------------------------

    async def fresh_conversation(self, *, claimed: bool = True, owner: str = "young_a"
                                 ) -> Conv:
        """Young person A's enquiry at site X (the online team), claimed by counsellor X."""
        person = self.actors[owner].person()
        payload, conv = enquiry_payload(None, person, "Hallo", site_key=self.key_x)  # type: ignore[arg-type]
        envelope = validate_envelope_shape(payload["first_message"])
        directory = await self.app[SITE_DIRECTORY].current(self.sessions)
        await enquiries.create_enquiry(
            self.sessions, self.clock, directory, self.actors[owner].context(),
            topic=payload["topic"], language=payload["language"], location=None,
            epoch_keys=[
                enquiries.EpochKeyIn(k["recipient"], k.get("site_key_version"),
                                     validate_key_share_shape(k["sealed"]))
                for k in payload["epoch_keys"]
            ],
            first_message=envelope, first_message_json=envelope.to_json(), site_id=None,
        )
        if claimed:
            await queue_service.claim(self.sessions, self.clock,
                                      self.actors["counsellor_x"].context(), conv.id,
                                      limit=10_000)
        return conv

    async def close(self, conversation_id: str, owner: str = "young_a") -> None:
        """Close (as its young person) so that the spam brake never counts it again."""
        with suppress(Exception):
            await conversations_service.close(self.sessions, self.clock,
                                              self.actors[owner].context(), conversation_id)

    async def fresh_canned(self, site_id: str | None = None) -> str:
        """A canned response of site X, saved by counsellor X."""
        item = await conversations_service.save_canned(
            self.sessions, self.clock, self.actors["counsellor_x"].context(), canned_id=None,
            site_id=site_id or self.site_x, language="de", sealed="c2VhbGVk",
            site_key_version=1,
        )
        return str(item["id"])

    def message(self, role: str, conv: Conv, text: str = "Hallo") -> dict[str, Any]:
        """An envelope from `role` for `conv` (real encryption with the conversation key;
        roles that do not hold the key could only guess one — the server cannot tell)."""
        return encrypt(self.actors[role].person(), conv, text)

    async def extra_session(self, role: str, *, age: timedelta = timedelta(0)) -> str:
        """Another full session of `role` (issued `age` ago), through the sessions service."""
        ttl = full_session_ttl(self.config.security.session_ttl_hours)
        async with self.sessions.begin() as db:
            issued = await issue_session(db, self.actors[role].account_id, "full",
                                         self.clock.now() - age, ttl)
        return issued.token

    async def row_counts(self) -> dict[str, int]:
        """Rows of every table, in one statement (cheap enough to run around each request)."""
        tables = Base.metadata.sorted_tables
        query = select(*(
            select(func.count()).select_from(table).scalar_subquery().label(table.name)
            for table in tables
        ))
        async with self.sessions.begin() as db:
            row = (await db.execute(query)).one()
        return {table.name: int(count) for table, count in zip(tables, row, strict=True)}


# --- building the world ---------------------------------------------------------------------


def fresh_identity_fields(nickname: str) -> dict[str, Any]:
    """Registration / invitation fields with fresh keys. The server cannot check key blobs or
    auth keys against a password (it never sees one), so random bytes of the right length are
    exactly what it would get from a browser — without deriving 600 000 PBKDF2 rounds."""
    identity = generate_identity()
    return {
        "nickname": nickname,
        "salt": b64(prim.random_bytes(16)),
        "iterations": 600_000,
        "auth_key": b64(prim.random_bytes(32)),
        "key_blob": b64(prim.random_bytes(BLOB_LEN)),
        "recovery_blob": b64(prim.random_bytes(BLOB_LEN)),
        "recovery_auth_key": b64(prim.random_bytes(32)),
        "x25519_public": b64(identity.x25519_public),
        "ed25519_public": b64(identity.ed25519_public),
        "locale": "de",
    }


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


async def _site_key(sessions: Sessions, site_id: str, now: datetime) -> CryptoSiteKey:
    key = create_site_key(site_id, 1)
    async with sessions.begin() as db:
        db.add(SiteKey(
            site_id=site_id, version=1, x25519_public=key.keys.x25519_public,
            ed25519_public=key.keys.ed25519_public, certificate=None,
            certificate_expires_at=None, created_by=None, created_at=now,
        ))
    return key


async def _register(world: SecurityWorld, role: str) -> None:
    actor = world.actors[role]
    actor.material = await asyncio.to_thread(material, f"security-{role}")
    actor.nickname = unique(role.replace("_", ""))
    response = await world.request("POST", "/api/auth/register",
                                   json=actor.material.register_body(actor.nickname))
    assert response.status == 201, response.body
    actor.account_id = response.body["account"]["id"]
    actor.token = response.cookies[COOKIE].value


async def _invite(world: SecurityWorld, role: str, account_role: str, slug: str | None,
                  display_name: str) -> None:
    actor = world.actors[role]
    actor.material = await asyncio.to_thread(material, f"security-{role}")
    actor.nickname = unique("staff" + role.split("_")[-1])  # "admin" itself is reserved
    actor.display_name = display_name
    invitation = await world.accounts().create_invitation(account_role, slug, display_name)
    response = await world.request(
        "POST", f"/api/invitations/{invitation.token}/accept",
        json=actor.material.accept_body(actor.nickname, display_name),
    )
    assert response.status == 200, response.body
    actor.account_id = response.body["account"]["id"]
    actor.totp_secret = response.body["totp_secret"]
    setup = response.cookies[COOKIE].value
    confirmed = await world.request("POST", "/api/auth/totp/confirm", token=setup,
                                    json={"code": _totp(world, actor)})
    assert confirmed.status == 200, confirmed.body


def _totp(world: SecurityWorld, actor: Actor) -> str:
    return totp_code(totp_secret_from_base32(actor.totp_secret), world.clock.now().timestamp())


async def _login(world: SecurityWorld, role: str) -> str:
    actor = world.actors[role]
    assert actor.material is not None
    body: dict[str, Any] = {"nickname": actor.nickname, "auth_key": b64(actor.material.auth_key)}
    if actor.totp_secret:
        body["totp_code"] = _totp(world, actor)
    response = await world.request("POST", "/api/auth/login", json=body)
    assert response.status == 200, response.body
    return str(response.cookies[COOKIE].value)


async def _seal_boxes(world: SecurityWorld) -> None:
    """The site keys, sealed to the certified keys of their counsellors (as a lead's browser
    would after certification)."""
    now = world.clock.now()
    members = [("counsellor_x", world.site_x, world.key_x), ("lead_x", world.site_x, world.key_x),
               ("counsellor_y", world.site_y, world.key_y)]
    async with world.sessions.begin() as db:
        for role, site_id, key in members:
            actor = world.actors[role]
            assert actor.material is not None
            row = await accounts_repo.get_site_key(db, site_id, 1)
            assert row is not None
            db.add(SiteKeyBox(site_key_id=row.id, account_id=actor.account_id,
                              sealed=seal_site_key(key, actor.material.identity.x25519_public),
                              sealed_by=world.actors["lead_x"].account_id, created_at=now))


@asynccontextmanager
async def security_world(database_url: str, **sections: dict[str, object]
                         ) -> AsyncIterator[SecurityWorld]:
    """Start the server on `database_url` (migrated, empty) and build the world in it."""
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    org_seed = prim.random_bytes(32)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings: dict[str, dict[str, object]] = {
        "server": {"public_url": url, "allowed_origins": (url,)},
        "security": {"org_public_key": b64url_encode(prim.ed25519_public(org_seed)),
                     "login_attempts_per_15min": 1000},
        "limits": {"max_open_conversations_per_counsellor": 10_000},
    }
    for name, values in sections.items():
        settings.setdefault(name, {}).update(values)
    config = make_config(database_url, **settings)
    # worker=1: the retention job (worker 0 only) must not delete rows under the tests' feet.
    app = create_app(config, clock=clock, worker=1)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
    world: SecurityWorld | None = None
    try:
        sessions = app[SESSIONS]
        await seed_topics(sessions)
        now = clock.now()
        site_x = await _site(sessions, SLUG_X, online=True, point=None,
                             languages=["de", "ar", "fa", "en"])
        site_y = await _site(sessions, SLUG_Y, online=False, point=(49.7557, 6.6394),
                             languages=["de", "ar"])
        key_x = await _site_key(sessions, site_x, now)
        key_y = await _site_key(sessions, site_y, now)
        app[SITE_DIRECTORY].invalidate()
        world = SecurityWorld(
            url=url, app=app, config=config, clock=clock, http=http, site_x=site_x,
            site_y=site_y, key_x=key_x, key_y=key_y,
            actors={role: Actor(role) for role in ROLES}, invitation_token="",
        )
        for role in ("young_a", "young_b", "deleted"):
            await _register(world, role)
        await _invite(world, "counsellor_x", "counsellor", SLUG_X, "Amira")
        await _invite(world, "counsellor_y", "counsellor", SLUG_Y, "Lena")
        await _invite(world, "lead_x", "site_lead", SLUG_X, "Selin")
        await _invite(world, "admin", "admin", None, "Admin")
        await store_certificates(sessions, org_seed, await find_pending(sessions, now), now)
        await _seal_boxes(world)

        # The expired role: young person A's first session, issued before the clock moves on.
        expired = world.actors["expired"]
        young_a = world.actors["young_a"]
        expired.account_id, expired.nickname = young_a.account_id, young_a.nickname
        expired.material, expired.token = young_a.material, young_a.token
        clock.advance(full_session_ttl(config.security.session_ttl_hours) + timedelta(hours=1))

        for role in LIVE_ROLES:
            world.actors[role].token = await _login(world, role)
        deleted = world.actors["deleted"]
        deleted.token = await _login(world, "deleted")
        assert deleted.material is not None
        gone = await world.request("DELETE", "/api/account", token=deleted.token,
                                   json={"auth_key": b64(deleted.material.auth_key)})
        assert gone.status == 200, gone.body
        world.invitation_token = (
            await world.accounts().create_invitation("counsellor", SLUG_X, "Neu")
        ).token
        yield world
    finally:
        for client in list(world.clients.values()) if world is not None else []:
            with suppress(Exception):
                await client.close()
        await http.close()
        await server.close()


# --- capturing what the server logs ---------------------------------------------------------


class ErrorLog(logging.Handler):
    """Collects ERROR records of the `jmdchat` loggers (unhandled exceptions end up there)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        found = [f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info
                 else f"{r.name}: {r.getMessage()}" for r in self.records]
        self.records.clear()
        return found


@asynccontextmanager
async def captured_errors(*names: str) -> AsyncIterator[ErrorLog]:
    handler = ErrorLog()
    loggers = [logging.getLogger(name) for name in (names or ("jmdchat",))]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


def metric_value(text: str, name: str) -> float:
    """Sum of a Prometheus metric's samples in the text exposition format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def random_id() -> str:
    return str(uuid.uuid4())


def sqlite_copy(template: Path, target: Path) -> str:
    target.write_bytes(template.read_bytes())
    return f"sqlite+aiosqlite:///{target}"

