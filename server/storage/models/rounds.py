"""Chat rounds (issue #9): scheduled group chats of several young people with counsellors.

A round belongs to one site (its counsellors moderate it) and has a topic title, a language,
a start and an end. Its messages are end-to-end encrypted with a group key per **epoch**
(docs/protocol.md "Chat rounds"): a moderator's client creates each epoch key and seals it to
every current participant; the server stores the signed key shares and the message envelopes
it cannot open. Participants appear to each other under a per-round pseudonymous `member_id`
and their nickname (counsellors: display name) — never under their account id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base, new_id

PARTICIPANT_YOUNG_PERSON = "young_person"
PARTICIPANT_COUNSELLOR = "counsellor"

#: Joined, waiting for a moderator's client to seal the next epoch key to them.
STATE_WAITING = "waiting"
#: Holds the current epoch key.
STATE_ADMITTED = "admitted"
STATE_LEFT = "left"
STATE_REMOVED = "removed"
ACTIVE_STATES = (STATE_WAITING, STATE_ADMITTED)


class ChatRound(Base):
    """One scheduled round."""

    __tablename__ = "chat_rounds"
    __table_args__ = (
        Index("ix_chat_rounds_language_ends_at", "language", "ends_at"),
        CheckConstraint("max_participants >= 1", name="max_participants"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    # The title counsellors give the round ("Ausbildung finden"), shown to young people.
    topic: Mapped[str] = mapped_column(String(120))
    language: Mapped[str] = mapped_column(String(16))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    # Young people only; counsellors do not count.
    max_participants: Mapped[int] = mapped_column(Integer)
    current_epoch: Mapped[int] = mapped_column(Integer, default=0)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    # Membership changed since the current epoch: a moderator's client must create the next.
    rekey_needed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Someone left or was removed and the current epoch key is still the old one: nobody may
    # send until the next epoch exists (so nothing is written that the leaver could open).
    departure_pending: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    # Set by retention when the closed round's messages and keys were deleted.
    purged_at: Mapped[datetime | None]


class RoundParticipant(Base):
    """Who takes part; readable epochs are [from_epoch, until_epoch]."""

    __tablename__ = "round_participants"
    __table_args__ = (
        UniqueConstraint("round_id", "member_id", name="uq_round_participants_round_id_member"),
        CheckConstraint(
            "state IN ('waiting', 'admitted', 'left', 'removed')", name="state"
        ),
    )

    round_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("chat_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # Pseudonymous id inside the round: the `sender` of envelopes and `from` of key shares.
    member_id: Mapped[str] = mapped_column(String(36), default=new_id)
    role: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default=STATE_WAITING)
    # 0 until admitted to an epoch.
    from_epoch: Mapped[int] = mapped_column(Integer, default=0)
    until_epoch: Mapped[int | None] = mapped_column(Integer)
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    rules_accepted_at: Mapped[datetime | None]
    joined_at: Mapped[datetime]


class RoundKey(Base):
    """One signed epoch-key share for one participant (docs/protocol.md, opaque here)."""

    __tablename__ = "round_keys"

    round_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("chat_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    sealed: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class RoundMessage(Base):
    """A round message envelope (ciphertext) or a system event (code + parameters)."""

    __tablename__ = "round_messages"
    __table_args__ = (
        UniqueConstraint("round_id", "mid", name="uq_round_messages_round_id_mid"),
        CheckConstraint("kind IN ('message', 'system')", name="kind"),
    )

    round_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("chat_rounds.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    mid: Mapped[str] = mapped_column(String(36))
    # The sender's member id (never the account id).
    sender_member_id: Mapped[str | None] = mapped_column(String(36))
    epoch: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    envelope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    system_code: Mapped[str | None] = mapped_column(String(32))
    system_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
