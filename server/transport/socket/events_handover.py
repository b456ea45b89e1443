"""Payloads of the handover events (issue #6; docs/socket-events.md "Handover").

Key shares are checked with the protocol's shape validator (server/crypto): the server checks
shape and addressing, it cannot open them. Notes are base64url sealed boxes (opaque).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from server.transport.socket.events import (
    EpochKeyIn,
    Id,
    KeyShareIn,
    Language,
    Payload,
    Sealed,
    Version,
)

#: Epochs of one conversation a history list may name (far above any real conversation).
MAX_HISTORY_EPOCHS = 500


class HandoverSites(Payload):
    """`handover.sites`: search the site directory (name, city or postcode; language)."""

    query: Annotated[str, StringConstraints(max_length=80)] | None = None
    language: Language | None = None


class HandoverPropose(Payload):
    conversation_id: Id
    to_site_id: Id
    sealed_note: Sealed | None = None
    note_site_key_version: Version | None = None


class HandoverRef(Payload):
    """`handover.pending` / `handover.colleagues`: one conversation."""

    conversation_id: Id


class HistoryKeyIn(Payload):
    epoch: Annotated[int, Field(ge=1, le=2**31 - 1)]
    sealed: KeyShareIn


class HandoverAccept(Payload):
    proposal_id: Id
    allow_history: bool
    epoch_keys: Annotated[list[EpochKeyIn], Field(min_length=2, max_length=2)]
    history_keys: Annotated[list[HistoryKeyIn], Field(max_length=MAX_HISTORY_EPOCHS)] = (
        Field(default_factory=list))


class HandoverDecline(Payload):
    proposal_id: Id


class HandoverColleague(Payload):
    """`handover.colleague` (the assigned counsellor) and `handover.reassign` (a site lead):
    `to_account_id` null means back to the site's queue."""

    conversation_id: Id
    to_account_id: Id | None = None
    sealed_note: Sealed | None = None
    note_site_key_version: Version | None = None

