"""Several server processes, one conversation.

* Two real `jmdchat serve` processes (different ports) share one PostgreSQL database and Redis
  (a channel of its own per test run): a young person on process A and a counsellor on
  process B go through enquiry → queue → claim → conversation, with encrypted messages both
  ways and typing, everything crossing between the processes through Redis.
* `jmdchat serve --workers 2` runs two processes on one port (both answer /healthz), refuses
  to start without Redis, and stops cleanly on SIGTERM: open websockets are closed at once
  (clients reconnect elsewhere) instead of holding the shutdown until a timeout.
* The socket.io websocket never negotiates permessage-deflate, even when offered.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server.crypto.certificates import verify_certificate
from server.crypto.conversation import open_conversation_key
from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.keys import unwrap_identity
from server.crypto.sites import open_site_key
from server.crypto.tokens import totp_code, totp_secret_from_base32
from server.services.bench_setup import SharedPassword
from tests.conftest import (
    PG_ADMIN_URL,
    ROOT,
    LiveServer,
    _pg_admin,
    _run_sync,
    free_port,
    start_server,
    stop_server,
)
from tests.conversation_support import Client, Conv, Person, encrypt, read

# --- two processes on one database --------------------------------------------------------------


@pytest.fixture
def shared_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test PostgreSQL server (`postgres_url` says it is there),
    so the bench site of this test never meets the worlds of other tests."""
    from server.storage import migrate

    name = f"jmdchat_test_mp_{uuid.uuid4().hex[:8]}"
    _run_sync(_pg_admin(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    migrate.upgrade(url)
    yield url
    _run_sync(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _post(session: aiohttp.ClientSession, server: LiveServer, path: str,
                body: dict[str, Any]) -> tuple[dict[str, Any], str]:
    async with session.post(server.url + path, json=body,
                            headers={"Origin": server.url}) as response:
        data = await response.json()
        assert data.get("ok"), (path, response.status, data)
        morsel = response.cookies.get("jmdchat_session")
        return data, morsel.value if morsel is not None else ""


async def _get(session: aiohttp.ClientSession, server: LiveServer, path: str,
               token: str) -> dict[str, Any]:
    async with session.get(server.url + path,
                           headers={"Cookie": f"jmdchat_session={token}"}) as response:
        data = await response.json()
        assert data.get("ok"), (path, response.status, data)
        return dict(data)


async def test_enquiry_claim_and_conversation_across_two_processes(
    shared_database: str, redis_url: str, tmp_path: Path
) -> None:
    channel = f"jmdchat-test-{uuid.uuid4().hex}"  # parallel runs on one Redis do not cross
    env = {"JMDCHAT_REDIS_URL": redis_url, "JMDCHAT_REDIS_CHANNEL": channel,
           "JMDCHAT_SERVER_LOG_LEVEL": "WARNING"}
    # One data dir: the development organisation key that bench-setup writes is read by both.
    a = start_server(tmp_path, shared_database, env, demo=False)
    b = start_server(tmp_path, shared_database, env, demo=False)
    young_client: Client | None = None
    counsellor_client: Client | None = None
    try:
        logins_path = tmp_path / "bench-logins.json"
        a.cli("bench-setup", "--counsellors", "1", "--out", str(logins_path))
        logins = json.loads(logins_path.read_text())
        entry = logins["counsellors"][0]
        site_id = logins["site_id"]

        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            # The young person registers on A (key material made as the browser makes it).
            young_pw = await asyncio.to_thread(SharedPassword.make, "young person's password")
            young_keys, identity = young_pw.identity(f"yp-{uuid.uuid4().hex[:8]}", "",
                                                     young=True)
            registered, young_token = await _post(http, a, "/api/auth/register", {
                "nickname": identity.nickname, "salt": b64url_encode(young_pw.salt),
                "iterations": young_pw.iterations,
                "auth_key": b64url_encode(young_pw.keys.auth_key),
                "key_blob": b64url_encode(identity.password.key_blob),
                "recovery_blob": b64url_encode(identity.recovery_blob),
                "recovery_auth_key": b64url_encode(identity.recovery_auth_key),
                "x25519_public": b64url_encode(young_keys.x25519_public),
                "ed25519_public": b64url_encode(young_keys.ed25519_public),
                "locale": "de", "age_group": "15-17",
            })
            young = Person(registered["account"]["id"], identity.nickname, "young_person",
                           young_token, young_keys)

            # The counsellor logs in on B: PBKDF2, TOTP, unwrap the identity, open the site key.
            pre, _ = await _post(http, b, "/api/auth/prelogin", {"nickname": entry["nickname"]})
            counsellor_pw = await asyncio.to_thread(
                SharedPassword.make, logins["password"], b64url_decode(pre["salt"]))
            secret = totp_secret_from_base32(entry["totp_secret"])
            logged_in, counsellor_token = await _post(http, b, "/api/auth/login", {
                "nickname": entry["nickname"],
                "auth_key": b64url_encode(counsellor_pw.keys.auth_key),
                "totp_code": totp_code(secret, time.time()),
            })
            counsellor_keys = unwrap_identity(b64url_decode(logged_in["key_blob"]),
                                              counsellor_pw.keys.wrap_key, "password")
            counsellor = Person(logged_in["account"]["id"], entry["nickname"], "counsellor",
                                counsellor_token, counsellor_keys, "Bench 0")
            org = b64url_decode((await _get(http, a, "/api/keys/org", young_token))["public_key"])
            route = await _get(http, a, "/api/route?language=de&topic=school", young_token)
            assert route["site"]["id"] == site_id
            site_cert = verify_certificate(
                json.loads(b64url_decode(route["site_key"]["certificate"])), org,
                int(time.time()), kind="site", subject=site_id)
            sealed = await _get(http, b, "/api/me/site-keys", counsellor_token)
            box = next(s for s in sealed["sealed"] if s["version"] == site_cert.key_version)
            site_key = open_site_key(b64url_decode(box["sealed"]),
                                     counsellor_keys.x25519_private, site_cert)

        young_client = await Client(young).connect(a.url)
        counsellor_client = await Client(counsellor).connect(b.url)
        assert (await counsellor_client.call("queue.list"))["items"] == []

        # Enquiry on A → the queue screen on B sees it (queue room via Redis).
        from server.crypto.conversation import new_conversation_key, seal_conversation_key

        conv = Conv(str(uuid.uuid4()), new_conversation_key())
        shares = [
            {"recipient": recipient, **extra, "sealed": seal_conversation_key(
                conversation_id=conv.id, epoch=1, key=conv.key, recipient_x25519_public=pub,
                sender_id=young.id, signer=young.keys)}
            for recipient, extra, pub in (
                ("self", {}, young.keys.x25519_public),
                ("site", {"site_key_version": site_cert.key_version}, site_cert.x25519_public),
            )
        ]
        created = await young_client.call("enquiry.create", {
            "topic": "school", "language": "de", "epoch_keys": shares,
            "first_message": encrypt(young, conv, "Hallo, ich brauche Hilfe."),
        })
        assert created["ok"], created
        added = await counsellor_client.wait_for(
            "queue.added", lambda e: e["item"]["conversation_id"] == conv.id)
        assert read(added["item"]["first_message"], conv, young) == "Hallo, ich brauche Hilfe."

        # Claim on B → the young person on A hears about it.
        claimed = await counsellor_client.call("conversation.claim", {"conversation_id": conv.id})
        assert claimed["ok"], claimed
        await young_client.wait_for(
            "conversation.updated",
            lambda e: e["conversation"]["id"] == conv.id
            and e["conversation"]["status"] == "active")
        joined = await counsellor_client.call("conversation.join",
                                              {"conversation_id": conv.id, "after_seq": 0})
        assert joined["ok"], joined
        share = next(k for k in joined["keys"] if k["recipient"] == "site")
        opened = open_conversation_key(
            share["sealed"], conversation_id=conv.id,
            recipient_x25519_private=site_key.keys.x25519_private,
            resolve_signing_key=lambda account, _skid: (
                young.keys.ed25519_public if account == young.id else None))
        assert opened.key == conv.key
        await young_client.wait_for(
            "message.new", lambda e: (e["message"].get("system") or {}).get("code") == "claimed")

        # Messages both ways, in order, decrypted on the other process's client.
        for n in range(3):
            sent = await counsellor_client.call("message.send", {
                "conversation_id": conv.id,
                "envelope": encrypt(counsellor, conv, f"Antwort {n}")})
            assert sent["ok"], sent
            got = await young_client.wait_for(
                "message.new", lambda e, s=sent["seq"]: e["message"]["seq"] == s)
            assert read(got["message"]["envelope"], conv, counsellor) == f"Antwort {n}"
            sent = await young_client.call("message.send", {
                "conversation_id": conv.id, "envelope": encrypt(young, conv, f"Frage {n}")})
            assert sent["ok"], sent
            got = await counsellor_client.wait_for(
                "message.new", lambda e, s=sent["seq"]: e["message"]["seq"] == s)
            assert read(got["message"]["envelope"], conv, young) == f"Frage {n}"
        seqs = [e["message"]["seq"] for e in counsellor_client.events["message.new"]]
        assert seqs == sorted(seqs)

        # Typing crosses too, and never comes back to the typist.
        assert (await young_client.call(
            "typing", {"conversation_id": conv.id, "active": True}))["ok"]
        typing = await counsellor_client.wait_for("typing", lambda e: e["active"])
        assert typing["account_id"] == young.id
        assert (await counsellor_client.call(
            "typing", {"conversation_id": conv.id, "active": True}))["ok"]
        back = await young_client.wait_for("typing")
        assert back["account_id"] == counsellor.id
        assert all(e["account_id"] != young.id for e in young_client.events["typing"])
    finally:
        for client in (young_client, counsellor_client):
            if client is not None:
                await client.close()
        stop_server(a)
        stop_server(b)
    assert "Traceback" not in a.log() + b.log(), a.log() + b.log()


# --- `serve --workers 2` ------------------------------------------------------------------------


def _serve_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JMDCHAT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}",
        "JMDCHAT_SERVER_PORT": str(port), "JMDCHAT_SERVER_PUBLIC_URL": url,
        "JMDCHAT_SERVER_ALLOWED_ORIGINS": url, "JMDCHAT_SERVER_DATA_DIR": str(tmp_path),
        "JMDCHAT_SERVER_LOG_FORMAT": "json", "JMDCHAT_SERVER_LOG_LEVEL": "INFO",
        "JMDCHAT_SECURITY_SECRET_KEY": "workers-test-secret-" + "w" * 32,
        **extra,
    }
    for name in ("JMDCHAT_REDIS_URL", "JMDCHAT_REDIS_CHANNEL"):
        if name not in extra:  # only what this test asks for
            env.pop(name, None)
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_serve_workers_needs_redis(tmp_path: Path) -> None:
    result = _run(_serve_env(tmp_path, free_port()), "serve", "--workers", "2")
    assert result.returncode == 2
    assert "redis.url" in result.stderr and "workers" in result.stderr


def _healthz(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=2) as response:
            return dict(json.loads(response.read()))
    except OSError:
        return None


async def _open_websocket(url: str) -> tuple[aiohttp.ClientSession, Any]:
    """A raw engine.io websocket (no socket.io login needed to hold a connection open)."""
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
    opening = await ws.receive(timeout=10)
    assert str(opening.data).startswith("0{"), opening  # engine.io OPEN packet
    return http, ws


async def _close_when_told(ws: Any) -> bool:
    """Behave like an engine.io client: close the websocket on the CLOSE packet."""
    while True:
        message = await ws.receive(timeout=20)
        if message.type != aiohttp.WSMsgType.TEXT:
            return False
        if message.data == "1":
            await ws.close()
            return True


async def test_serve_workers_two_processes_one_port_and_clean_stop(
    tmp_path: Path, redis_url: str
) -> None:
    port = free_port()
    env = _serve_env(tmp_path, port, JMDCHAT_REDIS_URL=redis_url,
                     JMDCHAT_REDIS_CHANNEL=f"jmdchat-test-{uuid.uuid4().hex}")
    assert _run(env, "db", "upgrade").returncode == 0
    log_path = tmp_path / "workers.log"
    with log_path.open("wb") as handle:
        process = await asyncio.to_thread(
            subprocess.Popen, [sys.executable, "-m", "server", "serve", "--workers", "2"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    sockets: list[tuple[aiohttp.ClientSession, Any]] = []
    try:
        seen: set[int] = set()
        deadline = time.monotonic() + 60
        while seen != {0, 1} and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            answer = await asyncio.to_thread(_healthz, url)
            if answer is not None:
                assert answer["status"] == "ok"
                seen.add(int(answer["worker"]))
            else:
                await asyncio.sleep(0.2)
        assert seen == {0, 1}, f"workers answering: {seen}\n{log_path.read_text()}"

        # A second server on the same port is refused instead of sharing it silently.
        second = await asyncio.to_thread(_run, env, "serve", "--workers", "2")
        assert second.returncode == 1 and "already in use" in second.stderr

        # Open websockets (spread over both workers) must not hold the shutdown up: the
        # server sends engine.io CLOSE ("1") at once, and the client closes, as every
        # engine.io client does (a transport close, after which socket.io reconnects).
        sockets = [await _open_websocket(url) for _ in range(4)]
        closers = [asyncio.create_task(_close_when_told(ws)) for _http, ws in sockets]
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(process.wait, 30) == 0, log_path.read_text()
        # Not a speed target: without the CLOSE, aiohttp would wait for the websockets up to its
        # 60 s default; a loaded CI machine needs ~12 s for the two workers' orderly stop.
        assert time.monotonic() - started < 25, f"shutdown waited:\n{log_path.read_text()}"
        assert await asyncio.gather(*closers) == [True] * len(sockets)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for http, ws in sockets:
            await ws.close()
            await http.close()
    log = log_path.read_text()
    assert log.count('"event": "stopped"') == 2, log
    assert "Traceback" not in log, log
    assert _healthz(url) is None


# --- websocket options ----------------------------------------------------------------------------


async def test_websocket_refuses_permessage_deflate(config: Any) -> None:
    """Browsers offer permessage-deflate; the server must answer without the extension."""
    from aiohttp.test_utils import TestServer

    from server.app import create_app

    server = TestServer(create_app(config), host="127.0.0.1", port=free_port())
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            str(server.make_url("/socket.io/?EIO=4&transport=websocket")), compress=15
        ) as ws:
            assert ws.compress == 0  # no extension agreed in the handshake
            opening = await ws.receive(timeout=10)
            assert str(opening.data).startswith("0{")
    finally:
        await server.close()
