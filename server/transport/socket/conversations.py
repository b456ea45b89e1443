"""socket.io handlers of conversations (docs/socket-events.md, "Conversations").

Every handler: the payload is parsed by `ValidatedNamespace.trigger_event` → the account comes
from the connection's session → the service authorizes through `access_conversation_for` and
does the work in its own transaction → events go out through the Emitter after the commit →
the return value is the ack.

Messages go through the process's `MessageWriter` (group commit). python-socketio runs one
client's events one after another (`async_handlers=False`), so a client's messages keep
their order; other clients are not held up (each connection has its own receive loop), and a
sender waits at most `MessageWriter.wait_seconds` before it gets a `busy` ack and retries.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.i18n import lazy_gettext as _
from server.keys import ABUSE, CLOCK, EMITTER, MESSAGE_WRITER, SESSIONS
from server.services import conversations as service
from server.services import moderation
from server.services.access import AccountContext, access_conversation_for
from server.services.errors import NotFound, ServiceError, not_found
from server.services.events import Notice, conversation_room
from server.transport.socket.emitter import Emitter, Outgoing
from server.transport.socket.events import (
    AbsenceSet,
    CannedDelete,
    CannedList,
    CannedSave,
    ConversationJoin,
    ConversationList,
    ConversationRef,
    MessageHistory,
    MessageReadIn,
    MessageSend,
    NoteAdd,
    TypingIn,
    ok,
)
from server.transport.socket.namespace import ValidatedNamespace


async def emit_notices(emitter: Emitter, notices: list[Notice]) -> None:
    """Hand the services' events to the Emitter (call only after the commit)."""
    if notices:
        await emitter.send([
            Outgoing(room=n.room, event=n.event, name=n.name, skip_sid=n.skip_sid)
            for n in notices
        ])


class ConversationAreaBase(ValidatedNamespace):
    """Helpers shared by the conversation and queue handlers."""

    def app_of(self, sid: str) -> web.Application:
        """The aiohttp application serving this connection."""
        environ = self.server.get_environ(sid, namespace=self.namespace)
        request = environ.get("aiohttp.request") if environ else None
        if not isinstance(request, web.Request):
            raise not_found()
        return request.app

    async def context_of(self, sid: str) -> AccountContext:
        """The authenticated account of a connection (set by the connect handler)."""
        session = await self.get_session(sid)
        return AccountContext(
            account_id=str(session["account_id"]),
            role=str(session["role"]),
            locale=str(session["locale"]),
            session_id=str(session["session_id"]),
        )

    async def join_queue_rooms(self, sid: str, account: AccountContext) -> None:
        """Overridden by `QueueHandlers` (it comes first in the MRO); a no-op without them."""

    async def emit_after_commit(self, app: web.Application, notices: list[Notice]) -> None:
        await emit_notices(app[EMITTER], notices)

    async def remember_writable(self, sid: str, conversation_id: str) -> None:
        """Cache in the connection's session that the access path granted writing here, so
        a burst of messages does not run the same access check for each one (the writer
        checks membership again inside its transaction)."""
        session = await self.get_session(sid)
        granted = set(session.get("writable", ()))
        if conversation_id not in granted:
            granted.add(conversation_id)
            session["writable"] = sorted(granted)
            await self.save_session(sid, session)


class ConversationHandlers(ConversationAreaBase):
    async def on_conversation_list(self, sid: str, payload: ConversationList) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        items = await service.list_conversations(app[SESSIONS], app[CLOCK], account,
                                                 payload.status)
        await self.join_queue_rooms(sid, account)
        return ok(items=[i.model_dump(mode="json") for i in items])

    async def on_conversation_join(self, sid: str, payload: ConversationJoin) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        room = conversation_room(payload.conversation_id)

        async def enter_room() -> None:
            await self.enter_room(sid, room)
            await self.remember_writable(sid, payload.conversation_id)

        result = await service.join(app[SESSIONS], app[CLOCK], account, payload.conversation_id,
                                    payload.after_seq, enter_room)
        return ok(
            conversation=result.conversation.model_dump(mode="json"),
            keys=[k.model_dump(mode="json") for k in result.keys],
            messages=[m.model_dump(mode="json") for m in result.messages],
            has_more=result.has_more,
        )

    async def on_conversation_leave(self, sid: str, payload: ConversationRef) -> dict[str, Any]:
        """Stop live events of a conversation (e.g. the view was closed). Always ok."""
        await self.leave_room(sid, conversation_room(payload.conversation_id))
        return ok()

    async def on_message_send(self, sid: str, payload: MessageSend) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        envelope = payload.envelope
        if envelope.conv != payload.conversation_id or envelope.sender != account.account_id:
            # Shape is fine, but it is not this account's message for this conversation.
            raise ServiceError("invalid", _("The field {field} is not valid."), field="envelope")
        # Abuse limits per account and per connection (services/rate_limit.py): nothing stored.
        app[ABUSE].message(account.account_id, sid, app[CLOCK].now())
        session = await self.get_session(sid)
        if payload.conversation_id not in session.get("writable", ()):
            async with app[SESSIONS].begin() as db:
                await access_conversation_for(db, account, payload.conversation_id,
                                              for_write=True)
            await self.remember_writable(sid, payload.conversation_id)
        try:
            result = await app[MESSAGE_WRITER].submit(
                payload.conversation_id, account.account_id, envelope.to_json(), skip_sid=sid
            )
        except NotFound:  # blocked young person: the neutral `conversation_ended` instead
            await moderation.explain_refused_send(app[SESSIONS], account, payload.conversation_id)
            raise
        return ok(seq=result.seq, created_at=result.created_at.isoformat())

    async def on_message_history(self, sid: str, payload: MessageHistory) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        page = await service.history(app[SESSIONS], account, payload.conversation_id,
                                     payload.before_seq, payload.limit)
        return ok(messages=[m.model_dump(mode="json") for m in page.messages],
                  has_more=page.has_more)

    async def on_message_read(self, sid: str, payload: MessageReadIn) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        notices = await service.mark_read(app[SESSIONS], account, payload.conversation_id,
                                          payload.seq)
        await self.emit_after_commit(app, notices)
        return ok()

    async def on_typing(self, sid: str, payload: TypingIn) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        notices = await service.typing(app[SESSIONS], account, payload.conversation_id,
                                       payload.active, sid)
        await self.emit_after_commit(app, notices)
        return ok()

    async def on_conversation_close(self, sid: str, payload: ConversationRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        changed = await service.close(app[SESSIONS], app[CLOCK], account,
                                      payload.conversation_id)
        await self.emit_after_commit(app, changed.notices)
        return ok(conversation=changed.conversation.model_dump(mode="json"))

    async def on_note_add(self, sid: str, payload: NoteAdd) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        note = await service.add_note(app[SESSIONS], app[CLOCK], account,
                                      payload.conversation_id, payload.sealed_note,
                                      payload.site_key_version)
        return ok(note=note)

    async def on_note_list(self, sid: str, payload: ConversationRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        notes = await service.list_notes(app[SESSIONS], account, payload.conversation_id)
        return ok(notes=notes)

    async def on_absence_set(self, sid: str, payload: AbsenceSet) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        notices = await service.set_absence(app[SESSIONS], app[CLOCK], account, payload.until)
        await self.emit_after_commit(app, notices)
        return ok()

    async def on_canned_list(self, sid: str, payload: CannedList) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        items = await service.list_canned(app[SESSIONS], account, payload.site_id)
        return ok(items=items)

    async def on_canned_save(self, sid: str, payload: CannedSave) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        item = await service.save_canned(
            app[SESSIONS], app[CLOCK], account, canned_id=payload.id, site_id=payload.site_id,
            language=payload.language, sealed=payload.sealed,
            site_key_version=payload.site_key_version,
        )
        return ok(item=item)

    async def on_canned_delete(self, sid: str, payload: CannedDelete) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        await service.delete_canned(app[SESSIONS], account, payload.id)
        return ok()
