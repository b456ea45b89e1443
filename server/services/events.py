"""Server → client events of the conversation area, as typed models (docs/socket-events.md).

Services build these while they work and return them as `Notice`s next to their result; the
transport hands them to the Emitter only after the transaction committed. Rooms are named
here because the contract names them: `account:<id>`, `site:<id>:queue`, `conv:<id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


def account_room(account_id: str) -> str:
    return f"account:{account_id}"


def queue_room(site_id: str) -> str:
    return f"site:{site_id}:queue"


def conversation_room(conversation_id: str) -> str:
    return f"conv:{conversation_id}"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True)


@dataclass(frozen=True)
class Notice:
    """One event for one room (or several rooms: each socket gets it once)."""

    room: str | list[str]
    name: str
    event: BaseModel
    skip_sid: str | None = None


# --- shared shapes ----------------------------------------------------------------------------


class Coded(_Event):
    """A message for people as a code with parameters; each client renders it in its language."""

    code: str
    params: dict[str, Any] = {}


class SiteRef(_Event):
    id: str
    name: str
    city: str
    languages: list[str]


class CounsellorRef(_Event):
    id: str
    display_name: str
    absent_until: datetime | None = None
    certificate: str | None = None


class YoungPersonRef(_Event):
    id: str
    nickname: str
    x25519_public: str | None = None
    ed25519_public: str | None = None


class ConversationSummary(_Event):
    """A conversation as one viewer sees it.

    `last_read_seq` and `unread` belong to the viewer; in `conversation.updated` broadcasts to a
    room (several viewers) they are null: keep your own.
    """

    id: str
    status: Literal["waiting", "active", "closed"]
    site: SiteRef
    topic: str
    language: str
    route_reason: Coded
    counsellor: CounsellorRef | None
    young_person: YoungPersonRef | None
    current_epoch: int
    last_seq: int
    last_read_seq: int | None
    unread: int | None
    last_activity_at: datetime
    created_at: datetime
    queue_position: int | None = None
    expected_answer: Coded | None = None


class StoredMessage(_Event):
    seq: int
    mid: str
    sender_id: str | None
    epoch: int
    created_at: datetime
    kind: Literal["message", "system"]
    envelope: dict[str, Any] | None = None
    system: Coded | None = None


class EpochKey(_Event):
    """A key share as stored; `recipient` "self" (sealed to the viewer) or "site"."""

    epoch: int
    recipient: Literal["self", "site"]
    site_key_version: int | None = None
    sealed: dict[str, Any]


class SiteEpochKey(_Event):
    epoch: int
    site_key_version: int
    sealed: dict[str, Any]


class HandoverFrom(_Event):
    site_name: str
    note: dict[str, Any] | None = None


class QueueItem(_Event):
    conversation_id: str
    site_id: str
    topic: str
    language: str
    created_at: datetime
    waiting_seconds: int
    nickname: str | None
    young_person: YoungPersonRef | None = None
    urgent: bool
    first_message: dict[str, Any] | None
    epoch_keys: list[SiteEpochKey]
    handover_from: HandoverFrom | None = None


# --- events -----------------------------------------------------------------------------------


class QueueAdded(_Event):
    item: QueueItem


class QueueRemoved(_Event):
    conversation_id: str
    reason: Literal["claimed", "closed", "handed_over"]
    by_display_name: str | None = None


class QueuePosition(_Event):
    conversation_id: str
    position: int
    expected_answer: Coded


class MessageNew(_Event):
    conversation_id: str
    message: StoredMessage


class MessageRead(_Event):
    conversation_id: str
    account_id: str
    seq: int


class Typing(_Event):
    conversation_id: str
    account_id: str
    active: bool


class ConversationUpdated(_Event):
    conversation: ConversationSummary


class AccessChanged(_Event):
    conversation_id: str
