"""Payloads of the moderation events (issue #8; docs/socket-events.md, "Moderation")."""

from __future__ import annotations

from typing import Literal

from server.transport.socket.events import Id, Payload, Sealed, Version

#: The reason categories (server/storage/models/moderation.py REASONS).
Reason = Literal["harassment", "sexual_content", "threats", "hate", "spam", "other"]


class ModerationBlock(Payload):
    conversation_id: Id
    reason: Reason


class ModerationRef(Payload):
    conversation_id: Id


class ModerationReport(Payload):
    conversation_id: Id
    reason: Reason
    # Optional note sealed by the client to the site key (like conversation notes).
    sealed_note: Sealed | None = None
    site_key_version: Version | None = None
