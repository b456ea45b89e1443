"""The WARNING for requests refused while the database is down is rate limited
(server/logging.py `SummarizedWarning`, used by `server.storage.db.log_unavailable`): the first
occurrence is a line of its own, the rest of the window one summary with counts. The window
here is an hour, so nothing depends on how fast the machine is; the running server's log
during a real outage is checked in tests/transport/test_crash_safety.py."""

from __future__ import annotations

import logging

import pytest

from server.logging import SummarizedWarning


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "test.outage"]


async def test_first_line_then_one_summary_with_counts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    outage = SummarizedWarning(logging.getLogger("test.outage"), "database unavailable",
                               every=3600)
    outage.warning("socket:message.send", "ConnectionRefusedError")
    for _ in range(250):
        outage.warning("socket:conversation.join", "ConnectionRefusedError")
    outage.warning("http:/api/auth/me", "TimeoutError")
    assert len(records(caplog)) == 1  # 252 refusals, one line so far
    first = records(caplog)[0]
    assert first.levelno == logging.WARNING and first.getMessage() == "database unavailable"
    assert (first.where, first.error) == ("socket:message.send", "ConnectionRefusedError")  # type: ignore[attr-defined]

    outage.flush()  # what the timer does at the end of the window
    summary = records(caplog)[1]
    assert summary.repeated == 251  # type: ignore[attr-defined]
    assert summary.by_where == {"socket:conversation.join": 250,  # type: ignore[attr-defined]
                                "http:/api/auth/me": 1}
    assert summary.errors == {"ConnectionRefusedError": 250, "TimeoutError": 1}  # type: ignore[attr-defined]

    outage.flush()  # nothing new: no empty summary
    assert len(records(caplog)) == 2


async def test_a_quiet_window_starts_over(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    outage = SummarizedWarning(logging.getLogger("test.outage"), "database unavailable",
                               every=3600)
    outage.warning("writer", "ConnectionResetError")
    outage.flush()  # the window ends without further refusals
    outage.warning("writer", "ConnectionResetError")  # the next outage: a line at once
    assert [r.where for r in records(caplog)] == ["writer", "writer"]  # type: ignore[attr-defined]
