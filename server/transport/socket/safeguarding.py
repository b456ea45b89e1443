"""socket.io handler of safeguarding (docs/socket-events.md): `conversation.urgent`.

A counsellor of the conversation's site marks it as urgent (risk to life) or clears the mark.
The service authorizes, writes flag and audit event, and returns the events; they leave through
the Emitter after the commit. The content-free notification mail (if `[mail]` is enabled) is
sent in the background so the ack does not wait for an SMTP server.
"""

from __future__ import annotations

import asyncio
from typing import Any

from server.keys import CLOCK, CONFIG, SESSIONS
from server.services import safeguarding as service
from server.transport.socket.conversations import ConversationAreaBase
from server.transport.socket.events import Id, Payload, ok

# Mail tasks in flight (keep a reference, or the loop may drop an unfinished task).
_mail_tasks: set[asyncio.Task[None]] = set()


class ConversationUrgentIn(Payload):
    """Client → server `conversation.urgent`."""

    conversation_id: Id
    urgent: bool


class SafeguardingHandlers(ConversationAreaBase):
    async def on_conversation_urgent(
        self, sid: str, payload: ConversationUrgentIn
    ) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        result = await service.set_urgent(
            app[SESSIONS], app[CLOCK], app[CONFIG], account, payload.conversation_id,
            payload.urgent,
        )
        await self.emit_after_commit(app, result.notices)
        if result.mails:
            task = asyncio.create_task(service.send_mails(app[CONFIG], result.mails))
            _mail_tasks.add(task)
            task.add_done_callback(_mail_tasks.discard)
        return ok(conversation_id=payload.conversation_id, urgent=result.urgent,
                  changed=result.changed)
