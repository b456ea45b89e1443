"""Server-side hashing of auth keys (login and recovery) with scrypt.

The server never sees a password: the client sends ``auth_key = HKDF(PBKDF2(password, salt,
>= 600 000), "jmdchat/v1/auth")`` (docs/protocol.md section 4) or the recovery code's
``recovery_auth_key``. Both are 32-byte, high-entropy values, and still we store only a slow,
salted hash of them, so that a copy of the database is not a list of working login credentials.

Why scrypt and these parameters: the auth key already went through 600 000 PBKDF2 iterations on
the client, and a thief of the database can test password guesses against the password-wrapped
key blob without touching this hash (protocol section 11). The hash therefore has to make stolen
rows useless as credentials and must not add a cheap shortcut; it does not have to carry the
whole work factor. N = 2^14, r = 8, p = 1 (16 MiB, ~50 ms) keeps a login affordable for the
server (which also limits login attempts) and is memory-hard. The parameters are stored with
every hash, so raising them later only needs :func:`needs_rehash` at the next login.

Format: ``scrypt$<log2 N>$<r>$<p>$<salt b64url>$<hash b64url>`` (ASCII, ~100 characters).
"""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from server.crypto.encoding import b64url_decode, b64url_encode
from server.crypto.errors import InvalidInput

SCHEME = "scrypt"
LOG2_N = 14
R = 8
P = 1
SALT_LEN = 16
HASH_LEN = 32
#: Auth keys are HKDF outputs of exactly this length; anything else is refused before hashing.
AUTH_KEY_LEN = 32
# Bounds for parameters read back from the database: a tampered row must not make the server
# allocate gigabytes.
_MAX_LOG2_N = 20
_MAX_R = 32
_MAX_P = 16


@dataclass(frozen=True)
class ScryptParams:
    log2_n: int = LOG2_N
    r: int = R
    p: int = P


DEFAULT_PARAMS = ScryptParams()


def _kdf(salt: bytes, params: ScryptParams) -> Scrypt:
    return Scrypt(salt=salt, length=HASH_LEN, n=2**params.log2_n, r=params.r, p=params.p)


def _check_key(auth_key: bytes) -> None:
    if not isinstance(auth_key, bytes) or len(auth_key) != AUTH_KEY_LEN:
        raise InvalidInput("auth keys are 32 bytes")


def hash_auth_key(auth_key: bytes, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """Hash an auth key with a fresh random salt; returns the self-describing hash string."""
    _check_key(auth_key)
    salt = os.urandom(SALT_LEN)
    digest = _kdf(salt, params).derive(auth_key)
    return "$".join(
        [SCHEME, str(params.log2_n), str(params.r), str(params.p), b64url_encode(salt),
         b64url_encode(digest)]
    )


def _parse(stored: str) -> tuple[ScryptParams, bytes, bytes]:
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise InvalidInput("not an scrypt hash")
    try:
        log2_n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        raise InvalidInput("bad scrypt parameters") from None
    if not (1 <= log2_n <= _MAX_LOG2_N and 1 <= r <= _MAX_R and 1 <= p <= _MAX_P):
        raise InvalidInput("scrypt parameters out of range")
    salt = b64url_decode(parts[4], length=SALT_LEN)
    digest = b64url_decode(parts[5], length=HASH_LEN)
    return ScryptParams(log2_n, r, p), salt, digest


def verify_auth_key(auth_key: bytes, stored: str) -> bool:
    """True iff ``auth_key`` matches ``stored``; the comparison is constant-time.

    A malformed stored hash is a server-side fault and raises; a wrong key returns False.
    """
    _check_key(auth_key)
    params, salt, expected = _parse(stored)
    return hmac.compare_digest(_kdf(salt, params).derive(auth_key), expected)


def needs_rehash(stored: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """True if ``stored`` was made with other parameters than the current ones."""
    return _parse(stored)[0] != params


# A valid hash of a random key, computed once at import: logins for unknown nicknames verify
# against it so that they cost the same time as logins for existing accounts.
_DUMMY_HASH = hash_auth_key(os.urandom(AUTH_KEY_LEN))


def dummy_verify(auth_key: bytes) -> bool:
    """Spend the time of one verification and return False (unknown account)."""
    verify_auth_key(auth_key, _DUMMY_HASH)
    return False


__all__ = [
    "AUTH_KEY_LEN",
    "DEFAULT_PARAMS",
    "ScryptParams",
    "dummy_verify",
    "hash_auth_key",
    "needs_rehash",
    "verify_auth_key",
]
