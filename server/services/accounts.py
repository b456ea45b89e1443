"""Accounts: registration, login with two-factor for staff, password change, recovery,
invitations, deletion (docs/accounts-api.md).

The server never sees a password or a private key. It receives `auth_key` (an HKDF output the
client derives from the password with PBKDF2, protocol section 4), stores scrypt of it, and keeps
the identity private keys only as blobs wrapped by the client. Errors about logging in are
uniform: a wrong nickname and a wrong key give the same answer (`login_failed`), and prelogin
answers an unknown nickname with a deterministic fake salt.

Slow hashing (scrypt) runs in a worker thread and outside database transactions, so neither the
event loop nor a database connection waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.config import AppConfig
from server.crypto import passwords
from server.crypto import primitives as prim
from server.crypto.encoding import b64url_encode
from server.crypto.errors import InvalidInput
from server.crypto.keys import (
    BLOB_LEN,
    BLOB_VERSION,
    DEFAULT_PBKDF2_ITERATIONS,
    MAX_PBKDF2_ITERATIONS,
    fingerprint,
)
from server.crypto.tokens import (
    decrypt_totp_secret,
    encrypt_totp_secret,
    fake_salt,
    hash_token,
    looks_like_token,
    new_token,
    new_totp_secret,
    otpauth_uri,
    throttle_key,
    totp_secret_base32,
    verify_totp,
)
from server.i18n import lazy_gettext as _
from server.services import rate_limit
from server.services.access import AccountContext
from server.services.clock import Clock
from server.services.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceError,
    Unauthorized,
    not_found,
)
from server.services.rate_limit import SourceLimiter
from server.services.sessions import (
    RECOVERY_TTL,
    TOTP_SETUP_TTL,
    IssuedSession,
    end_sessions_of_account,
    find_session,
    full_session_ttl,
    issue_session,
)
from server.storage.db import Sessions
from server.storage.models import Account, AuditEvent, Invitation, SiteKey, SiteKeyBox
from server.storage.models.accounts import (
    COUNSELLOR_ROLES,
    ROLE_ADMIN,
    ROLE_COUNSELLOR,
    ROLE_SITE_LEAD,
    ROLE_YOUNG_PERSON,
    SCOPE_RECOVERY,
    STAFF_ROLES,
    SiteMembership,
)
from server.storage.models.base import new_id
from server.storage.repositories import accounts as repo

log = logging.getLogger("jmdchat.accounts")

NICKNAME_MIN = 3
NICKNAME_MAX = 32
DISPLAY_NAME_MAX = 64
AGE_GROUPS = ("12-14", "15-17", "18-21", "22-27")
_NICKNAME_PUNCTUATION = frozenset("_.-")
#: Names that would let someone pose as the service or its staff. Compared after casefolding
#: and removing `_ . -` and spaces; names starting with "jmd" or "admin" are refused as well.
RESERVED_NICKNAMES = frozenset(
    {
        "admin", "administrator", "administration", "anonym", "anonymous", "berater",
        "beraterin", "beratung", "counsellor", "counselor", "fachkraft", "jmd", "jmdchat",
        "jmd4you", "leitung", "mod", "moderator", "moderation", "null", "official", "offiziell",
        "polizei", "police", "root", "server", "sitelead", "staff", "support", "system",
        "team", "teamleitung", "undefined", "verwaltung",
    }
)
_RESERVED_PREFIXES = ("jmd", "admin")

# Hook run inside the deleting transaction, before the account row goes. Later areas
# (conversations, queue, ...) append theirs to remove what belongs to the account.
DeletionHook = Callable[[AsyncSession, str], Awaitable[None]]
ACCOUNT_DELETION_HOOKS: list[DeletionHook] = []


# --- errors (uniform where it matters) --------------------------------------------------------


def login_failed() -> Unauthorized:
    return Unauthorized(
        "login_failed", _("Nickname or password is not correct. Please try again.")
    )


def totp_required() -> Unauthorized:
    return Unauthorized(
        "totp_required", _("Please enter the 6-digit code from your authenticator app.")
    )


def totp_invalid() -> Unauthorized:
    return Unauthorized(
        "totp_invalid", _("This code is not correct or has expired. Please enter the new code.")
    )


def totp_setup_required() -> Unauthorized:
    return Unauthorized(
        "totp_setup_required",
        _(
            "Two-factor sign-in is not set up for this account yet. Please open your invitation "
            "link again to finish setting up your account."
        ),
    )


def recovery_failed() -> Unauthorized:
    return Unauthorized(
        "recovery_failed", _("Nickname or recovery code is not correct. Please try again.")
    )


def recovery_expired() -> Unauthorized:
    return Unauthorized(
        "recovery_expired", _("This recovery has expired. Please start again with your code.")
    )


def wrong_password() -> Forbidden:
    return Forbidden("wrong_password", _("The password is not correct."))


def invitation_invalid() -> NotFound:
    return NotFound(
        "invitation_invalid",
        _("This invitation link is not valid (any more). Please ask for a new one."),
    )


def invalid_field(field_name: str) -> ServiceError:
    return ServiceError("invalid", _("The field {field} is not valid."), field=field_name)


# --- nicknames --------------------------------------------------------------------------------


def normalise_nickname(raw: str) -> str:
    """NFC and without surrounding spaces: what is stored and shown."""
    return unicodedata.normalize("NFC", raw).strip()


def nickname_key(nickname: str) -> str:
    """What uniqueness and login compare: case-insensitive (casefold), NFC."""
    return unicodedata.normalize("NFC", normalise_nickname(nickname).casefold())


def _nickname_char_ok(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category[0] in ("L", "M") or category == "Nd" or ch in _NICKNAME_PUNCTUATION


def nickname_is_valid(nickname: str) -> bool:
    """3-32 characters: letters of any script (with their marks), digits, `_ - .` and single
    spaces between them; the same rule as client/src/account/rules.js."""
    if not NICKNAME_MIN <= len(nickname) <= NICKNAME_MAX:
        return False
    words = nickname.split(" ")
    return all(word and all(_nickname_char_ok(ch) for ch in word) for word in words)


def nickname_is_reserved(nickname: str) -> bool:
    compact = "".join(ch for ch in nickname_key(nickname) if ch not in " _.-")
    return compact in RESERVED_NICKNAMES or compact.startswith(_RESERVED_PREFIXES)


def check_nickname(raw: str, *, allow_reserved: bool = False) -> str:
    """The normalised nickname, or a 400 explaining the rule."""
    nickname = normalise_nickname(raw)
    if not nickname_is_valid(nickname):
        raise ServiceError(
            "nickname_invalid",
            _(
                "Your nickname needs 3 to 32 characters: letters, digits, _ - . and single "
                "spaces."
            ),
        )
    if not allow_reserved and nickname_is_reserved(nickname):
        raise ServiceError(
            "nickname_reserved", _("This nickname is reserved. Please choose another one.")
        )
    return nickname


def nickname_taken() -> Conflict:
    return Conflict(
        "nickname_taken", _("This nickname is already taken. Please choose another one.")
    )


def _clean_display_name(raw: str) -> str:
    name = unicodedata.normalize("NFC", raw).strip()
    if len(name) > DISPLAY_NAME_MAX or any(unicodedata.category(ch)[0] == "C" for ch in name):
        raise invalid_field("display_name")
    return name


def check_public_keys(x25519_public: bytes, ed25519_public: bytes) -> None:
    """Refuse keys nobody can use: wrong length, small-order X25519 points (a shared secret with
    them is all zeros, so every box sealed to them would be readable), Ed25519 encodings that are
    not points."""
    if len(x25519_public) != 32:
        raise invalid_field("x25519_public")
    try:
        prim.x25519_shared(prim.x25519_generate()[0], x25519_public)
    except InvalidInput:
        raise invalid_field("x25519_public") from None
    if len(ed25519_public) != 32 or ed25519_public == bytes(32):
        raise invalid_field("ed25519_public")
    try:
        Ed25519PublicKey.from_public_bytes(ed25519_public)
    except ValueError:
        raise invalid_field("ed25519_public") from None


# --- inputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewPassword:
    """What a client sends when it (re)wraps its identity under a password."""

    salt: bytes
    iterations: int
    auth_key: bytes = field(repr=False)
    key_blob: bytes = field(repr=False)


@dataclass(frozen=True)
class NewIdentity:
    """Registration / invitation: password material, recovery material, public keys."""

    nickname: str
    password: NewPassword
    recovery_blob: bytes = field(repr=False)
    recovery_auth_key: bytes = field(repr=False)
    x25519_public: bytes
    ed25519_public: bytes
    locale: str
    age_group: str | None = None
    display_name: str = ""


# --- outputs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    account: dict[str, Any]
    key_blob: bytes = field(repr=False)
    session: IssuedSession


@dataclass(frozen=True)
class AcceptResult:
    account: dict[str, Any]
    totp_secret: str = field(repr=False)
    otpauth_uri: str = field(repr=False)
    session: IssuedSession


@dataclass(frozen=True)
class SessionResult:
    account: dict[str, Any]
    session: IssuedSession
    ended_session_ids: list[str]


@dataclass(frozen=True)
class CreatedInvitation:
    token: str = field(repr=False)
    role: str
    site_slug: str | None
    expires_at: datetime


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def account_json(db: AsyncSession, account: Account) -> dict[str, Any]:
    """The `account` object of docs/accounts-api.md."""
    sites = await repo.sites_of_account(db, account.id)
    return {
        "id": account.id,
        "nickname": account.nickname,
        "role": account.role,
        "display_name": account.display_name,
        "locale": account.locale,
        "age_group": account.age_group,
        "x25519_public": b64url_encode(account.x25519_public),
        "ed25519_public": b64url_encode(account.ed25519_public),
        "fingerprint": fingerprint(account.x25519_public, account.ed25519_public),
        "sites": [{"id": site.id, "slug": site.slug, "name": site.name} for site, _ in sites],
        "totp_enabled": bool(account.totp_enabled),
    }


def audit(
    db: AsyncSession, now: datetime, action: str, subject_type: str, subject_id: str,
    *, actor_id: str | None = None, site_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Metadata-only audit entry for staff and key events (never content, never nicknames of
    young people)."""
    db.add(
        AuditEvent(
            at=now, actor_id=actor_id, action=action, subject_type=subject_type,
            subject_id=subject_id, site_id=site_id, details=details or {},
        )
    )


async def delete_account_data(db: AsyncSession, account_id: str) -> list[str]:
    """Remove an account and everything that belongs to it; returns the ended session ids.

    Hooks of later areas run first, then sessions, site key boxes, memberships and the row.
    Foreign keys cascade as well; deleting explicitly keeps this independent of the database's
    foreign key enforcement.
    """
    for hook in ACCOUNT_DELETION_HOOKS:
        await hook(db, account_id)
    ended = await end_sessions_of_account(db, account_id)
    await repo.delete_boxes_of_account(db, account_id)
    await repo.delete_memberships(db, account_id)
    await db.execute(
        update(SiteKeyBox).where(SiteKeyBox.sealed_by == account_id).values(sealed_by=None)
    )
    await db.execute(
        update(SiteKey).where(SiteKey.created_by == account_id).values(created_by=None)
    )
    await db.execute(
        update(Invitation).where(Invitation.account_id == account_id).values(account_id=None)
    )
    await repo.delete_account_row(db, account_id)
    return ended


@dataclass(frozen=True)
class _Snapshot:
    """What a login needs from the account, read in a short transaction."""

    id: str
    role: str
    auth_hash: str
    recovery_hash: str
    totp_enabled: bool


def _snapshot(account: Account) -> _Snapshot:
    return _Snapshot(
        account.id, account.role, account.auth_hash, account.recovery_hash,
        bool(account.totp_enabled),
    )


class Accounts:
    """The accounts service. One instance per request (it is cheap) or per CLI command."""

    def __init__(
        self, sessions: Sessions, config: AppConfig, clock: Clock, limiter: SourceLimiter
    ) -> None:
        self.sessions = sessions
        self.config = config
        self.clock = clock
        self.limiter = limiter

    # --- helpers ------------------------------------------------------------------------------

    @property
    def _secret(self) -> str:
        return self.config.security.secret_key

    @property
    def _limit(self) -> int:
        return self.config.security.login_attempts_per_15min

    def _check_kdf(self, salt: bytes, iterations: int) -> None:
        if len(salt) != 16:
            raise invalid_field("salt")
        if not self.config.security.pbkdf2_min_iterations <= iterations <= MAX_PBKDF2_ITERATIONS:
            raise ServiceError(
                "weak_kdf_params",
                _("The password protection settings are too weak. Please update the app."),
            )

    def _check_locale(self, locale: str) -> None:
        if locale not in self.config.i18n.locales:
            raise invalid_field("locale")

    def _check_identity(self, identity: NewIdentity) -> None:
        self._check_kdf(identity.password.salt, identity.password.iterations)
        self._check_locale(identity.locale)
        check_public_keys(identity.x25519_public, identity.ed25519_public)
        if identity.age_group is not None and identity.age_group not in AGE_GROUPS:
            raise invalid_field("age_group")

    def _source_wait(self, purpose: str, source: str, factor: int) -> None:
        wait = self.limiter.retry_after(purpose, source, self._limit * factor, self.clock.now())
        if wait is not None:
            raise rate_limit.rate_limited(wait)

    async def _nickname_wait(self, tkey: str) -> None:
        async with self.sessions.begin() as db:
            wait = await rate_limit.nickname_retry_after(db, tkey, self.clock.now())
        if wait is not None:
            raise rate_limit.rate_limited(wait)

    async def _failure(self, purpose: str, tkey: str, source: str) -> None:
        now = self.clock.now()
        self.limiter.hit(purpose, source, now)
        async with self.sessions.begin() as db:
            await rate_limit.record_nickname_failure(db, tkey, now, self._limit)

    async def _verify(self, auth_key: bytes, stored: str | None) -> bool:
        if stored is None:
            return await asyncio.to_thread(passwords.dummy_verify, auth_key)
        return await asyncio.to_thread(passwords.verify_auth_key, auth_key, stored)

    async def _hash(self, auth_key: bytes) -> str:
        return await asyncio.to_thread(passwords.hash_auth_key, auth_key)

    def _unix_now(self) -> float:
        return self.clock.now().timestamp()

    def _consume_totp(self, account: Account, code: str) -> None:
        """Accept `code` once (its time step is remembered) or raise `totp_invalid`."""
        if account.totp_secret_box is None:
            raise totp_invalid()
        try:
            secret = decrypt_totp_secret(self._secret, account.id, account.totp_secret_box)
        except InvalidInput:
            # Only after security.secret_key was changed: the operator must re-invite.
            log.error("TOTP secret cannot be decrypted", extra={"account_id": account.id})
            raise totp_invalid() from None
        step = verify_totp(secret, code, self._unix_now(), account.totp_last_step)
        if step is None:
            raise totp_invalid()
        account.totp_last_step = step

    # --- prelogin, register, login ------------------------------------------------------------

    async def prelogin(self, raw_nickname: str) -> tuple[bytes, int]:
        """Salt and iterations for a nickname; for an unknown one a deterministic fake salt and
        the default iterations, so the answer does not reveal whether the nickname exists."""
        key = nickname_key(raw_nickname)
        async with self.sessions.begin() as db:
            account = await repo.get_account_by_nickname_key(db, key)
            if account is not None:
                return account.kdf_salt, account.kdf_iterations
        default = max(DEFAULT_PBKDF2_ITERATIONS, self.config.security.pbkdf2_min_iterations)
        return fake_salt(self._secret, key), default

    async def register(self, identity: NewIdentity, source: str) -> SessionResult:
        """A young person creates an account (the only self-service registration)."""
        self._source_wait("register", source, rate_limit.SOURCE_REGISTER_FACTOR)
        nickname = check_nickname(identity.nickname)
        self._check_identity(identity)
        auth_hash = await self._hash(identity.password.auth_key)
        recovery_hash = await self._hash(identity.recovery_auth_key)
        now = self.clock.now()
        self.limiter.hit("register", source, now)
        try:
            async with self.sessions.begin() as db:
                if await repo.nickname_key_taken(db, nickname_key(nickname)):
                    raise nickname_taken()
                account = self._new_account(
                    new_id(), nickname, ROLE_YOUNG_PERSON, identity, auth_hash, recovery_hash, now
                )
                repo.add_account(db, account)
                await db.flush()
                issued = await issue_session(
                    db, account.id, "full", now,
                    full_session_ttl(self.config.security.session_ttl_hours),
                )
                view = await account_json(db, account)
        except IntegrityError:  # lost a race for the same nickname
            raise nickname_taken() from None
        log.info("account registered", extra={"account_id": account.id})
        return SessionResult(view, issued, [])

    @staticmethod
    def _new_account(
        account_id: str, nickname: str, role: str, identity: NewIdentity, auth_hash: str,
        recovery_hash: str, now: datetime,
    ) -> Account:
        return Account(
            id=account_id,
            nickname=nickname,
            nickname_key=nickname_key(nickname),
            role=role,
            display_name=identity.display_name,
            locale=identity.locale,
            age_group=identity.age_group if role == ROLE_YOUNG_PERSON else None,
            kdf_salt=identity.password.salt,
            kdf_iterations=identity.password.iterations,
            auth_hash=auth_hash,
            recovery_hash=recovery_hash,
            key_blob=identity.password.key_blob,
            recovery_blob=identity.recovery_blob,
            x25519_public=identity.x25519_public,
            ed25519_public=identity.ed25519_public,
            totp_secret_box=None,
            totp_enabled=False,
            totp_last_step=None,
            certificate=None,
            certificate_expires_at=None,
            created_at=now,
            updated_at=now,
        )

    async def login(
        self, raw_nickname: str, auth_key: bytes, totp_code: str | None, source: str
    ) -> LoginResult:
        key = nickname_key(raw_nickname)
        tkey = throttle_key(self._secret, "login", key)
        self._source_wait("login", source, rate_limit.SOURCE_FAILURE_FACTOR)
        await self._nickname_wait(tkey)
        async with self.sessions.begin() as db:
            found = await repo.get_account_by_nickname_key(db, key)
            snap = _snapshot(found) if found is not None else None
        if not await self._verify(auth_key, snap.auth_hash if snap else None) or snap is None:
            await self._failure("login", tkey, source)
            raise login_failed()
        staff = snap.role in STAFF_ROLES
        if staff and not snap.totp_enabled:
            raise totp_setup_required()
        if staff and not totp_code:
            raise totp_required()
        now = self.clock.now()
        try:
            async with self.sessions.begin() as db:
                account = await repo.get_account_for_update(db, snap.id)
                if account is None or account.auth_hash != snap.auth_hash:
                    raise login_failed()  # deleted or password changed meanwhile
                if staff:
                    self._consume_totp(account, totp_code or "")
                await rate_limit.clear_nickname(db, tkey)
                issued = await issue_session(
                    db, account.id, "full", now,
                    full_session_ttl(self.config.security.session_ttl_hours),
                )
                result = LoginResult(await account_json(db, account), account.key_blob, issued)
        except Unauthorized as exc:
            if exc.code == "totp_invalid":
                await self._failure("login", tkey, source)
            raise
        log.info("logged in", extra={"account_id": snap.id})
        return result

    async def me(self, ctx: AccountContext) -> dict[str, Any]:
        async with self.sessions.begin() as db:
            account = await repo.get_account(db, ctx.account_id)
            if account is None:
                raise Unauthorized("unauthorized", _("Please log in first."))
            return await account_json(db, account)

    async def logout(self, ctx: AccountContext) -> list[str]:
        async with self.sessions.begin() as db:
            await repo.delete_session(db, ctx.session_id)
        return [ctx.session_id]

    # --- password change, recovery, deletion --------------------------------------------------

    async def _reauthenticate(self, ctx: AccountContext, auth_key: bytes, source: str) -> Account:
        """Check the password of a logged-in account again (password change, deletion)."""
        async with self.sessions.begin() as db:
            account = await repo.get_account(db, ctx.account_id)
            if account is None:
                raise Unauthorized("unauthorized", _("Please log in first."))
        tkey = throttle_key(self._secret, "login", account.nickname_key)
        self._source_wait("login", source, rate_limit.SOURCE_FAILURE_FACTOR)
        await self._nickname_wait(tkey)
        if not await self._verify(auth_key, account.auth_hash):
            await self._failure("login", tkey, source)
            raise wrong_password()
        return account

    async def change_password(
        self, ctx: AccountContext, current_auth_key: bytes, new: NewPassword, source: str
    ) -> list[str]:
        """Re-wrap under a new password; other sessions of the account end. Returns their ids."""
        self._check_kdf(new.salt, new.iterations)
        before = await self._reauthenticate(ctx, current_auth_key, source)
        auth_hash = await self._hash(new.auth_key)
        async with self.sessions.begin() as db:
            account = await repo.get_account_for_update(db, ctx.account_id)
            if account is None or account.auth_hash != before.auth_hash:
                raise wrong_password()  # changed concurrently: the "current" key is stale
            account.kdf_salt = new.salt
            account.kdf_iterations = new.iterations
            account.auth_hash = auth_hash
            account.key_blob = new.key_blob
            account.updated_at = self.clock.now()
            ended = await end_sessions_of_account(
                db, account.id, keep_session_id=ctx.session_id
            )
        log.info("password changed", extra={"account_id": ctx.account_id})
        return ended

    async def renew_recovery(
        self, ctx: AccountContext, current_auth_key: bytes, recovery_auth_key: bytes,
        recovery_blob: bytes, source: str,
    ) -> None:
        """Replace the recovery code (lost or never printed): the client re-wrapped the same
        identity under a new code's `recovery_wrap_key`; the old code stops working at once.

        Needs the session AND the current password (like a password change; failures count
        against the login limits). An unfinished recovery started with the old code ends too.
        """
        if len(recovery_blob) != BLOB_LEN or recovery_blob[0] != BLOB_VERSION:
            raise invalid_field("recovery_blob")
        before = await self._reauthenticate(ctx, current_auth_key, source)
        recovery_hash = await self._hash(recovery_auth_key)
        now = self.clock.now()
        async with self.sessions.begin() as db:
            account = await repo.get_account_for_update(db, ctx.account_id)
            if account is None or account.auth_hash != before.auth_hash:
                raise wrong_password()  # password changed concurrently: the key is stale
            account.recovery_hash = recovery_hash
            account.recovery_blob = recovery_blob
            account.updated_at = now
            await repo.delete_sessions_of_account(db, account.id, scopes=[SCOPE_RECOVERY])
            if account.role in STAFF_ROLES:
                audit(db, now, "recovery_code_renewed", "account", account.id,
                      actor_id=account.id)
        log.info("recovery code renewed", extra={"account_id": ctx.account_id})

    async def recovery_start(
        self, raw_nickname: str, recovery_auth_key: bytes, totp_code: str | None, source: str
    ) -> tuple[str, bytes]:
        """Check the recovery code's auth key; hand out the recovery blob and a 10-minute token.

        Staff must add their TOTP code (as at login): a recovery code alone must not get around
        two-factor authentication.
        """
        key = nickname_key(raw_nickname)
        tkey = throttle_key(self._secret, "recovery", key)
        self._source_wait("recovery", source, rate_limit.SOURCE_FAILURE_FACTOR)
        await self._nickname_wait(tkey)
        async with self.sessions.begin() as db:
            found = await repo.get_account_by_nickname_key(db, key)
            snap = _snapshot(found) if found is not None else None
        stored = snap.recovery_hash if snap else None
        if not await self._verify(recovery_auth_key, stored) or snap is None:
            await self._failure("recovery", tkey, source)
            raise recovery_failed()
        staff = snap.role in STAFF_ROLES
        if staff and not snap.totp_enabled:
            raise totp_setup_required()
        if staff and not totp_code:
            raise totp_required()
        now = self.clock.now()
        try:
            async with self.sessions.begin() as db:
                account = await repo.get_account_for_update(db, snap.id)
                if account is None or account.recovery_hash != snap.recovery_hash:
                    raise recovery_failed()
                if staff:
                    self._consume_totp(account, totp_code or "")
                await rate_limit.clear_nickname(db, tkey)
                # One recovery at a time: an older unfinished token stops working.
                await repo.delete_sessions_of_account(db, account.id, scopes=[SCOPE_RECOVERY])
                issued = await issue_session(db, account.id, SCOPE_RECOVERY, now, RECOVERY_TTL)
                blob = account.recovery_blob
        except Unauthorized as exc:
            if exc.code == "totp_invalid":
                await self._failure("recovery", tkey, source)
            raise
        return issued.token, blob

    async def recovery_finish(self, recovery_token: str, new: NewPassword) -> SessionResult:
        """Set the new password material; all sessions end; a new full session starts."""
        self._check_kdf(new.salt, new.iterations)
        if not looks_like_token(recovery_token):
            raise recovery_expired()
        auth_hash = await self._hash(new.auth_key)
        now = self.clock.now()
        async with self.sessions.begin() as db:
            row = await find_session(db, recovery_token, now, SCOPE_RECOVERY)
            account = await repo.get_account_for_update(db, row.account_id) if row else None
            if account is None:
                raise recovery_expired()
            account.kdf_salt = new.salt
            account.kdf_iterations = new.iterations
            account.auth_hash = auth_hash
            account.key_blob = new.key_blob
            account.updated_at = now
            # Every session ends, the recovery token included (single use).
            ended = await end_sessions_of_account(db, account.id)
            await rate_limit.clear_nickname(
                db, throttle_key(self._secret, "login", account.nickname_key)
            )
            issued = await issue_session(
                db, account.id, "full", now,
                full_session_ttl(self.config.security.session_ttl_hours),
            )
            view = await account_json(db, account)
        log.info("account recovered", extra={"account_id": account.id})
        return SessionResult(view, issued, ended)

    async def delete_account(self, ctx: AccountContext, auth_key: bytes, source: str) -> list[str]:
        """Delete the account and everything that belongs to it (after the password check)."""
        account = await self._reauthenticate(ctx, auth_key, source)
        now = self.clock.now()
        async with self.sessions.begin() as db:
            ended = await delete_account_data(db, account.id)
            for purpose in ("login", "recovery"):
                await rate_limit.clear_nickname(
                    db, throttle_key(self._secret, purpose, account.nickname_key)
                )
            if account.role in STAFF_ROLES:
                audit(db, now, "account_deleted", "account", account.id, actor_id=account.id)
        log.info("account deleted", extra={"account_id": account.id})
        return ended

    # --- invitations and two-factor -----------------------------------------------------------

    async def create_invitation(
        self, role: str, site_slug: str | None, display_name: str = "",
        nickname: str | None = None,
    ) -> CreatedInvitation:
        """Operator (CLI): a one-time link for a counsellor, site lead (with a site) or admin."""
        assert role in STAFF_ROLES
        if (role in COUNSELLOR_ROLES) != (site_slug is not None):
            raise ServiceError("invalid", _("Counsellors need a team; admins have none."))
        name = _clean_display_name(display_name)
        fixed = check_nickname(nickname, allow_reserved=True) if nickname else None
        now = self.clock.now()
        token = new_token()
        async with self.sessions.begin() as db:
            site_id = None
            if site_slug is not None:
                site = await repo.get_site_by_slug(db, site_slug)
                if site is None:
                    raise not_found()
                site_id = site.id
            if fixed is not None and await repo.nickname_key_taken(db, nickname_key(fixed)):
                raise nickname_taken()
            invitation = Invitation(
                token_hash=hash_token(token), role=role, site_id=site_id, display_name=name,
                nickname=fixed, created_at=now,
                expires_at=now + timedelta(hours=self.config.security.invitation_hours),
                account_id=None, completed_at=None,
            )
            repo.add_invitation(db, invitation)
            await db.flush()
            audit(db, now, "invitation_created", "invitation", invitation.id, site_id=site_id,
                  details={"role": role})
        return CreatedInvitation(token, role, site_slug, invitation.expires_at)

    async def _open_invitation(self, db: AsyncSession, token: str) -> Invitation:
        if not looks_like_token(token):
            raise invitation_invalid()
        invitation = await repo.get_invitation_by_hash(db, hash_token(token))
        if (
            invitation is None
            or invitation.completed_at is not None
            or invitation.expires_at <= self.clock.now()
        ):
            raise invitation_invalid()
        return invitation

    async def invitation_info(self, token: str) -> dict[str, Any]:
        async with self.sessions.begin() as db:
            invitation = await self._open_invitation(db, token)
            site = await repo.get_site(db, invitation.site_id) if invitation.site_id else None
            return {
                "site": {"id": site.id, "slug": site.slug, "name": site.name} if site else None,
                "role": invitation.role,
                "expires_at": iso(invitation.expires_at),
                "display_name": invitation.display_name,
                "nickname": invitation.nickname,
            }

    async def accept_invitation(self, token: str, identity: NewIdentity) -> AcceptResult:
        """Create the staff account of an invitation, with a new TOTP secret to confirm next.

        Until the first TOTP code is confirmed the link stays valid and accepting again replaces
        the unfinished account (someone who lost the setup screen can start over); the session
        issued here is good for nothing but that confirmation.
        """
        self._check_identity(identity)
        auth_hash = await self._hash(identity.password.auth_key)
        recovery_hash = await self._hash(identity.recovery_auth_key)
        now = self.clock.now()
        secret = new_totp_secret()
        try:
            async with self.sessions.begin() as db:
                invitation = await self._open_invitation(db, token)
                pinned = invitation.nickname
                nickname = check_nickname(identity.nickname, allow_reserved=pinned is not None)
                if pinned is not None and nickname_key(pinned) != nickname_key(nickname):
                    raise ServiceError(
                        "nickname_mismatch",
                        _("Please use the nickname this invitation was made for: {nickname}"),
                        nickname=pinned,
                    )
                if invitation.account_id is not None:
                    previous = await repo.get_account(db, invitation.account_id)
                    if previous is not None and previous.totp_enabled:
                        raise invitation_invalid()
                    if previous is not None:
                        await delete_account_data(db, previous.id)
                        await db.flush()
                if await repo.nickname_key_taken(db, nickname_key(nickname)):
                    raise nickname_taken()
                name = _clean_display_name(identity.display_name) or invitation.display_name
                account_id = new_id()
                account = self._new_account(
                    account_id, nickname, invitation.role, identity, auth_hash, recovery_hash,
                    now,
                )
                account.display_name = name or nickname
                account.totp_secret_box = encrypt_totp_secret(self._secret, account_id, secret)
                repo.add_account(db, account)
                await db.flush()
                if invitation.site_id is not None:
                    repo.add_membership(
                        db,
                        SiteMembership(
                            account_id=account_id, site_id=invitation.site_id,
                            is_lead=invitation.role == ROLE_SITE_LEAD, created_at=now,
                        ),
                    )
                invitation.account_id = account_id
                issued = await issue_session(db, account_id, "totp_setup", now, TOTP_SETUP_TTL)
                await db.flush()
                view = await account_json(db, account)
                audit(db, now, "invitation_accepted", "account", account_id,
                      actor_id=account_id, site_id=invitation.site_id,
                      details={"role": invitation.role})
        except IntegrityError:
            raise nickname_taken() from None
        return AcceptResult(
            view, totp_secret_base32(secret), otpauth_uri(secret, nickname), issued
        )

    async def confirm_totp(self, ctx: AccountContext, code: str, source: str) -> SessionResult:
        """First TOTP code after accepting: two-factor is on, the session becomes a full one
        (with a new token, so a token seen before the upgrade is worth nothing)."""
        async with self.sessions.begin() as db:
            account = await repo.get_account(db, ctx.account_id)
            if account is None:
                raise Unauthorized("unauthorized", _("Please log in first."))
            key = account.nickname_key
        tkey = throttle_key(self._secret, "login", key)
        self._source_wait("login", source, rate_limit.SOURCE_FAILURE_FACTOR)
        await self._nickname_wait(tkey)
        now = self.clock.now()
        try:
            async with self.sessions.begin() as db:
                account = await repo.get_account_for_update(db, ctx.account_id)
                if account is None:
                    raise Unauthorized("unauthorized", _("Please log in first."))
                self._consume_totp(account, code)
                account.totp_enabled = True
                account.updated_at = now
                invitation = await repo.get_invitation_of_account(db, account.id)
                if invitation is not None:
                    invitation.completed_at = now
                ended = await end_sessions_of_account(db, account.id)
                await rate_limit.clear_nickname(db, tkey)
                issued = await issue_session(
                    db, account.id, "full", now,
                    full_session_ttl(self.config.security.session_ttl_hours),
                )
                view = await account_json(db, account)
                audit(db, now, "totp_enabled", "account", account.id, actor_id=account.id)
        except Unauthorized as exc:
            if exc.code == "totp_invalid":
                await self._failure("login", tkey, source)
            raise
        return SessionResult(view, issued, [sid for sid in ended if sid != ctx.session_id])

    # --- housekeeping -------------------------------------------------------------------------

    async def purge_expired(self) -> dict[str, int]:
        """Expired sessions and invitations, staff accounts whose setup was never finished, idle
        throttle rows. For the retention job (later issue) and the CLI."""
        now = self.clock.now()
        async with self.sessions.begin() as db:
            sessions = await repo.delete_expired_sessions(db, now)
            unfinished = 0
            cutoff = now - timedelta(hours=self.config.security.invitation_hours)
            for account in await repo.list_accounts_by_role(db, STAFF_ROLES):
                if not account.totp_enabled and account.created_at < cutoff:
                    await delete_account_data(db, account.id)
                    unfinished += 1
            invitations = await repo.delete_expired_invitations(db, now)
            throttles = await rate_limit.purge_stale(db, now)
        return {
            "sessions": sessions, "invitations": invitations,
            "unfinished_accounts": unfinished, "throttles": throttles,
        }


__all__ = [
    "ACCOUNT_DELETION_HOOKS",
    "AGE_GROUPS",
    "ROLE_ADMIN",
    "ROLE_COUNSELLOR",
    "AcceptResult",
    "Accounts",
    "CreatedInvitation",
    "DeletionHook",
    "LoginResult",
    "NewIdentity",
    "NewPassword",
    "SessionResult",
    "account_json",
    "check_nickname",
    "check_public_keys",
    "delete_account_data",
    "nickname_key",
]
