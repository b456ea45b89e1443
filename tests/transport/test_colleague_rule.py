"""The colleague rule (docs/security.md, open item 8; `ConversationAccess.can` in
server/services/access.py): in a conversation a counsellor holds, a colleague of the same site
reads and may mark it urgent (safeguarding), but does not send, type or close; the holder does
all of it. Nobody but the young person types into a waiting conversation. The site lead's cells
(close allowed, typing refused) are in tests/transport/test_authorization_matrix.py. Real
server and socket.io clients, SQLite and PostgreSQL."""

from __future__ import annotations

from server.keys import SESSIONS
from tests.conversation_support import (
    Client,
    World,
    create_via_service,
    encrypt,
    running_server,
    world_db_fixture,  # noqa: F401  (fixture "world_db")
)


async def test_only_the_holder_types_and_closes_colleagues_read_and_raise_urgency(
    world_db: tuple[str, World]
) -> None:
    url, world = world_db
    async with running_server(url) as srv:
        waiting = await create_via_service(srv.app[SESSIONS], world, world.young, "Warte")
        active = await create_via_service(srv.app[SESSIONS], world, world.young, "Hilfe")
        holder = await Client(world.counsellor).connect(srv.url)
        colleague = await Client(world.counsellor2).connect(srv.url)
        young = await Client(world.young).connect(srv.url)
        try:
            # Nobody holds the waiting one yet: counsellors neither type into nor close it.
            for event, extra in (("typing", {"active": True}), ("conversation.close", {})):
                refused = await colleague.call(event, {"conversation_id": waiting.id, **extra})
                assert refused["ok"] is False and refused["code"] == "not_holder", refused
                assert refused["message"]
            assert (await young.call("typing", {"conversation_id": waiting.id,
                                                "active": True}))["ok"]

            assert (await holder.call("conversation.claim", {"conversation_id": active.id}))["ok"]
            ref = {"conversation_id": active.id}
            # The colleague reads…
            joined = await colleague.call("conversation.join", {**ref, "after_seq": 0})
            assert joined["ok"] and joined["messages"]
            assert (await colleague.call("message.history", {**ref, "before_seq": 100}))["ok"]
            # …does not write, type or close…
            sent = await colleague.call("message.send", {
                **ref, "envelope": encrypt(world.counsellor2, active, "Ich")})
            assert sent["code"] == "not_claimed"
            typed = await colleague.call("typing", {**ref, "active": True})
            assert typed["ok"] is False and typed["code"] == "not_holder"
            closed = await colleague.call("conversation.close", ref)
            assert closed["ok"] is False and closed["code"] == "not_holder"
            # …but raises the alarm (safeguarding), and takes it back.
            urgent = await colleague.call("conversation.urgent", {**ref, "urgent": True})
            assert urgent["ok"], urgent
            assert (await colleague.call("conversation.urgent", {**ref, "urgent": False}))["ok"]

            # The holder does all of it; the conversation is still active before the close.
            assert (await holder.call("conversation.join", {**ref, "after_seq": 0}))["ok"]
            assert (await holder.call("typing", {**ref, "active": True}))["ok"]
            assert (await young.call("typing", {**ref, "active": True}))["ok"]
            done = await holder.call("conversation.close", ref)
            assert done["ok"] and done["conversation"]["status"] == "closed", done
        finally:
            for client in (holder, colleague, young):
                await client.close()
