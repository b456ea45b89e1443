"""Team management for site leads and admins (issues #3, #9; docs/accounts-api.md "Teams").

Who may do what (checked by `access_team_for` / `require_role`, current membership, read in the
same transaction as the change):

* site leads, for the sites they lead: list the team, invite counsellors, set languages,
  remove a counsellor from the site (not themselves);
* admins, for every site: all of the above, invite site leads, assign an existing counsellor
  to another site, deactivate an account.

Removing somebody from a site (or deactivating them) must take away what they could reach:

1. the membership row goes: `access_site_for` and `access_conversation_for` read membership on
   every request and every event, so every site endpoint refuses them from the next request on;
2. ALL their sessions end (they sign in again; their new connection joins only the queue rooms
   of the sites they still work in). Ending every session is deliberate: the socket rooms were
   joined at connect time, and closing the sessions is the one mechanism that reaches sockets in
   every server process (`close_sessions`, called by the view after the commit);
3. their site key boxes for that site are deleted (least data; they cannot fetch them anyway);
4. conversations of that site they were the counsellor of: active ones go back to the site's
   queue (status `waiting`, no counsellor, `queue.added` to the team); closed ones lose their
   counsellor so that a reopening goes to the queue too. Their conversation membership is ended
   (`until_epoch` = the current epoch, inactive): like a counsellor after a handover they keep
   read access to the epochs they already had keys for, and nothing later (protocol 7.2, 9);
5. the site is marked "key rotation due" (`site_key_rotations.stale_version` = the newest
   version they may hold). The lead's browser then creates the next version (`SiteKeys.
   create_version`), seals it to the remaining members (`SiteKeys.seal`), and the operator
   certifies it (`jmdchat certify`); `rotation_of` reports where that stands. Open browsers
   hear `site.keys_changed`, shares sealed to an old version are refused (`stale_site_key`) and
   a re-queued conversation gets a new epoch when claimed again (`key_freshness.py`);
6. audit rows: `counsellor_removed` / `account_deactivated` and `site_key_rotation_due`.

Deactivation does 1–6 for every site of the account and additionally makes the password and
recovery code useless: their scrypt hashes are replaced by hashes of random keys nobody knows
(the account keeps its row, so conversations and audit entries still name it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.crypto import passwords
from server.crypto import primitives as prim
from server.crypto.certificates import verify_certificate
from server.crypto.encoding import b64url_encode
from server.crypto.errors import CertificateError, InvalidInput
from server.crypto.keys import fingerprint
from server.crypto.tokens import hash_token, new_token
from server.i18n import lazy_gettext as _
from server.services.access import AccountContext, access_team_for, require_role
from server.services.accounts import _clean_display_name, audit, invalid_field
from server.services.clock import Clock
from server.services.conversation_views import append_system_message, queue_items, summary
from server.services.errors import Conflict, Forbidden, ServiceError, not_found
from server.services.events import (
    ConversationUpdated,
    MessageNew,
    Notice,
    QueueAdded,
    account_room,
    conversation_room,
    queue_room,
)
from server.services.sessions import end_sessions_of_account
from server.services.site_keys import certificate_b64, org_public_key
from server.storage.db import Sessions
from server.storage.models import (
    Account,
    Invitation,
    SiteKey,
    SiteKeyRotation,
    SiteMembership,
    TeamInvitation,
    TeamProfile,
)
from server.storage.models.accounts import (
    COUNSELLOR_ROLES,
    ROLE_ADMIN,
    ROLE_COUNSELLOR,
    ROLE_SITE_LEAD,
)
from server.storage.models.conversations import STATUS_ACTIVE, STATUS_WAITING
from server.storage.repositories import accounts as repo

#: Language codes as in `sites.languages`: "de", "ar", "fa_AF", "ckb".
LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Z]{2})?$")
MAX_LANGUAGES = 16

#: Lookup of counsellor accounts by admins (assigning to another site).
LOOKUP_LIMIT = 20
MAX_LOOKUP_QUERY = 64

CAUSE_REMOVED = "counsellor_removed"
CAUSE_DEACTIVATED = "account_deactivated"


def check_languages(languages: list[str]) -> list[str]:
    if len(languages) > MAX_LANGUAGES or not all(LANGUAGE_RE.match(code) for code in languages):
        raise invalid_field("languages")
    return sorted(set(languages), key=languages.index)


def cannot_remove_self() -> Forbidden:
    return Forbidden("remove_self", _("You cannot remove yourself from the team."))


def not_a_counsellor() -> ServiceError:
    return ServiceError("not_counsellor", _("Only counsellors and site leads work in teams."))


@dataclass(frozen=True)
class CreatedTeamInvitation:
    token: str
    role: str
    expires_at: datetime


@dataclass(frozen=True)
class RemovalResult:
    """What the view does after the commit: end the sockets, send the queue events."""

    ended_session_ids: list[str]
    notices: list[Notice]

    @property
    def requeued(self) -> int:
        return requeued_count(self.notices)


def requeued_count(notices: list[Notice]) -> int:
    return sum(1 for n in notices if n.name == "queue.added")


def _day(value: datetime | None) -> str | None:
    """Coarse: the day only (no time of day) — enough to see who is still around."""
    return value.date().isoformat() if value is not None else None


class Team:
    def __init__(self, sessions: Sessions, config: AppConfig, clock: Clock) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock

    # --- reading ---------------------------------------------------------------------------

    async def sites(self, ctx: AccountContext) -> list[dict[str, Any]]:
        """The sites whose team the account may manage (admins: all; leads: theirs)."""
        require_role(ctx, "site_lead", "admin")
        async with self.sessions.begin() as db:
            if ctx.role == ROLE_ADMIN:
                sites = await repo.all_sites_by_name(db)
            else:
                sites = [s for s, lead in await repo.sites_of_account(db, ctx.account_id) if lead]
            due = await repo.sites_with_rotation_due(db)  # one query, also for 500 sites
            return [
                {"id": site.id, "slug": site.slug, "name": site.name, "active": site.active,
                 "rotation_due": site.id in due}
                for site in sites
            ]

    def _certificate_state(self, account: Account, site_id: str) -> dict[str, Any]:
        if account.certificate is None:
            return {"status": "missing", "expires_on": None}
        expires = _day(account.certificate_expires_at)
        org = org_public_key(self.config)
        if org is None:
            return {"status": "invalid", "expires_on": expires}
        try:
            cert = verify_certificate(
                json.loads(account.certificate), org, int(self.clock.now().timestamp()),
                kind="counsellor", subject=account.id, site_id=site_id,
            )
        except CertificateError as exc:
            status = "expired" if "expired" in exc.code else "invalid"
            return {"status": status, "expires_on": expires}
        except (InvalidInput, ValueError):
            return {"status": "invalid", "expires_on": expires}
        if (cert.x25519_public != account.x25519_public
                or cert.ed25519_public != account.ed25519_public):
            return {"status": "invalid", "expires_on": expires}
        return {"status": "valid", "expires_on": expires}

    async def _rotation(self, db: AsyncSession, site_id: str) -> dict[str, Any]:
        """Where the site key stands (docs/protocol.md 7.2):

        * ``no_key``: the site has no key version yet;
        * ``due``: somebody left; the newest version is one they may hold;
        * ``awaiting_certification``: a newer version exists but the operator has not signed it;
        * ``sealing``: certified, but certified members still lack their box of it;
        * ``ok``: nothing to do.
        """
        keys = await repo.site_keys_of_site(db, site_id)
        rotation = await repo.get_rotation(db, site_id)
        newest: SiteKey | None = keys[-1] if keys else None
        base: dict[str, Any] = {
            "due_since": rotation.due_since.isoformat() if rotation else None,
            "cause": rotation.cause if rotation else None,
            "stale_version": rotation.stale_version if rotation else None,
            "newest_version": newest.version if newest else None,
            "newest_certified": bool(newest and newest.certificate),
            "fingerprint": (
                fingerprint(newest.x25519_public, newest.ed25519_public) if newest else None
            ),
            "missing": [],
        }
        if newest is None:
            return {**base, "state": "no_key"}
        if rotation is not None and newest.version <= rotation.stale_version:
            return {**base, "state": "due"}
        if newest.certificate is None:
            return {**base, "state": "awaiting_certification"}
        held = await repo.box_versions_of_site(db, site_id)
        missing = [
            account.id for account, _lead in await repo.members_of_site(db, site_id)
            if newest.version not in held.get(account.id, [])
            and self._certificate_state(account, site_id)["status"] == "valid"
        ]
        if missing:
            return {**base, "state": "sealing", "missing": missing}
        return {**base, "state": "ok"}

    async def list_team(self, ctx: AccountContext, site_id: str) -> dict[str, Any]:
        async with self.sessions.begin() as db:
            site = await access_team_for(db, ctx, site_id)
            members = await repo.members_of_site(db, site_id)
            ids = [a.id for a, _ in members]
            profiles = await repo.team_profiles(db, ids)
            invited = await repo.invited_languages(db, ids)
            seen = await repo.last_sign_in(db, ids)
            held = await repo.box_versions_of_site(db, site_id)
            now = self.clock.now()
            team = []
            for account, is_lead in members:
                profile = profiles.get(account.id)
                languages = profile.languages if profile else invited.get(account.id, [])
                team.append({
                    "id": account.id,
                    "nickname": account.nickname,
                    "display_name": account.display_name,
                    "role": account.role,
                    "is_lead": is_lead,
                    "languages": list(languages),
                    "two_factor": bool(account.totp_enabled),
                    "certificate": self._certificate_state(account, site_id),
                    "last_seen_on": _day(seen.get(account.id)),
                    "key_versions": held.get(account.id, []),
                    # What the lead's browser needs to seal a site key to this colleague (it
                    # verifies the certificate itself before sealing).
                    "x25519_public": b64url_encode(account.x25519_public),
                    "ed25519_public": b64url_encode(account.ed25519_public),
                    "certificate_b64": certificate_b64(account.certificate),
                })
            invitations = [
                {"id": inv.id, "role": inv.role, "display_name": inv.display_name,
                 "languages": langs, "expires_at": inv.expires_at.isoformat()}
                for inv, langs in await repo.open_invitations_of_site(db, site_id, now)
            ]
            return {
                "site": {"id": site.id, "slug": site.slug, "name": site.name,
                         "languages": list(site.languages)},
                "members": team,
                "invitations": invitations,
                "rotation": await self._rotation(db, site_id),
            }

    # --- invitations -----------------------------------------------------------------------

    async def invite(
        self, ctx: AccountContext, site_id: str, role: str, display_name: str,
        languages: list[str],
    ) -> CreatedTeamInvitation:
        """A one-time invitation link to the site, as `jmdchat counsellor invite` makes it.
        Site leads invite counsellors; admins also site leads."""
        if role not in COUNSELLOR_ROLES:
            raise invalid_field("role")
        if role == ROLE_SITE_LEAD and ctx.role != ROLE_ADMIN:
            raise Forbidden("forbidden", _("Only administrators can invite site leads."))
        name = _clean_display_name(display_name)
        langs = check_languages(languages)
        now = self.clock.now()
        token = new_token()
        async with self.sessions.begin() as db:
            await access_team_for(db, ctx, site_id)
            invitation = Invitation(
                token_hash=hash_token(token), role=role, site_id=site_id, display_name=name,
                nickname=None, created_at=now,
                expires_at=now + timedelta(hours=self.config.security.invitation_hours),
                account_id=None, completed_at=None,
            )
            repo.add_invitation(db, invitation)
            await db.flush()
            repo.add_team_invitation(db, TeamInvitation(
                invitation_id=invitation.id, languages=langs, invited_by=ctx.account_id,
            ))
            audit(db, now, "invitation_created", "invitation", invitation.id,
                  actor_id=ctx.account_id, site_id=site_id, details={"role": role})
            return CreatedTeamInvitation(token, role, invitation.expires_at)

    # --- languages, assignment ---------------------------------------------------------------

    async def _member(self, db: AsyncSession, site_id: str, account_id: str
                      ) -> tuple[Account, SiteMembership]:
        account = await repo.get_account(db, account_id)
        membership = await repo.get_membership(db, account_id, site_id) if account else None
        if account is None or membership is None:
            raise not_found()
        return account, membership

    async def set_languages(
        self, ctx: AccountContext, site_id: str, account_id: str, languages: list[str]
    ) -> list[str]:
        langs = check_languages(languages)
        now = self.clock.now()
        async with self.sessions.begin() as db:
            await access_team_for(db, ctx, site_id)
            await self._member(db, site_id, account_id)
            profile = await repo.get_team_profile(db, account_id)
            if profile is None:
                repo.add_team_profile(db, TeamProfile(
                    account_id=account_id, languages=langs, deactivated_at=None, updated_at=now,
                ))
            else:
                profile.languages, profile.updated_at = langs, now
            audit(db, now, "counsellor_languages_set", "account", account_id,
                  actor_id=ctx.account_id, site_id=site_id, details={"languages": langs})
        return langs

    async def assign(
        self, ctx: AccountContext, site_id: str, account_id: str, *, lead: bool
    ) -> None:
        """Admin: an existing counsellor (or site lead) also works in `site_id`. They get the
        site key from a member's browser once the operator renewed their certificate (its
        `sites` list changed: `jmdchat certify --pending` offers it)."""
        require_role(ctx, "admin")
        now = self.clock.now()
        async with self.sessions.begin() as db:
            await access_team_for(db, ctx, site_id)
            account = await repo.get_account(db, account_id)
            if account is None:
                raise not_found()
            if account.role not in COUNSELLOR_ROLES:
                raise not_a_counsellor()
            profile = await repo.get_team_profile(db, account_id)
            if profile is not None and profile.deactivated_at is not None:
                raise Conflict("deactivated", _("This account is deactivated."))
            membership = await repo.get_membership(db, account_id, site_id)
            if membership is not None:
                membership.is_lead = lead
            else:
                repo.add_membership(db, SiteMembership(
                    account_id=account_id, site_id=site_id, is_lead=lead, created_at=now,
                ))
            if lead and account.role == ROLE_COUNSELLOR:
                account.role = ROLE_SITE_LEAD
            audit(db, now, "counsellor_assigned", "account", account_id,
                  actor_id=ctx.account_id, site_id=site_id, details={"lead": lead})

    async def lookup_counsellors(self, ctx: AccountContext, query: str) -> list[dict[str, Any]]:
        """Admin: counsellor and site lead accounts whose display name or nickname contains
        `query` (case-insensitive), to assign them to another site. Display name, role and
        current sites only; never young people; at most `LOOKUP_LIMIT`."""
        require_role(ctx, "admin")
        needle = query.strip().lower()
        if len(needle) > MAX_LOOKUP_QUERY or "\x00" in needle:
            raise invalid_field("q")
        async with self.sessions.begin() as db:
            accounts = await repo.find_counsellors(db, needle, LOOKUP_LIMIT)
            ids = [a.id for a in accounts]
            profiles = await repo.team_profiles(db, ids)
            sites: dict[str, list[dict[str, Any]]] = {account_id: [] for account_id in ids}
            for account_id, is_lead, site_id, name in await repo.memberships_of_accounts(db, ids):
                sites[account_id].append({"id": site_id, "name": name, "is_lead": is_lead})
            return [
                {
                    "id": account.id,
                    "display_name": account.display_name or account.nickname,
                    "role": account.role,
                    "deactivated": bool(profiles.get(account.id)
                                        and profiles[account.id].deactivated_at is not None),
                    "sites": sites[account.id],
                }
                for account in accounts
            ]

    # --- removal, deactivation -------------------------------------------------------------

    async def _leave_site(
        self, db: AsyncSession, account: Account, site_id: str, actor_id: str, cause: str,
        now: datetime,
    ) -> list[Notice]:
        """Steps 1, 3, 4, 5 of the module docstring for one site (sessions: the caller)."""
        await repo.delete_membership(db, account.id, site_id)
        await repo.delete_boxes_of_account_for_site(db, account.id, site_id)
        requeued = []
        for conversation in await repo.conversations_of_counsellor_at_site(
            db, account.id, site_id
        ):
            if conversation.status == STATUS_ACTIVE:
                conversation.status = STATUS_WAITING
                requeued.append(conversation)
            conversation.counsellor_id = None
        for member, conversation in await repo.memberships_in_site_conversations(
            db, account.id, site_id
        ):
            member.active = False
            if member.until_epoch is None:
                member.until_epoch = conversation.current_epoch
        await db.flush()
        notices: list[Notice] = []
        for conversation in requeued:
            event = await append_system_message(db, conversation, "requeued", {}, now)
            room = conversation_room(conversation.id)
            rooms = [room] + (
                [account_room(conversation.young_person_id)]
                if conversation.young_person_id else []
            )
            broadcast = await summary(db, conversation, viewer_id=None, now=now)
            young = (
                await repo.get_account(db, conversation.young_person_id)
                if conversation.young_person_id else None
            )
            items = await queue_items(db, [(conversation, young.nickname if young else None)],
                                      now)
            notices += [
                Notice(room, "message.new",
                       MessageNew(conversation_id=conversation.id, message=event)),
                Notice(rooms, "conversation.updated", ConversationUpdated(conversation=broadcast)),
                Notice(queue_room(site_id), "queue.added", QueueAdded(item=items[0])),
            ]
        newest = await repo.max_site_key_version(db, site_id)
        rotation = await repo.get_rotation(db, site_id)
        if rotation is None:
            repo.add_rotation(db, SiteKeyRotation(
                site_id=site_id, due_since=now, cause=cause, stale_version=newest,
            ))
        else:
            rotation.due_since, rotation.cause = now, cause
            rotation.stale_version = max(rotation.stale_version, newest)
        audit(db, now, "site_key_rotation_due", "site", site_id, actor_id=actor_id,
              site_id=site_id, details={"stale_version": newest, "cause": cause})
        return notices

    async def remove(self, ctx: AccountContext, site_id: str, account_id: str) -> RemovalResult:
        if account_id == ctx.account_id:
            raise cannot_remove_self()
        now = self.clock.now()
        async with self.sessions.begin() as db:
            await access_team_for(db, ctx, site_id)
            account, _membership = await self._member(db, site_id, account_id)
            notices = await self._leave_site(db, account, site_id, ctx.account_id,
                                             CAUSE_REMOVED, now)
            ended = await end_sessions_of_account(db, account_id)
            audit(db, now, "counsellor_removed", "account", account_id,
                  actor_id=ctx.account_id, site_id=site_id,
                  details={"requeued": requeued_count(notices)})
        return RemovalResult(ended, notices)

    async def deactivate(self, ctx: AccountContext, account_id: str) -> RemovalResult:
        """Admin: remove the account from every site, end its sessions, disable its password
        and recovery code. Staff accounts only (young people delete their own accounts)."""
        require_role(ctx, "admin")
        if account_id == ctx.account_id:
            raise cannot_remove_self()
        now = self.clock.now()
        async with self.sessions.begin() as db:
            account = await repo.get_account_for_update(db, account_id)
            if account is None or account.role not in (*COUNSELLOR_ROLES, ROLE_ADMIN):
                raise not_found()
            notices: list[Notice] = []
            for site, _lead in await repo.sites_of_account(db, account_id):
                notices += await self._leave_site(db, account, site.id, ctx.account_id,
                                                  CAUSE_DEACTIVATED, now)
            ended = await end_sessions_of_account(db, account_id)
            # Nobody knows these keys: the password and the recovery code stop working.
            account.auth_hash = passwords.hash_auth_key(prim.random_bytes(32))
            account.recovery_hash = passwords.hash_auth_key(prim.random_bytes(32))
            account.updated_at = now
            profile = await repo.get_team_profile(db, account_id)
            if profile is None:
                repo.add_team_profile(db, TeamProfile(
                    account_id=account_id, languages=[], deactivated_at=now, updated_at=now,
                ))
            else:
                profile.deactivated_at, profile.updated_at = now, now
            audit(db, now, "account_deactivated", "account", account_id,
                  actor_id=ctx.account_id, details={"requeued": requeued_count(notices)})
        return RemovalResult(ended, notices)
