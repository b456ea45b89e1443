"""Load generator for jmdchat and for the framework floor (`bench/floor_server.py`).

Everything a real client does, with the Python protocol implementation (`server/crypto`):
young people register through the HTTP API and create enquiries with conversation keys sealed
to themselves and to the certified site key; counsellors (made by `jmdchat bench-setup`) log
in with TOTP, unwrap their identity, open the site key, claim the enquiries and open the
conversation key from the site share. Then both sides exchange envelopes encrypted and signed
with `encrypt_message`; every delivered message is verified and decrypted (`open_envelope`)
at the receiver. Latency is "emitted by the sender → decrypted at the receiver".
`--verify after` keeps the decryption at arrival but checks the signatures once the run is
over (every message still gets the full check, `open_checked_envelope`): an Ed25519 verify
costs ~175 µs with OpenSSL on the 2-core test VM, a third of a core at 2,000 messages/s taken
from the server under test, where real receivers verify on their own phones.

The floor is driven by the same code: same envelopes (made and opened the same way), same
events, but the server has no accounts, so the set-up is only "connect and join the room".

Client side: several processes (multiprocessing), each with many `socketio.AsyncClient`s
on `transports=["websocket"]`. Both clients of a conversation live in the same process, so
send times stay in-process. Envelopes are encrypted and signed *before* the measured window
(a pool per sender) so that the 2-core machine spends its client CPU on sending, receiving
and verifying, not on a cost the server never sees; the receiver always decrypts at arrival
and verifies at arrival (`--verify arrival`, the default) or after the run (`--verify after`).

Scenarios (`--scenario`):
  saturate  closed loop: each client sends its next message when the previous one is acked
            (`--window` in flight); reports the delivered messages/s the server sustains.
  rate      open loop at `--rate` messages/s in total, spread over all clients.
  queue     `--counsellors` counsellors of one site on their queue screen; young people create
            `--enquiries` enquiries; latency until each counsellor got `queue.added`.
Every run also reports lost (acked, never delivered) and duplicated messages (both must be
0), order violations, errors, server CPU (per delivered message, too) and RSS; `--idle N`
afterwards opens N more idle connections and reports the server memory per connection.

Bounded: every phase has a timeout, the run stops by itself after `--duration` seconds (plus
set-up and a drain of at most 15 s), and all servers listen on 127.0.0.1 only.

Examples (see bench/README.md for the measured table):
    .venv/bin/python bench/load.py --targets floor,sqlite,postgres --scenario saturate
    .venv/bin/python bench/load.py --targets floor,postgres --workers 2 --scenario saturate
    .venv/bin/python bench/load.py --targets postgres --scenario rate --conversations 1000 \\
        --rate 500 --duration 300 --idle 2000
    .venv/bin/python bench/load.py --targets postgres --scenario queue --counsellors 100
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/load.py` from anywhere
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import socketio  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from server.crypto.certificates import verify_certificate  # noqa: E402
from server.crypto.conversation import (  # noqa: E402
    encrypt_message,
    new_conversation_key,
    open_checked_envelope,
    open_conversation_key,
    open_envelope,
    parse_message,
    seal_conversation_key,
    unpad,
    validate_envelope_shape,
)
from server.crypto.encoding import b64url_decode, b64url_encode  # noqa: E402
from server.crypto.keys import KeyPairs, generate_identity, unwrap_identity  # noqa: E402
from server.crypto.primitives import aes_gcm_decrypt  # noqa: E402
from server.crypto.sites import SiteKey, open_site_key  # noqa: E402
from server.crypto.tokens import totp_code, totp_secret_from_base32  # noqa: E402
from server.services.bench_setup import SharedPassword  # noqa: E402

PG_ADMIN_URL = os.environ.get(
    "JMDCHAT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("JMDCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
#: Claims per counsellor in the set-up; the server's default limit is 30 open conversations.
PER_COUNSELLOR = 25
TOPIC = "school"
LANGUAGE = "de"
#: What a typical chat line weighs: padded to 256 bytes, like most real messages.
BODY_FILLER = "Hallo, ich habe eine Frage zu meinem Sprachkurs und der Anmeldung."
PHASE_TIMEOUT = 900.0


# --- small helpers --------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the server under test (main process) ---------------------------------------------------


@dataclass
class Target:
    """One server set-up: the floor, or jmdchat on a database, with N processes."""

    kind: str  # "floor" | "sqlite" | "postgres"
    workers: int
    redis: bool
    #: limits.ping_timeout_seconds of the jmdchat server (production default 20). Raise it
    #: only on a machine so loaded that the generator misses pings during the set-up.
    ping_timeout: int = 20

    @property
    def label(self) -> str:
        name = "floor" if self.kind == "floor" else f"jmdchat/{self.kind}"
        return f"{name} ×{self.workers}" + (" +redis" if self.redis else "")


class ServerUnderTest:
    """Starts a server process tree on a free loopback port and samples its CPU and RSS."""

    def __init__(self, target: Target, counsellors: int, tmp: Path) -> None:
        self.target = target
        self.counsellors = counsellors
        self.tmp = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.pg_name: str | None = None
        self.logins: dict[str, Any] = {}
        self.channel = f"bench-{uuid.uuid4().hex[:8]}"
        self.log_path = tmp / f"server-{self.port}.log"

    # database ---------------------------------------------------------------------------

    async def _pg(self, statement: str) -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    def _database_url(self) -> str:
        if self.target.kind == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / 'bench.db'}"
        self.pg_name = f"jmdchat_bench_{uuid.uuid4().hex[:10]}"
        asyncio.run(self._pg(f'CREATE DATABASE "{self.pg_name}"'))
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{self.pg_name}"

    def _env(self, database_url: str) -> dict[str, str]:
        env = {
            **os.environ,
            "JMDCHAT_DATABASE_URL": database_url,
            "JMDCHAT_SERVER_HOST": "127.0.0.1",
            "JMDCHAT_SERVER_PORT": str(self.port),
            "JMDCHAT_SERVER_PUBLIC_URL": self.url,
            "JMDCHAT_SERVER_ALLOWED_ORIGINS": self.url,
            "JMDCHAT_SERVER_DATA_DIR": str(self.tmp),
            "JMDCHAT_SERVER_LOG_LEVEL": os.environ.get("BENCH_SERVER_LOG_LEVEL", "WARNING"),
            "JMDCHAT_SERVER_LOG_FORMAT": "json",  # with extras: a batch's size and ms
            # To compare: BENCH_GC_THRESHOLD=0 runs with Python's garbage-collector defaults.
            **({"JMDCHAT_SERVER_GC_THRESHOLD": os.environ["BENCH_GC_THRESHOLD"]}
               if os.environ.get("BENCH_GC_THRESHOLD") else {}),
            "JMDCHAT_SECURITY_SECRET_KEY": "bench-secret-" + "z" * 40,
            # Bench only: every young person registers from 127.0.0.1; the per-source limit
            # (3 × this per 15 minutes) would otherwise stop the set-up after 30 accounts.
            "JMDCHAT_SECURITY_LOGIN_ATTEMPTS_PER_15MIN": "1000",
            # Bench only: the abuse limits (server/services/rate_limit.py) stay switched on, so
            # their checks are part of what is measured, but with budgets no bench client
            # reaches (all registrations come from 127.0.0.1; saturation sends as fast as acks
            # come back).
            "JMDCHAT_RATE_LIMITS_REGISTRATIONS_PER_SOURCE_PER_HOUR": "1000000",
            "JMDCHAT_RATE_LIMITS_MESSAGES_PER_ACCOUNT_PER_MINUTE": "1000000",
            "JMDCHAT_RATE_LIMITS_MESSAGES_PER_CONNECTION_PER_10S": "1000000",
            "JMDCHAT_RATE_LIMITS_EVENTS_PER_CONNECTION_PER_10S": "1000000",
            "JMDCHAT_LIMITS_PING_TIMEOUT_SECONDS": str(self.target.ping_timeout),
        }
        if self.target.redis:
            env["JMDCHAT_REDIS_URL"] = REDIS_URL
            env["JMDCHAT_REDIS_CHANNEL"] = self.channel
        return env

    def start(self) -> None:
        handle = self.log_path.open("wb")
        if self.target.kind == "floor":
            command = [sys.executable, str(ROOT / "bench" / "floor_server.py"), "--port",
                       str(self.port), "--workers", str(self.target.workers)]
            if self.target.redis:
                command += ["--redis", REDIS_URL, "--channel", self.channel]
            self.process = subprocess.Popen(command, cwd=self.tmp, stdout=handle,
                                            stderr=subprocess.STDOUT)
        else:
            env = self._env(self._database_url())
            # cwd = the temp dir, so the repository's config.toml does not apply.
            for args in (["db", "upgrade"],
                         ["bench-setup", "--counsellors", str(self.counsellors),
                          "--out", str(self.tmp / "bench-logins.json")]):
                subprocess.run([sys.executable, "-m", "server", *args], cwd=self.tmp, env=env,
                               check=True, stdout=handle, stderr=subprocess.STDOUT,
                               timeout=PHASE_TIMEOUT)
            self.logins = json.loads((self.tmp / "bench-logins.json").read_text())
            self.process = subprocess.Popen(
                [sys.executable, "-m", "server", "serve", "--workers", str(self.target.workers)],
                cwd=self.tmp, env=env, stdout=handle, stderr=subprocess.STDOUT,
            )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log_path.read_text()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200 and len(self.pids()) >= self.target.workers:
                        time.sleep(0.5)
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not start:\n{self.log_path.read_text()}")

    def pids(self) -> list[int]:
        """The processes that serve (the supervisor itself only waits)."""
        import psutil

        assert self.process is not None
        parent = psutil.Process(self.process.pid)
        if self.target.workers == 1:
            return [parent.pid]
        return [child.pid for child in parent.children() if child.is_running()]

    def cpu_seconds(self) -> float:
        import psutil

        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> int:
        import psutil

        total = 0
        for pid in self.pids():
            with contextlib.suppress(psutil.Error):
                total += psutil.Process(pid).memory_info().rss
        return total

    def gc_pauses(self) -> dict[str, float]:
        """The server's garbage-collector pauses so far (jmdchat's /metrics; one process, so
        with several workers it is whichever answers): per generation the count and the
        seconds, and `le_<g>` per bucket bound (`window_gc` subtracts two readings)."""
        if self.target.kind == "floor":
            return {}
        try:
            with urllib.request.urlopen(self.url + "/metrics", timeout=10) as response:
                text = response.read().decode()
        except OSError:
            return {}
        found: dict[str, float] = {}
        for family in text_string_to_metric_families(text):
            if family.name != "jmdchat_gc_pause_seconds":
                continue
            for sample in family.samples:
                generation = sample.labels["generation"]
                if sample.name.endswith("_count"):
                    found[f"count{generation}"] = sample.value
                elif sample.name.endswith("_sum"):
                    found[f"sum{generation}"] = sample.value
                elif sample.name.endswith("_bucket"):
                    found[f"le{generation}_{sample.labels['le']}"] = sample.value
        return found

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.pg_name:
            asyncio.run(self._pg(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))


def window_gc(before: dict[str, float], after: dict[str, float], seconds: float) -> dict[str, Any]:
    """GC in the measured window: collections and pause time per generation, the share of
    the window, and the bucket bound under which the longest pause of the window fell."""
    if not before or not after:
        return {}
    result: dict[str, Any] = {}
    total = 0.0
    longest = 0.0
    for generation in "012":
        spent = after.get(f"sum{generation}", 0.0) - before.get(f"sum{generation}", 0.0)
        total += spent
        result[f"gc{generation}_collections"] = int(
            after.get(f"count{generation}", 0) - before.get(f"count{generation}", 0))
        result[f"gc{generation}_ms"] = round(1000 * spent, 1)
        count = result[f"gc{generation}_collections"]
        bounds = sorted((float(k.split("_", 1)[1]), k) for k in after
                        if k.startswith(f"le{generation}_"))
        for bound, key in bounds:
            if after[key] - before.get(key, 0.0) >= count:
                if count:
                    longest = max(longest, bound)
                break
    result["gc_pct_of_window"] = round(100 * total / seconds, 2) if seconds else math.nan
    result["gc_longest_pause_le_ms"] = 1000 * longest
    return result


def service_cpu_seconds(names: tuple[str, ...]) -> float:
    """CPU of other services on the machine (PostgreSQL backends, Redis) for context."""
    import psutil

    total = 0.0
    for process in psutil.process_iter(["name"]):
        if process.info["name"] and process.info["name"].startswith(names):
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
    return total


# --- client side: one conversation, two clients ---------------------------------------------


@dataclass(eq=False)
class Side:
    """One end of a conversation: an account (or a floor identity) and its socket."""

    person_id: str
    keys: KeyPairs
    cookie: str = ""
    client: socketio.AsyncClient | None = None
    pool: collections.deque[dict[str, Any]] = field(default_factory=collections.deque)
    sent: int = 0
    last_received_n: int = -1


@dataclass(eq=False)
class Conv:
    id: str
    key: bytes
    young: Side
    counsellor: Side
    last_seq: int = 0


class Stats:
    """What one client process saw; merged by the main process."""

    def __init__(self) -> None:
        self.sent_at: dict[str, tuple[float, bool]] = {}  # mid -> (monotonic, in window)
        self.acked: set[str] = set()
        self.received: set[str] = set()
        self.latencies: list[float] = []
        self.delivered_in_window = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.unknown = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.decrypt_failures = 0
        #: `--verify after`: what arrived, checked in full once the run is over.
        self.unverified: list[tuple[Conv, Side, Any]] = []
        self.schedule_lag_max = 0.0
        self.window: tuple[float, float] = (math.inf, math.inf)
        #: Closed loop: the sender waits for its message to arrive, not only for the ack.
        self.waiters: dict[str, asyncio.Future[None]] = {}
        #: Open loop: emitted messages whose ack has not come back yet.
        self.pending_acks = 0


def make_client() -> socketio.AsyncClient:
    return socketio.AsyncClient(reconnection=False, handle_sigint=False, request_timeout=30)


async def connect(url: str, cookie: str) -> socketio.AsyncClient:
    client = make_client()
    headers = {"Cookie": f"jmdchat_session={cookie}"} if cookie else {}
    for attempt in range(5):
        try:
            await client.connect(url, transports=["websocket"], headers=dict(headers),
                                 wait_timeout=30)
            return client
        except socketio.exceptions.ConnectionError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def call(client: socketio.AsyncClient, event: str, payload: Any) -> dict[str, Any]:
    """An acked request; anything but `{ok: true}` stops the set-up with the server's answer."""
    # Generous: on a loaded machine a claim (which also updates the queue positions of all
    # waiting enquiries) can wait long for its share of the CPU during the set-up.
    result = await client.call(event, payload, timeout=180)
    if not isinstance(result, dict) or not result.get("ok"):
        raise RuntimeError(f"{event} failed: {result}")
    return result


async def within(future: asyncio.Future[Any], seconds: float) -> Any:
    """`asyncio.wait_for(future, seconds)` for the measured loop, without the task that
    wait_for makes in Python 3.11 (the generator's CPU is taken from the server's machine)."""
    timer = asyncio.get_running_loop().call_later(seconds, _expire, future)
    try:
        return await future
    finally:
        timer.cancel()


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


async def gather_limited(limit: int, jobs: list[Callable[[], Any]]) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Any]) -> Any:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(run(job) for job in jobs)))


class ClientWorker:
    """One client process: its conversations, its clients and its statistics."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.url: str = spec["url"]
        self.floor: bool = spec["kind"] == "floor"
        self.convs: list[Conv] = []
        self.by_id: dict[str, Conv] = {}
        self.stats = Stats()
        self.http: aiohttp.ClientSession | None = None
        self.extra: list[socketio.AsyncClient] = []
        self.queue_clients: list[socketio.AsyncClient] = []
        self.running = False
        self.verify_after: bool = spec.get("verify") == "after"

    # HTTP (jmdchat) -----------------------------------------------------------------------

    async def _post(self, path: str, body: dict[str, Any], cookie: str = "") -> tuple[
        dict[str, Any], str
    ]:
        assert self.http is not None
        headers = {"Origin": self.url, "Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = f"jmdchat_session={cookie}"
        for attempt in range(6):
            async with self.http.post(self.url + path, data=json.dumps(body),
                                      headers=headers) as response:
                data = await response.json()
                if response.status == 503 and attempt < 5:
                    # "briefly unavailable" (e.g. SQLite's write lock busy for > 5 s while
                    # a loaded machine registers hundreds of accounts): nothing was stored,
                    # retry like a client would.
                    await asyncio.sleep(1 + attempt)
                    continue
                if not data.get("ok"):
                    raise RuntimeError(f"POST {path}: {response.status} {data}")
                morsel = response.cookies.get("jmdchat_session")
                return data, morsel.value if morsel is not None else ""
        raise AssertionError("unreachable")

    async def _get(self, path: str, cookie: str = "") -> dict[str, Any]:
        assert self.http is not None
        headers = {"Cookie": f"jmdchat_session={cookie}"} if cookie else {}
        async with self.http.get(self.url + path, headers=headers) as response:
            data = await response.json()
            if not data.get("ok"):
                raise RuntimeError(f"GET {path}: {response.status} {data}")
            return dict(data)

    async def register_young(self, shared: SharedPassword, nickname: str) -> Side:
        keys, identity = shared.identity(nickname, "", young=True)
        body = {
            "nickname": identity.nickname, "salt": b64url_encode(shared.salt),
            "iterations": shared.iterations, "auth_key": b64url_encode(shared.keys.auth_key),
            "key_blob": b64url_encode(identity.password.key_blob),
            "recovery_blob": b64url_encode(identity.recovery_blob),
            "recovery_auth_key": b64url_encode(identity.recovery_auth_key),
            "x25519_public": b64url_encode(keys.x25519_public),
            "ed25519_public": b64url_encode(keys.ed25519_public),
            "locale": "de", "age_group": "15-17",
        }
        for attempt in range(3):
            try:
                data, cookie = await self._post("/api/auth/register", body)
                return Side(str(data["account"]["id"]), keys, cookie)
            except (aiohttp.ClientError, TimeoutError):
                if attempt == 2:
                    raise
                await asyncio.sleep(1)
        raise AssertionError("unreachable")

    async def login_counsellor(self, entry: dict[str, str], password: str,
                               derived: dict[tuple[bytes, int], SharedPassword]) -> Side:
        pre, _ = await self._post("/api/auth/prelogin", {"nickname": entry["nickname"]})
        salt, iterations = b64url_decode(pre["salt"]), int(pre["iterations"])
        shared = derived.get((salt, iterations))
        if shared is None:  # PBKDF2 (600 000 iterations) once per salt, not per account
            shared = await asyncio.to_thread(SharedPassword.make, password, salt)
            derived[(salt, iterations)] = shared
        secret = totp_secret_from_base32(entry["totp_secret"])
        for _attempt in range(3):
            try:
                data, cookie = await self._post("/api/auth/login", {
                    "nickname": entry["nickname"],
                    "auth_key": b64url_encode(shared.keys.auth_key),
                    "totp_code": totp_code(secret, time.time()),
                })
                break
            except RuntimeError as exc:  # a code already used in this 30-second step
                if "totp_invalid" not in str(exc):
                    raise
                await asyncio.sleep(31 - time.time() % 30)
        else:
            raise RuntimeError("counsellor login failed three times")
        identity = unwrap_identity(b64url_decode(data["key_blob"]), shared.keys.wrap_key,
                                   "password")
        return Side(str(data["account"]["id"]), identity, cookie)

    async def site_key_for(self, side: Side, site_id: str, org: bytes) -> SiteKey:
        listed = await self._get(f"/api/sites/{site_id}/keys", side.cookie)
        sealed = await self._get("/api/me/site-keys", side.cookie)
        box = next(b for b in sorted(sealed["sealed"], key=lambda b: -int(b["version"]))
                   if b["site_id"] == site_id)
        key_info = next(k for k in listed["keys"] if int(k["version"]) == int(box["version"]))
        cert = verify_certificate(
            json.loads(b64url_decode(key_info["certificate"])), org, int(time.time()),
            kind="site", subject=site_id,
        )
        return open_site_key(b64url_decode(box["sealed"]), side.keys.x25519_private, cert)

    # set-up -----------------------------------------------------------------------------------

    async def prepare(self) -> dict[str, Any]:
        started = time.monotonic()
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                          timeout=aiohttp.ClientTimeout(total=120))
        if self.floor:
            await self._prepare_floor()
        else:
            await self._prepare_jmdchat()
        await self._fill_pools()
        return {"conversations": len(self.convs), "clients": 2 * len(self.convs),
                "seconds": round(time.monotonic() - started, 1)}

    async def _prepare_floor(self) -> None:
        for _ in range(self.spec["conversations"]):
            young = Side(str(uuid.uuid4()), generate_identity())
            counsellor = Side(str(uuid.uuid4()), generate_identity())
            conv = Conv(str(uuid.uuid4()), new_conversation_key(), young, counsellor)
            self.convs.append(conv)
            self.by_id[conv.id] = conv

        async def join(conv: Conv, side: Side) -> None:
            side.client = await connect(self.url, "")
            self._listen(side.client, conv, side)
            await call(side.client, "floor.join", {"conversation_id": conv.id})

        await gather_limited(50, [
            (lambda c=c, s=s: join(c, s)) for c in self.convs for s in (c.young, c.counsellor)
        ])

    async def _prepare_jmdchat(self) -> None:
        logins = self.spec["logins"]
        site_id = logins["site_id"]
        org = b64url_decode((await self._get("/api/keys/org"))["public_key"])
        count = self.spec["conversations"]
        tag = self.spec["tag"]

        # Young people: registered through the API, PBKDF2 derived once in this process.
        young_shared = await asyncio.to_thread(SharedPassword.make, "bench young " + tag)
        youngs = await gather_limited(8, [
            (lambda i=i: self.register_young(young_shared, f"yp-{tag}-{i:05d}"))
            for i in range(count)
        ])
        route = await self._get(f"/api/route?language={LANGUAGE}&topic={TOPIC}",
                                youngs[0].cookie if youngs else "")
        site_key_info = route["site_key"]
        site_cert = verify_certificate(
            json.loads(b64url_decode(site_key_info["certificate"])), org, int(time.time()),
            kind="site", subject=route["site"]["id"],
        )
        assert route["site"]["id"] == site_id, "enquiries must go to the bench site"

        # Counsellors of this process: log in, unwrap the identity, open the site key.
        derived: dict[tuple[bytes, int], SharedPassword] = {}
        counsellors = await gather_limited(4, [
            (lambda e=e: self.login_counsellor(e, logins["password"], derived))
            for e in self.spec["counsellors"]
        ])
        site_keys = await gather_limited(8, [
            (lambda s=s: self.site_key_for(s, site_id, org)) for s in counsellors
        ])
        if site_keys and site_keys[0].key_version != site_cert.key_version:
            raise RuntimeError("route hands out another site key version than the members have")

        # Enquiries: the young person seals the epoch key to itself and the site key.
        async def enquire(young: Side, index: int) -> Conv:
            young.client = await connect(self.url, young.cookie)
            conv = Conv(str(uuid.uuid4()), new_conversation_key(), young,
                        Side("", KeyPairs.generate()))
            shares = [
                {"recipient": "self", "sealed": seal_conversation_key(
                    conversation_id=conv.id, epoch=1, key=conv.key,
                    recipient_x25519_public=young.keys.x25519_public, sender_id=young.person_id,
                    signer=young.keys)},
                {"recipient": "site", "site_key_version": site_cert.key_version,
                 "sealed": seal_conversation_key(
                     conversation_id=conv.id, epoch=1, key=conv.key,
                     recipient_x25519_public=site_cert.x25519_public,
                     sender_id=young.person_id, signer=young.keys)},
            ]
            first = self._encrypt(conv, young, f"enquiry {index}", n=-1)
            created = await call(young.client, "enquiry.create", {
                "topic": TOPIC, "language": LANGUAGE, "epoch_keys": shares,
                "first_message": first,
            })
            assert created["conversation"]["id"] == conv.id
            return conv

        convs: list[Conv] = await gather_limited(
            20, [(lambda y=y, i=i: enquire(y, i)) for i, y in enumerate(youngs)]
        )

        # Claims: each counsellor takes its share over one queue connection.
        queue_clients = await gather_limited(
            20, [(lambda s=s: connect(self.url, s.cookie)) for s in counsellors]
        )
        for index, conv in enumerate(convs):
            owner = index % len(counsellors)
            conv.counsellor = Side(counsellors[owner].person_id, counsellors[owner].keys,
                                   counsellors[owner].cookie)
            conv.counsellor.client = queue_clients[owner]  # only for the claim
        await gather_limited(20, [
            (lambda c=c: call(c.counsellor.client, "conversation.claim",  # type: ignore[arg-type]
                              {"conversation_id": c.id}))
            for c in convs
        ])
        for client in queue_clients:
            await client.disconnect()

        # One connection per conversation on the counsellor's side (a tab per conversation),
        # which joins and opens the epoch key from the share sealed to the site key.
        async def open_tab(conv: Conv, site_key: SiteKey) -> None:
            side = conv.counsellor
            side.client = await connect(self.url, side.cookie)
            joined = await call(side.client, "conversation.join",
                                {"conversation_id": conv.id, "after_seq": 0})
            share = next(k for k in joined["keys"] if k["recipient"] == "site")
            young_key = conv.young.keys.ed25519_public  # the client's TOFU copy of the key

            opened = open_conversation_key(
                share["sealed"], conversation_id=conv.id,
                recipient_x25519_private=site_key.keys.x25519_private,
                resolve_signing_key=lambda account, _skid: (
                    young_key if account == conv.young.person_id else None),
            )
            if opened.key != conv.key:
                raise RuntimeError("the counsellor opened another key than the young person made")
            conv.last_seq = max((m["seq"] for m in joined["messages"]), default=0)

        pairs = [(c, site_keys[i % len(site_keys)]) for i, c in enumerate(convs)]
        await gather_limited(20, [(lambda c=c, k=k: open_tab(c, k)) for c, k in pairs])
        for conv in convs:
            self.convs.append(conv)
            self.by_id[conv.id] = conv
            assert conv.young.client is not None and conv.counsellor.client is not None
            self._listen(conv.young.client, conv, conv.young)
            self._listen(conv.counsellor.client, conv, conv.counsellor)

    # messages ---------------------------------------------------------------------------------

    def _encrypt(self, conv: Conv, side: Side, text: str, n: int) -> dict[str, Any]:
        return dict(encrypt_message(
            conversation_id=conv.id, epoch=1, epoch_key=conv.key, sender_id=side.person_id,
            signer=side.keys,
            message={"type": "text", "body": f"{n}|{text}", "sent_at": int(time.time() * 1000)},
        ))

    async def _fill_pools(self) -> None:
        """Encrypt and sign every message a sender may send, before the clock starts.

        This takes tens of seconds of CPU; it yields to the event loop every few envelopes so
        that the connected clients keep answering the server's pings (a client silent for
        ping_interval + ping_timeout is disconnected by the server)."""
        per_side = int(self.spec["pool_per_side"])
        made = 0
        for conv in self.convs:
            for side in (conv.young, conv.counsellor):
                for n in range(per_side):
                    side.pool.append(self._encrypt(conv, side, BODY_FILLER, n))
                    made += 1
                    if made % 20 == 0:
                        await asyncio.sleep(0)

    def _listen(self, client: socketio.AsyncClient, conv: Conv, side: Side) -> None:
        other = conv.counsellor if side is conv.young else conv.young
        stats = self.stats

        def resolve(account: str, _skid: str) -> bytes | None:
            return other.keys.ed25519_public if account == other.person_id else None

        async def on_message(data: dict[str, Any]) -> None:
            message = data.get("message") or {}
            envelope = message.get("envelope")
            if data.get("conversation_id") != conv.id or not envelope:
                return
            conv.last_seq = max(conv.last_seq, int(message.get("seq", 0)))
            mid = envelope["mid"]
            if mid in stats.received:
                stats.duplicates += 1
                return
            try:
                if self.verify_after:
                    body = self._decrypt_only(conv, other, envelope)
                else:
                    body = open_envelope(envelope, conversation_id=conv.id,
                                         epoch_keys={1: conv.key},
                                         resolve_signing_key=resolve).message["body"]
            except Exception:
                stats.decrypt_failures += 1
                return
            now = time.monotonic()
            stats.received.add(mid)
            waiter = stats.waiters.pop(mid, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(None)
            n = int(str(body).split("|", 1)[0])
            if n >= 0:
                if n <= side.last_received_n:
                    stats.out_of_order += 1
                side.last_received_n = n
            start, end = stats.window
            if start <= now < end:
                stats.delivered_in_window += 1
            sent = stats.sent_at.get(mid)
            if sent is None:
                stats.unknown += 1
            elif sent[1]:
                stats.latencies.append(now - sent[0])

        client.on("message.new", on_message)

    def _decrypt_only(self, conv: Conv, sender: Side, envelope: Any) -> Any:
        """`--verify after`, at arrival: the shape check and the AEAD (which binds the header),
        not the signature. A real client verifies first (section 8.3), on its own phone; here
        a verify (~175 µs with OpenSSL on the test VM) on the server's two cores would take
        about a third of a core from the server under test at 2,000 messages/s. The message
        is kept and gets the full check in `_verify_arrived` after the run."""
        env = validate_envelope_shape(envelope)
        if env.conv != conv.id or env.epoch != 1:
            raise ValueError("envelope of another conversation or epoch")
        padded = aes_gcm_decrypt(conv.key, env.nonce, env.ct, env.header_bytes())
        self.stats.unverified.append((conv, sender, env))
        return parse_message(unpad(padded))["body"]

    async def _verify_arrived(self) -> None:
        """The full section 8.3 check (signature, then decryption) of every message that
        `_decrypt_only` let through; a failure counts as a decrypt failure."""
        for index, (conv, sender, env) in enumerate(self.stats.unverified):
            # Only the other side of the conversation may have sent it (as at arrival).
            public = sender.keys.ed25519_public

            def resolve(account: str, _skid: str, sender: Side = sender,
                        public: bytes = public) -> bytes | None:
                return public if account == sender.person_id else None

            try:
                open_checked_envelope(env, expected_conv=conv.id, epoch_keys={1: conv.key},
                                      resolve_signing_key=resolve)
            except Exception:
                self.stats.decrypt_failures += 1
            if index % 200 == 0:
                await asyncio.sleep(0)  # keep answering the server's pings
        self.stats.unverified.clear()

    def _next_envelope(self, conv: Conv, side: Side) -> dict[str, Any]:
        if side.pool:
            return side.pool.popleft()
        self.stats.errors["pool_empty"] += 1  # fell back to encrypting while measuring
        return self._encrypt(conv, side, BODY_FILLER, 10_000_000 + side.sent)

    def _record_open_ack(self, mid: str, result: Any) -> None:
        self.stats.pending_acks -= 1
        self._record_ack(mid, result)

    def _record_ack(self, mid: str, result: Any) -> None:
        if isinstance(result, dict) and result.get("ok"):
            self.stats.acked.add(mid)
        else:
            code = result.get("code", "?") if isinstance(result, dict) else "bad_ack"
            self.stats.errors[str(code)] += 1

    async def _send_closed(self, conv: Conv, side: Side, stop_at: float) -> None:
        """Saturation: the next message once the previous one is acked AND delivered.

        Waiting for the delivery, not just the ack, keeps the messages in flight bounded
        (`--window` per client): a server that acks fast but delivers late (a backlog in
        Redis pub/sub, say) is measured by what it delivers instead of being flooded until
        it drops messages.
        """
        assert side.client is not None
        loop = asyncio.get_running_loop()
        while time.monotonic() < stop_at:
            envelope = self._next_envelope(conv, side)
            mid = envelope["mid"]
            delivered = loop.create_future()
            self.stats.waiters[mid] = delivered
            now = time.monotonic()
            self.stats.sent_at[mid] = (now, self._in_window(now))
            side.sent += 1
            acked: asyncio.Future[Any] = loop.create_future()
            try:
                await side.client.emit(
                    "message.send", {"conversation_id": conv.id, "envelope": envelope},
                    callback=lambda result=None, acked=acked: _settle(acked, result))
                result = await within(acked, 30)
            except Exception as exc:
                self.stats.errors[type(exc).__name__] += 1
                self.stats.waiters.pop(mid, None)
                await asyncio.sleep(0.1)
                continue
            self._record_ack(mid, result)
            if mid not in self.stats.acked:
                self.stats.waiters.pop(mid, None)
                continue
            try:
                await within(delivered, 10)
            except TimeoutError:
                self.stats.errors["delivery_over_10s"] += 1
                self.stats.waiters.pop(mid, None)

    async def _send_open(self, conv: Conv, side: Side, interval: float, first: float,
                         stop_at: float) -> None:
        """Rate: one message every `interval` seconds, whether or not acks came back."""
        assert side.client is not None
        due = first
        while due < stop_at:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                self.stats.schedule_lag_max = max(self.stats.schedule_lag_max, -delay)
            envelope = self._next_envelope(conv, side)
            now = time.monotonic()
            self.stats.sent_at[envelope["mid"]] = (now, self._in_window(now))
            side.sent += 1
            mid = envelope["mid"]
            self.stats.pending_acks += 1
            try:
                await side.client.emit(
                    "message.send", {"conversation_id": conv.id, "envelope": envelope},
                    callback=lambda result=None, mid=mid: self._record_open_ack(mid, result))
            except Exception as exc:
                self.stats.pending_acks -= 1
                self.stats.errors[type(exc).__name__] += 1
            due += interval

    def _in_window(self, now: float) -> bool:
        return self.stats.window[0] <= now < self.stats.window[1]

    async def run(self, command: dict[str, Any]) -> dict[str, Any]:
        # Wall clock to agree with the other processes on the start; monotonic from then on.
        await asyncio.sleep(max(0.0, command["start_at"] - time.time()))
        begin = time.monotonic()
        warmup, duration = float(command["warmup"]), float(command["duration"])
        self.stats.window = (begin + warmup, begin + warmup + duration)
        stop_at = begin + warmup + duration
        tasks = []
        sides = [(c, s) for c in self.convs for s in (c.young, c.counsellor)]
        if command["rate_per_side"] > 0:
            interval = 1.0 / command["rate_per_side"]
            for conv, side in sides:
                first = begin + random.random() * interval
                tasks.append(self._send_open(conv, side, interval, first, stop_at))
        else:
            for conv, side in sides:
                for _ in range(int(command["window"])):
                    tasks.append(self._send_closed(conv, side, stop_at))
        await asyncio.gather(*tasks)
        # Drain: wait until every ack is back and every acked message arrived, at most 15 s.
        # (Checking only "acked ⊆ received" would stop while acks are still on their way and
        # count messages acked in the last moment as lost.)
        drain_until = time.monotonic() + 15
        while time.monotonic() < drain_until:
            if self.stats.pending_acks <= 0 and self.stats.acked <= self.stats.received:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # late duplicates would show up now
        await self._verify_arrived()
        s = self.stats
        return {
            "sent": len(s.sent_at), "acked": len(s.acked), "received": len(s.received),
            "delivered_in_window": s.delivered_in_window,
            "lost": len(s.acked - s.received), "duplicates": s.duplicates,
            "out_of_order": s.out_of_order, "decrypt_failures": s.decrypt_failures,
            "unknown": s.unknown, "errors": dict(s.errors),
            "latencies": s.latencies, "schedule_lag_max": s.schedule_lag_max,
        }

    async def idle(self, count: int, compress: bool) -> dict[str, Any]:
        """`count` more connections, spread over this process's accounts, each joined to its
        conversation and then left idle (a second device of the same person)."""
        options = {"compress": 15} if compress else {}
        sides = [(c, s) for c in self.convs for s in (c.young, c.counsellor)]

        async def one(index: int) -> None:
            conv, side = sides[index % len(sides)]
            client = socketio.AsyncClient(reconnection=False, handle_sigint=False,
                                          websocket_extra_options=options)
            headers = {"Cookie": f"jmdchat_session={side.cookie}"} if side.cookie else {}
            await client.connect(self.url, transports=["websocket"], headers=headers,
                                 wait_timeout=30)
            if self.floor:
                await call(client, "floor.join", {"conversation_id": conv.id})
            else:
                await call(client, "conversation.join",
                           {"conversation_id": conv.id, "after_seq": conv.last_seq})
            self.extra.append(client)

        await gather_limited(50, [(lambda i=i: one(i)) for i in range(count)])
        return {"opened": len(self.extra)}

    # queue scenario ---------------------------------------------------------------------------

    async def prepare_queue(self) -> dict[str, Any]:
        """Counsellors on their queue screen; young people registered and connected."""
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(),
                                          timeout=aiohttp.ClientTimeout(total=120))
        logins = self.spec["logins"]
        derived: dict[tuple[bytes, int], SharedPassword] = {}
        counsellors = await gather_limited(4, [
            (lambda e=e: self.login_counsellor(e, logins["password"], derived))
            for e in self.spec["counsellors"]
        ])
        self.queue_received: list[tuple[str, float]] = []

        async def screen(side: Side) -> None:
            client = await connect(self.url, side.cookie)

            async def on_added(data: dict[str, Any]) -> None:
                self.queue_received.append((data["item"]["conversation_id"], time.time()))

            client.on("queue.added", on_added)
            await call(client, "queue.list", {})
            self.queue_clients.append(client)

        await gather_limited(20, [(lambda s=s: screen(s)) for s in counsellors])
        self.queue_young: list[Side] = []
        young_count = int(self.spec.get("young_for_queue", 0))
        if young_count:
            shared = await asyncio.to_thread(SharedPassword.make, "bench young " + self.spec["tag"])
            youngs = await gather_limited(8, [
                (lambda i=i: self.register_young(shared, f"yq-{self.spec['tag']}-{i:05d}"))
                for i in range(young_count)
            ])
            org = b64url_decode((await self._get("/api/keys/org"))["public_key"])
            route = await self._get(f"/api/route?language={LANGUAGE}&topic={TOPIC}",
                                    youngs[0].cookie)
            self.queue_cert = verify_certificate(
                json.loads(b64url_decode(route["site_key"]["certificate"])), org,
                int(time.time()), kind="site", subject=route["site"]["id"])
            for young in youngs:
                young.client = await connect(self.url, young.cookie)
            self.queue_young = youngs
        return {"counsellor_screens": len(self.queue_clients), "young": len(self.queue_young)}

    async def run_queue(self, command: dict[str, Any]) -> dict[str, Any]:
        """Young people of this process create one enquiry each, `interval` apart."""
        await asyncio.sleep(max(0.0, command["start_at"] - time.time()))
        created: dict[str, float] = {}
        acks: list[float] = []
        cert = getattr(self, "queue_cert", None)
        for index, young in enumerate(self.queue_young):
            assert young.client is not None and cert is not None
            conv = Conv(str(uuid.uuid4()), new_conversation_key(), young,
                        Side("", KeyPairs.generate()))
            shares = [
                {"recipient": "self", "sealed": seal_conversation_key(
                    conversation_id=conv.id, epoch=1, key=conv.key,
                    recipient_x25519_public=young.keys.x25519_public,
                    sender_id=young.person_id, signer=young.keys)},
                {"recipient": "site", "site_key_version": cert.key_version,
                 "sealed": seal_conversation_key(
                     conversation_id=conv.id, epoch=1, key=conv.key,
                     recipient_x25519_public=cert.x25519_public,
                     sender_id=young.person_id, signer=young.keys)},
            ]
            payload = {"topic": TOPIC, "language": LANGUAGE, "epoch_keys": shares,
                       "first_message": self._encrypt(conv, young, f"enquiry {index}", -1)}
            started = time.time()
            created[conv.id] = started
            await call(young.client, "enquiry.create", payload)
            acks.append(time.time() - started)
            await asyncio.sleep(float(command["interval"]))
        await asyncio.sleep(3)
        return {"created": created, "acks": acks}

    async def queue_seen(self) -> dict[str, Any]:
        return {"received": self.queue_received}

    async def close(self) -> None:
        clients = [c for conv in self.convs for c in (conv.young.client, conv.counsellor.client)]
        clients += self.extra + self.queue_clients
        clients += [y.client for y in getattr(self, "queue_young", [])]
        await gather_limited(100, [
            (lambda c=c: c.disconnect()) for c in clients if c is not None and c.connected
        ])
        if self.http is not None:
            await self.http.close()


def client_process(spec: dict[str, Any], pipe: Connection) -> None:
    """Entry point of a client process: runs commands from the main process."""

    async def main() -> None:
        worker = ClientWorker(spec)
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, pipe.recv)
            name = command["cmd"]
            try:
                if name == "prepare":
                    reply = await worker.prepare()
                elif name == "run":
                    reply = await worker.run(command)
                elif name == "idle":
                    reply = await worker.idle(int(command["count"]), bool(command["compress"]))
                elif name == "prepare_queue":
                    reply = await worker.prepare_queue()
                elif name == "run_queue":
                    reply = await worker.run_queue(command)
                elif name == "queue_seen":
                    reply = await worker.queue_seen()
                elif name == "close":
                    await worker.close()
                    pipe.send({"ok": True})
                    return
                else:
                    reply = {"error": f"unknown command {name}"}
            except Exception as exc:  # reported to the main process, which stops the run
                import traceback

                reply = {"error": f"{type(exc).__name__}: {exc}",
                         "trace": traceback.format_exc()}
            pipe.send(reply)

    asyncio.run(main())


class Clients:
    """The client processes of one run."""

    def __init__(self, specs: list[dict[str, Any]]) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipes: list[Connection] = []
        self.processes = []
        for spec in specs:
            mine, theirs = context.Pipe()
            process = context.Process(target=client_process, args=(spec, theirs), daemon=True)
            process.start()
            self.pipes.append(mine)
            self.processes.append(process)

    def cpu_seconds(self) -> float:
        """User and system CPU of the client processes (what the generator takes from the
        machine the server runs on)."""
        import psutil

        total = 0.0
        for process in self.processes:
            times = psutil.Process(process.pid).cpu_times()
            total += times.user + times.system
        return total

    def ask(self, commands: list[dict[str, Any]] | dict[str, Any],
            timeout: float = PHASE_TIMEOUT) -> list[dict[str, Any]]:
        if isinstance(commands, dict):
            commands = [commands] * len(self.pipes)
        for pipe, command in zip(self.pipes, commands, strict=True):
            pipe.send(command)
        replies = []
        deadline = time.monotonic() + timeout
        for pipe in self.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"client process did not answer {commands[0]['cmd']}")
            reply = pipe.recv()
            if "error" in reply:
                raise RuntimeError(f"client process: {reply['error']}\n{reply.get('trace', '')}")
            replies.append(reply)
        return replies

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask({"cmd": "close"}, timeout=60)
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


# --- profiling ------------------------------------------------------------------------------


def start_profile(pids: list[int], seconds: float, out: Path) -> list[subprocess.Popen[bytes]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return [
        subprocess.Popen([spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                          "--rate", "250", "--format", "raw", "--nonblocking",
                          "--output", str(out.with_suffix(f".{pid}.txt"))],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for pid in pids
    ]


def summarize_profile(path: Path, top: int = 25) -> list[str]:
    """Self time and inclusive time per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].split("/")[-1] + ")"
                  if " (" in f else f for f in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"profile {path.name}: {total} samples"]
    lines.append("  self time:")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("  inclusive (functions of the server and the libraries):")
    lines += [f"    {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top * 2)]
    return lines


# --- orchestration (main process) -----------------------------------------------------------


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run_messages(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    """Set up a server, drive `args.conversations` conversations, return the measurements."""
    tmp = Path(tempfile.mkdtemp(prefix="jmdchat-bench-"))
    counsellors = max(1, math.ceil(args.conversations / PER_COUNSELLOR))
    server = ServerUnderTest(target, max(counsellors, args.processes), tmp)
    clients: Clients | None = None
    result: dict[str, Any] = {"target": target.label, "scenario": args.scenario}
    try:
        log(f"{target.label}: starting server (load {load_average()})")
        server.start()
        shares = [n for n in split(args.conversations, args.processes) if n > 0]
        logins = server.logins
        specs = []
        start_c = 0
        rate_per_side = args.rate / (2 * args.conversations) if args.scenario == "rate" else 0.0
        budget = args.rate if args.scenario == "rate" else args.max_rate
        pool = math.ceil(budget * (args.warmup + args.duration) * 1.15 / (2 * args.conversations))
        for index, count in enumerate(shares):
            mine = math.ceil(count / PER_COUNSELLOR)
            specs.append({
                "url": server.url, "kind": target.kind, "conversations": count,
                "logins": logins, "tag": f"{uuid.uuid4().hex[:6]}{index}",
                "counsellors": logins.get("counsellors", [])[start_c:start_c + mine],
                "pool_per_side": pool + 2, "verify": args.verify,
            })
            start_c += mine
        clients = Clients(specs)
        setup_started = time.monotonic()
        prepared = clients.ask({"cmd": "prepare"})
        log(f"{target.label}: {sum(p['clients'] for p in prepared)} clients ready in "
            f"{time.monotonic() - setup_started:.0f} s")
        rss_before = server.rss_bytes()
        start_at = time.time() + 2.0
        profile_procs: list[subprocess.Popen[bytes]] = []
        loads: list[str] = []
        # Sample CPU exactly over the measured window, from the main process.
        command = {"cmd": "run", "start_at": start_at, "warmup": args.warmup,
                   "duration": args.duration, "rate_per_side": rate_per_side,
                   "window": args.window}
        for pipe, _spec in zip(clients.pipes, specs, strict=True):
            pipe.send(command)
        time.sleep(max(0.0, start_at + args.warmup - time.time()))
        gc0 = server.gc_pauses()
        cpu0, wall0 = server.cpu_seconds(), time.monotonic()
        services0 = service_cpu_seconds(("postgres", "redis-server"))
        import psutil

        machine_times0 = psutil.cpu_times()
        generator0 = clients.cpu_seconds()
        if args.profile:
            out = Path(args.profile) / f"{target.label.replace(' ', '').replace('/', '-')}"
            out.parent.mkdir(parents=True, exist_ok=True)
            profile_procs = start_profile(server.pids(), args.duration - 1, out)
        rss_peak = 0
        while time.monotonic() < wall0 + args.duration:
            rss_peak = max(rss_peak, server.rss_bytes())
            loads.append(load_average())
            time.sleep(min(1.0, max(0.0, wall0 + args.duration - time.monotonic())))
        cpu1, wall1 = server.cpu_seconds(), time.monotonic()
        services1 = service_cpu_seconds(("postgres", "redis-server"))
        machine_times1 = psutil.cpu_times()
        generator1 = clients.cpu_seconds()
        gc1 = server.gc_pauses()
        replies = []
        deadline = time.monotonic() + args.duration + 120
        for pipe in clients.pipes:
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise TimeoutError("client process did not finish the run")
            reply = pipe.recv()
            if "error" in reply:
                raise RuntimeError(reply["error"] + reply.get("trace", ""))
            replies.append(reply)
        for proc in profile_procs:
            proc.wait(60)
        busy = ((machine_times1.user + machine_times1.system)
                - (machine_times0.user + machine_times0.system))
        window = wall1 - wall0
        latencies = [x for r in replies for x in r["latencies"]]
        delivered = sum(r["delivered_in_window"] for r in replies)
        errors: collections.Counter[str] = collections.Counter()
        for r in replies:
            errors.update(r["errors"])
        server_cpu = cpu1 - cpu0
        result.update({
            "conversations": args.conversations, "clients": 2 * args.conversations,
            "rate_target": args.rate if args.scenario == "rate" else None,
            "delivered_per_s": delivered / args.duration,
            "sent": sum(r["sent"] for r in replies), "acked": sum(r["acked"] for r in replies),
            "received": sum(r["received"] for r in replies),
            "lost": sum(r["lost"] for r in replies),
            "duplicates": sum(r["duplicates"] for r in replies),
            "out_of_order": sum(r["out_of_order"] for r in replies),
            "decrypt_failures": sum(r["decrypt_failures"] for r in replies),
            "errors": dict(errors),
            "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
            "p99_ms": 1000 * percentile(latencies, 99),
            "max_ms": 1000 * max(latencies, default=math.nan),
            "server_cpu_pct": 100 * server_cpu / window,
            "server_cpu_ms_per_msg": 1000 * server_cpu / delivered if delivered else math.nan,
            "db_redis_cpu_pct": 100 * (services1 - services0) / window,
            "machine_cpu_pct": 100 * busy / window / (os.cpu_count() or 1),
            "generator_cpu_pct": 100 * (generator1 - generator0) / window,
            "rss_before_mb": rss_before / 2**20, "rss_peak_mb": rss_peak / 2**20,
            "schedule_lag_max_s": max(r["schedule_lag_max"] for r in replies),
            "load_during": loads[len(loads) // 2] if loads else load_average(),
            **window_gc(gc0, gc1, wall1 - wall0),
        })
        if args.profile:
            lines: list[str] = []
            for path in sorted(Path(args.profile).glob(out.name + ".*.txt")):
                lines += summarize_profile(path)
            result["profile"] = lines
        if args.idle:
            per = split(args.idle, len(clients.pipes))
            time.sleep(2)
            before = server.rss_bytes()
            clients.ask([{"cmd": "idle", "count": n, "compress": args.idle_compress} for n in per])
            time.sleep(5)
            after = server.rss_bytes()
            result["idle_connections"] = args.idle
            result["idle_kib_per_connection"] = (after - before) / args.idle / 1024
        return result
    finally:
        if clients is not None:
            clients.close()
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def run_queue(args: argparse.Namespace, target: Target) -> dict[str, Any]:
    """New enquiries → `queue.added` at every counsellor of the site."""
    tmp = Path(tempfile.mkdtemp(prefix="jmdchat-bench-"))
    server = ServerUnderTest(target, args.counsellors, tmp)
    clients: Clients | None = None
    try:
        log(f"{target.label}: starting server (load {load_average()})")
        server.start()
        logins = server.logins
        parts = split(args.counsellors, args.processes)
        specs = []
        first = 0
        for index, count in enumerate(parts):
            specs.append({
                "url": server.url, "kind": target.kind, "conversations": 0, "logins": logins,
                "tag": f"{uuid.uuid4().hex[:6]}{index}",
                "counsellors": logins["counsellors"][first:first + count],
                "young_for_queue": args.enquiries if index == 0 else 0, "pool_per_side": 0,
            })
            first += count
        clients = Clients(specs)
        prepared = clients.ask([{"cmd": "prepare_queue"}] * len(specs))
        log(f"{target.label}: {sum(p['counsellor_screens'] for p in prepared)} queue screens")
        start_at = time.time() + 1
        gc0 = server.gc_pauses()
        cpu0 = server.cpu_seconds()
        wall0 = time.monotonic()
        runs = clients.ask([{"cmd": "run_queue", "start_at": start_at,
                             "interval": args.enquiry_interval}] * len(specs))
        cpu = server.cpu_seconds() - cpu0
        wall = time.monotonic() - wall0
        gc1 = server.gc_pauses()
        created: dict[str, float] = {}
        for run in runs:
            created.update(run["created"])
        seen = clients.ask({"cmd": "queue_seen"})
        latencies = [t - created[conv] for reply in seen for conv, t in reply["received"]
                     if conv in created]
        expected = len(created) * args.counsellors
        acks = [a for run in runs for a in run["acks"]]
        return {
            "target": target.label, "scenario": "queue", "counsellors": args.counsellors,
            "enquiries": len(created), "deliveries": len(latencies), "expected": expected,
            "missing": expected - len(latencies),
            "p50_ms": 1000 * percentile(latencies, 50), "p95_ms": 1000 * percentile(latencies, 95),
            "p99_ms": 1000 * percentile(latencies, 99),
            "max_ms": 1000 * max(latencies, default=math.nan),
            "ack_p50_ms": 1000 * percentile(acks, 50), "ack_p99_ms": 1000 * percentile(acks, 99),
            "server_cpu_pct": 100 * cpu / wall, "load_during": load_average(),
            **window_gc(gc0, gc1, wall),
        }
    finally:
        if clients is not None:
            clients.close()
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(results: list[dict[str, Any]]) -> None:
    floors = {r["workers"]: r for r in results if r["target"].startswith("floor")}
    print()
    print("| target | clients | delivered/s | × floor | CPU ms/msg | × floor (CPU) | server CPU"
          " | DB+Redis CPU | generator CPU | machine busy | p50 / p95 / p99 ms | lost | dup | order"
          " | errors | RSS MB | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        floor = floors.get(r["workers"])
        ratio = (r["delivered_per_s"] / floor["delivered_per_s"]
                 if floor and floor is not r else None)
        cpu_ratio = (floor["server_cpu_ms_per_msg"] / r["server_cpu_ms_per_msg"]
                     if floor and floor is not r else None)
        print(f"| {r['target']} | {r['clients']} | {fmt(r['delivered_per_s'])} | "
              f"{fmt(ratio, 2)} | {fmt(r['server_cpu_ms_per_msg'], 3)} | {fmt(cpu_ratio, 2)} | "
              f"{fmt(r['server_cpu_pct'])} % | {fmt(r['db_redis_cpu_pct'])} % | "
              f"{fmt(r['generator_cpu_pct'])} % | {fmt(r['machine_cpu_pct'])} % | "
              f"{fmt(r['p50_ms'], 1)} / {fmt(r['p95_ms'], 1)} / {fmt(r['p99_ms'], 1)} | "
              f"{r['lost']} | {r['duplicates']} | {r['out_of_order']} | "
              f"{sum(r['errors'].values())} | {fmt(r['rss_peak_mb'])} | {r['load_during']} |")
    for r in results:
        if "idle_kib_per_connection" in r:
            print(f"idle: {r['target']}: {fmt(r['idle_kib_per_connection'], 1)} KiB per idle "
                  f"connection ({r['idle_connections']} connections)")
        if r["errors"]:
            print(f"errors: {r['target']}: {r['errors']}")
        print_gc(r)


def print_gc(r: dict[str, Any]) -> None:
    if "gc_pct_of_window" in r:
        print(f"gc: {r['target']}: {r['gc_pct_of_window']} % of the window; collections "
              f"(gen 0/1/2) {r['gc0_collections']}/{r['gc1_collections']}/"
              f"{r['gc2_collections']}, {r['gc0_ms']}/{r['gc1_ms']}/{r['gc2_ms']} ms; "
              f"longest pause ≤ {fmt(r['gc_longest_pause_le_ms'])} ms")


def main() -> int:
    parser = argparse.ArgumentParser(
        description="jmdchat load generator (loopback only, bounded in time)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--targets", default="floor,sqlite,postgres",
                        help="comma list of floor, sqlite, postgres (run one after another)")
    parser.add_argument("--workers", type=int, default=1, help="server processes (>1: Redis)")
    parser.add_argument("--redis", action="store_true", help="use Redis even with 1 worker")
    parser.add_argument("--scenario", choices=["saturate", "rate", "queue"], default="saturate")
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--rate", type=float, default=500.0, help="messages/s in total (rate)")
    parser.add_argument("--window", type=int, default=1, help="in-flight per client (saturate)")
    parser.add_argument("--verify", choices=["arrival", "after"], default="arrival",
                        help="when the receiver checks signatures: at arrival, as a real client "
                             "does, or after the run (decrypted at arrival either way)")
    parser.add_argument("--max-rate", type=float, default=4000.0,
                        help="saturate: upper bound used to size the pre-encrypted pools")
    parser.add_argument("--duration", type=float, default=20.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--idle", type=int, default=0,
                        help="afterwards, open this many extra idle connections (memory)")
    parser.add_argument("--idle-compress", action="store_true",
                        help="idle clients offer permessage-deflate like browsers do")
    parser.add_argument("--counsellors", type=int, default=100, help="queue: screens")
    parser.add_argument("--enquiries", type=int, default=50, help="queue: enquiries made")
    parser.add_argument("--enquiry-interval", type=float, default=0.3)
    parser.add_argument("--profile", default="", help="directory: py-spy the server")
    parser.add_argument("--ping-timeout", type=int, default=20,
                        help="jmdchat's limits.ping_timeout_seconds (default 20, production); "
                             "more only when a loaded machine starves the generator")
    parser.add_argument("--json", default="", help="append results as JSON lines here")
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs (logs)")
    args = parser.parse_args()
    if args.duration > 3600 or args.conversations > 5000:
        parser.error("bounded runs only: --duration <= 3600, --conversations <= 5000")
    results = []
    log(f"load average before: {load_average()}")
    for kind in [k.strip() for k in args.targets.split(",") if k.strip()]:
        if kind not in {"floor", "sqlite", "postgres"}:
            parser.error(f"unknown target {kind}")
        target = Target(kind, args.workers, args.redis or args.workers > 1, args.ping_timeout)
        if args.scenario == "queue":
            if kind == "floor":
                continue
            result = run_queue(args, target)
        else:
            result = run_messages(args, target)
        result["workers"] = args.workers
        result["verify"] = args.verify
        result["ping_timeout"] = args.ping_timeout
        results.append(result)
        shown = {k: v for k, v in result.items() if k not in {"profile"}}
        log(json.dumps(shown, default=str))
        for line in result.get("profile", []):
            print(line)
        if args.json:
            with open(args.json, "a", encoding="utf-8") as handle:
                handle.write(json.dumps({**shown, "when": time.strftime("%Y-%m-%d %H:%M"),
                                         "argv": sys.argv[1:]}, default=str) + "\n")
    if args.scenario != "queue":
        print_table(results)
    else:
        for r in results:
            print(f"queue: {r['target']}: {r['enquiries']} enquiries × {r['counsellors']} "
                  f"counsellors: p50 {fmt(r['p50_ms'], 1)} ms, p95 {fmt(r['p95_ms'], 1)} ms, "
                  f"p99 {fmt(r['p99_ms'], 1)} ms, missing {r['missing']}, "
                  f"ack p99 {fmt(r['ack_p99_ms'], 1)} ms, load {r['load_during']}")
            print_gc(r)
    log(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
