"""Accounts service rules and their building blocks: nickname rules, scrypt hashing of auth keys,
tokens and TOTP, the per-source limiter, deletion hooks, housekeeping."""

from __future__ import annotations

import os
import unicodedata
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.crypto import passwords
from server.crypto.errors import InvalidInput
from server.crypto.tokens import (
    TOKEN_CHARS,
    decrypt_totp_secret,
    encrypt_totp_secret,
    fake_salt,
    hash_token,
    looks_like_token,
    new_token,
    new_totp_secret,
    otpauth_uri,
    throttle_key,
    totp_code,
    totp_secret_base32,
    totp_secret_from_base32,
    verify_totp,
)
from server.services import accounts as accounts_module
from server.services.accounts import (
    Accounts,
    check_nickname,
    nickname_is_reserved,
    nickname_is_valid,
    nickname_key,
)
from server.services.clock import FrozenClock
from server.services.errors import ServiceError
from server.services.rate_limit import SourceLimiter
from server.services.sessions import resolve_session
from server.storage.db import Sessions, create_engine, create_sessions
from server.storage.models import Account, AuthSession, Invitation
from tests.account_material import add_site, material

# --- nicknames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "nickname",
    ["Lina", "abc", "a" * 32, "Mo Rahimi", "mo_r.99-x", "مریم", "Олена", "ሰላም", "नमस्ते",
     "Zoë", "زهرا\u064e", "李小龙"],
)
def test_valid_nicknames(nickname: str) -> None:
    assert nickname_is_valid(unicodedata.normalize("NFC", nickname))


@pytest.mark.parametrize(
    "nickname",
    ["ab", "a" * 33, "two  spaces", " lead", "trail ", "tab\tx", "smile🙂", "a/b", "x@y",
     "semi;colon", "zero\u200bwidth", "new\nline", "", "   "],
)
def test_invalid_nicknames(nickname: str) -> None:
    assert not nickname_is_valid(nickname)


def test_nicknames_are_normalised_and_compared_case_insensitively() -> None:
    assert check_nickname("  Zoe\u0308 ") == "Zoë"  # NFC, trimmed
    assert nickname_key("ZOË") == nickname_key("zoe\u0308") == "zoë"
    assert nickname_key("Straße") == nickname_key("STRASSE")


@pytest.mark.parametrize("nickname", ["admin", "ADMIN", "Ad.min", "jmd berlin", "JMD4you",
                                      "Berater_in", "Support", "system", "admin123"])
def test_reserved_nicknames(nickname: str) -> None:
    assert nickname_is_reserved(nickname)
    with pytest.raises(ServiceError) as raised:
        check_nickname(nickname)
    assert raised.value.code == "nickname_reserved"
    assert check_nickname(nickname, allow_reserved=True)


def test_ordinary_nicknames_are_not_reserved() -> None:
    for nickname in ("Lina", "Mohammed", "Amira Berlin", "teamplayer", "Systemsprenger"):
        assert not nickname_is_reserved(nickname), nickname


# --- scrypt hashes of auth keys ---------------------------------------------------------------


def test_auth_key_hash_round_trip_and_format() -> None:
    key = os.urandom(32)
    stored = passwords.hash_auth_key(key)
    scheme, log2_n, r, p, _salt, _digest = stored.split("$")
    assert (scheme, log2_n, r, p) == ("scrypt", "14", "8", "1")
    assert key.hex() not in stored
    assert passwords.verify_auth_key(key, stored)
    assert not passwords.verify_auth_key(os.urandom(32), stored)
    # A fresh salt every time: equal keys do not give equal hashes.
    assert passwords.hash_auth_key(key) != stored
    assert not passwords.needs_rehash(stored)
    weaker = passwords.hash_auth_key(key, passwords.ScryptParams(log2_n=10))
    assert passwords.verify_auth_key(key, weaker) and passwords.needs_rehash(weaker)


def test_auth_key_hash_refuses_bad_input() -> None:
    with pytest.raises(InvalidInput):
        passwords.hash_auth_key(b"short")
    with pytest.raises(InvalidInput):
        passwords.verify_auth_key(os.urandom(32), "pbkdf2$1$x")
    with pytest.raises(InvalidInput):  # a tampered row cannot make us allocate gigabytes
        passwords.verify_auth_key(os.urandom(32), "scrypt$40$8$1$" + "A" * 22 + "$" + "A" * 43)
    assert passwords.dummy_verify(os.urandom(32)) is False


# --- tokens, keyed hashes, TOTP ---------------------------------------------------------------


def test_tokens_are_random_and_stored_hashed() -> None:
    token = new_token()
    assert len(token) == TOKEN_CHARS and looks_like_token(token)
    assert new_token() != token
    assert hash_token(token) != token and len(hash_token(token)) == 64
    assert not looks_like_token("x" * 42) and not looks_like_token("!" * 43)


def test_fake_salt_and_throttle_keys_depend_on_the_secret() -> None:
    assert fake_salt("s1", "lina") == fake_salt("s1", "lina")
    assert fake_salt("s1", "lina") != fake_salt("s2", "lina") != fake_salt("s1", "lino")
    assert len(fake_salt("s1", "lina")) == 16
    key = throttle_key("s1", "login", "lina")
    assert "lina" not in key and key != throttle_key("s1", "recovery", "lina")


def test_totp_window_and_replay() -> None:
    secret = new_totp_secret()
    now = 1_767_600_000.0
    code = totp_code(secret, now)
    step = verify_totp(secret, code, now, None)
    assert step is not None
    assert verify_totp(secret, code, now, step) is None  # used
    assert verify_totp(secret, totp_code(secret, now - 30), now, None) == step - 1
    assert verify_totp(secret, totp_code(secret, now + 30), now, None) == step + 1
    assert verify_totp(secret, totp_code(secret, now - 90), now, None) is None
    assert verify_totp(secret, "12345", now, None) is None
    assert verify_totp(secret, "１２３４５６", now, None) is None  # full-width digits


def test_totp_secret_encoding_and_uri() -> None:
    secret = new_totp_secret()
    text = totp_secret_base32(secret)
    assert totp_secret_from_base32(text.lower()) == secret
    uri = otpauth_uri(secret, "Mo Rahimi")
    assert uri.startswith("otpauth://totp/jmdchat:Mo%20Rahimi?secret=" + text)
    assert "issuer=jmdchat" in uri and "digits=6" in uri and "period=30" in uri


def test_totp_secret_encryption_is_bound_to_key_and_account() -> None:
    secret = new_totp_secret()
    box = encrypt_totp_secret("server-secret", "account-1", secret)
    assert secret not in box
    assert decrypt_totp_secret("server-secret", "account-1", box) == secret
    with pytest.raises(InvalidInput):
        decrypt_totp_secret("server-secret", "account-2", box)  # moved to another row
    with pytest.raises(InvalidInput):
        decrypt_totp_secret("other-secret", "account-1", box)


# --- per-source limiter -----------------------------------------------------------------------


def test_source_limiter_sliding_window() -> None:
    clock = FrozenClock()
    limiter = SourceLimiter()
    for _ in range(3):
        assert limiter.retry_after("login", "10.0.0.1", 3, clock.now()) is None
        limiter.hit("login", "10.0.0.1", clock.now())
        clock.advance(timedelta(minutes=1))
    wait = limiter.retry_after("login", "10.0.0.1", 3, clock.now())
    assert wait == timedelta(minutes=12)
    assert limiter.retry_after("login", "10.0.0.2", 3, clock.now()) is None
    assert limiter.retry_after("register", "10.0.0.1", 3, clock.now()) is None
    clock.advance(timedelta(minutes=12))
    assert limiter.retry_after("login", "10.0.0.1", 3, clock.now()) is None
    # No address is kept in the clear.
    assert not any("10.0.0.1" in key for key in limiter._hits)


def test_source_limiter_memory_is_bounded() -> None:
    clock = FrozenClock()
    limiter = SourceLimiter(max_sources=100)
    for index in range(1000):
        limiter.hit("login", f"192.0.2.{index}", clock.now())
    assert len(limiter._hits) <= 100


# --- the service on a database ----------------------------------------------------------------


@pytest.fixture
async def sessions(config: AppConfig) -> AsyncIterator[Sessions]:
    engine = create_engine(config.database)
    yield create_sessions(engine)
    await engine.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def service(sessions: Sessions, config: AppConfig, clock: FrozenClock) -> Accounts:
    return Accounts(sessions, config, clock, SourceLimiter())


def identity(name: str, nickname: str) -> accounts_module.NewIdentity:
    m = material(name)
    return accounts_module.NewIdentity(
        nickname=nickname,
        password=accounts_module.NewPassword(m.salt, m.iterations, m.auth_key, m.key_blob),
        recovery_blob=m.recovery_blob, recovery_auth_key=m.recovery_auth_key,
        x25519_public=m.identity.x25519_public, ed25519_public=m.identity.ed25519_public,
        locale="de",
    )


async def test_deletion_hooks_run_in_the_deleting_transaction(
    service: Accounts, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []

    async def hook(db: AsyncSession, account_id: str) -> None:
        # Still there: hooks run before the row goes, in the same transaction.
        assert await db.get(Account, account_id) is not None
        seen.append(account_id)

    monkeypatch.setattr(accounts_module, "ACCOUNT_DELETION_HOOKS", [hook])
    result = await service.register(identity("lina", "Lina"), "test")
    context = await resolve_session(sessions, result.session.token, service.clock.now())
    assert context is not None
    ended = await service.delete_account(context, material("lina").auth_key, "test")
    assert seen == [result.account["id"]]
    assert ended == [context.session_id]
    async with sessions.begin() as db:
        assert await db.scalar(select(func.count()).select_from(Account)) == 0
        assert await db.scalar(select(func.count()).select_from(AuthSession)) == 0


async def test_a_failing_hook_keeps_the_account(
    service: Accounts, sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(db: AsyncSession, account_id: str) -> None:
        raise RuntimeError("conversation store unavailable")

    monkeypatch.setattr(accounts_module, "ACCOUNT_DELETION_HOOKS", [broken])
    result = await service.register(identity("lina", "Lina"), "test")
    context = await resolve_session(sessions, result.session.token, service.clock.now())
    assert context is not None
    with pytest.raises(RuntimeError):
        await service.delete_account(context, material("lina").auth_key, "test")
    assert await resolve_session(sessions, result.session.token, service.clock.now())


async def test_registration_rate_limit_per_source(service: Accounts) -> None:
    limit = service.config.security.login_attempts_per_15min * 3
    for index in range(limit):
        with pytest.raises(ServiceError) as raised:
            await service.register(identity("lina", "ab"), "10.1.1.1")
        assert raised.value.code == "nickname_invalid", index
    # Refused input does not count (a typo must not lock a classroom out); accounts made do.
    result = await service.register(identity("lina", "Lina"), "10.1.1.1")
    assert result.account["nickname"] == "Lina"
    for index in range(limit - 1):
        await service.register(identity("lina", f"Lina {index:02d}"), "10.1.1.1")
    with pytest.raises(ServiceError) as raised:
        await service.register(identity("lina", "Lina late"), "10.1.1.1")
    assert raised.value.code == "rate_limited"
    # Another address is not affected.
    await service.register(identity("lina", "Lina elsewhere"), "10.1.1.2")


async def test_purge_removes_expired_sessions_invitations_and_unfinished_staff(
    service: Accounts, sessions: Sessions, clock: FrozenClock
) -> None:
    await add_site(sessions, "jmd-trier")
    await service.register(identity("lina", "Lina"), "test")
    created = await service.create_invitation("counsellor", "jmd-trier")
    await service.accept_invitation(created.token, identity("lena", "lena-trier"))
    await service.create_invitation("counsellor", "jmd-trier")  # never used
    clock.advance(timedelta(hours=73))
    counts = await service.purge_expired()
    assert counts["sessions"] == 2  # the young person's and the TOTP setup session
    assert counts["unfinished_accounts"] == 1
    assert counts["invitations"] == 2
    async with sessions.begin() as db:
        assert await db.scalar(select(func.count()).select_from(Invitation)) == 0
        assert [a.nickname for a in (await db.scalars(select(Account))).all()] == ["Lina"]
