"""Payload models of the chat-round socket events (docs/socket-events.md, "Chat rounds").

Envelopes and key shares are checked with the protocol's shape validators (the round variant
has the same JSON shape as a conversation's, docs/protocol.md 8.6); the server reads nothing
inside them beyond ids, epoch and sizes.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, Field, InstanceOf

from server.crypto.errors import CryptoError
from server.crypto.rounds import RoundEnvelope, validate_round_envelope_shape
from server.transport.socket.events import Id, KeyShareIn, Payload, Seq, Version


def _round_envelope(value: object) -> RoundEnvelope:
    try:
        return validate_round_envelope_shape(value)
    except CryptoError as exc:
        raise ValueError(exc.code) from None


RoundEnvelopeIn = Annotated[InstanceOf[RoundEnvelope], BeforeValidator(_round_envelope)]


class RoundRef(Payload):
    round_id: Id


class RoundJoinIn(Payload):
    round_id: Id
    # Young people must accept the chat rules (shown by the client) to join.
    rules_accepted: bool = False
    after_seq: Seq = 0


class RoundShareIn(Payload):
    member_id: Id
    sealed: KeyShareIn


class RoundRekeyIn(Payload):
    round_id: Id
    epoch: Version
    shares: Annotated[list[RoundShareIn], Field(min_length=1, max_length=120)]


class RoundSendIn(Payload):
    round_id: Id
    envelope: RoundEnvelopeIn


class RoundMuteIn(Payload):
    round_id: Id
    member_id: Id
    muted: bool


class RoundRemoveIn(Payload):
    round_id: Id
    member_id: Id
