"""Limits on guessing: per nickname (in the database) and per source (in memory only).

* Per nickname: failed logins, wrong TOTP codes and failed recoveries are counted in
  `login_throttle`, keyed by an HMAC of the normalised nickname (server/crypto/tokens.py), for
  existing and unknown nicknames alike, so a 429 reveals nothing about whether a nickname exists.
  After `security.login_attempts_per_15min` failures the nickname is locked for 15 minutes,
  each further lock-out in a row twice as long (at most 4 hours). A success clears the row.
  Kept in the database so that several worker processes share the count.
* Per source (the client's network address): counted in this process's memory only, under a
  keyed hash with a random per-process key, and never written anywhere or logged. Young people
  often share one address (schools, shelters, youth centres), so this limit is generous; it is
  there to slow down one machine trying many nicknames.

Both use the injected clock, so tests can move time forward.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from server.i18n import lazy_gettext as _
from server.services.errors import RateLimited
from server.storage.models import LoginThrottle
from server.storage.repositories import accounts as repo

WINDOW = timedelta(minutes=15)
MAX_LOCKOUT_DOUBLINGS = 4  # 15 min * 2^4 = 4 h
#: Per-source limits as multiples of the per-nickname limit (shared addresses are common).
SOURCE_FAILURE_FACTOR = 5
SOURCE_REGISTER_FACTOR = 3
#: Bound on remembered sources, so that a flood of addresses cannot exhaust memory.
MAX_SOURCES = 50_000


def rate_limited(retry_after: timedelta) -> RateLimited:
    minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
    return RateLimited(
        "rate_limited",
        _("Too many attempts. Please wait {minutes} min and try again."),
        minutes=minutes,
    )


# --- per source, in memory --------------------------------------------------------------------


@dataclass
class SourceLimiter:
    """Sliding-window counters per (purpose, source) in this process only."""

    window: timedelta = WINDOW
    max_sources: int = MAX_SOURCES
    _key: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    _hits: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict, repr=False)

    def _id(self, purpose: str, source: str) -> str:
        # The address itself is not kept, only a keyed hash that dies with the process.
        return hmac.new(
            self._key, f"{purpose}\x00{source}".encode(), hashlib.sha256
        ).hexdigest()

    def _recent(self, key: str, now: datetime) -> deque[datetime]:
        hits = self._hits.get(key)
        if hits is None:
            return deque()
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
        return hits

    def retry_after(self, purpose: str, source: str, limit: int, now: datetime) -> timedelta | None:
        """How long `source` must wait before `purpose` is allowed again, or None."""
        hits = self._recent(self._id(purpose, source), now)
        if len(hits) < limit:
            return None
        return max(timedelta(seconds=1), hits[-limit] + self.window - now)

    def hit(self, purpose: str, source: str, now: datetime) -> None:
        key = self._id(purpose, source)
        hits = self._recent(key, now)
        if key not in self._hits:
            self._hits[key] = hits
        self._hits.move_to_end(key)
        hits.append(now)
        if len(self._hits) > self.max_sources:
            self._prune(now)

    def _prune(self, now: datetime) -> None:
        for key in list(self._hits):
            self._recent(key, now)
        while len(self._hits) > self.max_sources:
            self._hits.popitem(last=False)  # least recently used source

    def clear(self) -> None:
        self._hits.clear()


# --- per nickname, in the database ------------------------------------------------------------


async def nickname_retry_after(
    db: AsyncSession, key: str, now: datetime
) -> timedelta | None:
    row = await repo.get_throttle(db, key)
    if row is None or row.blocked_until is None or row.blocked_until <= now:
        return None
    return row.blocked_until - now


async def record_nickname_failure(
    db: AsyncSession, key: str, now: datetime, limit: int
) -> timedelta | None:
    """Count one failure; returns the lock-out if this failure started one."""
    row = await repo.get_throttle(db, key)
    if row is None:
        row = LoginThrottle(key=key, window_start=now, failures=0, lockouts=0)
        repo.add_throttle(db, row)
    elif now - row.window_start >= WINDOW:
        row.window_start = now
        row.failures = 0
    row.failures += 1
    if row.failures < limit:
        return None
    row.lockouts += 1
    lockout = WINDOW * (1 << min(row.lockouts - 1, MAX_LOCKOUT_DOUBLINGS))
    row.blocked_until = now + lockout
    row.window_start = now
    row.failures = 0
    return lockout


async def clear_nickname(db: AsyncSession, key: str) -> None:
    await repo.delete_throttle(db, key)


async def purge_stale(db: AsyncSession, now: datetime) -> int:
    """Forget rows idle for a day (retention job): lock-out doubling starts from zero again."""
    return await repo.delete_stale_throttles(db, now - timedelta(days=1))
