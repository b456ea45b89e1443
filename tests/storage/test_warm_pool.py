"""`warm_pool` (server/storage/db.py): `jmdchat serve` opens the database pool's connections at
start-up, so the first requests after a start or deploy do not each pay for a new connection.
Against the real PostgreSQL server; a database that is not there must not stop the start."""

from __future__ import annotations

from sqlalchemy.pool import QueuePool

from server.config.models import DatabaseConfig
from server.storage.db import create_engine, warm_pool
from tests.conftest import free_port


async def test_opens_the_pools_connections_and_keeps_them(postgres_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=postgres_url, pool_size=4))
    try:
        pool = engine.pool
        assert isinstance(pool, QueuePool)
        assert pool.checkedin() == 0
        assert await warm_pool(engine, 4) == 4
        # Four separate connections, all back in the pool for the first requests.
        assert pool.checkedin() == 4 and pool.checkedout() == 0
        async with engine.connect() as first, engine.connect() as second:
            assert pool.checkedin() == 2
            assert first is not second
    finally:
        await engine.dispose()


async def test_sqlite_has_nothing_to_open(sqlite_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=sqlite_url))
    try:
        assert await warm_pool(engine, 10) == 0
    finally:
        await engine.dispose()


async def test_a_database_that_is_not_there_opens_nothing_and_raises_nothing() -> None:
    url = f"postgresql+asyncpg://jmdchat@127.0.0.1:{free_port()}/none"
    engine = create_engine(DatabaseConfig(url=url, pool_size=3))
    try:
        assert await warm_pool(engine, 3) == 0
    finally:
        await engine.dispose()
