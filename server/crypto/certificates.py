"""Certificates for counsellor and site public keys, signed by the offline organisation key
(docs/protocol.md section 7.1).

Only the admin CLI issues certificates (Python); both Python and the browser verify them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from . import primitives as p
from .encoding import (
    MAX_SAFE_INT,
    b64url_decode,
    b64url_encode,
    check_bytes,
    check_id,
    check_int,
    encode_struct,
)
from .errors import (
    CertificateBadSignature,
    CertificateError,
    CertificateExpired,
    CertificateNotYetValid,
    CertificateWrongIssuer,
    CertificateWrongKind,
    CertificateWrongSubject,
    InvalidInput,
)
from .keys import key_id

CERT_VERSION = 1
CertKind = Literal["counsellor", "site"]
_KINDS = ("counsellor", "site")
_CERT_KEYS = frozenset(
    {"v", "kind", "sub", "sites", "x25519", "ed25519", "kv", "iat", "exp", "iss", "sig"}
)
#: Tolerated clock skew for ``iat`` in the future (seconds).
CLOCK_SKEW = 300
MAX_SITES = 64


@dataclass(frozen=True)
class Certificate:
    kind: CertKind
    subject: str
    sites: tuple[str, ...]
    x25519_public: bytes
    ed25519_public: bytes
    key_version: int
    issued_at: int
    expires_at: int
    issuer: str
    signature: bytes

    def signed_bytes(self) -> bytes:
        """``S("jmdchat/v1/cert", 1, kind, sub, sites, x25519, ed25519, kv, iat, exp, iss)``."""
        return _tbs(
            self.kind,
            self.subject,
            self.sites,
            self.x25519_public,
            self.ed25519_public,
            self.key_version,
            self.issued_at,
            self.expires_at,
            self.issuer,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "v": CERT_VERSION,
            "kind": self.kind,
            "sub": self.subject,
            "sites": list(self.sites),
            "x25519": b64url_encode(self.x25519_public),
            "ed25519": b64url_encode(self.ed25519_public),
            "kv": self.key_version,
            "iat": self.issued_at,
            "exp": self.expires_at,
            "iss": self.issuer,
            "sig": b64url_encode(self.signature),
        }

    @property
    def ed25519_key_id(self) -> str:
        return key_id("ed25519", self.ed25519_public)

    @property
    def x25519_key_id(self) -> str:
        return key_id("x25519", self.x25519_public)


def _tbs(
    kind: str,
    subject: str,
    sites: tuple[str, ...],
    x25519_public: bytes,
    ed25519_public: bytes,
    key_version: int,
    issued_at: int,
    expires_at: int,
    issuer: str,
) -> bytes:
    return encode_struct(
        "jmdchat/v1/cert",
        CERT_VERSION,
        kind,
        subject,
        sites,
        x25519_public,
        ed25519_public,
        key_version,
        issued_at,
        expires_at,
        issuer,
    )


def _check_fields(
    kind: object, subject: object, sites: object
) -> tuple[CertKind, str, tuple[str, ...]]:
    if kind not in _KINDS:
        raise InvalidInput("kind must be 'counsellor' or 'site'")
    subject = check_id(subject, "subject")
    if not isinstance(sites, list | tuple) or not 1 <= len(sites) <= MAX_SITES:
        raise InvalidInput("sites must be a list of 1 to 64 site ids")
    site_tuple = tuple(check_id(s, "site id") for s in sites)
    # Sorted and distinct: one byte form per set of sites, no ambiguity for verifiers.
    if list(site_tuple) != sorted(set(site_tuple)):
        raise InvalidInput("sites must be sorted and distinct")
    if kind == "site" and site_tuple != (subject,):
        raise InvalidInput("a site certificate lists exactly its own site")
    return ("counsellor" if kind == "counsellor" else "site"), subject, site_tuple


def issue_certificate(
    org_signing_key: bytes,
    *,
    kind: CertKind,
    subject: str,
    sites: list[str] | tuple[str, ...],
    x25519_public: bytes,
    ed25519_public: bytes,
    key_version: int,
    issued_at: int,
    expires_at: int,
) -> dict[str, object]:
    """Sign a certificate with the organisation Ed25519 seed (admin CLI only)."""
    kind_, subject_, sites_ = _check_fields(kind, subject, sites)
    check_bytes(x25519_public, p.KEY_LEN, "X25519 public key")
    check_bytes(ed25519_public, p.KEY_LEN, "Ed25519 public key")
    check_int(key_version, 1, MAX_SAFE_INT, "key version")
    check_int(issued_at, 0, MAX_SAFE_INT, "issued_at")
    check_int(expires_at, issued_at + 1, MAX_SAFE_INT, "expires_at")
    issuer = key_id("ed25519", p.ed25519_public(org_signing_key))
    tbs = _tbs(
        kind_,
        subject_,
        sites_,
        x25519_public,
        ed25519_public,
        key_version,
        issued_at,
        expires_at,
        issuer,
    )
    cert = Certificate(
        kind=kind_,
        subject=subject_,
        sites=sites_,
        x25519_public=x25519_public,
        ed25519_public=ed25519_public,
        key_version=key_version,
        issued_at=issued_at,
        expires_at=expires_at,
        issuer=issuer,
        signature=p.ed25519_sign(org_signing_key, tbs),
    )
    return cert.to_json()


def parse_certificate(obj: object) -> Certificate:
    """Shape check only (no signature, no time). Raises :class:`CertificateError`."""
    try:
        if not isinstance(obj, Mapping) or set(obj) != _CERT_KEYS:
            raise InvalidInput("certificate must have exactly the documented keys")
        if check_int(obj["v"], 0, MAX_SAFE_INT, "v") != CERT_VERSION:
            raise InvalidInput("unsupported certificate version")
        kind, subject, sites = _check_fields(obj["kind"], obj["sub"], obj["sites"])
        issuer = obj["iss"]
        if not isinstance(issuer, str) or len(issuer) != 22:
            raise InvalidInput("iss must be a key id")
        issued_at = check_int(obj["iat"], 0, MAX_SAFE_INT, "iat")
        return Certificate(
            kind=kind,
            subject=subject,
            sites=sites,
            x25519_public=b64url_decode(obj["x25519"], length=p.KEY_LEN),
            ed25519_public=b64url_decode(obj["ed25519"], length=p.KEY_LEN),
            key_version=check_int(obj["kv"], 1, MAX_SAFE_INT, "kv"),
            issued_at=issued_at,
            expires_at=check_int(obj["exp"], issued_at + 1, MAX_SAFE_INT, "exp"),
            issuer=issuer,
            signature=b64url_decode(obj["sig"], length=p.SIG_LEN),
        )
    except InvalidInput as exc:
        raise CertificateError(f"malformed certificate: {exc}") from exc


def verify_certificate(
    cert: object,
    org_public_key: bytes,
    now: int,
    *,
    kind: CertKind | None = None,
    subject: str | None = None,
    site_id: str | None = None,
) -> Certificate:
    """Verify shape, issuer, signature, kind, subject/site membership and validity period.

    ``now`` is integer UTC seconds. ``kind``/``subject``/``site_id`` are what the caller expects
    (e.g. a counsellor of the conversation's site); every mismatch raises a distinct
    :class:`CertificateError` subclass.
    """
    check_bytes(org_public_key, p.KEY_LEN, "organisation public key")
    check_int(now, 0, MAX_SAFE_INT, "now")
    parsed = parse_certificate(cert)
    if parsed.issuer != key_id("ed25519", org_public_key):
        raise CertificateWrongIssuer("certificate not issued by this organisation key")
    if not p.ed25519_verify(org_public_key, parsed.signature, parsed.signed_bytes()):
        raise CertificateBadSignature("certificate signature invalid")
    if kind is not None and parsed.kind != kind:
        raise CertificateWrongKind(f"expected a {kind} certificate")
    if subject is not None and parsed.subject != subject:
        raise CertificateWrongSubject("certificate is for another subject")
    if site_id is not None and site_id not in parsed.sites:
        raise CertificateWrongSubject("certificate does not cover this site")
    if now >= parsed.expires_at:
        raise CertificateExpired("certificate expired")
    if now + CLOCK_SKEW < parsed.issued_at:
        raise CertificateNotYetValid("certificate issued in the future")
    return parsed
