"""Engine and session factory. Services open `async with sessions.begin()` and own the commit."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import aiohttp
from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from server.config import DatabaseConfig
from server.logging import SummarizedWarning

Sessions = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # WAL lets readers proceed during the writer's commit; foreign keys are off by default
    # in SQLite and our cascades depend on them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(config: DatabaseConfig) -> AsyncEngine:
    url = config.url
    if is_sqlite(url):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=config.echo)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_async_engine(
        url,
        echo=config.echo,
        pool_size=config.pool_size,
        max_overflow=config.pool_size,
        # A database that does not answer must not hold the message writer for asyncpg's
        # default of 60 s: fail the connection attempt (→ "unavailable") and retry later.
        connect_args={"timeout": 10},
    )
    ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


#: A pooled connection that rested longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0


def ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Replace dead pooled connections (after a database restart, say) by pinging those that
    rested in the pool for more than `idle_seconds` when they are checked out.

    SQLAlchemy's `pool_pre_ping` pings at *every* checkout; asyncpg's ping is three round
    trips (BEGIN, `;`, ROLLBACK), and the message writer checks out a connection per batch:
    three of a batch's eleven round trips were pings (bench/README.md). A connection back in
    use within the second is not pinged: if
    the database went away in that second, its first statement fails, SQLAlchemy invalidates
    the whole pool, and the caller answers "unavailable" once (the client resends, messages
    with the same mid) — which is also what happens to a connection that is in use when the
    database goes away, pinged or not.
    """
    pool = engine.sync_engine.pool
    dialect = engine.sync_engine.dialect

    @event.listens_for(pool, "checkin")
    def _rested_since(_dbapi: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["checked_in"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _ping_if_rested(dbapi: DBAPIConnection, record: ConnectionPoolEntry,
                        _proxy: object) -> None:
        since = record.info.get("checked_in")
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        try:
            dialect.do_ping(dbapi)
        except Exception as exc:
            # The pool discards this connection and checks out (or opens) another.
            raise sa_exc.DisconnectionError() from exc


#: Start-up gives up opening the pool's connections after this long (the database may be down;
#: the server starts anyway and connects on demand, as always).
WARM_POOL_TIMEOUT_SECONDS = 10.0


async def warm_pool(engine: AsyncEngine, connections: int) -> int:
    """Open up to `connections` pooled connections at start-up and return them to the pool.

    A new asyncpg connection costs several round trips (authentication, then SQLAlchemy's
    type set-up), so without this the first requests after a start or deploy each paid for
    one: the first enquiries took up to twice as long (bench/README.md). Best effort: returns
    how many were opened, 0 for SQLite (one file, nothing to open ahead) or when the database
    does not answer within `WARM_POOL_TIMEOUT_SECONDS`.
    """
    if is_sqlite(str(engine.url)) or connections < 1:
        return 0

    async def one() -> None:
        # All start at once, before any is back in the pool: each opens its own connection.
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(one() for _ in range(connections)), return_exceptions=True),
            WARM_POOL_TIMEOUT_SECONDS)
    except TimeoutError:
        log_unavailable("warm_pool", TimeoutError())
        return 0
    failed = [r for r in results if isinstance(r, BaseException)]
    if failed:
        log_unavailable("warm_pool", failed[0])
    return len(results) - len(failed)


def create_sessions(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)


#: asyncpg errors that mean "no usable connection" (SQLSTATE classes 08 and 57: connection
#: failure, admin/crash shutdown, "the database system is starting up"), matched by name so
#: that SQLite-only installations need not import asyncpg.
_UNAVAILABLE_NAMES = {
    "PostgresConnectionError", "ConnectionDoesNotExistError", "ConnectionFailureError",
    "ClientCannotConnectError", "CannotConnectNowError", "AdminShutdownError",
    "CrashShutdownError", "OperatorInterventionError", "TooManyConnectionsError",
}


def is_unavailable(error: BaseException) -> bool:
    """Is this error the database being out of reach (down, restarting, connection cut,
    pool exhausted, SQLite locked for too long) rather than a bug?

    Such errors are transient: callers answer "briefly unavailable" (HTTP 503, socket ack
    code `unavailable`) and log one line without a traceback; the client retries (messages
    with the same mid, so nothing is stored twice). `ping_when_idle` and SQLAlchemy's pool
    invalidation replace dead connections once the database is back.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientError):
            return False  # the HTTP/websocket peer went away: not the database
        if isinstance(current, (ConnectionError, TimeoutError, sa_exc.TimeoutError)) or (
            type(current) is OSError  # asyncpg: "Multiple exceptions: Connect call failed"
        ):
            return True  # refused/reset connections; pool checkout timeout
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        if type(current).__name__ in _UNAVAILABLE_NAMES:
            return True
        if isinstance(current, sa_exc.OperationalError) and "locked" in str(current):
            return True  # SQLite busy beyond busy_timeout
        current = current.__cause__ or current.__context__
    return False


#: During an outage every refused request would write a WARNING line (hundreds a second under
#: load): the first is written, then one summary per this many seconds with the count.
UNAVAILABLE_LOG_EVERY_SECONDS = 30.0
_unavailable_log = SummarizedWarning(logging.getLogger("jmdchat.db"), "database unavailable",
                                     every=UNAVAILABLE_LOG_EVERY_SECONDS)


def log_unavailable(where: str, error: BaseException) -> None:
    """Log a request refused because the database is out of reach (`is_unavailable`), rate
    limited for the whole process: `where` names the place (`socket:<event>`, `http:<route>`,
    `writer`), `error` is logged by its type name only."""
    _unavailable_log.warning(where, type(error).__name__)
