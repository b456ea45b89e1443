"""Structured logs. Privacy rule: never message content, passwords, tokens or IP addresses.

aiohttp's access log prints the remote address, so it is disabled; our own request log
records method, route, status and duration only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Library loggers that would print addresses or payloads.
    for noisy in ("aiohttp.access", "engineio.server", "socketio.server"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class SummarizedWarning:
    """A WARNING that may repeat thousands of times a minute during an outage (every request
    refused while the database is down): the first occurrence is logged at once; later ones
    within `every` seconds are only counted, and one summary line per `every` seconds says how
    many there were (`repeated`) and where (`by_where`, e.g. `{"socket:message.send": 412}`).
    Fields are event names, error types and counts only: no content, no addresses.

    The summary is written by a timer at the end of the window (so the count of the last
    window is not lost when the outage ends), or, without a running event loop, by the next
    occurrence after the window.
    """

    def __init__(self, logger: logging.Logger, event: str, every: float = 30.0) -> None:
        self.logger = logger
        self.event = event
        self.every = every
        self._window_start: float | None = None
        self._counts: Counter[str] = Counter()
        self._errors: Counter[str] = Counter()
        self._timer: asyncio.TimerHandle | None = None

    def warning(self, where: str, error: str) -> None:
        now = time.monotonic()
        if self._window_start is not None and now - self._window_start >= self.every:
            self.flush()
        if self._window_start is None:
            self._window_start = now
            self.logger.warning(self.event, extra={"where": where, "error": error})
            return
        self._counts[where] += 1
        self._errors[error] += 1
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # flushed by the next occurrence after the window
            self._timer = loop.call_later(max(0.0, self._window_start + self.every - now),
                                          self.flush)

    def flush(self) -> None:
        """Write the summary of the current window (if anything was counted); a new window
        starts with the next occurrence."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._counts:
            self.logger.warning(self.event, extra={
                "repeated": sum(self._counts.values()), "by_where": dict(self._counts),
                "errors": dict(self._errors), "seconds": self.every,
            })
            self._window_start = time.monotonic()
        else:
            self._window_start = None
        self._counts.clear()
        self._errors.clear()
