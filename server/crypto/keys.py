"""Password and recovery-code key derivation, identity keys, key blobs, key ids and fingerprints
(docs/protocol.md sections 3.4, 4 and 5).

In production the identity keys are created and wrapped in the browser; this Python side exists so
that the server can validate parameters, the admin CLI and tests can create accounts, and so that
the two implementations can be checked against each other.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from . import primitives as p
from .encoding import b64url_decode, b64url_encode, check_bytes, encode_struct
from .errors import (
    BadCiphertext,
    BadKeyBlob,
    BadRecoveryCode,
    InvalidInput,
    WeakKdfParameters,
)

#: Default and enforced minimum PBKDF2 iteration count (OWASP 2023 recommendation for
#: PBKDF2-HMAC-SHA-256). The server refuses registrations below it; clients refuse to derive
#: with fewer so that a compromised server cannot downgrade the work factor.
MIN_PBKDF2_ITERATIONS = 600_000
DEFAULT_PBKDF2_ITERATIONS = MIN_PBKDF2_ITERATIONS
#: Upper bound so that a hostile server cannot make a client spin forever.
MAX_PBKDF2_ITERATIONS = 10_000_000
SALT_LEN = 16
KDF_ALG = "pbkdf2-sha256"

AUTH_INFO = b"jmdchat/v1/auth"
WRAP_INFO = b"jmdchat/v1/wrap"
RECOVERY_AUTH_INFO = b"jmdchat/v1/recovery-auth"
RECOVERY_WRAP_INFO = b"jmdchat/v1/recovery-wrap"

BLOB_VERSION = 0x01
BLOB_LEN = 1 + p.NONCE_LEN + 4 * 3 + len("jmdchat/v1/identity-secrets") + 2 * 32 + p.TAG_LEN
BlobPurpose = Literal["password", "recovery"]
_PURPOSES = ("password", "recovery")

KeyAlg = Literal["x25519", "ed25519"]


# --- Password (section 4.1) -------------------------------------------------------------------


@dataclass(frozen=True)
class KdfParams:
    """``{"alg": "pbkdf2-sha256", "iter": n, "salt": b64url(16)}``, stored by the server."""

    salt: bytes
    iterations: int = DEFAULT_PBKDF2_ITERATIONS

    def to_json(self) -> dict[str, object]:
        return {"alg": KDF_ALG, "iter": self.iterations, "salt": b64url_encode(self.salt)}

    @classmethod
    def from_json(cls, obj: object, *, allow_low_iterations: bool = False) -> KdfParams:
        """Parse and validate; the server calls this at registration and password change."""
        if not isinstance(obj, Mapping) or set(obj) != {"alg", "iter", "salt"}:
            raise WeakKdfParameters("KDF parameters must be {alg, iter, salt}")
        if obj["alg"] != KDF_ALG:
            raise WeakKdfParameters("unsupported KDF")
        iterations = obj["iter"]
        if isinstance(iterations, bool) or not isinstance(iterations, int):
            raise WeakKdfParameters("iter must be an integer")
        try:
            salt = b64url_decode(obj["salt"], length=SALT_LEN)
        except InvalidInput as exc:
            raise WeakKdfParameters("salt must be 16 bytes") from exc
        _check_iterations(iterations, allow_low_iterations)
        return cls(salt=salt, iterations=iterations)


def new_kdf_params() -> KdfParams:
    """Fresh random salt with the default iteration count (client side, at registration)."""
    return KdfParams(salt=p.random_bytes(SALT_LEN), iterations=DEFAULT_PBKDF2_ITERATIONS)


def _check_iterations(iterations: int, allow_low_iterations: bool) -> None:
    lo = 1 if allow_low_iterations else MIN_PBKDF2_ITERATIONS
    if not lo <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise WeakKdfParameters(f"PBKDF2 iterations must be in [{lo}, {MAX_PBKDF2_ITERATIONS}]")


@dataclass(frozen=True)
class DerivedKeys:
    """``auth_key`` is sent to the server; ``wrap_key`` never leaves the client."""

    auth_key: bytes = field(repr=False)
    wrap_key: bytes = field(repr=False)


def derive_password_keys(
    password: str,
    salt: bytes,
    iterations: int = DEFAULT_PBKDF2_ITERATIONS,
    *,
    allow_low_iterations: bool = False,
) -> DerivedKeys:
    """``master = PBKDF2(NFC(password), salt, iterations)``; auth/wrap keys by HKDF from it.

    ``allow_low_iterations`` exists only for test vectors and fast tests; real accounts always
    use at least :data:`MIN_PBKDF2_ITERATIONS`.
    """
    if not isinstance(password, str) or password == "":
        raise InvalidInput("password must be a non-empty string")
    if not isinstance(salt, bytes) or len(salt) != SALT_LEN:
        raise WeakKdfParameters("salt must be 16 bytes")
    if isinstance(iterations, bool) or not isinstance(iterations, int):
        raise WeakKdfParameters("iterations must be an integer")
    _check_iterations(iterations, allow_low_iterations)
    try:
        password_bytes = unicodedata.normalize("NFC", password).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput("password is not valid Unicode") from exc
    master = p.pbkdf2_sha256(password_bytes, salt, iterations)
    return DerivedKeys(
        auth_key=p.hkdf_sha256(master, salt=b"", info=AUTH_INFO),
        wrap_key=p.hkdf_sha256(master, salt=b"", info=WRAP_INFO),
    )


# --- Recovery code (section 4.2) --------------------------------------------------------------

RECOVERY_CODE_BYTES = 16
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_DECODE = {c: i for i, c in enumerate(_CROCKFORD)} | {"I": 1, "L": 1, "O": 0}
_RECOVERY_CHARS = 28  # (128 code bits + 12 checksum bits) / 5
_CHECK_BITS = 12


def _recovery_checksum(code: bytes) -> int:
    digest = p.sha256(encode_struct("jmdchat/v1/recovery-check", code))
    return (digest[0] << 4) | (digest[1] >> 4)


def format_recovery_code(code: bytes) -> str:
    """28 Crockford base32 characters in 7 dash-separated groups of 4 (code bits, then checksum)."""
    check_bytes(code, RECOVERY_CODE_BYTES, "recovery code")
    value = (int.from_bytes(code, "big") << _CHECK_BITS) | _recovery_checksum(code)
    chars = [_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(_RECOVERY_CHARS))]
    return "-".join("".join(chars[i : i + 4]) for i in range(0, _RECOVERY_CHARS, 4))


def parse_recovery_code(text: str) -> bytes:
    """Inverse of :func:`format_recovery_code`, tolerant of case, spaces, dashes and I/L/O."""
    if not isinstance(text, str):
        raise BadRecoveryCode("recovery code must be a string")
    cleaned = "".join(ch for ch in text.upper() if ch not in " -\t\n\r")
    if len(cleaned) != _RECOVERY_CHARS:
        raise BadRecoveryCode("a recovery code has 28 characters")
    value = 0
    for ch in cleaned:
        digit = _CROCKFORD_DECODE.get(ch)
        if digit is None:
            raise BadRecoveryCode("invalid character in recovery code")
        value = (value << 5) | digit
    code = (value >> _CHECK_BITS).to_bytes(RECOVERY_CODE_BYTES, "big")
    if value & ((1 << _CHECK_BITS) - 1) != _recovery_checksum(code):
        raise BadRecoveryCode("recovery code checksum mismatch (typo?)")
    return code


def generate_recovery_code() -> tuple[bytes, str]:
    """Fresh 128-bit recovery code as ``(code_bytes, formatted)``."""
    code = p.random_bytes(RECOVERY_CODE_BYTES)
    return code, format_recovery_code(code)


def derive_recovery_keys(code: bytes) -> DerivedKeys:
    """Recovery ``auth_key``/``wrap_key``; the code has 128 bits, so HKDF without stretching."""
    check_bytes(code, RECOVERY_CODE_BYTES, "recovery code")
    return DerivedKeys(
        auth_key=p.hkdf_sha256(code, salt=b"", info=RECOVERY_AUTH_INFO),
        wrap_key=p.hkdf_sha256(code, salt=b"", info=RECOVERY_WRAP_INFO),
    )


# --- Key ids and fingerprints (section 3.4) ---------------------------------------------------


def key_id(alg: KeyAlg, public_key: bytes) -> str:
    """22-character hash id of a public key; contains no key bits."""
    if alg not in ("x25519", "ed25519"):
        raise InvalidInput("alg must be x25519 or ed25519")
    check_bytes(public_key, p.KEY_LEN, "public key")
    return b64url_encode(p.sha256(encode_struct("jmdchat/v1/keyid", alg, public_key))[:16])


def fingerprint(x25519_public: bytes, ed25519_public: bytes) -> str:
    """60 decimal digits in 12 groups of 5, for humans to compare."""
    check_bytes(x25519_public, p.KEY_LEN, "X25519 public key")
    check_bytes(ed25519_public, p.KEY_LEN, "Ed25519 public key")
    digest = p.sha512(encode_struct("jmdchat/v1/fingerprint", x25519_public, ed25519_public))
    groups = [
        f"{int.from_bytes(digest[5 * i : 5 * i + 5], 'big') % 100_000:05d}" for i in range(12)
    ]
    return " ".join(groups)


# --- Identity keys and key blobs (section 5) --------------------------------------------------


@dataclass(frozen=True)
class KeyPairs:
    """An X25519 + Ed25519 key pair set (an account identity or a site key), raw bytes."""

    x25519_private: bytes = field(repr=False)
    ed25519_private: bytes = field(repr=False)  # the 32-byte Ed25519 seed
    x25519_public: bytes
    ed25519_public: bytes

    @classmethod
    def from_private(cls, x25519_private: bytes, ed25519_private: bytes) -> KeyPairs:
        return cls(
            x25519_private=check_bytes(x25519_private, p.KEY_LEN, "X25519 private key"),
            ed25519_private=check_bytes(ed25519_private, p.KEY_LEN, "Ed25519 seed"),
            x25519_public=p.x25519_public(x25519_private),
            ed25519_public=p.ed25519_public(ed25519_private),
        )

    @classmethod
    def generate(cls) -> KeyPairs:
        x_private, _ = p.x25519_generate()
        ed_private, _ = p.ed25519_generate()
        return cls.from_private(x_private, ed_private)

    @property
    def x25519_key_id(self) -> str:
        return key_id("x25519", self.x25519_public)

    @property
    def ed25519_key_id(self) -> str:
        return key_id("ed25519", self.ed25519_public)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.x25519_public, self.ed25519_public)

    def sign(self, message: bytes) -> bytes:
        return p.ed25519_sign(self.ed25519_private, message)


def generate_identity() -> KeyPairs:
    return KeyPairs.generate()


def encode_secrets(label: str, keys: KeyPairs) -> bytes:
    """``S(label, x25519_private, ed25519_seed)``, the plaintext of key blobs and site key boxes."""
    return encode_struct(label, keys.x25519_private, keys.ed25519_private)


def decode_secrets(label: str, plaintext: bytes) -> KeyPairs:
    """Inverse of :func:`encode_secrets` for exactly this label; raises InvalidInput otherwise."""
    label_bytes = label.encode("ascii")
    expected_prefix = len(label_bytes).to_bytes(4, "big") + label_bytes
    body = plaintext[len(expected_prefix) :]
    if not plaintext.startswith(expected_prefix) or len(body) != 2 * (4 + p.KEY_LEN):
        raise InvalidInput("unexpected secrets structure")
    length = p.KEY_LEN.to_bytes(4, "big")
    if body[0:4] != length or body[36:40] != length:
        raise InvalidInput("unexpected secrets structure")
    return KeyPairs.from_private(body[4:36], body[40:72])


def _blob_aad(purpose: str) -> bytes:
    if purpose not in _PURPOSES:
        raise InvalidInput("purpose must be 'password' or 'recovery'")
    return encode_struct("jmdchat/v1/key-blob", purpose)


def wrap_identity_with_nonce(
    identity: KeyPairs, wrap_key: bytes, purpose: BlobPurpose, nonce: bytes
) -> bytes:
    """Deterministic wrapping. FOR TEST VECTORS ONLY; use :func:`wrap_identity`."""
    plaintext = encode_secrets("jmdchat/v1/identity-secrets", identity)
    ciphertext = p.aes_gcm_encrypt(wrap_key, nonce, plaintext, _blob_aad(purpose))
    return bytes([BLOB_VERSION]) + nonce + ciphertext


def wrap_identity(identity: KeyPairs, wrap_key: bytes, purpose: BlobPurpose) -> bytes:
    """Key blob ``0x01 || nonce || AES-256-GCM(wrap_key, nonce, secrets, S(key-blob, purpose))``."""
    return wrap_identity_with_nonce(identity, wrap_key, purpose, p.random_bytes(p.NONCE_LEN))


def unwrap_identity(blob: bytes, wrap_key: bytes, purpose: BlobPurpose) -> KeyPairs:
    """Open a key blob; any failure (wrong password, wrong purpose, tampering) is BadKeyBlob."""
    aad = _blob_aad(purpose)
    if not isinstance(blob, bytes) or len(blob) != BLOB_LEN or blob[0] != BLOB_VERSION:
        raise BadKeyBlob("not a version-1 key blob")
    try:
        plaintext = p.aes_gcm_decrypt(wrap_key, blob[1:13], blob[13:], aad)
        return decode_secrets("jmdchat/v1/identity-secrets", plaintext)
    except (BadCiphertext, InvalidInput) as exc:
        raise BadKeyBlob("cannot unwrap key blob") from exc


def rewrap_identity(
    blob: bytes,
    from_key: bytes,
    from_purpose: BlobPurpose,
    to_key: bytes,
    to_purpose: BlobPurpose,
) -> bytes:
    """Password change / recovery: unwrap with one key, wrap again with another."""
    return wrap_identity(unwrap_identity(blob, from_key, from_purpose), to_key, to_purpose)


__all__ = [
    "DEFAULT_PBKDF2_ITERATIONS",
    "MIN_PBKDF2_ITERATIONS",
    "SALT_LEN",
    "BlobPurpose",
    "DerivedKeys",
    "KdfParams",
    "KeyAlg",
    "KeyPairs",
    "decode_secrets",
    "derive_password_keys",
    "derive_recovery_keys",
    "encode_secrets",
    "fingerprint",
    "format_recovery_code",
    "generate_identity",
    "generate_recovery_code",
    "key_id",
    "new_kdf_params",
    "parse_recovery_code",
    "rewrap_identity",
    "unwrap_identity",
    "wrap_identity",
    "wrap_identity_with_nonce",
]
