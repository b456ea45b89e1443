"""Accounts, sessions, invitations, site memberships, site (team) keys, login throttling.

What the server holds for an account is deliberately little and opaque (docs/protocol.md):
the PBKDF2 salt and iteration count (handed out before login), scrypt hashes of the login and
recovery auth keys (never the keys, never a password), the identity private keys as two
AES-256-GCM blobs the server cannot open, and the public keys. The TOTP secret of staff
accounts is encrypted at rest (server/crypto/tokens.py). Tokens are stored as SHA-256 only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.storage.models.base import Base, new_id

ROLE_YOUNG_PERSON = "young_person"
ROLE_COUNSELLOR = "counsellor"
ROLE_SITE_LEAD = "site_lead"
ROLE_ADMIN = "admin"
ROLES = (ROLE_YOUNG_PERSON, ROLE_COUNSELLOR, ROLE_SITE_LEAD, ROLE_ADMIN)
#: Roles that must use two-factor authentication and are invited, never self-registered.
STAFF_ROLES = (ROLE_COUNSELLOR, ROLE_SITE_LEAD, ROLE_ADMIN)
#: Roles that work in sites (members of `site_members`, hold site keys, get certificates).
COUNSELLOR_ROLES = (ROLE_COUNSELLOR, ROLE_SITE_LEAD)

SCOPE_FULL = "full"
#: Right after accepting an invitation: good only for confirming the TOTP code.
SCOPE_TOTP_SETUP = "totp_setup"
#: Between recovery/start and recovery/finish (the token is returned in the body, no cookie).
SCOPE_RECOVERY = "recovery"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # As chosen (NFC); shown to others.
    nickname: Mapped[str] = mapped_column(String(32))
    # NFC(casefold(nickname)): what uniqueness and login compare. Casefolding can lengthen a
    # string (ß -> ss), hence the room.
    nickname_key: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(64), default="")
    locale: Mapped[str] = mapped_column(String(8))
    age_group: Mapped[str | None] = mapped_column(String(8))
    # PBKDF2 parameters chosen by the client; handed out by prelogin.
    kdf_salt: Mapped[bytes] = mapped_column(LargeBinary(16))
    kdf_iterations: Mapped[int] = mapped_column(Integer)
    # scrypt of auth_key / recovery_auth_key (server/crypto/passwords.py format).
    auth_hash: Mapped[str] = mapped_column(String(160))
    recovery_hash: Mapped[str] = mapped_column(String(160))
    # Identity private keys wrapped by the client (password / recovery code); opaque here.
    key_blob: Mapped[bytes] = mapped_column(LargeBinary(4096))
    recovery_blob: Mapped[bytes] = mapped_column(LargeBinary(4096))
    x25519_public: Mapped[bytes] = mapped_column(LargeBinary(32))
    ed25519_public: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Staff only. Encrypted at rest; confirmed once the first code was entered.
    totp_secret_box: Mapped[bytes | None] = mapped_column(LargeBinary(128))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Highest TOTP time step used so far: a code cannot be used twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    # Counsellors: the organisation-signed certificate (JSON text) of their public keys.
    certificate: Mapped[str | None] = mapped_column(Text)
    certificate_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SiteMembership(Base):
    """A counsellor (or site lead) works in a site."""

    __tablename__ = "site_members"

    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    site_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    is_lead: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class AuthSession(Base):
    """A login session (cookie), a TOTP-setup session or a recovery token."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Invitation(Base):
    """A one-time link for a counsellor, site lead or admin (created with the CLI)."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # None for admins (they do not work in a site).
    site_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    display_name: Mapped[str] = mapped_column(String(64), default="")
    # Set when the operator fixed the nickname (`jmdchat admin create --nickname`).
    nickname: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # The account created by accepting; until its TOTP is confirmed the link may be opened again
    # (which replaces that unfinished account), afterwards it is used up.
    account_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    completed_at: Mapped[datetime | None]


class SiteKey(Base):
    """Public half of one version of a site's X25519 + Ed25519 key pair."""

    __tablename__ = "site_keys"
    __table_args__ = (UniqueConstraint("site_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    site_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)
    x25519_public: Mapped[bytes] = mapped_column(LargeBinary(32))
    ed25519_public: Mapped[bytes] = mapped_column(LargeBinary(32))
    # Organisation-signed certificate (JSON text); None until `jmdchat certify` signed it.
    certificate: Mapped[str | None] = mapped_column(Text)
    certificate_expires_at: Mapped[datetime | None]
    created_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]


class SiteKeyBox(Base):
    """A site private key version sealed by a client to one counsellor (opaque here)."""

    __tablename__ = "site_key_boxes"

    site_key_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("site_keys.id", ondelete="CASCADE"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    sealed: Mapped[bytes] = mapped_column(LargeBinary(1024))
    sealed_by: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime]


class LoginThrottle(Base):
    """Failed attempts per nickname (login, recovery), keyed by an HMAC of the nickname so that
    attempted nicknames are never stored. Counts unknown nicknames too, so a 429 does not reveal
    whether a nickname exists. No IP address is ever stored (those are counted in memory)."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_start: Mapped[datetime]
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # Lock-outs in a row: each one lasts twice as long as the previous (capped).
    lockouts: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None] = mapped_column(index=True)
