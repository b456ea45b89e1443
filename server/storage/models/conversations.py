"""Conversations (enquiries), their key shares, members, messages, notes, canned responses.

Everything a person writes is stored as ciphertext the server cannot open: message envelopes
(docs/protocol.md 8.3), conversation key shares (8.2), notes and canned responses sealed to a
site key or an owner key. In clear are only the metadata routing and the queue need: site,
topic, language, the route's reason and at most the first two postcode digits.

Sequence numbers: `conversations.last_seq` is the counter; a writer reserves numbers with one
atomic `UPDATE ... SET last_seq = last_seq + k ... RETURNING last_seq` in the transaction that
inserts the messages, so numbers are gap-free and unique per conversation on SQLite and on
PostgreSQL (the row lock serialises writers of one conversation across processes).
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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base, new_id

STATUS_WAITING = "waiting"
STATUS_ACTIVE = "active"
STATUS_CLOSED = "closed"
STATUSES = (STATUS_WAITING, STATUS_ACTIVE, STATUS_CLOSED)

KIND_MESSAGE = "message"
KIND_SYSTEM = "system"

MEMBER_YOUNG_PERSON = "young_person"
MEMBER_COUNSELLOR = "counsellor"

RECIPIENT_ACCOUNT = "account"
RECIPIENT_SITE = "site"


class Conversation(Base):
    """One enquiry and the conversation that follows it."""

    __tablename__ = "conversations"
    __table_args__ = (
        # The queue: waiting conversations of a site, oldest first.
        Index("ix_conversations_site_status_created", "site_id", "status", "created_at"),
        # The per-counsellor open-conversation limit counts these.
        Index("ix_conversations_counsellor_status", "counsellor_id", "status"),
        CheckConstraint("status IN ('waiting', 'active', 'closed')", name="status"),
    )

    # Chosen by the young person's client (a fresh UUID): the id is part of the encrypted and
    # signed first message and of the epoch-1 key shares, which exist before this row does.
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # NULL: the young person deleted their account (the conversation stays for the counsellor
    # until retention removes it).
    young_person_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL"), index=True
    )
    site_id: Mapped[str] = mapped_column(String(36), ForeignKey("sites.id"))
    counsellor_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default=STATUS_WAITING)
    topic: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(16))
    # {"code": ..., "params": {...}} from the routing service; rendered by the client.
    route_reason: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # At most the first two digits of a postcode; never the postcode itself.
    postcode_prefix: Mapped[str | None] = mapped_column(String(2))
    current_epoch: Mapped[int] = mapped_column(Integer, default=1)
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    claimed_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    handed_over_from_site_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="SET NULL")
    )
    # Statistics (issue #9): the young person's age group when they wrote the enquiry (one of
    # the coarse groups of accounts.age_group, or NULL); kept so counts survive account deletion.
    age_group: Mapped[str | None] = mapped_column(String(8))


class ConversationKey(Base):
    """One signed key share of one epoch to one recipient (an account or a site key version).

    `sealed` is the share object of docs/protocol.md 8.2 as the client sent it (shape-checked);
    the server cannot open it.
    """

    __tablename__ = "conversation_keys"

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    recipient_kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    # An account id (kind "account") or a site id (kind "site").
    recipient_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_key_version: Mapped[int | None] = mapped_column(Integer)
    sealed: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]


class ConversationMember(Base):
    """Who takes part, and which epochs they may read: [from_epoch, until_epoch]."""

    __tablename__ = "conversation_members"

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    from_epoch: Mapped[int] = mapped_column(Integer, default=1)
    # NULL while the member takes part; set when they leave (handover): they keep read access to
    # the epochs they had, and no more.
    until_epoch: Mapped[int | None] = mapped_column(Integer)
    last_read_seq: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    joined_at: Mapped[datetime]


class Message(Base):
    """A message envelope (ciphertext) or a system event (a code with parameters)."""

    __tablename__ = "messages"
    __table_args__ = (
        # A resend with the same client message id can never become a second row.
        UniqueConstraint("conversation_id", "mid", name="uq_messages_conversation_id_mid"),
        CheckConstraint("kind IN ('message', 'system')", name="kind"),
    )

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    # Gap-free per conversation, assigned by the writer; (conversation_id, seq) is the key.
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The client's message id (a UUID); a resend with the same mid is the same message.
    mid: Mapped[str] = mapped_column(String(36))
    sender_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    epoch: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    envelope: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    system_code: Mapped[str | None] = mapped_column(String(32))
    system_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class ConversationNote(Base):
    """A counsellor's note on a conversation, sealed to the site key (opaque here)."""

    __tablename__ = "conversation_notes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[str] = mapped_column(String(36), ForeignKey("sites.id", ondelete="CASCADE"))
    site_key_version: Mapped[int] = mapped_column(Integer)
    author_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    sealed: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class CannedResponse(Base):
    """A reusable answer text: of a site (sealed to its key) or personal (sealed to the owner)."""

    __tablename__ = "canned_responses"
    __table_args__ = (
        CheckConstraint(
            "(site_id IS NULL) <> (owner_id IS NULL)", name="site_xor_owner"
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    site_key_version: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(16))
    sealed: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class CounsellorStatus(Base):
    """Per-counsellor state of the conversation area: absence, and the row a claim locks.

    A claim first updates this row (a row lock on PostgreSQL; SQLite serialises writers), then
    counts the counsellor's open conversations: two parallel claims by one counsellor are thus
    serialised and cannot both pass the limit.
    """

    __tablename__ = "counsellor_status"

    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    absent_until: Mapped[datetime | None]
    last_claim_at: Mapped[datetime | None]
