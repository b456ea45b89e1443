"""socket.io handlers of handover (issue #6; docs/socket-events.md "Handover").

Parse (pydantic, in `ValidatedNamespace.trigger_event`) → the account from the connection →
the service authorizes and works in its own transaction → after the commit: close the live
rooms the service names (in every process, through the Redis manager), then emit its events
→ the return value is the ack.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from server.keys import CLOCK, CONFIG, SESSIONS
from server.services import handover as service
from server.transport.socket.conversations import ConversationAreaBase
from server.transport.socket.events import ok
from server.transport.socket.events_handover import (
    HandoverAccept,
    HandoverColleague,
    HandoverDecline,
    HandoverPropose,
    HandoverRef,
    HandoverSites,
)


class HandoverHandlers(ConversationAreaBase):
    async def _after_commit(self, app: web.Application, outcome: service.Outcome) -> None:
        for room in outcome.close_rooms:
            await self.close_room(room)
        await self.emit_after_commit(app, outcome.notices)

    async def on_handover_sites(self, sid: str, payload: HandoverSites) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        items = await service.search_sites(app[SESSIONS], app[CLOCK], account, payload.query,
                                           payload.language)
        return ok(items=items)

    async def on_handover_propose(self, sid: str, payload: HandoverPropose) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        outcome = await service.propose(
            app[SESSIONS], app[CLOCK], account, payload.conversation_id, payload.to_site_id,
            note_sealed=payload.sealed_note, note_site_key_version=payload.note_site_key_version,
            ttl=timedelta(hours=app[CONFIG].handover.proposal_ttl_hours),
        )
        await self._after_commit(app, outcome)
        return ok(**outcome.result)

    async def on_handover_pending(self, sid: str, payload: HandoverRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        proposal = await service.pending(app[SESSIONS], app[CLOCK], account,
                                         payload.conversation_id)
        return ok(proposal=proposal)

    async def on_handover_accept(self, sid: str, payload: HandoverAccept) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        outcome = await service.accept(
            app[SESSIONS], app[CLOCK], account, payload.proposal_id,
            allow_history=payload.allow_history,
            epoch_keys=[service.NewEpochShare(k.recipient, k.site_key_version, k.sealed)
                        for k in payload.epoch_keys],
            history_keys=[service.HistoryShare(k.epoch, k.sealed) for k in payload.history_keys],
        )
        await self._after_commit(app, outcome)
        return ok(**outcome.result)

    async def on_handover_decline(self, sid: str, payload: HandoverDecline) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        outcome = await service.decline(app[SESSIONS], app[CLOCK], account, payload.proposal_id)
        await self._after_commit(app, outcome)
        return ok(**outcome.result)

    async def on_handover_colleagues(self, sid: str, payload: HandoverRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        items = await service.colleagues(app[SESSIONS], account, payload.conversation_id)
        return ok(items=items)

    async def on_handover_former(self, sid: str, payload: HandoverRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        items = await service.former_counsellors(app[SESSIONS], account,
                                                 payload.conversation_id)
        return ok(items=items)

    async def on_handover_colleague(self, sid: str, payload: HandoverColleague) -> dict[str, Any]:
        return await self._to_colleague(sid, payload, as_lead=False)

    async def on_handover_reassign(self, sid: str, payload: HandoverColleague) -> dict[str, Any]:
        return await self._to_colleague(sid, payload, as_lead=True)

    async def _to_colleague(
        self, sid: str, payload: HandoverColleague, *, as_lead: bool
    ) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        outcome = await service.hand_to_colleague(
            app[SESSIONS], app[CLOCK], account, payload.conversation_id, payload.to_account_id,
            note_sealed=payload.sealed_note, note_site_key_version=payload.note_site_key_version,
            as_lead=as_lead,
        )
        await self._after_commit(app, outcome)
        return ok(**outcome.result)
