"""Login sessions: issue, resolve, end. The token is the cookie value; only its hash is stored.

A session has a scope: ``full`` (a logged-in account), ``totp_setup`` (right after accepting an
invitation, good for nothing but confirming the first TOTP code) or ``recovery`` (the short-lived
token between recovery/start and recovery/finish). Lifetimes are absolute, counted from issue,
with the injected clock: `security.session_ttl_hours` for full sessions.

Ending sessions returns their ids, so that the transport can close the socket connections that
were opened with them (room ``session:<id>``) once the transaction committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from server.crypto.tokens import hash_token, looks_like_token, new_token
from server.services.access import AccountContext
from server.storage.db import Sessions
from server.storage.models import AuthSession
from server.storage.models.accounts import SCOPE_FULL, SCOPE_RECOVERY, SCOPE_TOTP_SETUP
from server.storage.repositories import accounts as repo

TOTP_SETUP_TTL = timedelta(hours=1)
RECOVERY_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class IssuedSession:
    """A new session: the token goes to the client once (cookie or body), never to a log."""

    token: str
    session_id: str
    scope: str
    expires_at: datetime
    max_age_seconds: int

    def __repr__(self) -> str:  # keep the token out of tracebacks and logs
        return f"IssuedSession(session_id={self.session_id!r}, scope={self.scope!r})"


def full_session_ttl(session_ttl_hours: int) -> timedelta:
    return timedelta(hours=session_ttl_hours)


async def issue_session(
    db: AsyncSession, account_id: str, scope: str, now: datetime, ttl: timedelta
) -> IssuedSession:
    assert scope in (SCOPE_FULL, SCOPE_TOTP_SETUP, SCOPE_RECOVERY)
    token = new_token()
    row = AuthSession(
        token_hash=hash_token(token),
        account_id=account_id,
        scope=scope,
        created_at=now,
        expires_at=now + ttl,
    )
    repo.add_session(db, row)
    await db.flush()
    return IssuedSession(
        token=token,
        session_id=row.id,
        scope=scope,
        expires_at=row.expires_at,
        max_age_seconds=int(ttl.total_seconds()),
    )


async def find_session(
    db: AsyncSession, token: str | None, now: datetime, scope: str
) -> AuthSession | None:
    """The live session of `scope` for `token`, or None. Expired sessions are deleted."""
    if not token or not looks_like_token(token):
        return None
    row = await repo.get_session_by_hash(db, hash_token(token))
    if row is None:
        return None
    if row.expires_at <= now:
        await repo.delete_session(db, row.id)
        return None
    if row.scope != scope:
        return None
    return row


async def resolve_session(
    sessions: Sessions, token: str | None, now: datetime, scope: str = SCOPE_FULL
) -> AccountContext | None:
    """Authenticate a cookie value: the account behind a live session of `scope`, or None."""
    if not token or not looks_like_token(token):
        return None
    async with sessions.begin() as db:
        row = await find_session(db, token, now, scope)
        if row is None:
            return None
        account = await repo.get_account(db, row.account_id)
        if account is None:
            return None
        return AccountContext(
            account_id=account.id, role=account.role, locale=account.locale, session_id=row.id,
            expires_at=row.expires_at,
        )


async def end_session(sessions: Sessions, session_id: str) -> None:
    async with sessions.begin() as db:
        await repo.delete_session(db, session_id)


async def end_sessions_of_account(
    db: AsyncSession, account_id: str, *, keep_session_id: str | None = None
) -> list[str]:
    return await repo.delete_sessions_of_account(db, account_id, keep_session_id=keep_session_id)


async def purge_expired_sessions(db: AsyncSession, now: datetime) -> int:
    return await repo.delete_expired_sessions(db, now)
