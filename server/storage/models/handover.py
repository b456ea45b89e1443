"""Handover proposals: a counsellor proposes to move a conversation to another site; the young
person accepts (choosing whether the new site may read earlier messages) or declines.

Only metadata and one sealed note are stored: the note is sealed by the counsellor's client to
the target site's key (the server cannot open it). Who moved what, when and to whom is also
written to the audit trail (`audit_events`, metadata only).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base, new_id

PROPOSAL_PENDING = "pending"
PROPOSAL_ACCEPTED = "accepted"
PROPOSAL_DECLINED = "declined"
PROPOSAL_EXPIRED = "expired"
PROPOSAL_CANCELLED = "cancelled"
PROPOSAL_STATUSES = (
    PROPOSAL_PENDING, PROPOSAL_ACCEPTED, PROPOSAL_DECLINED, PROPOSAL_EXPIRED, PROPOSAL_CANCELLED,
)


class HandoverProposal(Base):
    """One proposal to move a conversation from one site to another."""

    __tablename__ = "handover_proposals"
    __table_args__ = (
        Index("ix_handover_proposals_conversation_status", "conversation_id", "status"),
        CheckConstraint(
            "status IN ('pending', 'accepted', 'declined', 'expired', 'cancelled')",
            name="status",
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE")
    )
    from_site_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE")
    )
    to_site_id: Mapped[str] = mapped_column(String(36), ForeignKey("sites.id", ondelete="CASCADE"))
    proposed_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default=PROPOSAL_PENDING)
    # The handover note, sealed by the counsellor's client to the target site's key version.
    note_sealed: Mapped[str | None] = mapped_column(Text)
    note_site_key_version: Mapped[int | None] = mapped_column(Integer)
    # The young person's choice on acceptance: may the new site read the earlier epochs?
    allow_history: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
