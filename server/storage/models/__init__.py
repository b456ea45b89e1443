"""All ORM models; importing this module registers every table on `Base.metadata`."""

from server.storage.models.audit import AuditEvent
from server.storage.models.base import Base
from server.storage.models.sites import Site, Topic

__all__ = ["AuditEvent", "Base", "Site", "Topic"]
