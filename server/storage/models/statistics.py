"""Storage for the statistics (issue #9): no tables of its own, one index.

The statistics count conversations by `created_at` over every site (admins, funders): this
index serves that range filter; the queue's (site_id, status, created_at) index does not.
"""

from __future__ import annotations

from sqlalchemy import Index

from server.storage.models.conversations import Conversation

IX_CONVERSATIONS_CREATED = Index("ix_conversations_created_at", Conversation.created_at)
