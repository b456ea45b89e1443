"""Crash safety: faults injected into real processes while messages flow.

1. A `jmdchat serve` process is killed with SIGKILL in the middle of a burst of 300 pipelined
   messages (SQLite and PostgreSQL) and started again on the same port and database: every
   message the server acknowledged is in the database; the young person's client re-sends
   everything unacknowledged with the same mids; both sides end with every message exactly
   once, gap-free and in order.
2. A private PostgreSQL is crashed (`pg_ctl stop -m immediate`) during a burst and started
   again: while it is down, senders get a translated `unavailable` ack at once (no hang, no
   "internal" error, no traceback), /healthz says 503 "database down", the server stays up,
   and the hundreds of refusals make a bounded number of WARNING lines (rate limited);
   afterwards the re-sent messages are stored exactly once and delivered.
3. Two server processes share a private Redis, the young person on A, the counsellor on B;
   Redis is killed: messages are still stored and acknowledged (the database is the truth),
   the counsellor misses only live events; once B has subscribed again it sends its clients
   `sync.hint`, and the counsellor — sending nothing, not reconnecting — catches up with
   `conversation.join {after_seq}` as the browser client does; live delivery resumes.
4. Redis hangs (a proxy stops forwarding, connections stay open): the message writer does
   not wait for publishing, so messages are still stored and acknowledged at once; when
   Redis answers again, the held-back events arrive at the other process, in order.

The shared PostgreSQL and Redis of the test machine are never stopped: the faults go to
private instances (tests/fault_support.py).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
import socketio
from sqlalchemy import text

from server.config import AppConfig
from server.storage import migrate
from server.storage.db import create_engine, create_sessions
from tests.conftest import LiveServer, make_config, start_server, stop_server
from tests.conversation_support import (
    Client,
    Conv,
    World,
    build_world,
    claim_via_service,
    create_via_service,
    encrypt,
    read,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
    world_for,
)
from tests.fault_support import (
    WORLD_SECRET,
    PausableProxy,
    kill_server,
    private_postgres,
    private_redis,
    restart_server,
    wait_healthz,
)

BURST = 300
Ack = dict[str, Any]


# --- helpers ---------------------------------------------------------------------------------


async def serve(tmp: Path, url: str, **env: str) -> LiveServer:
    extra = {"JMDCHAT_SECURITY_SECRET_KEY": WORLD_SECRET, "JMDCHAT_SERVER_LOG_LEVEL": "INFO",
             **env}
    if "rate_limits" in AppConfig.model_fields:  # bursts of hundreds are the point here
        extra["JMDCHAT_RATE_LIMITS_ENABLED"] = "false"
    try:
        return await asyncio.to_thread(start_server, tmp, url, extra, False)
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"{exc.cmd} failed:\n{exc.stderr.decode()[-4000:]}") from None


async def open_conversation(url: str, world: World) -> Conv:
    """An enquiry of the young person, claimed by the counsellor (seq 1 and 2)."""
    engine = create_engine(make_config(url).database)
    try:
        sessions = create_sessions(engine)
        conv = await create_via_service(sessions, world, world.young, "Hallo")
        await claim_via_service(sessions, world.counsellor, conv)
        return conv
    finally:
        await engine.dispose()


async def stored_messages(url: str, conv: Conv) -> list[tuple[int, str]]:
    """(seq, mid) of every stored message of the conversation, read straight from the table."""
    engine = create_engine(make_config(url).database)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT seq, mid FROM messages WHERE conversation_id = :c ORDER BY seq"),
                {"c": conv.id},
            )
            return [(int(seq), str(mid)) for seq, mid in rows]
    finally:
        await engine.dispose()


async def catch_up(client: Client, conv: Conv, after_seq: int) -> list[dict[str, Any]]:
    """What a client does after every reconnect and on a gap: join with its last seq."""
    messages: list[dict[str, Any]] = []
    while True:
        ack = await client.call("conversation.join",
                                {"conversation_id": conv.id, "after_seq": after_seq}, within=60)
        assert ack["ok"], ack
        messages += ack["messages"]
        if not ack["has_more"]:
            return messages
        after_seq = ack["messages"][-1]["seq"]


async def connect(person: Any, server: LiveServer, conv: Conv) -> Client:
    client = await Client(person).connect(server.url)
    await catch_up(client, conv, 0)
    return client


def pipeline(client: Client, conv: Conv, envelopes: list[dict[str, Any]],
             answers: dict[str, Ack], enough: int, reached: asyncio.Event) -> asyncio.Task[None]:
    """Emit every envelope at once (an ack callback each, no waiting: the server has a long
    queue from one client to work through when the fault hits); `reached` is set once
    `enough` acks say ok."""

    def on_ack(mid: str) -> Callable[[Ack], None]:
        def callback(answer: Ack) -> None:
            answers[mid] = answer
            if sum(1 for a in answers.values() if a.get("ok")) >= enough:
                reached.set()
        return callback

    async def emit_all() -> None:
        for envelope in envelopes:
            await client.sio.emit("message.send",
                                  {"conversation_id": conv.id, "envelope": envelope},
                                  callback=on_ack(envelope["mid"]))

    return asyncio.create_task(emit_all())


async def wait_event(event: asyncio.Event, answers: dict[str, Ack], within: float = 90) -> None:
    try:
        await asyncio.wait_for(event.wait(), within)
    except TimeoutError:
        codes = sorted({str(a.get("code", "ok")) for a in answers.values()})
        raise AssertionError(f"{len(answers)} answers, codes {codes}") from None


async def resend(client: Client, conv: Conv, envelope: dict[str, Any],
                 within: float = 60) -> Ack:
    """The outbox: send again with the same mid until the server says ok (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        ack = await client.call("message.send",
                                {"conversation_id": conv.id, "envelope": envelope}, within=30)
        if ack["ok"]:
            return ack
        assert ack["code"] in {"unavailable", "busy"}, ack
        assert loop.time() < deadline, f"still refused: {ack}"
        await asyncio.sleep(0.2)


def assert_exactly_once(messages: list[dict[str, Any]], conv: Conv, world: World,
                        texts: list[str], first_seq: int = 1) -> None:
    """Seqs gap-free from `first_seq`, each once, and the texts in order."""
    seqs = [m["seq"] for m in messages]
    assert seqs == list(range(first_seq, first_seq + len(seqs))), seqs
    got = [read(m["envelope"], conv, world.young) for m in messages
           if m["kind"] == "message" and m["sender_id"] == world.young.id]
    assert got == texts


def http_get(server: LiveServer, path: str, token: str) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(server.url + path,
                                     headers={"Cookie": f"jmdchat_session={token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


async def wait_for_log(server: LiveServer, text_: str, times: int = 1,
                       within: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while server.log().count(text_) < times:
        assert loop.time() < deadline, f"{text_!r} not logged {times}x:\n{server.log()[-3000:]}"
        await asyncio.sleep(0.1)


def has_seq(seq: int) -> Callable[[dict[str, Any]], bool]:
    return lambda event: bool(event["message"]["seq"] == seq)


def no_tracebacks(*servers: LiveServer) -> None:
    for server in servers:
        log = server.log()
        assert "Traceback" not in log, log[-6000:]


# --- 1. SIGKILL during a burst ---------------------------------------------------------------


async def test_server_killed_mid_burst_loses_and_doubles_nothing(
    world_db: tuple[str, World], tmp_path: Path
) -> None:
    url, world = world_db
    conv = await open_conversation(url, world)
    server = await serve(tmp_path, url)
    young = counsellor = None
    try:
        counsellor = await connect(world.counsellor, server, conv)
        young = await connect(world.young, server, conv)
        texts = [f"Nachricht {i:03d}" for i in range(BURST)]
        envelopes = [encrypt(world.young, conv, t) for t in texts]

        answers: dict[str, Ack] = {}
        sixty = asyncio.Event()
        sending = pipeline(young, conv, envelopes, answers, 60, sixty)
        await wait_event(sixty, answers)
        await asyncio.to_thread(kill_server, server)
        sending.cancel()
        acked = {mid: a["seq"] for mid, a in answers.items() if a.get("ok")}
        assert 60 <= len(acked) < BURST, len(acked)  # the kill really cut the burst
        assert all(a.get("ok") for a in answers.values()), answers  # no error before the kill

        # Every acknowledged message is in the database, under the seq of its ack.
        stored = dict((mid, seq) for seq, mid in await stored_messages(url, conv))
        assert {mid: stored.get(mid) for mid in acked} == acked

        await young.close()
        await counsellor.close()
        live = [e["message"] for e in counsellor.events["message.new"]]

        server = await asyncio.to_thread(restart_server, server)

        # The young person reconnects, catches up, and re-sends what was not acknowledged.
        young = await Client(world.young).connect(server.url)
        known = {m["mid"]: m["seq"] for m in await catch_up(young, conv, 0)}
        for envelope in envelopes:
            mid = envelope["mid"]
            if mid in acked:
                continue
            ack = await resend(young, conv, envelope)
            if mid in known:  # stored before the kill, only the ack was lost: same seq
                assert ack["seq"] == known[mid]
            acked[mid] = ack["seq"]
        assert [acked[e["mid"]] for e in envelopes] == list(range(3, 3 + BURST))

        # The counsellor saw a gap-free prefix live and catches up from its last seq.
        counsellor = await Client(world.counsellor).connect(server.url)
        after = max((m["seq"] for m in live), default=2)
        received = [m for m in live if m["seq"] >= 3] + await catch_up(counsellor, conv, after)
        assert_exactly_once(received, conv, world, texts, first_seq=3)

        # A fresh device sees the whole history once; the table holds no duplicates.
        history = await catch_up(young, conv, 0)
        assert_exactly_once(history, conv, world, ["Hallo", *texts])
        rows = await stored_messages(url, conv)
        assert [seq for seq, _mid in rows] == list(range(1, 3 + BURST))
        assert len({mid for _seq, mid in rows}) == len(rows)
    finally:
        for client in (young, counsellor):
            if client is not None:
                await client.close()
        await asyncio.to_thread(stop_server, server)
        print(server.log()[-8000:])  # shown when the test fails
    no_tracebacks(server)


# --- 2. PostgreSQL crashes and comes back ----------------------------------------------------


async def test_database_restart_gives_clear_errors_then_recovers(tmp_path: Path) -> None:
    with private_postgres() as pg:
        url = await pg.create_database(f"jmdchat_{uuid.uuid4().hex[:8]}")
        await asyncio.to_thread(migrate.upgrade, url)
        world = await build_world(url)
        conv = await open_conversation(url, world)
        server = await serve(tmp_path, url)
        young = counsellor = None
        try:
            counsellor = await connect(world.counsellor, server, conv)
            young = await connect(world.young, server, conv)
            texts = [f"Nachricht {i:03d}" for i in range(400)]
            envelopes = [encrypt(world.young, conv, t) for t in texts]

            # The database crashes in the middle of a pipelined burst.
            answers: dict[str, Ack] = {}
            twenty = asyncio.Event()
            sending = pipeline(young, conv, envelopes, answers, 20, twenty)
            await wait_event(twenty, answers)
            await asyncio.to_thread(pg.stop)
            await sending

            # Every message gets an answer, quickly: ok (stored) or a clear "unavailable".
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while len(answers) < len(envelopes):
                assert loop.time() < deadline, f"{len(envelopes) - len(answers)} never answered"
                await asyncio.sleep(0.1)
            refused = [a for a in answers.values() if not a["ok"]]
            assert refused, "the crash came too late: nothing was refused"
            for answer in refused:
                assert answer["code"] == "unavailable", answer
                assert answer["message"] and "{" not in answer["message"]

            # While it is down: the server is up, /healthz says why, other calls answer too.
            body = await wait_healthz(server, 503)
            assert '"database": "down"' in body
            for _ in range(30):  # every refusal used to write its own WARNING line
                ack = await counsellor.call("conversation.join",
                                            {"conversation_id": conv.id, "after_seq": 0})
                assert not ack["ok"] and ack["code"] == "unavailable", ack
            late = encrypt(world.young, conv, "Bist du noch da?")
            ack = await young.call("message.send", {"conversation_id": conv.id,
                                                    "envelope": late})
            assert not ack["ok"] and ack["code"] == "unavailable", ack
            # A client connecting now is refused with a code it can show, not left hanging.
            refusals: list[Any] = []
            newcomer = Client(world.counsellor2)
            newcomer.sio.on("connect_error", refusals.append)
            with pytest.raises(socketio.exceptions.ConnectionError):
                await newcomer.connect(server.url)
            assert refusals == [{"message": "unavailable"}], refusals
            status, answer = await asyncio.to_thread(http_get, server, "/api/auth/me",
                                                     world.young.token)
            assert status == 503 and answer["code"] == "unavailable", (status, answer)
            assert server.process.poll() is None

            await asyncio.to_thread(pg.start)
            await wait_healthz(server, 200)

            # The outbox re-sends every unacknowledged message with its mid.
            acked = {mid: a["seq"] for mid, a in answers.items() if a["ok"]}
            for envelope in [*envelopes, late]:
                if envelope["mid"] not in acked:
                    acked[envelope["mid"]] = (await resend(young, conv, envelope))["seq"]
            seqs = [acked[e["mid"]] for e in [*envelopes, late]]
            assert seqs == list(range(3, 3 + len(envelopes) + 1)), seqs

            # The counsellor got them live, or catches up after a gap; each exactly once.
            received = await collect(counsellor, conv, seqs[-1])
            assert_exactly_once(received, conv, world, [*texts, "Bist du noch da?"], 3)
            rows = await stored_messages(url, conv)
            assert [seq for seq, _mid in rows] == list(range(1, seqs[-1] + 1))
            assert len({mid for _seq, mid in rows}) == len(rows)
        finally:
            for client in (young, counsellor):
                if client is not None:
                    await client.close()
            await asyncio.to_thread(stop_server, server)
            print(server.log()[-8000:])  # shown when the test fails
        no_tracebacks(server)
        # Hundreds of refusals, a handful of log lines: the first one, then one summary per
        # 30 s with the count (server/storage/db.py `log_unavailable`).
        lines = unavailable_lines(server)
        assert 1 <= len(lines) <= 3, lines
        assert lines[0]["where"] and lines[0]["error"], lines[0]


def unavailable_lines(server: LiveServer) -> list[dict[str, Any]]:
    """The WARNING lines "database unavailable" of the server's JSON log."""
    lines = []
    for line in server.log().splitlines():
        if "database unavailable" not in line:
            continue
        entry = json.loads(line)
        assert entry["level"] == "warning", entry
        # Only where, the error type and counts: no content, no addresses.
        assert set(entry) <= {"ts", "level", "logger", "event", "where", "error", "repeated",
                              "by_where", "errors", "seconds"}, entry
        lines.append(entry)
    return lines


async def collect(client: Client, conv: Conv, up_to: int, within: float = 60
                  ) -> list[dict[str, Any]]:
    """The messages from seq 3 to `up_to` as a browser client ends up with them: the live
    `message.new` events in order, and on a gap (or when live events stop coming) a
    `conversation.join {after_seq}` from the last seq it has."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    have: list[dict[str, Any]] = []
    position = 0  # how many live events were looked at
    while True:
        last = have[-1]["seq"] if have else 2
        if last >= up_to:
            return have
        events = client.events["message.new"]
        while position < len(events):
            message = events[position]["message"]
            position += 1
            if message["seq"] <= last:
                continue  # already have it (a late live copy of a caught-up message)
            if message["seq"] == last + 1:
                have.append(message)
                last += 1
            else:  # a gap: ask for everything after the last seq
                have += [m for m in await catch_up(client, conv, last) if m["seq"] > last]
                last = have[-1]["seq"]
        if last >= up_to:
            return have
        assert loop.time() < deadline, f"stuck at seq {last} of {up_to}"
        before = len(client.events["message.new"])
        await asyncio.sleep(0.5)
        if len(client.events["message.new"]) == before:  # quiet: ask, as after a reconnect
            have += [m for m in await catch_up(client, conv, last) if m["seq"] > last]


# --- 3. Redis restarts under two processes ---------------------------------------------------


@pytest.mark.redis
async def test_redis_restart_keeps_messages_and_resumes_delivery(
    postgres_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Several processes share one database: PostgreSQL (SQLite is covered by test 1).
    url, world = await world_for("postgres", postgres_url, tmp_path,
                                 tmp_path_factory.getbasetemp())
    conv = await open_conversation(url, world)
    with private_redis(tmp_path) as redis:
        env = {"JMDCHAT_REDIS_URL": redis.url,
               "JMDCHAT_REDIS_CHANNEL": f"jmdchat-test-{uuid.uuid4().hex}"}
        a = await serve(tmp_path, url, **env)
        b = await serve(tmp_path, url, **env)
        young = counsellor = None
        try:
            young = await connect(world.young, a, conv)
            counsellor = await connect(world.counsellor, b, conv)
            follower = HintFollower(counsellor, conv)
            counsellor_sid = counsellor.sio.sid

            async def send(text_: str) -> int:
                ack = await young.call("message.send", {
                    "conversation_id": conv.id, "envelope": encrypt(world.young, conv, text_)})
                assert ack["ok"], ack  # stored and acknowledged, Redis or not
                return int(ack["seq"])

            texts: list[str] = []
            for i in range(5):  # across the processes, live
                texts.append(f"vorher {i}")
                seq = await send(texts[-1])
                await counsellor.wait_for("message.new",
                                          has_seq(seq), within=30)

            await asyncio.to_thread(redis.kill)
            missed: list[int] = []
            for i in range(20):  # Redis is gone: still stored and acknowledged
                texts.append(f"ohne Redis {i}")
                missed.append(await send(texts[-1]))
            assert young.sio.connected and counsellor.sio.connected
            # B keeps trying to subscribe again (a clear line in its log each time).
            await wait_for_log(b, "redis unavailable, subscribing again", times=2)

            await asyncio.to_thread(redis.start)
            # B subscribes again and hints its clients: the counsellor gets what it missed
            # without sending anything, without reconnecting, before anyone writes again.
            await wait_for_log(b, "redis subscription restored", within=60)
            await follower.wait_for_seqs(set(missed), within=60)
            assert follower.hints[0] == {"reason": "reconnected"}, follower.hints
            assert counsellor.sio.connected and counsellor.sio.sid == counsellor_sid
            assert not live_seqs(counsellor) & set(missed)  # through the hint, not live
            # Live delivery across the processes resumes once B has subscribed again.
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while True:
                texts.append(f"nachher {len(texts)}")
                seq = await send(texts[-1])
                try:
                    await counsellor.wait_for(
                        "message.new", has_seq(seq), within=1)
                    break
                except TimeoutError:
                    assert loop.time() < deadline, "cross-process delivery did not resume"
            for i in range(5):
                texts.append(f"wieder live {i}")
                seq = await send(texts[-1])
                await counsellor.wait_for("message.new",
                                          has_seq(seq), within=30)

            # Nothing sent during the outage came live to B (the test did cut the path)...
            assert not live_seqs(counsellor) & set(missed)
            # ... the counsellor has everything exactly once (a gap left by a message sent
            # while A's publishing connection was still broken is filled by a join).
            received = await collect(counsellor, conv, seq)
            assert_exactly_once(received, conv, world, texts, 3)
            rows = await stored_messages(url, conv)
            assert [s for s, _mid in rows] == list(range(1, seq + 1))
        finally:
            for client in (young, counsellor):
                if client is not None:
                    await client.close()
            await asyncio.to_thread(stop_server, a)
            await asyncio.to_thread(stop_server, b)
            print(a.log()[-6000:], b.log()[-6000:])  # shown when the test fails
        no_tracebacks(a, b)
        assert "Cannot publish to redis" in a.log()  # the outage is in the logs
        assert "redis subscription restored" in b.log()
        assert "sync hint sent to local clients" in b.log()


def live_seqs(client: Client) -> set[int]:
    return {int(e["message"]["seq"]) for e in client.events["message.new"]}


class HintFollower:
    """What the browser client does on `sync.hint` (client/src/net/socket.js runs its
    reconnect hooks): catch up with `conversation.join {after_seq}` from the last seq it has
    without a gap — here for one conversation. Records the hints and what the joins brought."""

    def __init__(self, client: Client, conv: Conv) -> None:
        self.client = client
        self.conv = conv
        self.hints: list[Any] = []
        self.caught_up: list[dict[str, Any]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        client.sio.on("sync.hint", self._on_hint)

    async def _on_hint(self, data: Any = None) -> None:
        self.hints.append(data)
        # Not inline: the socket.io client reads the join's ack on the loop that calls us.
        task = asyncio.create_task(self._catch_up())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _last_contiguous(self) -> int:
        have = live_seqs(self.client) | {int(m["seq"]) for m in self.caught_up}
        last = 2
        while last + 1 in have:
            last += 1
        return last

    async def _catch_up(self) -> None:
        last = self._last_contiguous()
        self.caught_up += [m for m in await catch_up(self.client, self.conv, last)
                           if m["seq"] > last]
        self._changed.set()

    async def wait_for_seqs(self, seqs: set[int], within: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not seqs <= {int(m["seq"]) for m in self.caught_up}:
            remaining = deadline - loop.time()
            assert remaining > 0, (f"not caught up through a sync.hint: hints {self.hints}, "
                                   f"got {sorted(int(m['seq']) for m in self.caught_up)}")
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 1))


# --- 4. Redis hangs (slow, not dead) ---------------------------------------------------------


@pytest.mark.redis
async def test_hanging_redis_does_not_hold_the_message_writer(
    postgres_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    url, world = await world_for("postgres", postgres_url, tmp_path,
                                 tmp_path_factory.getbasetemp())
    conv = await open_conversation(url, world)
    with private_redis(tmp_path) as redis:
        async with PausableProxy(redis.port) as proxy:
            env = {"JMDCHAT_REDIS_URL": proxy.url,
                   "JMDCHAT_REDIS_CHANNEL": f"jmdchat-test-{uuid.uuid4().hex}"}
            a = await serve(tmp_path, url, **env)
            b = await serve(tmp_path, url, **env)
            young = counsellor = None
            try:
                young = await connect(world.young, a, conv)
                counsellor = await connect(world.counsellor, b, conv)

                async def send(text_: str) -> int:
                    envelope = encrypt(world.young, conv, text_)
                    ack = await young.call("message.send", {
                        "conversation_id": conv.id, "envelope": envelope}, within=30)
                    # Without the Emitter's queue the writer waits for the first publish
                    # forever and every later message is answered `busy` after 10 s.
                    assert ack["ok"], ack
                    return int(ack["seq"])

                texts = [f"vorher {i}" for i in range(3)]
                for text_ in texts:
                    await counsellor.wait_for("message.new", has_seq(await send(text_)),
                                              within=30)

                proxy.pause()  # Redis takes every command and never answers
                held = []
                for i in range(20):
                    texts.append(f"Redis hängt {i}")
                    held.append(await send(texts[-1]))
                assert held == list(range(held[0], held[0] + 20))
                assert not live_seqs(counsellor) & set(held)  # the path really hangs

                proxy.resume()
                await counsellor.wait_for("message.new", has_seq(held[-1]), within=60)
                arrived = [int(e["message"]["seq"]) for e in counsellor.events["message.new"]]
                assert arrived == list(range(3, held[-1] + 1)), arrived  # in order, once each
                assert_exactly_once([e["message"] for e in counsellor.events["message.new"]],
                                    conv, world, texts, 3)
            finally:
                for client in (young, counsellor):
                    if client is not None:
                        await client.close()
                await asyncio.to_thread(stop_server, a)
                await asyncio.to_thread(stop_server, b)
                print(a.log()[-6000:], b.log()[-6000:])  # shown when the test fails
            no_tracebacks(a, b)
