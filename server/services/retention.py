"""Retention: delete what we no longer need, on a schedule, in small batches.

Design
======

Young people trust this service with things they tell nobody else. The safest data is data we
no longer have, so every kind of row has an end (docs/privacy.md lists each table with its
rule). This module is the one place where that end is enforced; it runs

* in the server, as a background task of worker 0 every `retention.run_every_minutes`
  (`server/jobs.py`), and
* on demand: `jmdchat retention run [--dry-run]` (`server/cli/retention.py`).

Rules (limits from `[retention]` in config.toml; "now" is the injected clock):

=========================== ==================================================================
rule                        deletes
=========================== ==================================================================
closed_conversations        conversations closed, and without any activity or message, for
                            `closed_conversation_days` — with all their messages, key shares,
                            notes and members. A young person's new message reopens a closed
                            conversation and moves `last_activity_at`, so it starts over.
accounts_without_enquiry    young people's accounts older than `account_without_enquiry_days`
                            that have no conversation (never made an enquiry, or all of them
                            were deleted by the rule above) and are not logged in right now;
                            deleted through `delete_account_data`, so every deletion hook runs.
unfinished_staff_accounts   staff accounts whose two-factor set-up was never confirmed, older
                            than `security.invitation_hours` (they can never log in).
expired_invitations         invitation links past their expiry, used or not.
expired_sessions            login sessions, set-up sessions and recovery tokens past expiry.
stale_login_throttles       failed-login counters idle for a day and not blocking.
old_audit_events            audit events older than `audit_days`.
=========================== ==================================================================

How a rule runs: a cheap read asks whether there is anything to do (so an idle run never takes
SQLite's write lock). Then, batch after batch, ONE transaction takes the write lock
(`begin_write`), selects up to `batch_size` ids with the rule's condition (row-locked with
SKIP LOCKED on PostgreSQL), re-reads the condition for exactly those ids (a subquery such as
"has no conversation" is then evaluated after the lock was granted), deletes them and
commits. Short transactions keep the chat responsive while a large backlog is worked off; a
crash loses at most the current batch, which the next run deletes.

Idempotent and safe to run concurrently: every batch re-selects by condition, so two runs (two
machines, or the CLI next to the server) only ever delete rows that qualify, and SKIP LOCKED
lets them share the work. Only worker 0 of a machine starts the task, so one machine runs it
once; on several machines it runs once per machine, which costs a few queries and is harmless.

Logs: one line per batch and one summary per run, with the rule and counts only — never an id
of a person or a conversation, never content.

Admin settings (issue #9): the limits are config.toml's, overridden by what admins set in the
admin screen (`admin_settings.effective_retention`, read once at the start of a run). After a
real run one small write keeps its time and counts (`admin_settings` row
`retention.last_run`) for that screen — the only write of an otherwise idle run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.services import (
    admin_settings,
    erasure,  # noqa: F401  (registers the account deletion hook)
    rounds,  # chat rounds' retention rule (issue #9)
)
from server.services.accounts import delete_account_data
from server.services.clock import Clock
from server.storage.db import Sessions
from server.storage.repositories import retention as repo
from server.storage.repositories.conversations import begin_write

log = logging.getLogger("jmdchat.retention")

#: Failed-login counters are forgotten after a day without failures (server/services/rate_limit).
THROTTLE_IDLE = timedelta(days=1)

Deleter = Callable[[AsyncSession, Sequence[str]], Awaitable[dict[str, int]]]


@dataclass(frozen=True)
class Rule:
    """One retention rule: its candidates at a moment, and how a batch of them is deleted."""

    name: str
    candidates: repo.Candidates
    delete: Deleter


@dataclass
class RetentionSummary:
    """What a run deleted (or, in a dry run, would delete), per rule; counts only."""

    dry_run: bool
    started_at: datetime
    deleted: dict[str, int] = field(default_factory=dict)
    batches: dict[str, int] = field(default_factory=dict)
    # Rows removed with them (messages of deleted conversations, ...); not in dry runs.
    related: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


# --- deleters -----------------------------------------------------------------------------------


async def _delete_conversations(db: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    counts = await repo.delete_conversations(db, ids)
    return {"rows": counts.pop("conversations"), **counts}


async def _delete_accounts(db: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
    for account_id in ids:
        await delete_account_data(db, account_id)
    return {"rows": len(ids)}


def _simple(delete: Callable[[AsyncSession, Sequence[str]], Awaitable[int]]) -> Deleter:
    async def run(db: AsyncSession, ids: Sequence[str]) -> dict[str, int]:
        return {"rows": await delete(db, ids)}

    return run


def rules(config: AppConfig, now: datetime) -> list[Rule]:
    """The rules with their cutoffs for `now`, in the order they run (conversations before
    accounts, so an account whose last conversation expires goes in the same run)."""
    limits = config.retention
    return [
        Rule(
            "closed_conversations",
            repo.closed_conversations(now - timedelta(days=limits.closed_conversation_days)),
            _delete_conversations,
        ),
        Rule(
            "accounts_without_enquiry",
            repo.young_people_without_conversations(
                now - timedelta(days=limits.account_without_enquiry_days), now
            ),
            _delete_accounts,
        ),
        Rule(
            "unfinished_staff_accounts",
            repo.unfinished_staff_accounts(
                now - timedelta(hours=config.security.invitation_hours)
            ),
            _delete_accounts,
        ),
        Rule("expired_invitations", repo.expired_invitations(now),
             _simple(repo.delete_invitations)),
        Rule("expired_sessions", repo.expired_sessions(now), _simple(repo.delete_sessions)),
        Rule("stale_login_throttles", repo.stale_throttles(now - THROTTLE_IDLE),
             _simple(repo.delete_throttles)),
        Rule("old_audit_events", repo.old_audit_events(now - timedelta(days=limits.audit_days)),
             _simple(repo.delete_audit_events)),
        # Chat rounds (issue #9): messages and key shares of rounds that ended long enough ago.
        Rule("closed_rounds",
             *rounds.retention_parts(now - timedelta(days=limits.round_message_days), now)),
    ]


# --- running ------------------------------------------------------------------------------------


async def _run_rule(sessions: Sessions, rule: Rule, batch_size: int,
                    summary: RetentionSummary) -> None:
    batch = 0
    while True:
        # Anything to do? A plain read: no write lock for an idle rule.
        async with sessions.begin() as db:
            if not await repo.first_ids(db, rule.candidates, 1):
                return
        async with sessions.begin() as db:
            await begin_write(db)
            ids = await repo.first_ids(db, rule.candidates, batch_size, lock=True)
            # Evaluate the whole condition again now that the rows are locked.
            wanted = await repo.still_candidates(db, rule.candidates, ids)
            ids = [i for i in ids if i in wanted]
            counts = await rule.delete(db, ids) if ids else {"rows": 0}
        batch += 1
        rows = counts.pop("rows")
        summary.deleted[rule.name] = summary.deleted.get(rule.name, 0) + rows
        summary.batches[rule.name] = batch
        for name, value in counts.items():
            summary.related[name] = summary.related.get(name, 0) + value
        log.info("retention batch", extra={"rule": rule.name, "batch": batch, "deleted": rows,
                                           "related": counts})
        if len(ids) < batch_size:
            return


async def run_retention(
    sessions: Sessions, config: AppConfig, clock: Clock, *, dry_run: bool = False
) -> RetentionSummary:
    """Apply every rule once (all batches); returns the counts. `dry_run`: count only.

    The limits are config.toml's `[retention]` with the values admins set in the browser over
    them (`admin_settings.effective_retention`); a real run keeps its counts for that screen."""
    now = clock.now()
    summary = RetentionSummary(dry_run=dry_run, started_at=now)
    async with sessions.begin() as db:
        config = config.model_copy(
            update={"retention": await admin_settings.effective_retention(db, config)})
    for rule in rules(config, now):
        if dry_run:
            async with sessions.begin() as db:
                summary.deleted[rule.name] = await repo.count(db, rule.candidates)
            continue
        summary.deleted[rule.name] = 0
        await _run_rule(sessions, rule, config.retention.batch_size, summary)
    log.info("retention run", extra={"dry_run": dry_run, "deleted": dict(summary.deleted),
                                     "related": dict(summary.related)})
    if not dry_run:
        async with sessions.begin() as db:
            await admin_settings.record_retention_run(db, now, dry_run, summary.deleted,
                                                      summary.related)
    return summary


__all__ = ["RetentionSummary", "Rule", "rules", "run_retention"]
