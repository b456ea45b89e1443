"""Moderation (issue #8): blocks and reports of young people's accounts.

* A **conversation block**: a counsellor of the conversation's site stopped the young person
  from writing into that one conversation (the member row is deactivated as well, so the
  message writer refuses in its own transaction). Deleted on unblock.
* A **site block**: the site lead (or an admin) stopped the account from starting new
  enquiries at that site. Deleted on unblock.
* A **report**: a counsellor reported the account to the site lead; a reason category and
  optionally a note sealed by the client to the site key (ciphertext; the server cannot read
  it). Metadata only in clear.

Rows go with the account (CASCADE) or the site; reports also with retention (docs/privacy.md).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base, new_id

#: Reason categories a counsellor can choose (the client shows translated labels).
REASONS = ("harassment", "sexual_content", "threats", "hate", "spam", "other")

REPORT_OPEN = "open"
REPORT_DISMISSED = "dismissed"
REPORT_ACTIONED = "actioned"
REPORT_STATUSES = (REPORT_OPEN, REPORT_DISMISSED, REPORT_ACTIONED)


class ConversationBlock(Base):
    """The young person of this conversation may no longer write into it."""

    __tablename__ = "conversation_blocks"

    conversation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[str] = mapped_column(String(36), ForeignKey("sites.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(32))
    blocked_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]


class SiteBlock(Base):
    """The account may not start new enquiries at this site."""

    __tablename__ = "site_blocks"

    site_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    reason: Mapped[str] = mapped_column(String(32))
    blocked_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]


class AccountReport(Base):
    """A counsellor's report of a young person's account to the site lead."""

    __tablename__ = "account_reports"
    __table_args__ = (
        Index("ix_account_reports_site_status_created", "site_id", "status", "created_at"),
        CheckConstraint("status IN ('open', 'dismissed', 'actioned')", name="status"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    site_id: Mapped[str] = mapped_column(String(36), ForeignKey("sites.id", ondelete="CASCADE"))
    conversation_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("conversations.id", ondelete="SET NULL")
    )
    reported_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    reason: Mapped[str] = mapped_column(String(32))
    # Optional note sealed to the site key (base64url, like conversation notes); never clear.
    sealed_note: Mapped[str | None] = mapped_column(Text)
    site_key_version: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=REPORT_OPEN)
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
