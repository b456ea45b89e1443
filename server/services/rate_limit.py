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

Abuse limits (issue #8, `[rate_limits]` in config.toml, docs/security.md): token buckets in
this process's memory (`AbuseLimits`) for registrations per source, messages per account and
per connection, and every socket.io event per connection. `N per window` lets a burst of N
through, then one more every window/N; a refusal carries `retry_after` (whole seconds) and
takes nothing. With several processes each counts on its own: a connection lives in one
process, so per-connection limits are exact, and an account whose tabs reach k processes can
send at most k times the per-account limit.
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

from server.config.models import RateLimitsConfig
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


class TooFast(RateLimited):
    """A refusal by a limit: HTTP 429 with `Retry-After`, or a `rate_limited` ack with
    `retry_after` (both whole seconds, at least 1)."""

    def __init__(self, message: str, retry_after: timedelta, **params: object) -> None:
        super().__init__("rate_limited", message, **params)
        self.retry_after = max(1, math.ceil(retry_after.total_seconds()))


def rate_limited(retry_after: timedelta) -> RateLimited:
    minutes = max(1, math.ceil(retry_after.total_seconds() / 60))
    return TooFast(
        _("Too many attempts. Please wait {minutes} min and try again."),
        retry_after,
        minutes=minutes,
    )


def sending_too_fast(retry_after: timedelta) -> TooFast:
    seconds = max(1, math.ceil(retry_after.total_seconds()))
    return TooFast(
        _("You are sending messages very quickly. Your message will be sent in {seconds} s."),
        retry_after,
        seconds=seconds,
    )


def too_many_requests(retry_after: timedelta) -> TooFast:
    seconds = max(1, math.ceil(retry_after.total_seconds()))
    return TooFast(
        _("Too many requests at once. Please wait {seconds} s and try again."),
        retry_after,
        seconds=seconds,
    )


def too_many_enquiries(retry_after: timedelta) -> TooFast:
    hours = max(1, math.ceil(retry_after.total_seconds() / 3600))
    return TooFast(
        _("You have started many enquiries today. Please continue in one of your "
          "conversations, or try again in {hours} h."),
        retry_after,
        hours=hours,
    )


# --- abuse limits: token buckets in memory ----------------------------------------------------


@dataclass
class _Bucket:
    tokens: float
    updated: float  # seconds (POSIX time of the injected clock)


@dataclass
class TokenBuckets:
    """`limit` per `window` per key: a full bucket holds `limit` tokens and refills at
    limit/window. Bounded: beyond `max_keys`, refilled buckets (they hold no information)
    and then the least recently used ones are forgotten. Times are float seconds: this runs
    for every socket event, and datetime arithmetic was a measurable part of its cost."""

    max_keys: int = 100_000
    _buckets: OrderedDict[str, _Bucket] = field(default_factory=OrderedDict, repr=False)

    def _level(self, key: str, limit: int, window: float, now: float) -> float:
        bucket = self._buckets.get(key)
        if bucket is None:
            return float(limit)
        elapsed = max(0.0, now - bucket.updated)
        return min(float(limit), bucket.tokens + elapsed * limit / window)

    def wait(self, key: str, limit: int, window: float, now: float) -> float | None:
        """Seconds until one token is there again; None when there is one now."""
        level = self._level(key, limit, window, now)
        if level >= 1.0:
            return None
        return (1.0 - level) * window / limit

    def take(self, key: str, limit: int, window: float, now: float) -> None:
        level = self._level(key, limit, window, now)
        self._buckets[key] = _Bucket(level - 1.0, now)
        self._buckets.move_to_end(key)
        if len(self._buckets) > self.max_keys:
            self._prune(window, now)

    def _prune(self, window: float, now: float) -> None:
        for key in list(self._buckets):
            if now - self._buckets[key].updated >= window:
                del self._buckets[key]
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(frozen=True)
class Limit:
    key: str
    limit: int
    window: timedelta


HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
TEN_SECONDS = timedelta(seconds=10)
DAY = timedelta(days=1)


class AbuseLimits:
    """The per-process abuse limits of `[rate_limits]` (one instance per app, `app[ABUSE]`)."""

    def __init__(self, config: RateLimitsConfig) -> None:
        self.config = config
        self.buckets = TokenBuckets()
        self._key = os.urandom(32)

    def _source_id(self, source: str) -> str:
        # As SourceLimiter: only a keyed hash of the address, gone with the process.
        return hmac.new(self._key, source.encode(), hashlib.sha256).hexdigest()[:32]

    def _consume(self, limits: list[Limit], now: datetime) -> timedelta | None:
        """Take one token from each bucket, or none at all (then: the longest wait)."""
        if not self.config.enabled:
            return None
        t = now.timestamp()
        longest: float | None = None
        for x in limits:
            w = self.buckets.wait(x.key, x.limit, x.window.total_seconds(), t)
            if w is not None and (longest is None or w > longest):
                longest = w
        if longest is not None:
            return timedelta(seconds=longest)
        for x in limits:
            self.buckets.take(x.key, x.limit, x.window.total_seconds(), t)
        return None

    def registration(self, source: str, now: datetime) -> None:
        """One registration attempt from `source`; raises `TooFast`."""
        wait = self._consume(
            [Limit("reg:" + self._source_id(source),
                   self.config.registrations_per_source_per_hour, HOUR)], now
        )
        if wait is not None:
            raise rate_limited(wait)

    def message(self, account_id: str, connection: str, now: datetime) -> None:
        """One message of `account_id` over `connection`; raises `TooFast`."""
        wait = self._consume([
            Limit("msg:a:" + account_id, self.config.messages_per_account_per_minute, MINUTE),
            Limit("msg:c:" + connection, self.config.messages_per_connection_per_10s,
                  TEN_SECONDS),
        ], now)
        if wait is not None:
            raise sending_too_fast(wait)

    def event(self, connection: str, now: datetime) -> TooFast | None:
        """One socket.io event of `connection`: None, or the refusal to answer with."""
        wait = self._consume(
            [Limit("ev:" + connection, self.config.events_per_connection_per_10s,
                   TEN_SECONDS)], now
        )
        return None if wait is None else too_many_requests(wait)


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
