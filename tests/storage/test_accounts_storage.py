"""Accounts storage on SQLite and PostgreSQL (`db_url`): the model round trip through the
service, uniqueness under concurrency, foreign-key cascades, throttle rows, session expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from server.config import AppConfig, DatabaseConfig
from server.crypto.tokens import new_token
from server.services import rate_limit
from server.services.accounts import Accounts, NewIdentity, NewPassword
from server.services.clock import FrozenClock
from server.services.errors import ServiceError
from server.services.rate_limit import SourceLimiter
from server.services.sessions import find_session, issue_session, resolve_session
from server.storage.db import Sessions, create_engine, create_sessions
from server.storage.models import (
    Account,
    AuthSession,
    Invitation,
    LoginThrottle,
    SiteKey,
    SiteKeyBox,
    SiteMembership,
)
from server.storage.repositories import accounts as repo
from tests.account_material import add_site, material
from tests.conftest import make_config


@pytest.fixture
async def sessions(db_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(DatabaseConfig(url=db_url))
    yield create_sessions(engine)
    await engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def config(db_url: str) -> AppConfig:
    return make_config(db_url)


@pytest.fixture
def service(sessions: Sessions, config: AppConfig, clock: FrozenClock) -> Accounts:
    return Accounts(sessions, config, clock, SourceLimiter())


def identity(name: str, nickname: str) -> NewIdentity:
    m = material(name)
    return NewIdentity(
        nickname=nickname,
        password=NewPassword(m.salt, m.iterations, m.auth_key, m.key_blob),
        recovery_blob=m.recovery_blob, recovery_auth_key=m.recovery_auth_key,
        x25519_public=m.identity.x25519_public, ed25519_public=m.identity.ed25519_public,
        locale="ar", age_group="12-14",
    )


async def test_account_round_trip(service: Accounts, sessions: Sessions) -> None:
    m = material("lina")
    result = await service.register(identity("lina", "Lína Ab"), "test")
    async with sessions.begin() as db:
        account = await repo.get_account_by_nickname_key(db, "lína ab")
        assert account is not None
        assert account.id == result.account["id"]
        assert account.kdf_salt == m.salt and account.kdf_iterations == 600_000
        assert account.key_blob == m.key_blob and account.recovery_blob == m.recovery_blob
        assert account.x25519_public == m.identity.x25519_public
        assert account.created_at.tzinfo is not None
        assert account.auth_hash.startswith("scrypt$")
    login = await service.login("LÍNA AB", m.auth_key, None, "test")
    assert login.key_blob == m.key_blob
    salt, iterations = await service.prelogin("lína ab")
    assert (salt, iterations) == (m.salt, 600_000)


async def test_nickname_is_unique_even_under_concurrency(
    service: Accounts, sessions: Sessions
) -> None:
    results = await asyncio.gather(
        service.register(identity("lina", "Twin"), "a"),
        service.register(identity("lina-2", "TWIN"), "b"),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(errors) == 1, results
    assert isinstance(errors[0], ServiceError) and errors[0].code == "nickname_taken"
    async with sessions.begin() as db:
        assert await db.scalar(select(func.count()).select_from(Account)) == 1


async def test_deleting_an_account_row_cascades(
    service: Accounts, sessions: Sessions, clock: FrozenClock
) -> None:
    site_id = await add_site(sessions, "jmd-berlin")
    invitation = await service.create_invitation("site_lead", "jmd-berlin")
    accepted = await service.accept_invitation(invitation.token, identity("jonas", "jonas-b"))
    account_id = accepted.account["id"]
    async with sessions.begin() as db:
        key = SiteKey(site_id=site_id, version=1, x25519_public=bytes(32),
                      ed25519_public=bytes(32), certificate=None, certificate_expires_at=None,
                      created_by=account_id, created_at=clock.now())
        db.add(key)
        await db.flush()
        db.add(SiteKeyBox(site_key_id=key.id, account_id=account_id, sealed=b"x" * 160,
                          sealed_by=account_id, created_at=clock.now()))
    # Straight at the database, without the service: the foreign keys do the cleaning.
    async with sessions.begin() as db:
        await db.execute(delete(Account).where(Account.id == account_id))
    async with sessions.begin() as db:
        for model in (AuthSession, SiteMembership, SiteKeyBox):
            assert await db.scalar(select(func.count()).select_from(model)) == 0, model
        key_row = (await db.scalars(select(SiteKey))).one()
        assert key_row.created_by is None
        invitation_row = (await db.scalars(select(Invitation))).one()
        assert invitation_row.account_id is None


async def test_site_key_versions_are_unique(sessions: Sessions, clock: FrozenClock) -> None:
    site_id = await add_site(sessions, "jmd-trier")

    def key(version: int) -> SiteKey:
        return SiteKey(site_id=site_id, version=version, x25519_public=bytes(32),
                       ed25519_public=bytes(32), certificate=None,
                       certificate_expires_at=None, created_by=None, created_at=clock.now())

    async with sessions.begin() as db:
        db.add(key(1))
        db.add(key(2))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as db:
            db.add(key(2))
    async with sessions.begin() as db:
        assert await repo.max_site_key_version(db, site_id) == 2


async def test_throttle_rows_lock_and_double(sessions: Sessions, clock: FrozenClock) -> None:
    key = "k" * 64
    async with sessions.begin() as db:
        for _ in range(2):
            assert await rate_limit.record_nickname_failure(db, key, clock.now(), 3) is None
        assert await rate_limit.record_nickname_failure(db, key, clock.now(), 3) == timedelta(
            minutes=15
        )
    async with sessions.begin() as db:
        wait = await rate_limit.nickname_retry_after(db, key, clock.now())
        assert wait == timedelta(minutes=15)
    clock.advance(timedelta(minutes=15))
    async with sessions.begin() as db:
        assert await rate_limit.nickname_retry_after(db, key, clock.now()) is None
        for _ in range(2):
            await rate_limit.record_nickname_failure(db, key, clock.now(), 3)
        second = await rate_limit.record_nickname_failure(db, key, clock.now(), 3)
        assert second == timedelta(minutes=30)
    clock.advance(timedelta(days=2))
    async with sessions.begin() as db:
        assert await rate_limit.purge_stale(db, clock.now()) == 1
        assert await db.scalar(select(func.count()).select_from(LoginThrottle)) == 0


async def test_expired_sessions_are_refused_and_removed(
    service: Accounts, sessions: Sessions, clock: FrozenClock
) -> None:
    result = await service.register(identity("lina", "Lina"), "test")
    async with sessions.begin() as db:
        short = await issue_session(db, result.account["id"], "full", clock.now(),
                                    timedelta(minutes=5))
    assert await resolve_session(sessions, short.token, clock.now()) is not None
    assert await resolve_session(sessions, short.token, clock.now(), "recovery") is None
    assert await resolve_session(sessions, new_token(), clock.now()) is None
    clock.advance(timedelta(minutes=5))
    async with sessions.begin() as db:
        assert await find_session(db, short.token, clock.now(), "full") is None
    async with sessions.begin() as db:
        assert await db.get(AuthSession, short.session_id) is None
        assert await db.get(AuthSession, result.session.session_id) is not None
