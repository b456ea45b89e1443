"""Key freshness after a site key rotation (issue #3; docs/protocol.md 7.2 and 8.1).

When a counsellor leaves a site, the site key is rotated (`server/services/team.py`). Two holes
remain without this module, and it closes them:

1. **Stale key lists.** Open browsers keep the site key list they loaded. The server tells the
   site's counsellors (`site.keys_changed {site_id, version}` to `site:<id>:queue`, after the
   commit) whenever a site key version becomes usable — created, sealed to a member, certified —
   and it refuses every NEW key share sealed to a site key version that is not the newest
   certified one (`stale_site_key`): enquiries, and the epoch a claim starts. A client that gets
   `stale_site_key` drops its cached keys, fetches them again and retries once.
2. **A re-queued conversation gets a new epoch when claimed again.** The counsellor who left may
   keep the epoch keys and the old site key versions on their device. When a colleague claims a
   conversation whose current epoch such a person could read (a counsellor member who no longer
   works in the site held it, or its site share is sealed to a version older than the newest
   certified one), the claim must start epoch n+1 — created by the claiming counsellor's client,
   never by the server — sealed to the young person, to the claimer and to the newest certified
   site key. Without it the claim is refused with `rekey_required` and nothing changes.
   `queue.claim` calls `epoch_for_claim` in one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession

from server.crypto.conversation import KeyShare
from server.crypto.keys import key_id
from server.i18n import lazy_gettext as _
from server.services.errors import Conflict, ServiceError
from server.services.events import Notice, queue_room
from server.storage.models import (
    Account,
    Conversation,
    ConversationKey,
    SiteKey,
)
from server.storage.models.conversations import (
    RECIPIENT_ACCOUNT,
    RECIPIENT_SITE,
)
from server.storage.repositories import accounts as accounts_repo
from server.storage.repositories import conversations as repo

EpochRecipient = Literal["self", "young_person", "site"]


def stale_site_key() -> Conflict:
    return Conflict(
        "stale_site_key",
        _("The team's key has just changed. Please try again."),
    )


def rekey_required() -> Conflict:
    return Conflict(
        "rekey_required",
        _("This conversation needs a new key before it can be taken. Please try again."),
    )


def invalid(field: str) -> ServiceError:
    return ServiceError("invalid", _("The field {field} is not valid."), field=field)


# --- which site key is current --------------------------------------------------------------


async def newest_certified(db: AsyncSession, site_id: str, now: datetime) -> SiteKey | None:
    """The newest certified, unexpired version of a site's key: the only one new shares may be
    sealed to."""
    keys = [
        k for k in await accounts_repo.site_keys_of_site(db, site_id)
        if k.certificate is not None
        and (k.certificate_expires_at is None or k.certificate_expires_at > now)
    ]
    return max(keys, key=lambda k: k.version, default=None)


def require_current(key: SiteKey | None, version: int | None, to: str) -> SiteKey:
    """`version` / `to` (the key id a share is addressed to) must name `key`, the newest
    certified version; anything else is `stale_site_key`."""
    if key is None or version != key.version or to != key_id("x25519", key.x25519_public):
        raise stale_site_key()
    return key


# --- site.keys_changed -----------------------------------------------------------------------


class SiteKeysChanged(BaseModel):
    """`site.keys_changed` to `site:<id>:queue`: drop cached site keys, fetch them again."""

    model_config = ConfigDict(frozen=True)

    site_id: str
    version: int


def keys_changed(site_id: str, version: int) -> Notice:
    return Notice(queue_room(site_id), "site.keys_changed",
                  SiteKeysChanged(site_id=site_id, version=version))


# --- a new epoch when a conversation is claimed again ---------------------------------------


@dataclass(frozen=True)
class NewEpochShare:
    """One share of the epoch a claim starts, shape-checked by the transport."""

    recipient: EpochRecipient
    site_key_version: int | None
    share: KeyShare


async def rekey_due(db: AsyncSession, conversation: Conversation, now: datetime) -> bool:
    """Could somebody who no longer works in the site read the current epoch?

    * a counsellor member of the conversation whose site membership is gone held it
      (their membership ended at the current epoch or later), or
    * the current epoch's site share is sealed to an older version than the newest certified
      one (the removed counsellor may hold that version: it opens every conversation of it).
    """
    epoch = conversation.current_epoch
    if await repo.counsellor_left_holding_epoch(db, conversation.id, conversation.site_id, epoch):
        return True
    newest = await newest_certified(db, conversation.site_id, now)
    if newest is None:
        return False
    versions = await repo.site_share_versions(db, conversation.id, epoch, conversation.site_id)
    return bool(versions) and max(v or 0 for v in versions) < newest.version


async def epoch_for_claim(
    db: AsyncSession, me: Account, conversation: Conversation,
    shares: list[NewEpochShare] | None, now: datetime,
) -> int | None:
    """Called by the claim (inside its transaction, after the claim UPDATE, before the
    claimer's membership row): starts epoch n+1 from the claimer's shares when given, and
    refuses the claim (`rekey_required`) when a new epoch is due but none was given.
    Returns the new epoch, or None when the epoch did not change."""
    if shares is None:
        if await rekey_due(db, conversation, now):
            raise rekey_required()
        return None
    epoch = conversation.current_epoch + 1
    young_id = conversation.young_person_id
    wanted: set[str] = {"self", "site"} | ({"young_person"} if young_id else set())
    by_recipient = {s.recipient: s for s in shares}
    if len(shares) != len(wanted) or set(by_recipient) != wanted:
        raise invalid("new_epoch")
    for index, item in enumerate(shares):
        share = item.share
        if share.conv != conversation.id or share.epoch != epoch or share.sender != me.id:
            raise invalid(f"new_epoch.{index}.sealed")
    if by_recipient["self"].share.to != key_id("x25519", me.x25519_public):
        raise invalid("new_epoch.self")
    if young_id:
        young = await accounts_repo.get_account(db, young_id)
        if young is None or by_recipient["young_person"].share.to != key_id(
            "x25519", young.x25519_public
        ):
            raise invalid("new_epoch.young_person")
    site_share = by_recipient["site"]
    key = require_current(await newest_certified(db, conversation.site_id, now),
                          site_share.site_key_version, site_share.share.to)
    rows = [
        (RECIPIENT_ACCOUNT, me.id, None, by_recipient["self"]),
        (RECIPIENT_SITE, conversation.site_id, key.version, site_share),
    ]
    if young_id:
        rows.append((RECIPIENT_ACCOUNT, young_id, None, by_recipient["young_person"]))
    for kind, recipient_id, version, item in rows:
        repo.add_key(db, ConversationKey(
            conversation_id=conversation.id, epoch=epoch, recipient_kind=kind,
            recipient_id=recipient_id, site_key_version=version, sealed=item.share.to_json(),
            created_at=now,
        ))
    conversation.current_epoch = epoch
    return epoch
