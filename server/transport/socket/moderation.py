"""socket.io handlers of moderation (docs/socket-events.md, "Moderation") and the
per-connection event budget (`refuse_event`, called by `ValidatedNamespace.trigger_event`
for every client event before anything else).

A refusal by a limit is an ack `{ok: false, code: "rate_limited", message, retry_after}`;
the connection stays open.
"""

from __future__ import annotations

from typing import Any

from server.i18n import get_translator
from server.keys import ABUSE, CLOCK, SESSIONS
from server.services import moderation as service
from server.services.errors import ServiceError
from server.transport.socket.conversations import ConversationAreaBase
from server.transport.socket.events import error, ok
from server.transport.socket.events_moderation import (
    ModerationBlock,
    ModerationRef,
    ModerationReport,
)


class ModerationHandlers(ConversationAreaBase):
    async def refuse_event(self, sid: str) -> dict[str, Any] | None:
        try:
            app = self.app_of(sid)
        except ServiceError:  # no request behind this connection: nothing to count
            return None
        refusal = app[ABUSE].event(sid, app[CLOCK].now())
        if refusal is None:
            return None
        translator = get_translator(await self.locale_of(sid))
        answer = error(refusal.code, translator.gettext(refusal.message, **refusal.params))
        answer["retry_after"] = refusal.retry_after
        return answer

    async def on_moderation_block(self, sid: str, payload: ModerationBlock) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        outcome = await service.block(app[SESSIONS], app[CLOCK], account,
                                      payload.conversation_id, payload.reason)
        await self.emit_after_commit(app, outcome.notices)
        return ok(**outcome.data)

    async def on_moderation_unblock(self, sid: str, payload: ModerationRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        outcome = await service.unblock(app[SESSIONS], app[CLOCK], account,
                                        payload.conversation_id)
        await self.emit_after_commit(app, outcome.notices)
        return ok(**outcome.data)

    async def on_moderation_report(self, sid: str, payload: ModerationReport) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        report = await service.report(app[SESSIONS], app[CLOCK], account,
                                      payload.conversation_id, payload.reason,
                                      payload.sealed_note, payload.site_key_version)
        return ok(report=report)

    async def on_moderation_status(self, sid: str, payload: ModerationRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        return ok(**await service.status(app[SESSIONS], account, payload.conversation_id))
