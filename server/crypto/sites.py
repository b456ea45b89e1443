"""Site (team) keys: create, seal to a counsellor, open and check against the site certificate
(docs/protocol.md section 7.2).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import primitives as p
from .certificates import Certificate
from .encoding import MAX_SAFE_INT, check_id, check_int, encode_struct
from .errors import BadCiphertext, InvalidInput, SiteKeyMismatch
from .keys import KeyPairs, decode_secrets, encode_secrets

SITE_SECRETS_LABEL = "jmdchat/v1/site-secrets"


@dataclass(frozen=True)
class SiteKey:
    site_id: str
    key_version: int
    keys: KeyPairs


def create_site_key(site_id: str, key_version: int) -> SiteKey:
    """Fresh site key pair for ``key_version`` (1 for a new site, n+1 on rotation)."""
    return SiteKey(
        site_id=check_id(site_id, "site id"),
        key_version=check_int(key_version, 1, MAX_SAFE_INT, "key version"),
        keys=KeyPairs.generate(),
    )


def site_key_box_aad(site_id: str, key_version: int) -> bytes:
    return encode_struct(
        "jmdchat/v1/site-key-box",
        check_id(site_id, "site id"),
        check_int(key_version, 1, MAX_SAFE_INT, "key version"),
    )


def seal_site_key_with(
    site_key: SiteKey, member_x25519_public: bytes, *, eph_private: bytes, nonce: bytes
) -> bytes:
    """Deterministic variant. FOR TEST VECTORS ONLY; use :func:`seal_site_key`."""
    return p.seal_with(
        member_x25519_public,
        encode_secrets(SITE_SECRETS_LABEL, site_key.keys),
        site_key_box_aad(site_key.site_id, site_key.key_version),
        eph_private=eph_private,
        nonce=nonce,
    )


def seal_site_key(site_key: SiteKey, member_x25519_public: bytes) -> bytes:
    """Seal the site's private keys to one counsellor's X25519 key."""
    return p.seal(
        member_x25519_public,
        encode_secrets(SITE_SECRETS_LABEL, site_key.keys),
        site_key_box_aad(site_key.site_id, site_key.key_version),
    )


def open_site_key(box: bytes, member_x25519_private: bytes, site_cert: Certificate) -> SiteKey:
    """Open a site key box and check it against the (already verified) site certificate.

    The sealed box is anonymous, so anybody, the server included, could seal *some* key to a
    counsellor; comparing with the certified public keys is what makes the result trustworthy.
    """
    if site_cert.kind != "site":
        raise InvalidInput("expected a site certificate")
    aad = site_key_box_aad(site_cert.subject, site_cert.key_version)
    plaintext = p.open_sealed(member_x25519_private, box, aad)
    try:
        keys = decode_secrets(SITE_SECRETS_LABEL, plaintext)
    except InvalidInput as exc:
        raise BadCiphertext("site key box has an unexpected structure") from exc
    if not (
        p.constant_time_equal(keys.x25519_public, site_cert.x25519_public)
        and p.constant_time_equal(keys.ed25519_public, site_cert.ed25519_public)
    ):
        raise SiteKeyMismatch("opened site key differs from the certified site key")
    return SiteKey(site_id=site_cert.subject, key_version=site_cert.key_version, keys=keys)
