"""Test support for the statistics (issue #9): historic, anonymous enquiry metadata.

`add_history` writes closed conversations (no members, no messages, no young person: what is
left of an enquiry whose account was deleted) with their counting metadata only, and
`add_handover` writes the audit row a handover writes (server/services/handover.py). Closed
conversations without members appear in no queue and in nobody's list of conversations.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from server.storage.db import Sessions
from server.storage.models import AuditEvent, Conversation
from server.storage.models.conversations import STATUS_CLOSED

ACTION_HANDED_OVER = "conversation_handed_over"


@dataclass(frozen=True)
class Enquiry:
    """One historic enquiry: when, where, what; `answer_after` None: never answered."""

    created_at: datetime
    site_id: str
    topic: str = "school"
    language: str = "de"
    age_group: str | None = "15-17"
    answer_after: timedelta | None = timedelta(minutes=10)


async def add_enquiries(sessions: Sessions, enquiries: list[Enquiry]) -> list[str]:
    ids: list[str] = []
    async with sessions.begin() as db:
        for e in enquiries:
            conversation_id = str(uuid.uuid4())
            ids.append(conversation_id)
            answered = e.created_at + e.answer_after if e.answer_after is not None else None
            closed = (answered or e.created_at) + timedelta(hours=1)
            db.add(Conversation(
                id=conversation_id, young_person_id=None, site_id=e.site_id,
                counsellor_id=None, status=STATUS_CLOSED, topic=e.topic, language=e.language,
                route_reason={"code": "online_team", "params": {}}, postcode_prefix=None,
                current_epoch=1, last_seq=0, created_at=e.created_at, claimed_at=answered,
                first_response_at=answered, last_activity_at=closed, closed_at=closed,
                urgent=False, handed_over_from_site_id=None, age_group=e.age_group,
            ))
    return ids


async def add_handover(sessions: Sessions, at: datetime, from_site: str, to_site: str) -> None:
    async with sessions.begin() as db:
        db.add(AuditEvent(
            at=at, actor_id=None, action=ACTION_HANDED_OVER, subject_type="conversation",
            subject_id=str(uuid.uuid4()), site_id=from_site, details={"to_site": to_site},
        ))


TOPICS = ["school", "training_work", "residence_asylum", "family", "language_courses", "health"]
LANGUAGES = ["de", "ar", "fa", "uk", "ru", "tr", "en", "ti"]
AGE_GROUPS = ["12-14", "15-17", "18-21", "22-27", None]


def spread(site_ids: list[str], now: datetime, weeks: int = 12, per_week: int = 30,
           seed: int = 9) -> list[Enquiry]:
    """A realistic spread over the last `weeks` weeks: a few big categories, a long tail of
    small ones (which the statistics must suppress)."""
    rng = random.Random(seed)
    site_weights = [max(1, 6 - 3 * i) for i in range(len(site_ids))]
    out: list[Enquiry] = []
    for week in range(weeks):
        for _ in range(per_week + rng.randint(-8, 8)):
            created = now - timedelta(weeks=week, hours=rng.uniform(1, 160))
            out.append(Enquiry(
                created_at=created,
                site_id=rng.choices(site_ids, weights=site_weights)[0],
                topic=rng.choices(TOPICS, weights=[8, 6, 4, 3, 1, 1])[0],
                language=rng.choices(LANGUAGES, weights=[10, 8, 5, 4, 2, 1, 1, 0.3])[0],
                age_group=rng.choices(AGE_GROUPS, weights=[2, 8, 6, 3, 2])[0],
                answer_after=None if rng.random() < 0.1 else timedelta(
                    minutes=rng.lognormvariate(3, 1)),
            ))
    return out
