"""All ORM models; importing this module registers every table on `Base.metadata`."""

from server.storage.models.accounts import (
    Account,
    AuthSession,
    Invitation,
    LoginThrottle,
    SiteKey,
    SiteKeyBox,
    SiteMembership,
)
from server.storage.models.audit import AuditEvent
from server.storage.models.base import Base
from server.storage.models.conversations import (
    CannedResponse,
    Conversation,
    ConversationKey,
    ConversationMember,
    ConversationNote,
    CounsellorStatus,
    Message,
)
from server.storage.models.sites import Site, Topic

__all__ = [
    "Account",
    "AuditEvent",
    "AuthSession",
    "Base",
    "CannedResponse",
    "Conversation",
    "ConversationKey",
    "ConversationMember",
    "ConversationNote",
    "CounsellorStatus",
    "Invitation",
    "LoginThrottle",
    "Message",
    "Site",
    "SiteKey",
    "SiteKeyBox",
    "SiteMembership",
    "Topic",
]
