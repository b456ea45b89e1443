"""`ping_when_idle` (server/storage/db.py): a pooled PostgreSQL connection that rested for more
than `PING_AFTER_IDLE_SECONDS` is pinged when it is checked out, so one the database dropped
meanwhile (a restart, an idle timeout) is replaced without the caller noticing; one back in
use within that second is not pinged (the message writer checks out a connection per batch),
and if the database dropped exactly that one, its first statement fails once as
"unavailable" and the pool recovers at once. Against the real PostgreSQL server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from server.config.models import DatabaseConfig
from server.storage.db import PING_AFTER_IDLE_SECONDS, create_engine, is_unavailable


async def backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as connection:
        pid = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    assert isinstance(pid, int)
    return pid


async def terminate(postgres_url: str, pid: int) -> None:
    """Drop one backend, as a restart or an idle timeout would, and wait until it is gone."""
    admin = create_async_engine(postgres_url, poolclass=NullPool)
    try:
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            for _ in range(100):
                alive = (await connection.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
                )).scalar_one()
                if not alive:
                    return
                await asyncio.sleep(0.01)
        raise AssertionError("the backend did not go away")
    finally:
        await admin.dispose()


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """As `jmdchat serve` makes it, with one pooled connection."""
    engine = create_engine(DatabaseConfig(url=postgres_url, pool_size=1))
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_rested_connection_that_the_database_dropped_is_replaced(
    engine: AsyncEngine, postgres_url: str
) -> None:
    first = await backend_pid(engine)
    await terminate(postgres_url, first)
    await asyncio.sleep(PING_AFTER_IDLE_SECONDS + 0.2)
    # No error for the caller: the ping found it dead, the pool opened another.
    assert await backend_pid(engine) != first


async def test_a_connection_reused_at_once_is_not_pinged_and_fails_only_once(
    engine: AsyncEngine, postgres_url: str
) -> None:
    first = await backend_pid(engine)
    await terminate(postgres_url, first)
    with pytest.raises(sa_exc.DBAPIError) as raised:
        await backend_pid(engine)
    assert is_unavailable(raised.value)  # answered "unavailable"; the client resends
    assert await backend_pid(engine) != first  # the very next use works again
