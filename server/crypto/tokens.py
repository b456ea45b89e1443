"""Server-side secrets of the accounts service: opaque tokens, TOTP, keyed hashes.

* Session, invitation and recovery tokens: 32 random bytes (base64url, 43 characters). The
  database stores only SHA-256 of a token, so a copy of the database holds no usable session.
  A fast hash is enough because the tokens themselves have 256 bits of entropy.
* TOTP (RFC 6238, SHA-1, 6 digits, 30 s: what every authenticator app supports). The shared
  secret must be readable by the server to check codes, so it is encrypted at rest with
  AES-256-GCM under a key derived from ``security.secret_key`` by HKDF; the account id is the
  associated data, so a ciphertext copied to another account's row does not decrypt.
* Keyed hashes (HMAC-SHA-256 with ``security.secret_key``) for the deterministic fake salt of
  unknown nicknames and for login-throttle keys, which must not store attempted nicknames.

None of this is part of the end-to-end protocol (docs/protocol.md); it never touches keys or
content of users.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from urllib.parse import quote, urlencode

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from server.crypto.errors import InvalidInput

TOKEN_BYTES = 32
#: Length of :func:`new_token` output; anything else cannot be a token of ours.
TOKEN_CHARS = 43
_TOKEN_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")

TOTP_SECRET_BYTES = 20  # RFC 4226 recommends 160 bits
TOTP_DIGITS = 6
TOTP_PERIOD = 30
#: Codes of the previous and next step are accepted too (clock drift of phones).
TOTP_WINDOW = 1
TOTP_ISSUER = "jmdchat"

_TOTP_BOX_VERSION = 0x01
_NONCE_LEN = 12
_TOTP_KEY_INFO = b"jmdchat/server/v1/totp-secret-at-rest"
_THROTTLE_INFO = b"jmdchat/server/v1/login-throttle"


# --- opaque tokens ----------------------------------------------------------------------------


def new_token() -> str:
    """A fresh 256-bit token for a cookie or a link (base64url, 43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def looks_like_token(value: str) -> bool:
    """Cheap shape check before any database lookup."""
    return len(value) == TOKEN_CHARS and set(value) <= _TOKEN_ALPHABET


def hash_token(token: str) -> str:
    """What the database stores for a token: SHA-256, hex (64 characters)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


# --- keyed hashes -----------------------------------------------------------------------------


def fake_salt(secret_key: str, nickname_key: str) -> bytes:
    """``HMAC(secret, "fake-salt" || normalised nickname)[:16]`` (docs/accounts-api.md).

    Deterministic, so asking twice for an unknown nickname gives the same answer, as it does for
    a real account; without the secret nobody can tell it from a random salt.
    """
    digest = hmac.new(
        secret_key.encode("utf-8"), b"fake-salt" + nickname_key.encode("utf-8"), hashlib.sha256
    ).digest()
    return digest[:16]


def _subkey(secret_key: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"", info=info).derive(
        secret_key.encode("utf-8")
    )


def throttle_key(secret_key: str, purpose: str, nickname_key: str) -> str:
    """Key of a login-throttle row: a keyed hash, so attempted nicknames (often typos of real
    names, sometimes passwords typed into the wrong field) are never stored."""
    mac = hmac.new(
        _subkey(secret_key, _THROTTLE_INFO),
        purpose.encode("utf-8") + b"\x00" + nickname_key.encode("utf-8"),
        hashlib.sha256,
    )
    return mac.hexdigest()


# --- TOTP -------------------------------------------------------------------------------------


def new_totp_secret() -> bytes:
    return os.urandom(TOTP_SECRET_BYTES)


def totp_secret_base32(secret: bytes) -> str:
    """The form authenticator apps expect (RFC 4648 base32 without padding)."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def totp_secret_from_base32(text: str) -> bytes:
    cleaned = text.replace(" ", "").upper()
    try:
        secret = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except ValueError:
        raise InvalidInput("not a base32 TOTP secret") from None
    if len(secret) != TOTP_SECRET_BYTES:
        raise InvalidInput("a TOTP secret has 20 bytes")
    return secret


def otpauth_uri(secret: bytes, label: str) -> str:
    """``otpauth://totp/jmdchat:<label>?secret=...&issuer=jmdchat`` for a QR code."""
    query = urlencode(
        {
            "secret": totp_secret_base32(secret),
            "issuer": TOTP_ISSUER,
            "algorithm": "SHA1",
            "digits": TOTP_DIGITS,
            "period": TOTP_PERIOD,
        }
    )
    return f"otpauth://totp/{quote(TOTP_ISSUER)}:{quote(label, safe='')}?{query}"


def _totp(secret: bytes) -> TOTP:
    # HMAC-SHA-1 is what RFC 6238 and every authenticator app use; HMAC does not depend on
    # SHA-1's collision resistance, which is the broken property.
    return TOTP(secret, TOTP_DIGITS, SHA1(), TOTP_PERIOD, enforce_key_length=True)  # noqa: S303


def totp_step(unix_time: float) -> int:
    return int(unix_time // TOTP_PERIOD)


def totp_code(secret: bytes, unix_time: float) -> str:
    """The code an authenticator app shows at ``unix_time`` (demo hints and tests)."""
    return _totp(secret).generate(int(unix_time)).decode("ascii")


def verify_totp(secret: bytes, code: str, unix_time: float, last_step: int | None) -> int | None:
    """The time step ``code`` belongs to, or None if it is wrong or was already used.

    Steps up to ``last_step`` are refused, so an observed code cannot be replayed within its
    validity window. Each candidate is compared in constant time.
    """
    if len(code) != TOTP_DIGITS or not code.isascii() or not code.isdigit():
        return None
    now_step = totp_step(unix_time)
    totp = _totp(secret)
    found: int | None = None
    for step in range(now_step - TOTP_WINDOW, now_step + TOTP_WINDOW + 1):
        candidate = totp.generate(step * TOTP_PERIOD)
        if hmac.compare_digest(candidate, code.encode("ascii")) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def encrypt_totp_secret(secret_key: str, account_id: str, secret: bytes) -> bytes:
    """``0x01 || nonce || AES-256-GCM(HKDF(secret_key), nonce, secret, aad=account id)``."""
    nonce = os.urandom(_NONCE_LEN)
    box = AESGCM(_subkey(secret_key, _TOTP_KEY_INFO)).encrypt(
        nonce, secret, account_id.encode("utf-8")
    )
    return bytes([_TOTP_BOX_VERSION]) + nonce + box


def decrypt_totp_secret(secret_key: str, account_id: str, box: bytes) -> bytes:
    """Inverse of :func:`encrypt_totp_secret`; raises InvalidInput on any mismatch (for example
    after ``security.secret_key`` was changed: two-factor must then be set up again)."""
    if len(box) < 1 + _NONCE_LEN + 16 or box[0] != _TOTP_BOX_VERSION:
        raise InvalidInput("not a TOTP secret box")
    try:
        return AESGCM(_subkey(secret_key, _TOTP_KEY_INFO)).decrypt(
            box[1 : 1 + _NONCE_LEN], box[1 + _NONCE_LEN :], account_id.encode("utf-8")
        )
    except InvalidTag:
        raise InvalidInput("TOTP secret does not decrypt with this secret_key") from None


__all__ = [
    "TOKEN_CHARS",
    "TOTP_PERIOD",
    "decrypt_totp_secret",
    "encrypt_totp_secret",
    "fake_salt",
    "hash_token",
    "looks_like_token",
    "new_token",
    "new_totp_secret",
    "otpauth_uri",
    "throttle_key",
    "totp_code",
    "totp_secret_base32",
    "totp_secret_from_base32",
    "verify_totp",
]
