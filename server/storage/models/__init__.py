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
from server.storage.models.admin import AdminSetting, TopicNameOverride
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
from server.storage.models.handover import HandoverProposal
from server.storage.models.moderation import AccountReport, ConversationBlock, SiteBlock
from server.storage.models.rounds import ChatRound, RoundKey, RoundMessage, RoundParticipant
from server.storage.models.sites import Site, Topic
from server.storage.models.statistics import IX_CONVERSATIONS_CREATED
from server.storage.models.team import SiteKeyRotation, TeamInvitation, TeamProfile

__all__ = [
    "IX_CONVERSATIONS_CREATED",
    "Account",
    "AccountReport",
    "AdminSetting",
    "AuditEvent",
    "AuthSession",
    "Base",
    "CannedResponse",
    "ChatRound",
    "Conversation",
    "ConversationBlock",
    "ConversationKey",
    "ConversationMember",
    "ConversationNote",
    "CounsellorStatus",
    "HandoverProposal",
    "Invitation",
    "LoginThrottle",
    "Message",
    "RoundKey",
    "RoundMessage",
    "RoundParticipant",
    "Site",
    "SiteBlock",
    "SiteKey",
    "SiteKeyBox",
    "SiteKeyRotation",
    "SiteMembership",
    "TeamInvitation",
    "TeamProfile",
    "Topic",
    "TopicNameOverride",
]
