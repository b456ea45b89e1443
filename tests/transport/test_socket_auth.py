"""socket.io authentication with a real `socketio.AsyncClient` against the app on a real port:
the session cookie rides on the websocket upgrade; no (valid, full) session, no connection.
Ending a session (logout) closes its connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import AppConfig
from server.keys import CLOCK, CONFIG, LIMITER, SESSIONS, SIO
from server.services.accounts import Accounts
from server.services.clock import FrozenClock
from tests.account_material import add_site, b64, material

COOKIE = "jmdchat_session"


class Live:
    def __init__(self, server: TestServer, http: TestClient, clock: FrozenClock) -> None:
        self.server = server
        self.http = http
        self.clock = clock
        self.url = f"http://127.0.0.1:{server.port}"

    async def post(self, path: str, body: object, cookie: str | None = None
                   ) -> tuple[int, dict[str, Any], str | None]:
        headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
        response = await self.http.post(path, json=body, headers=headers)
        morsel = response.cookies.get(COOKIE)
        return response.status, await response.json(), morsel.value if morsel else None


@pytest.fixture
async def live(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
    aiohttp_client: Callable[..., Awaitable[TestClient]],
    config: AppConfig,
) -> AsyncIterator[Live]:
    clock = FrozenClock()
    app = create_app(config, clock=clock)
    server = await aiohttp_server(app, host="127.0.0.1")
    http = await aiohttp_client(server, cookie_jar=DummyCookieJar())
    await add_site(app[SESSIONS], "jmd-berlin")
    yield Live(server, http, clock)


async def connect(live: Live, cookie: str | None) -> socketio.AsyncClient:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": f"{COOKIE}={cookie}; jmdchat_locale=en"} if cookie else {}
    await client.connect(live.url, headers=headers, transports=["websocket"], wait_timeout=5)
    return client


async def refused(live: Live, cookie: str | None) -> bool:
    client = socketio.AsyncClient(reconnection=False)
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    try:
        await client.connect(live.url, headers=headers, transports=["websocket"], wait_timeout=5)
    except socketio.exceptions.ConnectionError:
        return True
    await client.disconnect()
    return False


async def register(live: Live, name: str) -> tuple[str, str]:
    status, body, cookie = await live.post(
        "/api/auth/register", material(name).register_body(name.title())
    )
    assert status == 201 and cookie
    return cookie, body["account"]["id"]


async def test_connection_without_a_session_is_refused(live: Live) -> None:
    assert await refused(live, None)
    assert await refused(live, "not-a-token")
    assert await refused(live, "A" * 43)  # well-formed, but no such session


async def test_connection_with_a_session_is_authenticated(live: Live) -> None:
    cookie, account_id = await register(live, "lina")
    client = await connect(live, cookie)
    try:
        received: asyncio.Queue[Any] = asyncio.Queue()
        client.on("probe", received.put)
        info = await client.call("server_info", {}, timeout=5)
        assert info["ok"] is True and info["locale"] == "en"  # the explicit choice wins
        # The connection joined its account's room.
        sio = live.server.app[SIO]
        await sio.emit("probe", {"hello": "lina"}, room=f"account:{account_id}")
        assert await asyncio.wait_for(received.get(), 5) == {"hello": "lina"}
        [sid] = [sid for sid, _ in sio.manager.get_participants("/", f"account:{account_id}")]
        session = await sio.get_session(sid)
        assert session["account_id"] == account_id and session["role"] == "young_person"
        assert session["locale"] == "en" and session["session_id"]
    finally:
        await client.disconnect()


async def test_expired_and_setup_sessions_are_refused(live: Live) -> None:
    cookie, _ = await register(live, "lina")
    live.clock.advance(timedelta(hours=12))
    assert await refused(live, cookie)
    app = live.server.app
    created = await Accounts(app[SESSIONS], app[CONFIG], app[CLOCK], app[LIMITER]) \
        .create_invitation("counsellor", "jmd-berlin")
    status, _, setup_cookie = await live.post(
        f"/api/invitations/{created.token}/accept", material("amira").accept_body("amira-b")
    )
    assert status == 200 and setup_cookie
    assert await refused(live, setup_cookie)  # good for TOTP confirmation only


async def test_logout_closes_the_connection(live: Live) -> None:
    cookie, _ = await register(live, "lina")
    client = await connect(live, cookie)
    closed = asyncio.Event()
    client.on("disconnect", closed.set)
    status, body, _ = await live.post("/api/auth/logout", {}, cookie)
    assert status == 200 and body == {"ok": True}
    await asyncio.wait_for(closed.wait(), 5)
    assert await refused(live, cookie)


async def test_deleting_the_account_closes_every_connection(live: Live) -> None:
    cookie, _ = await register(live, "lina")
    status, _, second = await live.post(
        "/api/auth/login", {"nickname": "Lina", "auth_key": b64(material("lina").auth_key)}
    )
    assert status == 200 and second
    clients = [await connect(live, cookie), await connect(live, second)]
    events = [asyncio.Event(), asyncio.Event()]
    for client, event in zip(clients, events, strict=True):
        client.on("disconnect", event.set)
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    response = await live.http.request(
        "DELETE", "/api/account", json={"auth_key": b64(material("lina").auth_key)},
        headers=headers,
    )
    assert response.status == 200
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 5)


async def test_a_refused_connection_is_closed_by_the_server(live: Live) -> None:
    """Raw engine.io over a websocket, no session: CONNECT_ERROR, then the server closes the
    engine.io connection too (it does not stay open while the client answers pings)."""
    ws = await live.http.ws_connect("/socket.io/?EIO=4&transport=websocket")
    try:
        opened = await asyncio.wait_for(ws.receive_str(), 5)
        assert opened.startswith("0{")  # engine.io OPEN
        await ws.send_str("40")  # socket.io CONNECT to "/"
        frames: list[str] = []

        async def until_closed() -> None:
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT:
                    return  # CLOSE / CLOSED / ERROR: the server ended the connection
                frames.append(str(message.data))
                if message.data == "2":  # answer pings like a live client would
                    await ws.send_str("3")

        try:
            await asyncio.wait_for(until_closed(), 5)
        except TimeoutError:
            raise AssertionError(f'still open; frames: {frames}') from None
        assert frames[0].startswith("44") and "unauthorized" in frames[0], frames
        assert ws.closed
    finally:
        await ws.close()
