"""`jmdchat serve`: run the web server, as one process or as N worker processes on one port.

`--workers N` (or `server.workers`) starts N processes. Each runs its own aiohttp application
and socket.io server and binds the same host:port with SO_REUSEPORT, so the kernel spreads
new connections over them. Clients use the websocket transport only, so a connection lives
in one process from start to end and no sticky sessions are needed; the processes share the
database and deliver each other's socket.io events through Redis (`redis.url` is required).

The parent process only supervises: it forwards SIGTERM/SIGINT to the workers, waits for them
to finish their graceful shutdown (stop listening → close websockets so clients reconnect to
another process → store queued messages → close the database pool), and restarts a worker
that dies unexpectedly. Nothing in jmdchat has to run once per installation yet; a future
periodic job (e.g. retention) must not run in every worker (docs/deployment.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess

from aiohttp import web

from server import gc_pauses
from server.app import create_app
from server.cli.common import config_from
from server.config import AppConfig
from server.config.models import WORKERS_NEED_REDIS
from server.keys import ENGINE
from server.logging import configure_logging
from server.storage.db import warm_pool

log = logging.getLogger("jmdchat")

#: How long aiohttp lets handlers run after the shutdown began. Websockets get the engine.io
#: CLOSE packet at once (the app's on_shutdown hook) and clients leave for another process;
#: but aiohttp's closing handshake can wait for a peer that no longer reads, so the few
#: handlers still running are cancelled after this. A message whose sender was cancelled
#: here is still stored by the writer (cleanup), and the client's resend gets its seq.
SHUTDOWN_TIMEOUT = 3.0
#: How long the supervisor waits for its workers after forwarding a stop signal.
STOP_GRACE = SHUTDOWN_TIMEOUT + 20.0
#: A worker that exits sooner than this after its start counts as failing to start;
#: after FAST_FAILURES such exits in a row the supervisor gives up (wrong port, bad config...).
FAST_EXIT_SECONDS = 5.0
FAST_FAILURES = 3
MAX_WORKERS = 64


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("serve", help="run the server")
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument(
        "--workers", type=int, default=None,
        help="processes on one port via SO_REUSEPORT (default: server.workers); "
             "more than 1 needs redis.url",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = config_from(args)
    configure_logging(config.server.log_level, config.server.log_format)
    host = args.host or config.server.host
    port = args.port or config.server.port
    workers = args.workers if args.workers is not None else config.server.workers
    if not 1 <= workers <= MAX_WORKERS:
        print(f"config error: --workers: expected 1 … {MAX_WORKERS} (got {workers})",
              file=sys.stderr)
        return 2
    if workers > 1 and not config.redis.url:
        print(f"config error: {WORKERS_NEED_REDIS}", file=sys.stderr)
        return 2
    if workers == 1:
        log.info("starting", extra={"port": port, "mode": config.server.mode})
        asyncio.run(serve_app(config, host, port, worker=0, reuse_port=False))
        return 0
    return Supervisor(config, host, port, workers).run()


# --- one process ---------------------------------------------------------------------------


async def serve_app(
    config: AppConfig, host: str, port: int, *, worker: int, reuse_port: bool
) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully.

    Our own loop instead of `web.run_app`: run_app keeps its signal handlers during the
    cleanup, so a second signal (systemd and the supervisor both sending SIGTERM, or Ctrl-C
    reaching the whole process group) would abort the cleanup halfway — before the message
    writer stored what was queued. Here further signals are ignored once stopping began.
    """
    app = create_app(config, worker=worker)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT)
    await runner.setup()
    gc_pauses.tune(config.server.gc_threshold)
    opened = await warm_pool(app[ENGINE], config.database.pool_size)
    log.info("database pool opened", extra={"connections": opened, "worker": worker})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        log.info("listening", extra={"port": port, "worker": worker})
        await stop.wait()
        log.info("stopping", extra={"worker": worker})
    finally:
        await runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("stopped", extra={"worker": worker})


def _worker_main(config: AppConfig, host: str, port: int, worker: int) -> None:
    """Entry point of a worker process (started with the "spawn" method: a fresh interpreter,
    no state or signal handlers inherited from the supervisor)."""
    configure_logging(config.server.log_level, config.server.log_format)
    log.info("starting", extra={"port": port, "mode": config.server.mode, "worker": worker})
    asyncio.run(serve_app(config, host, port, worker=worker, reuse_port=True))


# --- the supervisor ------------------------------------------------------------------------


def port_in_use(host: str, port: int) -> bool:
    """True if something already listens on host:port.

    SO_REUSEPORT lets any process of the same user bind the port as well, so a second
    `jmdchat serve` started by mistake would silently take half of the connections. A probe
    bound *without* SO_REUSEPORT fails exactly when somebody is listening there.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False


class Supervisor:
    """Starts N workers, restarts one that dies, stops all of them on SIGTERM/SIGINT."""

    def __init__(self, config: AppConfig, host: str, port: int, workers: int) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.count = workers
        self.context = multiprocessing.get_context("spawn")
        self.workers: dict[int, BaseProcess] = {}
        self.started_at: dict[int, float] = {}
        self.fast_failures: dict[int, int] = {}
        self.stopping = False

    def _start(self, index: int) -> None:
        process = self.context.Process(
            target=_worker_main, args=(self.config, self.host, self.port, index),
            name=f"jmdchat-worker-{index}",
        )
        process.start()
        self.workers[index] = process
        self.started_at[index] = time.monotonic()

    def run(self) -> int:
        if port_in_use(self.host, self.port):
            print(f"error: {self.host}:{self.port} is already in use", file=sys.stderr)
            return 1
        # A signal only writes a byte to this pipe; the main loop waits on it together with
        # the workers' sentinels, so a stop request is seen at once.
        wake_read, wake_write = os.pipe()
        os.set_blocking(wake_write, False)
        previous = {
            signum: signal.signal(signum, lambda *_: self._wake(wake_write))
            for signum in (signal.SIGTERM, signal.SIGINT)
        }
        log.info("starting workers", extra={"port": self.port, "workers": self.count,
                                            "mode": self.config.server.mode})
        status = 0
        try:
            for index in range(self.count):
                self._start(index)
            status = self._supervise(wake_read)
        finally:
            self._stop_all()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            os.close(wake_read)
            os.close(wake_write)
        log.info("all workers stopped", extra={"status": status})
        return status

    def _wake(self, fd: int) -> None:
        self.stopping = True
        with contextlib.suppress(BlockingIOError):  # pipe full: a wake-up is pending anyway
            os.write(fd, b"x")

    def _supervise(self, wake_read: int) -> int:
        while not self.stopping:
            sentinels = {p.sentinel: i for i, p in self.workers.items()}
            ready = wait([wake_read, *sentinels], timeout=5.0)
            if self.stopping:
                break
            for handle in ready:
                index = sentinels.get(handle) if isinstance(handle, int) else None
                if index is None:
                    continue
                process = self.workers[index]
                process.join()
                lived = time.monotonic() - self.started_at[index]
                failures = self.fast_failures.get(index, 0) + 1 if lived < FAST_EXIT_SECONDS else 0
                self.fast_failures[index] = failures
                log.error("worker exited unexpectedly", extra={
                    "worker": index, "exitcode": process.exitcode, "seconds": round(lived, 1)})
                if failures >= FAST_FAILURES:
                    log.error("worker keeps failing at start; stopping",
                              extra={"worker": index})
                    return 1
                time.sleep(min(2.0 ** failures, 30.0) if failures else 0.5)
                self._start(index)
        return 0

    def _stop_all(self) -> None:
        living = [p for p in self.workers.values() if p.is_alive()]
        for process in living:
            if process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE
        for process in living:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                log.error("worker did not stop in time; killing", extra={"pid": process.pid})
                process.kill()
                process.join()
