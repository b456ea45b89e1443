"""socket.io handlers of chat rounds (docs/socket-events.md, "Chat rounds").

Parse (pydantic, `ValidatedNamespace.trigger_event`) → the account of the connection → the
rounds service authorizes through `access_round_for` and works in its own transaction → the
events leave through the Emitter after the commit → the return value is the ack. Rooms:
`round:<id>` (entered by `round.join`; left on refusal, and by every connection of the account
on every process on `round.leave` and `round.remove`). Muting changes no membership: a muted
participant keeps reading.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server.keys import CLOCK, EMITTER, SESSIONS
from server.services import rounds as service
from server.services.events import account_room
from server.transport.socket.conversations import ConversationAreaBase
from server.transport.socket.events import ok
from server.transport.socket.events_rounds import (
    RoundJoinIn,
    RoundMuteIn,
    RoundRef,
    RoundRekeyIn,
    RoundRemoveIn,
    RoundSendIn,
)


class RoundHandlers(ConversationAreaBase):
    async def on_round_join(self, sid: str, payload: RoundJoinIn) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        room = service.round_room(payload.round_id)
        # Enter before reading: nothing falls between the page and the live events (a message
        # may arrive twice — clients drop duplicates by seq). Left again on refusal.
        await self.enter_room(sid, room)
        try:
            result = await service.join(app[SESSIONS], app[CLOCK], account, payload.round_id,
                                        rules_accepted=payload.rules_accepted,
                                        after_seq=payload.after_seq)
        except BaseException:
            await self.leave_room(sid, room)
            raise
        taking_part = result.me is not None and result.me.state in ("waiting", "admitted")
        if not taking_part and not result.moderator:
            await self.leave_room(sid, room)
        await self.emit_after_commit(app, result.notices)
        return ok(
            round=result.round.model_dump(mode="json"),
            me=result.me.model_dump(mode="json") if result.me else None,
            members=[m.model_dump(mode="json") for m in result.members],
            keys=[k.model_dump(mode="json") for k in result.keys],
            messages=[m.model_dump(mode="json") for m in result.messages],
            has_more=result.has_more, rekey_needed=result.rekey_needed,
            departure_pending=result.departure_pending, moderator=result.moderator,
        )

    async def on_round_rekey(self, sid: str, payload: RoundRekeyIn) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        epoch, notices = await service.rekey(
            app[SESSIONS], app[CLOCK], account, payload.round_id, payload.epoch,
            [(s.member_id, s.sealed, s.sealed.to_json()) for s in payload.shares],
        )
        await self.emit_after_commit(app, notices)
        return ok(epoch=epoch)

    async def on_round_send(self, sid: str, payload: RoundSendIn) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        result = await service.send(app[SESSIONS], app[CLOCK], account, payload.round_id,
                                    payload.envelope, payload.envelope.to_json(), skip_sid=sid)
        await self.emit_after_commit(app, result.notices)
        return ok(seq=result.seq, created_at=result.created_at.isoformat())

    async def on_round_leave(self, sid: str, payload: RoundRef) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        notices = await service.leave(app[SESSIONS], app[CLOCK], account, payload.round_id)
        await self._leave_everywhere(app, account.account_id, payload.round_id)
        await self.emit_after_commit(app, notices)
        return ok()

    async def on_round_mute(self, sid: str, payload: RoundMuteIn) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        notices = await service.mute(app[SESSIONS], app[CLOCK], account, payload.round_id,
                                     payload.member_id, payload.muted)
        await self.emit_after_commit(app, notices)
        return ok()

    async def on_round_remove(self, sid: str, payload: RoundRemoveIn) -> dict[str, Any]:
        app = self.app_of(sid)
        account = await self.context_of(sid)
        removed, notices = await service.remove(app[SESSIONS], app[CLOCK], account,
                                                payload.round_id, payload.member_id)
        await self._leave_everywhere(app, removed, payload.round_id)
        await self.emit_after_commit(app, notices)
        return ok()

    async def _leave_everywhere(self, app: web.Application, account_id: str,
                                round_id: str) -> None:
        """After the commit, before the events about it: every connection of the account, on
        every server process (through Redis), leaves the round's room — the removed or leaving
        person's other tabs and devices included, so no later ciphertext or membership event
        of the round reaches them (server/transport/socket/rooms.py)."""
        await app[EMITTER].leave_room(account_room(account_id), service.round_room(round_id))
