"""Team management (issues #3, #9): counsellors' languages, deactivation, site key rotation state.

* `team_profiles`: per staff account, the languages they counsel in (set by a site lead or an
  admin) and, for deactivated accounts, when that happened. No content, no personal data beyond
  what the account row already holds.
* `team_invitations`: the languages chosen when a lead or admin invited somebody from the Team
  screen (the invitation itself is a row of `invitations`); copied to the profile when the team
  list is first read after acceptance.
* `site_key_rotations`: one row per site whose membership shrank: since when a new site key
  version is due and which versions are stale. Rotation is done once a version above
  `stale_version` exists, is certified and is sealed to every certified member (derived by
  `server.services.team`; the row stays as the record of the last removal).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base


class TeamProfile(Base):
    __tablename__ = "team_profiles"

    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    # Locale codes as in `sites.languages` ("de", "ar", "fa_AF", ...).
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Set when an admin deactivated the account (sessions ended, memberships removed, the
    # password no longer works). None: active.
    deactivated_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class TeamInvitation(Base):
    __tablename__ = "team_invitations"

    invitation_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("invitations.id", ondelete="CASCADE"), primary_key=True
    )
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    invited_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )


class SiteKeyRotation(Base):
    __tablename__ = "site_key_rotations"

    site_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    # The latest membership removal: a site key version created before this is stale.
    due_since: Mapped[datetime]
    # "counsellor_removed" | "account_deactivated"
    cause: Mapped[str] = mapped_column(String(32))
    # The newest site key version when the member left: this and every older version may be
    # held by somebody who left, so a version above it is needed.
    stale_version: Mapped[int] = mapped_column(Integer)
