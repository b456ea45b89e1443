"""Server → client hints about the connection itself (issue #8 crash safety; docs/socket-events.md,
"Server behaviour in detail")."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

#: The event name of `SyncHint`.
SYNC_HINT = "sync.hint"


class SyncHint(BaseModel):
    """Live events may have been missed: catch up as after a reconnect.

    `reconnected`: this server process was cut off from Redis and has subscribed again;
    events the other processes published meanwhile never reached its connections. Sent
    only to this process's own connections (not through Redis). Not about a commit, so it
    does not go through the Emitter; it carries no data of anyone."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: Literal["reconnected"]
