"""JMD sites (local teams and the nationwide online team) and counselling topics.

Written by `server.services.site_import` (CSV/JSON import, keyed by slug) and
`server.services.sites.seed_topics`; read through `server.services.sites.SiteDirectory`,
which caches the active sites for routing and the public API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base, new_id


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Stable human key used by import/export for idempotency, e.g. "jmd-trier".
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str] = mapped_column(String(200), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(5), default="")
    city: Mapped[str] = mapped_column(String(120), default="")
    state: Mapped[str] = mapped_column(String(60), default="")  # Land, German name
    # WGS84; filled in from the postcode's centroid on import unless given. None only for
    # the online team, which serves everyone.
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    # Languages the site's counsellors speak: "de", "ar", "fa_AF" (Dari), "ku" (Kurmanji) ...
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Topic keys the site takes; empty means every topic.
    topics: Mapped[list[str]] = mapped_column(JSON, default=list)
    # {"mon": [["09:00", "17:00"]], ...} in Europe/Berlin local time.
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    runs_quartier: Mapped[bool] = mapped_column(Boolean, default=False)  # JMD im Quartier
    # False: listed in the site finder for visits, but never routed online enquiries.
    takes_online: Mapped[bool] = mapped_column(Boolean, default=True)
    # The nationwide online team: the fallback when no local site fits.
    is_online_team: Mapped[bool] = mapped_column(Boolean, default=False)
    # Contact for in-person visits (with street/postcode/city above).
    phone: Mapped[str] = mapped_column(String(60), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    website: Mapped[str] = mapped_column(String(300), default="")
    # Inactive sites are kept (enquiries refer to them) but are neither listed nor routed to.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Topic(Base):
    __tablename__ = "topics"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    # {"de": "Schule", "ar": "المدرسة", ...}; every shipped locale is filled for built-in topics.
    names: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
