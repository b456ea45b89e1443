"""Site (team) keys, counsellor certificates and the organisation key (protocol section 7).

* The organisation's Ed25519 key is generated and kept OFFLINE by the operator (a file written by
  `jmdchat org-key create`); the server knows only its public half (`security.org_public_key`,
  or in development the demo key file under `server.data_dir`).
* `jmdchat certify` signs counsellors' and sites' public keys with it after the operator
  compared fingerprints; the certificates are stored here and handed to clients, which verify
  them before sealing anything to a key.
* A site key version is created by a client (the site lead's browser; the demo does it in
  Python exactly the same way). Its private half reaches the other counsellors only as boxes
  sealed by clients to their certified X25519 keys; the server stores opaque bytes.

Certificates travel in the API as base64url of their compact JSON (UTF-8), exactly as issued.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.crypto import primitives as prim
from server.crypto.certificates import issue_certificate, verify_certificate
from server.crypto.encoding import b64url_decode, b64url_encode, encode_struct
from server.crypto.errors import CertificateError, InvalidInput
from server.crypto.keys import fingerprint, key_id
from server.i18n import lazy_gettext as _
from server.services.access import AccountContext, access_site_for, require_counsellor
from server.services.accounts import audit, check_public_keys
from server.services.clock import Clock
from server.services.errors import Conflict, Forbidden, ServiceError, not_found
from server.storage.db import Sessions
from server.storage.models import Account, Site, SiteKey, SiteKeyBox
from server.storage.models.accounts import COUNSELLOR_ROLES
from server.storage.repositories import accounts as repo

ORG_PUBLIC_KEY_FILE = "org-public-key"
DEMO_ORG_KEY_FILE = "demo-org-key.json"
ORG_KEY_FILE_KIND = "jmdchat-organisation-key"
#: Size of a sealed site key box: sealed-box overhead + S("jmdchat/v1/site-secrets", 32, 32).
SITE_KEY_BOX_LEN = prim.SEAL_OVERHEAD + len(
    encode_struct("jmdchat/v1/site-secrets", bytes(32), bytes(32))
)
#: Recommended certificate validity (protocol section 7.1): revocation by short validity.
DEFAULT_CERT_DAYS = 90
#: Certificates that expire sooner than this are offered for renewal by `certify --pending`.
RENEW_BEFORE = timedelta(days=14)


# --- the organisation key ---------------------------------------------------------------------


class OrgKeyError(Exception):
    """The organisation key file is missing, unreadable or does not match the configuration."""


def write_org_key_file(path: Path, seed: bytes) -> None:
    """Write the private organisation key, readable by the owner only (0600). Never overwrites."""
    public = prim.ed25519_public(seed)
    data = {
        "kind": ORG_KEY_FILE_KIND,
        "v": 1,
        "seed": b64url_encode(seed),
        "public_key": b64url_encode(public),
        "key_id": key_id("ed25519", public),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.chmod(path, 0o600)  # in case a umask or filesystem widened it


def read_org_key_file(path: Path) -> bytes:
    """The Ed25519 seed from an organisation key file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("kind") != ORG_KEY_FILE_KIND:
            raise OrgKeyError(f"{path} is not a jmdchat organisation key file")
        seed = b64url_decode(str(data["seed"]), length=32)
    except (OSError, ValueError, KeyError, InvalidInput) as exc:
        if isinstance(exc, OrgKeyError):
            raise
        raise OrgKeyError(f"cannot read the organisation key file {path}: {exc}") from None
    if b64url_encode(prim.ed25519_public(seed)) != data.get("public_key"):
        raise OrgKeyError(f"{path}: the public key does not belong to the private key")
    return seed


def org_public_key(config: AppConfig) -> bytes | None:
    """The organisation public key the server hands out, or None if none is configured.

    Configuration first; in development mode, when it is empty, the file the demo wrote.
    """
    if config.security.org_public_key:
        return b64url_decode(config.security.org_public_key, length=32)
    if config.server.mode != "development":
        return None
    path = Path(config.server.data_dir) / ORG_PUBLIC_KEY_FILE
    try:
        return b64url_decode(path.read_text(encoding="ascii").strip(), length=32)
    except (OSError, UnicodeDecodeError, InvalidInput):
        return None


def org_public_key_b64(config: AppConfig) -> str | None:
    key = org_public_key(config)
    return b64url_encode(key) if key is not None else None


# --- certificates -----------------------------------------------------------------------------


def certificate_text(cert: dict[str, object]) -> str:
    return json.dumps(cert, separators=(",", ":"), sort_keys=True, ensure_ascii=True)


def certificate_b64(text: str | None) -> str | None:
    return b64url_encode(text.encode("utf-8")) if text is not None else None


@dataclass(frozen=True)
class PendingCertificate:
    """Something `jmdchat certify` may sign, with what the operator compares."""

    kind: str  # "counsellor" | "site"
    subject: str  # account id or site id
    label: str  # nickname (display name) or site slug
    sites: tuple[str, ...]
    site_slugs: tuple[str, ...]
    x25519_public: bytes
    ed25519_public: bytes
    key_version: int
    reason: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.x25519_public, self.ed25519_public)


def _cert_needs_renewal(
    text: str | None, expires_at: datetime | None, sites: tuple[str, ...],
    x_pub: bytes, ed_pub: bytes, now: datetime,
) -> str | None:
    if text is None or expires_at is None:
        return "new"
    if expires_at - now < RENEW_BEFORE:
        return "expires soon"
    try:
        cert = json.loads(text)
    except ValueError:
        return "unreadable"
    if tuple(cert.get("sites", ())) != sites:
        return "teams changed"
    if cert.get("x25519") != b64url_encode(x_pub) or cert.get("ed25519") != b64url_encode(ed_pub):
        return "keys changed"
    return None


async def _counsellor_pending(
    db: AsyncSession, account: Account, now: datetime, force: bool
) -> PendingCertificate | None:
    if account.role not in COUNSELLOR_ROLES or not account.totp_enabled:
        return None
    memberships = await repo.sites_of_account(db, account.id)
    if not memberships:
        return None
    by_id = sorted((site.id, site.slug) for site, _lead in memberships)
    sites = tuple(site_id for site_id, _slug in by_id)
    reason = _cert_needs_renewal(
        account.certificate, account.certificate_expires_at, sites, account.x25519_public,
        account.ed25519_public, now,
    )
    if reason is None and not force:
        return None
    name = account.display_name or account.nickname
    return PendingCertificate(
        kind="counsellor", subject=account.id, label=f"{account.nickname} ({name})",
        sites=sites, site_slugs=tuple(slug for _id, slug in by_id),
        x25519_public=account.x25519_public, ed25519_public=account.ed25519_public,
        key_version=1, reason=reason or "renew",
    )


def _site_pending(key: SiteKey, site: Site) -> PendingCertificate:
    return PendingCertificate(
        kind="site", subject=site.id, label=site.slug, sites=(site.id,), site_slugs=(site.slug,),
        x25519_public=key.x25519_public, ed25519_public=key.ed25519_public,
        key_version=key.version, reason="new" if key.certificate is None else "renew",
    )


async def find_pending(
    sessions: Sessions, now: datetime, *, account_id: str | None = None,
    site_slug: str | None = None,
) -> list[PendingCertificate]:
    """What `certify` would sign: everything pending, or one account / one site's newest key."""
    async with sessions.begin() as db:
        if account_id is not None:
            account = await repo.get_account(db, account_id)
            if account is None:
                raise not_found()
            item = await _counsellor_pending(db, account, now, force=True)
            if item is None:
                raise ServiceError(
                    "not_certifiable",
                    _("Only counsellors with two-factor sign-in and a team get certificates."),
                )
            return [item]
        if site_slug is not None:
            site = await repo.get_site_by_slug(db, site_slug)
            if site is None:
                raise not_found()
            keys = await repo.site_keys_of_site(db, site.id)
            if not keys:
                raise ServiceError("no_site_key", _("This team has no key yet."))
            return [_site_pending(keys[-1], site)]
        items = [_site_pending(key, site) for key, site in await repo.uncertified_site_keys(db)]
        for account in await repo.list_accounts_by_role(db, COUNSELLOR_ROLES):
            item = await _counsellor_pending(db, account, now, force=False)
            if item is not None:
                items.append(item)
        return items


def check_org_key_matches(config: AppConfig, org_seed: bytes) -> None:
    """Refuse to sign with a key the clients of this server would not accept."""
    configured = org_public_key(config)
    if configured is None:
        raise OrgKeyError(
            "the server has no organisation public key configured "
            "(security.org_public_key); set it to the key printed by `jmdchat org-key create`"
        )
    if not prim.constant_time_equal(configured, prim.ed25519_public(org_seed)):
        raise OrgKeyError(
            "this organisation key file does not match security.org_public_key of the server"
        )


async def store_certificates(
    sessions: Sessions, org_seed: bytes, items: list[PendingCertificate], now: datetime,
    days: int = DEFAULT_CERT_DAYS,
) -> list[dict[str, object]]:
    """Sign `items` with the organisation key and store the certificates."""
    issued_at = int(now.timestamp())
    expires = now + timedelta(days=days)
    signed: list[dict[str, object]] = []
    async with sessions.begin() as db:
        for item in items:
            cert = issue_certificate(
                org_seed, kind="counsellor" if item.kind == "counsellor" else "site",
                subject=item.subject, sites=list(item.sites), x25519_public=item.x25519_public,
                ed25519_public=item.ed25519_public, key_version=item.key_version,
                issued_at=issued_at, expires_at=int(expires.timestamp()),
            )
            text = certificate_text(cert)
            if item.kind == "counsellor":
                account = await repo.get_account_for_update(db, item.subject)
                if account is None or account.x25519_public != item.x25519_public:
                    raise Conflict("changed", _("The account changed meanwhile; run again."))
                account.certificate = text
                account.certificate_expires_at = datetime.fromtimestamp(
                    int(expires.timestamp()), UTC
                )
            else:
                key = await repo.get_site_key(db, item.subject, item.key_version)
                if key is None or key.x25519_public != item.x25519_public:
                    raise Conflict("changed", _("The site key changed meanwhile; run again."))
                key.certificate = text
                key.certificate_expires_at = datetime.fromtimestamp(
                    int(expires.timestamp()), UTC
                )
            audit(db, now, "certificate_issued", item.kind, item.subject,
                  site_id=item.sites[0] if item.kind == "site" else None,
                  details={"key_version": item.key_version, "expires_at": int(expires.timestamp())})
            signed.append(cert)
    return signed


# --- the HTTP-facing service ------------------------------------------------------------------


def not_certified() -> Conflict:
    return Conflict(
        "not_certified",
        _("This colleague's keys are not certified yet. Please ask the administrator."),
    )


class SiteKeys:
    """Site keys as seen by clients: public parts, sealed boxes, certificates."""

    def __init__(self, sessions: Sessions, config: AppConfig, clock: Clock) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock

    async def list_keys(self, ctx: AccountContext, site_id: str) -> list[dict[str, Any]]:
        """Certified versions of a site key (public parts only); `active` marks the newest."""
        async with self.sessions.begin() as db:
            await access_site_for(db, ctx, site_id, need="public")
            keys = [k for k in await repo.site_keys_of_site(db, site_id) if k.certificate]
            newest = max((k.version for k in keys), default=None)
            return [
                {
                    "version": key.version,
                    "x25519_public": b64url_encode(key.x25519_public),
                    "ed25519_public": b64url_encode(key.ed25519_public),
                    "certificate": certificate_b64(key.certificate),
                    "active": key.version == newest,
                }
                for key in keys
            ]

    async def my_sealed(self, ctx: AccountContext) -> list[dict[str, Any]]:
        require_counsellor(ctx)
        async with self.sessions.begin() as db:
            return [
                {"site_id": key.site_id, "version": key.version,
                 "sealed": b64url_encode(box.sealed)}
                for box, key in await repo.boxes_of_account(db, ctx.account_id)
                if key.certificate is not None
            ]

    async def my_certificate(self, ctx: AccountContext) -> str | None:
        require_counsellor(ctx)
        async with self.sessions.begin() as db:
            account = await repo.get_account(db, ctx.account_id)
            return certificate_b64(account.certificate) if account else None

    def _certified_for(self, account: Account, site_id: str) -> bool:
        """Does `account` hold a currently valid certificate for its own keys and `site_id`?"""
        org = org_public_key(self.config)
        if org is None or account.certificate is None:
            return False
        try:
            cert = verify_certificate(
                json.loads(account.certificate), org, int(self.clock.now().timestamp()),
                kind="counsellor", subject=account.id, site_id=site_id,
            )
        except (CertificateError, InvalidInput, ValueError):
            return False
        return (
            cert.x25519_public == account.x25519_public
            and cert.ed25519_public == account.ed25519_public
        )

    async def seal(
        self, ctx: AccountContext, site_id: str, account_id: str, version: int, sealed: bytes
    ) -> None:
        """A member hands a site key version (sealed by their client) to a certified colleague.

        The newest version may be sealed before the operator certified it: the box goes to a
        colleague's *certified* key (the sealing client verifies that certificate, the server
        checks it too), so only that colleague can open it, and their client uses a site key
        only once its certificate verifies (`openSiteKey` compares the opened key with the
        certified public halves). Certification is about young people's clients trusting the
        public half; it does not protect the private half, which never leaves members' devices
        unsealed.
        """
        if len(sealed) != SITE_KEY_BOX_LEN:
            raise ServiceError("invalid", _("The field {field} is not valid."), field="sealed")
        now = self.clock.now()
        async with self.sessions.begin() as db:
            await access_site_for(db, ctx, site_id, need="member")
            key = await repo.get_site_key(db, site_id, version)
            if key is None:
                raise not_found()
            if key.certificate is None and version != await repo.max_site_key_version(
                db, site_id
            ):
                # Only the newest version may be handed on before it is certified: right after
                # a rotation, the lead's browser seals it to everybody at once (protocol 7.2).
                raise not_found()
            if await repo.get_box(db, key.id, ctx.account_id) is None:
                raise Forbidden("no_site_key", _("You do not hold this team key yourself."))
            target = await repo.get_account(db, account_id)
            membership = await repo.get_membership(db, account_id, site_id) if target else None
            if target is None or membership is None or target.role not in COUNSELLOR_ROLES:
                raise not_found()
            if not self._certified_for(target, site_id):
                raise not_certified()
            box = await repo.get_box(db, key.id, account_id)
            if box is None:
                repo.add_box(
                    db,
                    SiteKeyBox(site_key_id=key.id, account_id=account_id, sealed=sealed,
                               sealed_by=ctx.account_id, created_at=now),
                )
            else:  # a fresh box replaces an older one (the recipient checks it anyway)
                box.sealed, box.sealed_by, box.created_at = sealed, ctx.account_id, now
            audit(db, now, "site_key_sealed", "account", account_id, actor_id=ctx.account_id,
                  site_id=site_id, details={"version": version})

    async def create_version(
        self, ctx: AccountContext, site_id: str, x25519_public: bytes, ed25519_public: bytes,
        sealed_to_self: bytes,
    ) -> int:
        """A site lead's client made a new site key version (first key or rotation).

        The server stores the public halves (to be certified by the operator) and the box the
        lead sealed to themselves; colleagues get theirs with `seal` once it is certified.
        """
        check_public_keys(x25519_public, ed25519_public)
        if len(sealed_to_self) != SITE_KEY_BOX_LEN:
            raise ServiceError("invalid", _("The field {field} is not valid."), field="sealed")
        now = self.clock.now()
        try:
            return await self._create_version(
                ctx, site_id, x25519_public, ed25519_public, sealed_to_self, now
            )
        except IntegrityError:  # another lead created the same version at the same moment
            raise Conflict("changed", _("Somebody else changed the team key; try again.")) from None

    async def _create_version(
        self, ctx: AccountContext, site_id: str, x25519_public: bytes, ed25519_public: bytes,
        sealed_to_self: bytes, now: datetime,
    ) -> int:
        async with self.sessions.begin() as db:
            await access_site_for(db, ctx, site_id, need="lead")
            version = await repo.max_site_key_version(db, site_id) + 1
            key = SiteKey(
                site_id=site_id, version=version, x25519_public=x25519_public,
                ed25519_public=ed25519_public, certificate=None, certificate_expires_at=None,
                created_by=ctx.account_id, created_at=now,
            )
            repo.add_site_key(db, key)
            await db.flush()
            repo.add_box(
                db,
                SiteKeyBox(site_key_id=key.id, account_id=ctx.account_id, sealed=sealed_to_self,
                           sealed_by=ctx.account_id, created_at=now),
            )
            audit(db, now, "site_key_created", "site", site_id, actor_id=ctx.account_id,
                  site_id=site_id, details={"version": version})
        return version
