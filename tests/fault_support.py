"""Injected faults for the crash-safety tests: private PostgreSQL and Redis instances that a
test may stop and start at will, and `jmdchat serve` processes killed and restarted by PID.

Never the shared services on 5432/6379 (other tests use them), never a kill by name.
PostgreSQL refuses to run as root, so as root `initdb`/`pg_ctl` run as the `postgres` user
in a directory of their own under /tmp (pytest's tmp dirs are private to root).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import ROOT, LiveServer, free_port, missing_service

PG_BIN_DIRS = (
    Path("/usr/local/bin"),
    *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True),
)
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
#: Sessions made by `tests.conversation_support.build_world` (make_config's secret).
WORLD_SECRET = "test-secret-" + "x" * 32


def _pg_tool(name: str) -> Path | None:
    for directory in PG_BIN_DIRS:
        candidate = directory / name
        if candidate.exists():
            return candidate
    return None


# --- a private PostgreSQL ----------------------------------------------------------------------


@dataclass
class PrivatePostgres:
    """A throw-away PostgreSQL cluster on its own port; `stop()` is a crash (`-m immediate`)."""

    root: Path
    port: int
    pg_ctl: Path
    as_user: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.pg_ctl), "-D", str(self.data), *args],
            check=True, capture_output=True, timeout=120,
        )

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=60 -c shared_buffers=16MB")
        self._ctl("-o", options, "-l", str(self.root / "postgres.log"), "-w", "-t", "90",
                  "start")

    def stop(self) -> None:
        """Like a crash of the database server: no checkpoint, clients cut off at once."""
        self._ctl("-m", "immediate", "-w", "stop")

    def running(self) -> bool:
        return subprocess.run([*self.as_user, str(self.pg_ctl), "-D", str(self.data), "status"],
                              capture_output=True, timeout=30).returncode == 0

    async def create_database(self, name: str) -> str:
        engine = create_async_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await engine.dispose()
        return self.url(name)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    initdb, pg_ctl = _pg_tool("initdb"), _pg_tool("pg_ctl")
    if initdb is None or pg_ctl is None:
        missing_service("PostgreSQL server binaries (initdb, pg_ctl)")
    assert initdb is not None and pg_ctl is not None
    root = Path(tempfile.mkdtemp(prefix="jmdchat-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, str(initdb), "-D", str(root / "data"), "-U", "postgres", "--auth=trust",
         "-E", "UTF8", "--no-sync"],
        check=True, capture_output=True, timeout=180,
    )
    pg = PrivatePostgres(root, free_port(), pg_ctl, as_user)
    pg.start()
    try:
        yield pg
    finally:
        if pg.running():
            with suppress(subprocess.SubprocessError, OSError):
                pg.stop()
        shutil.rmtree(root, ignore_errors=True)


# --- a private Redis ---------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    port: int
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        wait_until(lambda: _accepts(self.port), 30, "redis did not start")

    def kill(self) -> None:
        """SIGKILL, by PID: every connection of the servers breaks at once."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)


@contextmanager
def private_redis(tmp: Path) -> Iterator[PrivateRedis]:
    if not Path(REDIS_SERVER).exists():
        missing_service("redis-server")
    redis = PrivateRedis(free_port(), tmp / "redis.log")
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


class PausableProxy:
    """A TCP proxy in front of a private service, in the test's event loop. `pause()` makes
    the service hang rather than die: connections stay open and are accepted, but nothing is
    forwarded in either direction (a Redis that is slow, not down); `resume()` delivers what
    was held back, in order."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> PausableProxy:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._flowing.set()
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def pause(self) -> None:
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer),
                             return_exceptions=True)
        for w in (writer, up_writer):
            self._writers.discard(w)
            w.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


# --- server processes ----------------------------------------------------------------------------


def wait_until(check: object, within: float, message: str) -> None:
    assert callable(check)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(message)


def healthz(server: LiveServer) -> tuple[int, str] | None:
    """(status, body) of /healthz, None when nothing answers."""
    try:
        with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()
    except OSError:
        return None


def kill_server(server: LiveServer) -> None:
    """SIGKILL the server process (by its PID): nothing is flushed, nothing cleaned up."""
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(timeout=30)


def restart_server(server: LiveServer) -> LiveServer:
    """Start `jmdchat serve` again with the same environment (port, database, data dir)."""
    handle = server.log_path.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "server", "serve"], cwd=ROOT, env=server.env,
        stdout=handle, stderr=subprocess.STDOUT,
    )
    again = LiveServer(server.url, server.port, process, server.env, server.log_path)

    def up() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited early:\n{again.log()}")
        answer = healthz(again)
        return answer is not None and answer[0] == 200

    wait_until(up, 60, "server did not come back")
    return again


async def wait_healthz(server: LiveServer, status: int, within: float = 60) -> str:
    """Wait until /healthz answers `status`; returns the body."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    last: tuple[int, str] | None = None
    while loop.time() < deadline:
        last = await asyncio.to_thread(healthz, server)
        if last is not None and last[0] == status:
            return last[1]
        await asyncio.sleep(0.2)
    raise AssertionError(f"/healthz never answered {status}; last: {last}")
