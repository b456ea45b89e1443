"""Ending a session disconnects its sockets on EVERY server process (issues #3, #8).

Two real `jmdchat serve` processes (A and B, own ports) share one PostgreSQL database (a
database of its own for this module) and Redis (a channel of its own). The socket clients are
raw python-socketio clients that record every event and IGNORE `session.ended` — a modified
client. Before, only the connections on the process that handled the HTTP request were
disconnected by the server; on the other process the connection stayed, with all its rooms
(conversations, queues, rounds), until the client chose to leave.

* Logging out on A disconnects the session's socket on B (and on A); a message sent to the
  young person's conversation afterwards reaches the other device's socket on B, not the ended
  one; the old token cannot connect again.
* Two sessions (two devices) of one account: logging out one leaves the other connected.
* An admin deactivates a counsellor on A: the counsellor's socket on B is disconnected and
  hears nothing of the site's queue any more; a colleague's socket on B stays.

Every positive step waits for its event with a generous limit (a loaded 2-core machine); the
servers are started once for the module.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import uuid
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import aiohttp
import pytest
import socketio

from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.services.accounts import Accounts
from server.services.clock import SystemClock
from server.services.rate_limit import SourceLimiter
from server.services.sessions import resolve_session
from server.storage.db import create_engine, create_sessions
from server.storage.models.accounts import SCOPE_TOTP_SETUP
from tests.account_material import b64, material
from tests.conftest import (
    PG_ADMIN_URL,
    REDIS_URL,
    LiveServer,
    _pg_admin,
    _run_sync,
    make_config,
    missing_service,
    start_server,
    stop_server,
)
from tests.conversation_support import (
    Client,
    Person,
    World,
    _identity,
    build_world,
    encrypt,
    enquiry_payload,
)

WITHIN = 30.0  # a positive event on a loaded machine
QUIET = 2.0  # how long "nothing more arrives" is watched after a later event

T = TypeVar("T")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@dataclasses.dataclass(frozen=True)
class Setup:
    a: LiveServer
    b: LiveServer
    world: World
    admin_token: str


async def _admin_token(url: str) -> str:
    """An admin (invitation + TOTP, as the operator's CLI and the product do it)."""
    config = make_config(url)
    engine = create_engine(config.database)
    sessions = create_sessions(engine)
    try:
        service = Accounts(sessions, config, SystemClock(), SourceLimiter())
        nickname = f"ad-{uuid.uuid4().hex[:6]}"
        m = await asyncio.to_thread(material, "se-admin")
        invitation = await service.create_invitation("admin", None, "Admin", nickname=nickname)
        accepted = await service.accept_invitation(invitation.token,
                                                   _identity(m, nickname, "Admin"))
        clock = SystemClock()
        context = await resolve_session(sessions, accepted.session.token, clock.now(),
                                        SCOPE_TOTP_SETUP)
        assert context is not None
        code = totp_code(totp_secret_from_base32(accepted.totp_secret), clock.now().timestamp())
        full = await service.confirm_totp(context, code, f"test-{nickname}")
        return full.session.token
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def setup(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    """A database of its own, the world in it, and two server processes on one Redis channel
    of their own (once for the module: building the world and starting servers is slow)."""
    from server.storage import migrate

    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            pass
    except OSError:
        missing_service("Redis on 127.0.0.1:6379")
    redis_url = REDIS_URL

    name = f"jmdchat_test_semp_{uuid.uuid4().hex[:8]}"
    _run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    servers: list[LiveServer] = []
    try:
        migrate.upgrade(url)
        world = _run(build_world(url))
        admin_token = _run(_admin_token(url))
        env = {"JMDCHAT_REDIS_URL": redis_url,
               "JMDCHAT_REDIS_CHANNEL": f"jmdchat-test-session-end-{uuid.uuid4().hex}",
               "JMDCHAT_SERVER_LOG_LEVEL": "WARNING",
               "JMDCHAT_SECURITY_SECRET_KEY": "test-secret-" + "x" * 32}
        tmp = tmp_path_factory.mktemp("session-end")
        for _ in range(2):
            servers.append(start_server(tmp, url, env, False))
        yield Setup(servers[0], servers[1], world, admin_token)
        logs = "".join(server.log() for server in servers)
        assert "Traceback" not in logs, logs
    finally:
        for server in servers:
            stop_server(server)
        _run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


class Device(Client):
    """A raw socket.io client that ignores `session.ended` and notes the server's disconnect."""

    def __init__(self, person: Person) -> None:
        super().__init__(person)
        self.disconnected = asyncio.Event()
        self.sio.on("disconnect", self._on_disconnect)

    async def _on_disconnect(self, *_reason: Any) -> None:
        self.disconnected.set()

    async def wait_disconnected(self) -> None:
        await asyncio.wait_for(self.disconnected.wait(), WITHIN)


async def _login(server: LiveServer, person: Person, name: str) -> Person:
    """A new session (another device) of a young person, through the HTTP API."""
    m = material(name)  # the material build_world registered the person with (cached)
    async with aiohttp.ClientSession() as http, http.post(
        server.url + "/api/auth/login",
        json={"nickname": person.nickname, "auth_key": b64(m.auth_key)},
        headers={"Origin": server.url},
    ) as response:
        data = await response.json()
        assert response.status == 200 and data["ok"], data
        morsel = response.cookies.get("jmdchat_session")
        assert morsel is not None
        return dataclasses.replace(person, token=morsel.value)


async def _post(server: LiveServer, path: str, token: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(
        server.url + path, json={},
        headers={"Origin": server.url, "Cookie": f"jmdchat_session={token}"},
    ) as response:
        data = await response.json()
        assert response.status == 200 and data["ok"], (path, response.status, data)


async def _connect(devices: list[Device], person: Person, server: LiveServer) -> Device:
    device = Device(person)
    devices.append(device)
    await device.connect(server.url)
    return device


async def _alive(device: Device) -> None:
    """The connection still answers (the server did not end it)."""
    assert device.sio.connected and not device.disconnected.is_set()
    info = await device.sio.call("server.info", {}, timeout=WITHIN)
    assert isinstance(info, dict) and info.get("version"), info


async def test_logout_on_a_disconnects_the_session_on_b(setup: Setup) -> None:
    a, b, world = setup.a, setup.b, setup.world
    young = world.young
    devices: list[Device] = []
    try:
        other = await _login(a, young, "yp-a")  # the young person's second device
        ended_a = await _connect(devices, young, a)
        ended_b = await _connect(devices, young, b)
        other_a = await _connect(devices, other, a)
        other_b = await _connect(devices, other, b)

        # A conversation; every socket of the young person is live in it.
        payload, conv = enquiry_payload(world, young, "Hallo", language="de")
        created = await ended_a.call("enquiry.create", payload)
        assert created["ok"], created
        for device in (ended_b, other_a, other_b):
            joined = await device.call("conversation.join",
                                       {"conversation_id": conv.id, "after_seq": 0})
            assert joined["ok"], joined
        sent = await other_a.call("message.send", {
            "conversation_id": conv.id, "envelope": encrypt(young, conv, "vorher")})
        assert sent["ok"], sent
        await ended_b.wait_for("message.new", lambda e: e["message"]["seq"] == sent["seq"],
                               within=WITHIN)

        # Log out the first session through the HTTP API of A.
        await _post(a, "/api/auth/logout", young.token)
        await ended_b.wait_disconnected()  # B's server ended it; the client ignored the event
        await ended_a.wait_disconnected()
        assert ended_b.events["session.ended"], "session.ended precedes the disconnect"
        seen = len(ended_b.events["message.new"])

        # A message to the conversation afterwards (sent on A) reaches the other device on B,
        # never the ended connection.
        after = await other_a.call("message.send", {
            "conversation_id": conv.id, "envelope": encrypt(young, conv, "nachher")})
        assert after["ok"], after
        await other_b.wait_for("message.new", lambda e: e["message"]["seq"] == after["seq"],
                               within=WITHIN)
        with pytest.raises(TimeoutError):
            await ended_b.wait_for("message.new", lambda e: e["message"]["seq"] == after["seq"],
                                   within=QUIET)
        assert len(ended_b.events["message.new"]) == seen
        assert not ended_b.sio.connected
        await _alive(other_b)
        await _alive(other_a)

        # The ended session's token no longer connects, on either process.
        for server in (a, b):
            with pytest.raises(socketio.exceptions.ConnectionError):
                await _connect(devices, young, server)
    finally:
        for device in devices:
            await device.close()


async def test_logout_of_one_device_keeps_the_other_connected(setup: Setup) -> None:
    a, b, world = setup.a, setup.b, setup.world
    young = world.young2
    devices: list[Device] = []
    try:
        first = await _login(b, young, "yp-b")
        second = await _login(b, young, "yp-b")
        first_b = await _connect(devices, first, b)
        second_b = await _connect(devices, second, b)
        second_a = await _connect(devices, second, a)

        await _post(a, "/api/auth/logout", first.token)
        await first_b.wait_disconnected()
        # The same published disconnect reached B before this round trip: the other
        # session's connections (on both processes) are untouched.
        await _alive(second_b)
        await _alive(second_a)
        assert not second_b.events["session.ended"] and not second_a.events["session.ended"]
    finally:
        for device in devices:
            await device.close()


async def test_deactivation_disconnects_the_counsellor_on_the_other_process(
    setup: Setup,
) -> None:
    a, b, world = setup.a, setup.b, setup.world
    devices: list[Device] = []
    try:
        gone = await _connect(devices, world.counsellor2, b)
        colleague = await _connect(devices, world.counsellor, b)
        for device in (gone, colleague):  # both watch the online team's queue
            assert (await device.call("queue.list"))["ok"]

        await _post(a, f"/api/accounts/{world.counsellor2.id}/deactivate", setup.admin_token)
        await gone.wait_disconnected()

        # A new enquiry (on A) reaches the colleague's queue on B, not the deactivated one.
        young = await _connect(devices, world.young2, a)
        payload, conv = enquiry_payload(world, world.young2, "Neu", language="de")
        created = await young.call("enquiry.create", payload)
        assert created["ok"], created
        await colleague.wait_for("queue.added",
                                 lambda e: e["item"]["conversation_id"] == conv.id,
                                 within=WITHIN)
        assert not any(e["item"]["conversation_id"] == conv.id
                       for e in gone.events["queue.added"])
        await _alive(colleague)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await _connect(devices, world.counsellor2, b)
    finally:
        for device in devices:
            await device.close()
