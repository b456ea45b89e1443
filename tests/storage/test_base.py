"""Shared storage behaviour: timezone-aware UTC on both databases, naive datetimes refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import StatementError

from server.config import DatabaseConfig
from server.storage.db import create_engine, create_sessions
from server.storage.models import AuditEvent


async def test_datetimes_come_back_as_aware_utc(db_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=db_url))
    sessions = create_sessions(engine)
    berlin = timezone(timedelta(hours=1))
    written = datetime(2026, 3, 1, 10, 30, tzinfo=berlin)
    try:
        async with sessions.begin() as session:
            session.add(
                AuditEvent(at=written, action="test", subject_type="t", subject_id="1", details={})
            )
        async with sessions() as session:
            event = (await session.execute(select(AuditEvent))).scalar_one()
        assert event.at == written
        assert event.at.tzinfo is not None
        assert event.at.utcoffset() == timedelta(0)
        assert event.at.hour == 9
    finally:
        await engine.dispose()


async def test_naive_datetimes_are_refused_and_nothing_is_written(db_url: str) -> None:
    engine = create_engine(DatabaseConfig(url=db_url))
    sessions = create_sessions(engine)
    try:
        with pytest.raises(StatementError):
            async with sessions.begin() as session:
                session.add(AuditEvent(at=datetime.now(UTC), action="ok", subject_type="t",
                                       subject_id="1", details={}))
                session.add(AuditEvent(at=datetime(2026, 1, 1), action="naive", subject_type="t",
                                       subject_id="2", details={}))
        async with sessions() as session:
            assert (await session.execute(select(AuditEvent))).scalars().all() == []
    finally:
        await engine.dispose()
