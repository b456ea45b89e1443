"""Every socket.io event payload as a pydantic model, and the acknowledgement shape.

Client → server requests are answered with an ack `{ok: true, ...}` or
`{ok: false, code, message}` (message translated into the connection's locale).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class Payload(BaseModel):
    """Base for client payloads: unknown fields are refused, values are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Empty(Payload):
    pass


class ServerEvent(BaseModel):
    """Base for server → client events (emitted only after the transaction commits)."""

    model_config = ConfigDict(frozen=True)
    event: str


def ok(**fields: Any) -> dict[str, Any]:
    return {"ok": True, **fields}


def error(code: str, message: str) -> dict[str, Any]:
    return {"ok": False, "code": code, "message": message}


class ServerInfo(BaseModel):
    model_config = ConfigDict(frozen=True)
    ok: Literal[True] = True
    version: str
    locale: str


# =============================================================================================
# Conversations and queue (issue #5; docs/socket-events.md). Appended section.
# Envelopes and key shares are checked with the protocol's own shape validators
# (server/crypto): the server validates shape and size only, it cannot read them.
# =============================================================================================

from typing import Annotated  # noqa: E402

from pydantic import (  # noqa: E402
    AwareDatetime,
    BeforeValidator,
    Field,
    InstanceOf,
    StringConstraints,
)

from server.crypto.conversation import (  # noqa: E402
    Envelope,
    KeyShare,
    validate_envelope_shape,
    validate_key_share_shape,
)
from server.crypto.errors import CryptoError  # noqa: E402


def _envelope(value: object) -> Envelope:
    try:
        return validate_envelope_shape(value)
    except CryptoError as exc:  # pydantic reports ValueErrors as a field error
        raise ValueError(exc.code) from None


def _key_share(value: object) -> KeyShare:
    try:
        return validate_key_share_shape(value)
    except CryptoError as exc:
        raise ValueError(exc.code) from None


#: Conversation, site and account ids are lower-case UUIDs.
UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
Id = Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
EnvelopeIn = Annotated[InstanceOf[Envelope], BeforeValidator(_envelope)]
KeyShareIn = Annotated[InstanceOf[KeyShare], BeforeValidator(_key_share)]
Seq = Annotated[int, Field(ge=0, le=2**31 - 1)]
Version = Annotated[int, Field(ge=1, le=2**31 - 1)]
Language = Annotated[str, StringConstraints(min_length=2, max_length=20)]
TopicKey = Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")]
#: Notes and canned responses: base64url of a sealed box, at most ~16 KiB of plaintext.
Sealed = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$", max_length=22_000)]


class EpochKeyIn(Payload):
    recipient: Literal["self", "site"]
    site_key_version: Version | None = None
    sealed: KeyShareIn


class EnquiryCreate(Payload):
    topic: TopicKey
    language: Language
    location: Annotated[str, StringConstraints(max_length=100)] | None = None
    epoch_keys: Annotated[list[EpochKeyIn], Field(min_length=2, max_length=2)]
    first_message: EnvelopeIn
    site_id: Id | None = None


class QueueList(Payload):
    site_id: Id | None = None
    language: Language | None = None
    topic: TopicKey | None = None


class ClaimEpochKeyIn(Payload):
    """A share of the epoch a claim starts (issue #3, server/services/key_freshness.py)."""

    recipient: Literal["self", "young_person", "site"]
    site_key_version: Version | None = None
    sealed: KeyShareIn


class ConversationClaim(Payload):
    conversation_id: Id
    sealed_for_me: KeyShareIn | None = None
    # Issue #3: epoch n+1, when the server answered `rekey_required` (key_freshness.py).
    new_epoch: Annotated[list[ClaimEpochKeyIn], Field(min_length=1, max_length=3)] | None = None


class ConversationList(Payload):
    status: Literal["open", "closed"] | None = None


class ConversationJoin(Payload):
    conversation_id: Id
    after_seq: Seq


class ConversationRef(Payload):
    conversation_id: Id


class MessageSend(Payload):
    conversation_id: Id
    envelope: EnvelopeIn


class MessageHistory(Payload):
    conversation_id: Id
    before_seq: Seq
    limit: Annotated[int, Field(ge=1, le=100)] = 50


class MessageReadIn(Payload):
    conversation_id: Id
    seq: Seq


class TypingIn(Payload):
    conversation_id: Id
    active: bool


class NoteAdd(Payload):
    conversation_id: Id
    sealed_note: Sealed
    site_key_version: Version


class AbsenceSet(Payload):
    # JSON has no datetime: parse the ISO string (the only non-strict field); must carry a zone.
    until: Annotated[AwareDatetime, Field(strict=False)] | None = None


class CannedList(Payload):
    site_id: Id | None = None


class CannedSave(Payload):
    id: Id | None = None
    site_id: Id | None = None
    language: Language
    sealed: Sealed
    site_key_version: Version | None = None


class CannedDelete(Payload):
    id: Id

