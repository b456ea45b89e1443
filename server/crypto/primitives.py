"""Thin wrappers over ``cryptography`` for the primitives of docs/protocol.md section 2, plus the
sealed box of section 6.

Keys cross this module's boundary as raw bytes (32-byte X25519 private scalars, 32-byte Ed25519
seeds, 32-byte public keys, 32-byte AES keys) so that the formats are exactly those of the
protocol document and of the browser implementation. Nothing here is a home-made primitive:
everything is a direct call into OpenSSL through ``cryptography``.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from .encoding import check_bytes
from .errors import BadCiphertext, InvalidInput

KEY_LEN = 32
NONCE_LEN = 12
TAG_LEN = 16
SIG_LEN = 64
SEAL_VERSION = 0x01
SEAL_OVERHEAD = 1 + KEY_LEN + NONCE_LEN + TAG_LEN  # version, ephemeral public key, nonce, tag
SEAL_INFO = b"jmdchat/v1/seal"


def random_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system CSPRNG."""
    return os.urandom(n)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha512(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)


def hkdf_sha256(ikm: bytes, *, salt: bytes, info: bytes, length: int = KEY_LEN) -> bytes:
    """HKDF-SHA-256 (RFC 5869). ``salt=b""`` is passed explicitly (equivalent to HashLen zeros)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def pbkdf2_sha256(password: bytes, salt: bytes, iterations: int, length: int = KEY_LEN) -> bytes:
    """PBKDF2-HMAC-SHA-256. Minimum iteration policy is enforced by the caller (keys.py)."""
    if iterations < 1:
        raise InvalidInput("iterations must be positive")
    kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=length, salt=salt, iterations=iterations)
    return kdf.derive(password)


def aes_gcm_encrypt(key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM; returns ciphertext || 16-byte tag."""
    check_bytes(key, KEY_LEN, "AES key")
    check_bytes(nonce, NONCE_LEN, "nonce")
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def aes_gcm_decrypt(key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """AES-256-GCM decryption; raises :class:`BadCiphertext` on any authentication failure."""
    check_bytes(key, KEY_LEN, "AES key")
    check_bytes(nonce, NONCE_LEN, "nonce")
    if len(ciphertext) < TAG_LEN:
        raise BadCiphertext("ciphertext shorter than the tag")
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, aad)
    except InvalidTag as exc:
        raise BadCiphertext("AES-GCM authentication failed") from exc


# --- X25519 -----------------------------------------------------------------------------------


def _x25519_private(raw: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(check_bytes(raw, KEY_LEN, "X25519 private key"))


def x25519_generate() -> tuple[bytes, bytes]:
    """Fresh X25519 key pair as ``(private_raw, public_raw)``."""
    key = X25519PrivateKey.generate()
    private = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return private, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def x25519_public(private: bytes) -> bytes:
    return _x25519_private(private).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def x25519_shared(private: bytes, peer_public: bytes) -> bytes:
    """X25519 shared secret; refuses the all-zero result of small-order peer points."""
    peer = X25519PublicKey.from_public_bytes(check_bytes(peer_public, KEY_LEN, "X25519 public"))
    try:
        shared = _x25519_private(private).exchange(peer)
    except ValueError as exc:  # OpenSSL already refuses an all-zero output
        raise InvalidInput("X25519 with a small-order public key") from exc
    if constant_time_equal(shared, bytes(KEY_LEN)):
        raise InvalidInput("X25519 with a small-order public key")
    return shared


# --- Ed25519 ----------------------------------------------------------------------------------


def _ed25519_private(seed: bytes) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(check_bytes(seed, KEY_LEN, "Ed25519 seed"))


def ed25519_generate() -> tuple[bytes, bytes]:
    """Fresh Ed25519 key pair as ``(seed, public_raw)``."""
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    return seed, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_public(seed: bytes) -> bytes:
    return _ed25519_private(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def ed25519_sign(seed: bytes, message: bytes) -> bytes:
    return _ed25519_private(seed).sign(message)


def ed25519_verify(public: bytes, signature: bytes, message: bytes) -> bool:
    """True iff ``signature`` is a valid Ed25519 signature of ``message`` under ``public``."""
    if len(public) != KEY_LEN or len(signature) != SIG_LEN:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Sealed box (section 6) -------------------------------------------------------------------


def _seal_key(shared: bytes, eph_public: bytes, recipient_public: bytes) -> bytes:
    return hkdf_sha256(shared, salt=eph_public + recipient_public, info=SEAL_INFO)


def seal_with(
    recipient_public: bytes, plaintext: bytes, aad: bytes, *, eph_private: bytes, nonce: bytes
) -> bytes:
    """Deterministic sealing with a caller-chosen ephemeral key and nonce.

    FOR TEST VECTORS ONLY: reusing ``eph_private``/``nonce`` destroys confidentiality. Production
    code calls :func:`seal`, which draws both from the CSPRNG.
    """
    check_bytes(recipient_public, KEY_LEN, "recipient public key")
    eph_public = x25519_public(eph_private)
    key = _seal_key(x25519_shared(eph_private, recipient_public), eph_public, recipient_public)
    ciphertext = aes_gcm_encrypt(key, nonce, plaintext, aad)
    return bytes([SEAL_VERSION]) + eph_public + nonce + ciphertext


def seal(recipient_public: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """``0x01 || eph_pub || nonce || AES-256-GCM(HKDF(X25519(eph, recipient)), ...)``."""
    eph_private, _ = x25519_generate()
    return seal_with(
        recipient_public, plaintext, aad, eph_private=eph_private, nonce=random_bytes(NONCE_LEN)
    )


def open_sealed(recipient_private: bytes, sealed: bytes, aad: bytes) -> bytes:
    """Open a sealed box; raises :class:`BadCiphertext` for anything that does not authenticate."""
    if len(sealed) < SEAL_OVERHEAD or sealed[0] != SEAL_VERSION:
        raise BadCiphertext("not a version-1 sealed box")
    eph_public = sealed[1 : 1 + KEY_LEN]
    nonce = sealed[1 + KEY_LEN : 1 + KEY_LEN + NONCE_LEN]
    ciphertext = sealed[1 + KEY_LEN + NONCE_LEN :]
    recipient_public = x25519_public(recipient_private)
    try:
        shared = x25519_shared(recipient_private, eph_public)
    except InvalidInput as exc:  # attacker-chosen small-order ephemeral key
        raise BadCiphertext("invalid ephemeral key") from exc
    key = _seal_key(shared, eph_public, recipient_public)
    return aes_gcm_decrypt(key, nonce, ciphertext, aad)
