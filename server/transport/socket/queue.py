"""socket.io handlers of enquiries and the queue (docs/socket-events.md, "Enquiries and the
queue"): `enquiry.create`, `queue.list`, `conversation.claim`, and the queue rooms.

Counsellors' connections are in `site:<id>:queue` of each of their sites (joined when the
connection is authenticated, again on `queue.list` / `conversation.list`), so `queue.added`
and `queue.removed` reach every open counsellor screen of the site — in every process, via
the Redis manager.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.keys import CLOCK, CONFIG, SESSIONS, SITE_DIRECTORY
from server.services import enquiries, key_freshness
from server.services import queue as service
from server.services.access import AccountContext
from server.services.events import conversation_room, queue_room
from server.transport.socket.conversations import ConversationAreaBase
from server.transport.socket.events import ConversationClaim, EnquiryCreate, QueueList, ok

# Running notification mails (kept referenced until done).
_mail_tasks: set[asyncio.Task[None]] = set()


class QueueHandlers(ConversationAreaBase):
    async def join_queue_rooms(self, sid: str, account: AccountContext) -> None:
        """Counsellors: enter the queue room of each of their sites (idempotent)."""
        if not account.is_counsellor:
            return
        app = self.app_of(sid)
        for site_id in await service.queue_sites(app[SESSIONS], account):
            await self.enter_room(sid, queue_room(site_id))

    async def on_enquiry_create(self, sid: str, payload: EnquiryCreate) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        directory = await app[SITE_DIRECTORY].current(app[SESSIONS])
        result = await enquiries.create_enquiry(
            app[SESSIONS], app[CLOCK], directory, account,
            topic=payload.topic,
            language=payload.language,
            location=payload.location,
            epoch_keys=[
                enquiries.EpochKeyIn(k.recipient, k.site_key_version, k.sealed)
                for k in payload.epoch_keys
            ],
            first_message=payload.first_message,
            first_message_json=payload.first_message.to_json(),
            site_id=payload.site_id,
            config=app[CONFIG],
        )
        # The creator is live in the conversation at once (no extra join needed).
        await self.enter_room(sid, conversation_room(result.conversation.id))
        await self.remember_writable(sid, result.conversation.id)
        await self.emit_after_commit(app, result.notices)
        if result.mails:  # SMTP can be slow: never on the young person's path
            task = asyncio.create_task(enquiries.send_mails(app[CONFIG], result.mails))
            _mail_tasks.add(task)
            task.add_done_callback(_mail_tasks.discard)
        return ok(conversation=result.conversation.model_dump(mode="json"))

    async def on_queue_list(self, sid: str, payload: QueueList) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        items = await service.list_queue(
            app[SESSIONS], app[CLOCK], account, site_id=payload.site_id,
            language=payload.language, topic=payload.topic,
        )
        await self.join_queue_rooms(sid, account)
        return ok(items=[i.model_dump(mode="json") for i in items])

    async def on_conversation_claim(self, sid: str, payload: ConversationClaim) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        result = await service.claim(
            app[SESSIONS], app[CLOCK], account, payload.conversation_id,
            limit=app[CONFIG].limits.max_open_conversations_per_counsellor,
            sealed_for_me=payload.sealed_for_me,
            new_epoch=None if payload.new_epoch is None else [
                key_freshness.NewEpochShare(k.recipient, k.site_key_version, k.sealed)
                for k in payload.new_epoch
            ],
        )
        # The claimer is live in the conversation at once.
        await self.enter_room(sid, conversation_room(payload.conversation_id))
        await self.remember_writable(sid, payload.conversation_id)
        await self.emit_after_commit(app, result.notices)
        return ok(conversation=result.conversation.model_dump(mode="json"))
