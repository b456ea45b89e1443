"""Retention rules (server/services/retention.py) on SQLite and PostgreSQL with a frozen clock:
just before each limit nothing is deleted, just after it is; a closed conversation that got a
new message recently is kept; deletes run in batches that are logged with counts only; the dry
run deletes nothing; the CLI and the app's background task run the same rules."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from server import jobs
from server.app import create_app
from server.config import AppConfig
from server.services import conversations as conversation_service
from server.services.access import AccountContext
from server.services.clock import FrozenClock
from server.services.events import Notice
from server.services.message_writer import MessageWriter
from server.services.retention import run_retention
from server.storage.db import Sessions, create_engine, create_sessions
from server.storage.models import (
    Account,
    AuditEvent,
    AuthSession,
    Base,
    Conversation,
    ConversationKey,
    ConversationMember,
    ConversationNote,
    Invitation,
    LoginThrottle,
    Message,
    SiteMembership,
)
from tests.account_material import add_site
from tests.conftest import ROOT, make_config

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


@dataclass
class Db:
    url: str
    config: AppConfig
    sessions: Sessions
    site_id: str

    def with_retention(self, **values: object) -> AppConfig:
        return make_config(self.url, retention=dict(values))

    async def run(self, at: datetime, *, config: AppConfig | None = None,
                  dry_run: bool = False) -> dict[str, int]:
        summary = await run_retention(self.sessions, config or self.config, FrozenClock(at),
                                      dry_run=dry_run)
        return summary.deleted

    async def count(self, model: type[Base], **where: object) -> int:
        async with self.sessions.begin() as db:
            query = select(func.count()).select_from(model)
            for column, value in where.items():
                query = query.where(getattr(model, column) == value)
            return int((await db.execute(query)).scalar_one())

    async def exists(self, model: type[Base], key: object) -> bool:
        async with self.sessions.begin() as db:
            return await db.get(model, key) is not None


@pytest.fixture
async def store(db_url: str) -> AsyncIterator[Db]:
    config = make_config(db_url)
    engine = create_engine(config.database)
    sessions = create_sessions(engine)
    site_id = await add_site(sessions, f"jmd-ret-{uuid.uuid4().hex[:6]}")
    try:
        yield Db(db_url, config, sessions, site_id)
    finally:
        await engine.dispose()


# --- rows, written directly (the rules only look at metadata) -------------------------------


def _id() -> str:
    return str(uuid.uuid4())


async def account(store: Db, created: datetime, *, role: str = "young_person",
                  totp_enabled: bool = False) -> str:
    account_id = _id()
    async with store.sessions.begin() as db:
        db.add(Account(
            id=account_id, nickname=f"n{account_id[:8]}", nickname_key=f"n{account_id[:8]}",
            role=role, display_name="", locale="de", age_group=None, kdf_salt=bytes(16),
            kdf_iterations=600_000, auth_hash="x", recovery_hash="x", key_blob=b"k",
            recovery_blob=b"r", x25519_public=bytes(32), ed25519_public=bytes(32),
            totp_secret_box=None, totp_enabled=totp_enabled, totp_last_step=None,
            certificate=None, certificate_expires_at=None, created_at=created,
            updated_at=created,
        ))
        if role in ("counsellor", "site_lead"):
            await db.flush()
            db.add(SiteMembership(account_id=account_id, site_id=store.site_id,
                                  is_lead=role == "site_lead", created_at=created))
    return account_id


async def conversation(
    store: Db, young: str, at: datetime, *, status: str = "closed", counsellor: str | None = None,
    messages: int = 2,
) -> str:
    """A conversation with messages, key shares, a note and members, last active at `at`."""
    conversation_id = _id()
    async with store.sessions.begin() as db:
        db.add(Conversation(
            id=conversation_id, young_person_id=young, site_id=store.site_id,
            counsellor_id=counsellor, status=status, topic="school", language="de",
            route_reason={"code": "online_team", "params": {}}, postcode_prefix="54",
            current_epoch=1, last_seq=messages, created_at=at - DAY, claimed_at=None,
            first_response_at=None, last_activity_at=at,
            closed_at=at if status == "closed" else None, urgent=False,
            handed_over_from_site_id=None,
        ))
        await db.flush()
        db.add(ConversationMember(conversation_id=conversation_id, account_id=young,
                                  role="young_person", from_epoch=1, until_epoch=None,
                                  last_read_seq=0, active=True, joined_at=at - DAY))
        if counsellor is not None:
            db.add(ConversationMember(conversation_id=conversation_id, account_id=counsellor,
                                      role="counsellor", from_epoch=1, until_epoch=None,
                                      last_read_seq=0, active=True, joined_at=at - DAY))
        db.add(ConversationKey(conversation_id=conversation_id, epoch=1,
                               recipient_kind="account", recipient_id=young,
                               site_key_version=None, sealed={"box": "sealed"},
                               created_at=at - DAY))
        db.add(ConversationNote(conversation_id=conversation_id, site_id=store.site_id,
                                site_key_version=1, author_id=None, sealed="c2VhbGVk",
                                created_at=at - DAY))
        for seq in range(1, messages + 1):
            db.add(Message(conversation_id=conversation_id, seq=seq, mid=_id(), sender_id=young,
                           epoch=1, kind="message", envelope=envelope(conversation_id, young),
                           system_code=None, system_params=None, created_at=at - DAY))
    return conversation_id


def envelope(conversation_id: str, sender: str, text: str = "ciphertext") -> dict[str, Any]:
    return {"v": 1, "conv": conversation_id, "epoch": 1, "mid": _id(), "sender": sender,
            "skid": "k", "nonce": "n", "ct": text, "sig": "s"}


async def children(store: Db, conversation_id: str) -> dict[str, int]:
    return {
        model.__tablename__: await store.count(model, conversation_id=conversation_id)
        for model in (Message, ConversationKey, ConversationNote, ConversationMember)
    }


# --- conversations ------------------------------------------------------------------------------


async def test_closed_conversation_is_deleted_with_everything_after_the_limit(store: Db) -> None:
    young = await account(store, T0 - 10 * DAY)
    closed = await conversation(store, young, T0)
    active = await conversation(store, young, T0, status="active")
    waiting = await conversation(store, young, T0, status="waiting")
    limit = T0 + 180 * DAY

    assert (await store.run(limit - SECOND))["closed_conversations"] == 0
    assert await store.exists(Conversation, closed)
    assert set((await children(store, closed)).values()) != {0}

    deleted = await store.run(limit + SECOND)
    assert deleted["closed_conversations"] == 1
    assert not await store.exists(Conversation, closed)
    assert await children(store, closed) == {
        "messages": 0, "conversation_keys": 0, "conversation_notes": 0,
        "conversation_members": 0,
    }
    # Open conversations are never deleted by age, however quiet they are.
    assert await store.exists(Conversation, active)
    assert await store.exists(Conversation, waiting)
    assert (await children(store, active))["messages"] == 2


async def test_a_closed_conversation_with_a_recent_message_is_kept(store: Db) -> None:
    """Through the services: the counsellor closes, the young person writes again (which
    reopens it), the counsellor closes again: the limit starts from the last activity."""
    young = await account(store, T0 - 10 * DAY)
    counsellor = await account(store, T0 - 10 * DAY, role="counsellor", totp_enabled=True)
    conv = await conversation(store, young, T0 - DAY, status="active", counsellor=counsellor)
    counsellor_ctx = AccountContext(counsellor, "counsellor", "de", "s1")
    clock = FrozenClock(T0)
    await conversation_service.close(store.sessions, clock, counsellor_ctx, conv)

    clock.current = T0 + 100 * DAY
    published: list[Notice] = []

    async def publish(notices: list[Notice]) -> None:
        published.extend(notices)

    writer = MessageWriter(store.sessions, clock, publish)
    await writer.start()
    try:
        await writer.submit(conv, young, envelope(conv, young, "new message"))
    finally:
        await writer.stop()
    async with store.sessions.begin() as db:
        row = await db.get(Conversation, conv)
        assert row is not None and row.status == "active"  # reopened by the young person
    await conversation_service.close(store.sessions, clock, counsellor_ctx, conv)

    # 180 days after the FIRST close it would have gone; it got a message since: kept.
    assert (await store.run(T0 + 181 * DAY))["closed_conversations"] == 0
    assert await store.exists(Conversation, conv)
    assert (await store.run(T0 + 280 * DAY - SECOND))["closed_conversations"] == 0
    assert (await store.run(T0 + 280 * DAY + SECOND))["closed_conversations"] == 1
    assert not await store.exists(Conversation, conv)


async def test_a_message_newer_than_the_limit_protects_a_closed_conversation(store: Db) -> None:
    """Second guard: even if `last_activity_at` were stale, a newer message keeps it."""
    young = await account(store, T0 - 10 * DAY)
    conv = await conversation(store, young, T0)
    async with store.sessions.begin() as db:
        db.add(Message(conversation_id=conv, seq=3, mid=_id(), sender_id=young, epoch=1,
                       kind="message", envelope=envelope(conv, young), system_code=None,
                       system_params=None, created_at=T0 + 170 * DAY))
    assert (await store.run(T0 + 181 * DAY))["closed_conversations"] == 0
    assert (await store.run(T0 + 350 * DAY + SECOND))["closed_conversations"] == 1


# --- accounts -----------------------------------------------------------------------------------


async def test_young_people_without_an_enquiry_are_deleted_after_30_days(store: Db) -> None:
    lonely = await account(store, T0)
    logged_in = await account(store, T0)
    with_enquiry = await account(store, T0)
    await conversation(store, with_enquiry, T0 + 29 * DAY, status="closed")
    counsellor = await account(store, T0, role="counsellor", totp_enabled=True)
    limit = T0 + 30 * DAY
    async with store.sessions.begin() as db:
        db.add(AuthSession(token_hash=uuid.uuid4().hex, account_id=logged_in, scope="full",
                           created_at=limit, expires_at=limit + timedelta(hours=12)))

    assert (await store.run(limit - SECOND))["accounts_without_enquiry"] == 0
    assert await store.exists(Account, lonely)

    assert (await store.run(limit + SECOND))["accounts_without_enquiry"] == 1
    assert not await store.exists(Account, lonely)
    assert await store.exists(Account, logged_in)  # using the app right now
    assert await store.exists(Account, with_enquiry)
    assert await store.exists(Account, counsellor)  # staff are never deleted by this rule

    # Once the session expired, the account without enquiry goes as well (with its session).
    deleted = await store.run(limit + timedelta(hours=13))
    assert deleted["accounts_without_enquiry"] == 1
    assert not await store.exists(Account, logged_in)
    assert await store.count(AuthSession) == 0


async def test_unfinished_staff_accounts_go_when_their_invitation_could_no_longer_finish(
    store: Db,
) -> None:
    unfinished = await account(store, T0, role="counsellor", totp_enabled=False)
    finished = await account(store, T0, role="counsellor", totp_enabled=True)
    limit = T0 + timedelta(hours=72)
    assert (await store.run(limit - SECOND))["unfinished_staff_accounts"] == 0
    assert (await store.run(limit + SECOND))["unfinished_staff_accounts"] == 1
    assert not await store.exists(Account, unfinished)
    assert await store.exists(Account, finished)
    assert await store.count(SiteMembership, account_id=unfinished) == 0


# --- invitations, sessions, throttles, audit -----------------------------------------------------


async def test_expired_invitations_sessions_recovery_tokens_and_throttles(store: Db) -> None:
    holder = await account(store, T0, role="counsellor", totp_enabled=True)
    expires = T0 + timedelta(hours=72)
    async with store.sessions.begin() as db:
        for completed in (None, T0 + timedelta(hours=1)):
            db.add(Invitation(token_hash=uuid.uuid4().hex, role="counsellor",
                              site_id=store.site_id, display_name="", nickname=None,
                              created_at=T0, expires_at=expires, account_id=None,
                              completed_at=completed))
        for scope, ttl in (("full", timedelta(hours=12)), ("recovery", timedelta(minutes=10)),
                           ("totp_setup", timedelta(minutes=30))):
            db.add(AuthSession(token_hash=uuid.uuid4().hex, account_id=holder, scope=scope,
                               created_at=T0, expires_at=T0 + ttl))
        db.add(LoginThrottle(key="a" * 64, window_start=T0, failures=3, lockouts=0,
                             blocked_until=None))

    early = await store.run(T0 + timedelta(minutes=10) - SECOND)
    assert early["expired_sessions"] == 0 and early["expired_invitations"] == 0
    assert (await store.run(T0 + timedelta(minutes=10) + SECOND))["expired_sessions"] == 1
    assert (await store.run(T0 + timedelta(hours=12) + SECOND))["expired_sessions"] == 2
    assert await store.count(AuthSession) == 0

    assert (await store.run(T0 + DAY - SECOND))["stale_login_throttles"] == 0
    assert (await store.run(T0 + DAY + SECOND))["stale_login_throttles"] == 1

    assert (await store.run(expires - SECOND))["expired_invitations"] == 0
    assert (await store.run(expires + SECOND))["expired_invitations"] == 2  # used or not
    assert await store.count(Invitation) == 0
    assert await store.exists(Account, holder)


async def test_audit_events_are_kept_for_audit_days(store: Db) -> None:
    async with store.sessions.begin() as db:
        db.add(AuditEvent(at=T0, actor_id=None, action="invitation_created",
                          subject_type="invitation", subject_id=_id(), site_id=None, details={}))
    config = store.with_retention(audit_days=30)
    limit = T0 + 30 * DAY
    assert (await store.run(limit - SECOND, config=config))["old_audit_events"] == 0
    assert (await store.run(limit + SECOND, config=config))["old_audit_events"] == 1
    assert await store.count(AuditEvent) == 0


# --- batches, logs, dry run -----------------------------------------------------------------


async def test_deletes_run_in_logged_batches_with_counts_only(
    store: Db, caplog: pytest.LogCaptureFixture
) -> None:
    young = await account(store, T0 - 10 * DAY)
    conversations = [await conversation(store, young, T0) for _ in range(5)]
    config = store.with_retention(batch_size=2)

    with caplog.at_level(logging.INFO, logger="jmdchat.retention"):
        summary = await run_retention(store.sessions, config, FrozenClock(T0 + 181 * DAY))

    assert summary.deleted["closed_conversations"] == 5
    assert summary.batches["closed_conversations"] == 3  # 2 + 2 + 1, one transaction each
    assert summary.related["messages"] == 10
    batches = [r for r in caplog.records if r.getMessage() == "retention batch"
               and getattr(r, "rule", "") == "closed_conversations"]
    assert [getattr(r, "deleted", None) for r in batches] == [2, 2, 1]
    # Nothing in the logs names a person or a conversation.
    logged = " ".join(f"{r.getMessage()} {vars(r)}" for r in caplog.records)
    for secret in [young, *conversations]:
        assert secret not in logged
    # The account went with its last conversation, in the same run.
    assert summary.deleted["accounts_without_enquiry"] == 1


async def test_dry_run_counts_and_deletes_nothing(store: Db) -> None:
    young = await account(store, T0 - 10 * DAY)
    await conversation(store, young, T0)
    later = T0 + 181 * DAY
    counted = await store.run(later, dry_run=True)
    assert counted["closed_conversations"] == 1
    assert await store.count(Conversation) == 1
    assert await store.count(Message) == 2
    assert (await store.run(later))["closed_conversations"] == 1


# --- the CLI and the background task (SQLite) ----------------------------------------------


def test_cli_retention_run(sqlite_url: str) -> None:
    old = datetime.now(UTC) - timedelta(days=400)

    async def prepare() -> None:
        engine = create_engine(make_config(sqlite_url).database)
        sessions = create_sessions(engine)
        try:
            site_id = await add_site(sessions, "jmd-cli")
            db = Db(sqlite_url, make_config(sqlite_url), sessions, site_id)
            young = await account(db, old)
            await conversation(db, young, old)
        finally:
            await engine.dispose()

    asyncio.run(prepare())
    env = {**os.environ, "JMDCHAT_DATABASE_URL": sqlite_url,
           "JMDCHAT_SERVER_LOG_LEVEL": "WARNING"}

    def cli(*args: str) -> str:
        result = subprocess.run([sys.executable, "-m", "server", "retention", "run", *args],
                                cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                                check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout

    dry = cli("--dry-run")
    assert "closed_conversations: would delete 1" in dry
    assert "accounts_without_enquiry: would delete 0" in dry  # it still has a conversation
    done = cli()
    assert "closed_conversations: deleted 1" in done
    assert "accounts_without_enquiry: deleted 1" in done
    assert "with 2 messages" in done
    assert "total: would delete 0" in cli("--dry-run")


@pytest.mark.parametrize("worker", [0, 1])
async def test_background_task_runs_in_worker_0_only(
    sqlite_url: str, worker: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(jobs, "FIRST_RUN_DELAY_SECONDS", 0.0)
    config = make_config(sqlite_url)
    engine = create_engine(config.database)
    sessions = create_sessions(engine)
    store = Db(sqlite_url, config, sessions, await add_site(sessions, "jmd-task"))
    young = await account(store, T0)
    app = create_app(config, clock=FrozenClock(T0 + 31 * DAY), worker=worker)
    server = TestServer(app)
    await server.start_server()
    try:
        running = [t for t in asyncio.all_tasks() if t.get_name() == "retention"]
        assert len(running) == (1 if worker == 0 else 0)
        if worker == 0:
            for _ in range(100):
                if not await store.exists(Account, young):
                    break
                await asyncio.sleep(0.05)
            assert not await store.exists(Account, young)
    finally:
        await server.close()
        await engine.dispose()
    assert not [t for t in asyncio.all_tasks() if t.get_name() == "retention"]
