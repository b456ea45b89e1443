"""Typed protocol errors.

Every error carries a stable string ``code``; the browser implementation
(``client/src/crypto/errors.js``) uses the same codes, and the interoperability tests compare them.
There is no "soft" failure anywhere in the protocol: every check that fails raises one of these.
"""

from __future__ import annotations

from typing import ClassVar


class CryptoError(Exception):
    """Base class of all protocol errors."""

    code: ClassVar[str] = "crypto_error"


class InvalidInput(CryptoError):
    """A programming error: wrong argument type, length or range."""

    code = "invalid_input"


class WeakKdfParameters(CryptoError):
    """PBKDF2 parameters below the enforced minimum, or a malformed salt."""

    code = "weak_kdf_params"


class BadRecoveryCode(CryptoError):
    """A recovery code that does not parse or whose checksum does not match."""

    code = "bad_recovery_code"


class BadKeyBlob(CryptoError):
    """An identity key blob that cannot be unwrapped (wrong key, wrong purpose, tampered)."""

    code = "bad_key_blob"


class MalformedEnvelope(CryptoError):
    """Not a message envelope / key share: wrong keys, types, sizes or encodings."""

    code = "malformed_envelope"


class WrongConversation(CryptoError):
    """An envelope or key share that belongs to another conversation."""

    code = "wrong_conversation"


class UnknownEpoch(CryptoError):
    """No key is known for the envelope's epoch."""

    code = "unknown_epoch"


class UnknownSender(CryptoError):
    """The sender's signing key is not trusted for this conversation, or skid does not match."""

    code = "unknown_sender"


class BadSignature(CryptoError):
    """An Ed25519 signature that does not verify."""

    code = "bad_signature"


class BadCiphertext(CryptoError):
    """AES-GCM authentication failed (wrong key, modified ciphertext, nonce or associated data)."""

    code = "bad_ciphertext"


class BadPlaintext(CryptoError):
    """Decryption succeeded but the padding or the plaintext structure is invalid."""

    code = "bad_plaintext"


class WrongRecipient(CryptoError):
    """A key share addressed to another public key."""

    code = "wrong_recipient"


class SiteKeyMismatch(CryptoError):
    """An opened site key whose public halves differ from the certified ones."""

    code = "site_key_mismatch"


class CertificateError(CryptoError):
    """A certificate that is malformed (base class of all certificate refusals)."""

    code = "bad_certificate"


class CertificateBadSignature(CertificateError):
    code = "certificate_bad_signature"


class CertificateWrongIssuer(CertificateError):
    code = "certificate_wrong_issuer"


class CertificateWrongKind(CertificateError):
    code = "certificate_wrong_kind"


class CertificateWrongSubject(CertificateError):
    code = "certificate_wrong_subject"


class CertificateExpired(CertificateError):
    code = "certificate_expired"


class CertificateNotYetValid(CertificateError):
    code = "certificate_not_yet_valid"
