"""BENCH-ONLY EXPERIMENT: `jmdchat` with a set-based message writer commit.

Not used by the application. It measures how much of the message writer's cost is its
per-conversation SQL (bench/README.md, "Where the time goes"): the same `_commit` as
`server/services/message_writer.py`, except that the per-conversation statements of a batch
become set-based ones:

* one `SELECT … ORDER BY id FOR UPDATE` locks the batch's conversations in id order (on
  SQLite, `BEGIN IMMEDIATE` already serialises writers) and reads `last_seq`;
* one executemany `UPDATE conversations` sets every conversation's new `last_seq` and
  `last_activity_at` (instead of one `UPDATE … RETURNING` per conversation);
* one executemany `UPDATE conversation_members` advances the senders' read markers
  (instead of one `UPDATE` per sender and conversation).

Everything else — checks, dedupe by mid, reopen, first response, notices — is unchanged.
Run it like `python -m server`, e.g. `python bench/writer_prototype.py serve`;
`bench/load.py --writer-prototype` does that for the server under test.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import and_, bindparam, select, update  # noqa: E402
from sqlalchemy.orm.attributes import set_committed_value  # noqa: E402

from server.services import message_writer as mw  # noqa: E402
from server.services.events import MessageNew, Notice, StoredMessage, conversation_room  # noqa: E402
from server.storage.models import Conversation, ConversationMember  # noqa: E402
from server.storage.models.conversations import KIND_MESSAGE, MEMBER_COUNSELLOR  # noqa: E402
from server.storage.repositories import conversations as repo  # noqa: E402
from server.storage.repositories import messages as messages_repo  # noqa: E402

_ADVANCE = (
    update(ConversationMember.__table__)
    .where(and_(
        ConversationMember.__table__.c.conversation_id == bindparam("c"),
        ConversationMember.__table__.c.account_id == bindparam("a"),
        ConversationMember.__table__.c.last_read_seq < bindparam("s"),
    ))
    .values(last_read_seq=bindparam("s"))
)
_SET_SEQ = (
    update(Conversation.__table__)
    .where(Conversation.__table__.c.id == bindparam("c"))
    .values(last_seq=bindparam("n"), last_activity_at=bindparam("t"))
)


async def _commit(self: mw.MessageWriter, batch: list[Any]) -> tuple[dict[int, Any], list[Notice]]:
    now = self.clock.now()
    results: dict[int, Any] = {}
    notices: list[Notice] = []
    async with self.sessions.begin() as db:
        await repo.begin_write(db)
        conversations = await repo.get_conversations(db, {i.conversation_id for i in batch})
        members = await repo.members_with_site_access(
            db, {(i.conversation_id, i.sender_id) for i in batch})
        stored = await messages_repo.existing_mids(db, {(i.conversation_id, i.mid) for i in batch})
        accepted: dict[str, list[Any]] = {}
        first_of: dict[tuple[str, str], Any] = {}
        copies: list[tuple[Any, Any]] = []
        for item in batch:
            key = (item.conversation_id, item.mid)
            known = stored.get(key)
            if known is not None:
                seq, sender, created = known
                results[id(item)] = (mw.SendResult(seq, created, duplicate=True)
                                     if sender == item.sender_id else mw.duplicate_mid())
                continue
            original = first_of.get(key)
            if original is not None:
                copies.append((item, original))
                continue
            problem = self._check(item, conversations.get(item.conversation_id),
                                  members.get((item.conversation_id, item.sender_id)))
            if problem is not None:
                results[id(item)] = problem
                continue
            first_of[key] = item
            accepted.setdefault(item.conversation_id, []).append(item)

        ids = sorted(accepted)
        for conversation_id in ids:  # rare: a young person's message reopens a closed one
            notices.extend(await self._reopen_if_closed(db, conversations[conversation_id], now))
        last: dict[str, int] = {}
        if ids:
            locked = select(Conversation.id, Conversation.last_seq).where(Conversation.id.in_(ids))
            if db.get_bind().dialect.name != "sqlite":
                locked = locked.order_by(Conversation.id).with_for_update()
            last = {cid: int(seq) for cid, seq in (await db.execute(locked)).all()}
        rows: list[dict[str, Any]] = []
        seq_updates: list[dict[str, Any]] = []
        read_updates: list[dict[str, Any]] = []
        for conversation_id in ids:
            items = accepted[conversation_id]
            conversation = conversations[conversation_id]
            seq = last[conversation_id] + 1
            new_last = last[conversation_id] + len(items)
            seq_updates.append({"c": conversation_id, "n": new_last, "t": now})
            set_committed_value(conversation, "last_seq", new_last)
            set_committed_value(conversation, "last_activity_at", now)
            read_up_to: dict[str, int] = {}
            for item in items:
                rows.append({
                    "conversation_id": conversation_id, "seq": seq, "mid": item.mid,
                    "sender_id": item.sender_id, "epoch": item.epoch, "kind": KIND_MESSAGE,
                    "envelope": item.envelope, "system_code": None, "system_params": None,
                    "created_at": now,
                })
                results[id(item)] = mw.SendResult(seq, now, duplicate=False)
                read_up_to[item.sender_id] = seq
                notices.append(Notice(
                    conversation_room(conversation_id), "message.new",
                    MessageNew(conversation_id=conversation_id, message=StoredMessage(
                        seq=seq, mid=item.mid, sender_id=item.sender_id, epoch=item.epoch,
                        created_at=now, kind="message", envelope=item.envelope,
                    )),
                    skip_sid=item.skip_sid,
                ))
                seq += 1
            for sender_id, up_to in read_up_to.items():
                read_updates.append({"c": conversation_id, "a": sender_id, "s": up_to})
                role = members[(conversation_id, sender_id)][0].role
                if role == MEMBER_COUNSELLOR and conversation.first_response_at is None:
                    await repo.mark_first_response(db, conversation_id, now)
                    set_committed_value(conversation, "first_response_at", now)
        connection = await db.connection()
        if seq_updates:
            await connection.execute(_SET_SEQ, seq_updates)
        if read_updates:
            await connection.execute(_ADVANCE, read_updates)
        await messages_repo.insert_messages(db, rows)
    for copy, original in copies:
        results[id(copy)] = results[id(original)]
    return results, notices


mw.MessageWriter._commit = _commit  # type: ignore[method-assign,assignment]

if __name__ == "__main__":
    from server.cli import main

    raise SystemExit(main())
