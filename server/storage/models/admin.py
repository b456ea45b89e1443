"""Admin settings and topic name overrides (issues #4, #9: the admin screens).

* `admin_settings`: small key → JSON values that admins change in the browser and that
  override config.toml defaults, e.g. `retention` (the retention limits in days) and
  `retention.last_run` (what the last retention run deleted: counts per rule, no ids).
* `topic_name_overrides`: an admin's name for a topic in one locale; it wins over the built-in
  name from server/data/topics.json, also when `jmdchat sites seed-topics` runs again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base


class AdminSetting(Base):
    __tablename__ = "admin_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]


class TopicNameOverride(Base):
    __tablename__ = "topic_name_overrides"

    topic_key: Mapped[str] = mapped_column(
        String(40), ForeignKey("topics.key", ondelete="CASCADE"), primary_key=True
    )
    locale: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    updated_at: Mapped[datetime]
