"""Chat rounds (group chats): epoch-key shares and message envelopes (docs/protocol.md 8.6).

The JSON shapes are exactly those of conversations (section 8.2/8.3, validated by the same
shape validators; the `conv` field carries the round id, `sender`/`from` the sender's
per-round member id). Only the domain-separation labels differ:

* `jmdchat/v1/round-msg-header`, `jmdchat/v1/round-msg-sig` instead of `msg-header`/`msg-sig`,
* `jmdchat/v1/round-key-box`, `jmdchat/v1/round-key-share` instead of `conv-key-box`/`-share`,

so a round envelope or key share can never be accepted in a 1:1 conversation and vice versa,
even when ids collide. The browser twin is `client/src/rounds/crypto.js`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import primitives as p
from .conversation import (
    ENVELOPE_VERSION,
    MAX_EPOCH,
    Envelope,
    KeyShare,
    OpenedKeyShare,
    OpenedMessage,
    SigningKeyResolver,
    open_checked_envelope,
    pad,
    parse_message,
    serialize_message,
    trusted_signing_key,
    validate_envelope_shape,
    validate_key_share_shape,
)
from .encoding import UUID_PATTERN, check_bytes, check_id, check_int, encode_struct
from .errors import (
    BadCiphertext,
    BadSignature,
    InvalidInput,
    WrongConversation,
    WrongRecipient,
)
from .keys import KeyPairs, key_id

HEADER_LABEL = "jmdchat/v1/round-msg-header"
SIG_LABEL = "jmdchat/v1/round-msg-sig"
BOX_LABEL = "jmdchat/v1/round-key-box"
SHARE_LABEL = "jmdchat/v1/round-key-share"


def round_header(round_id: str, epoch: int, mid: str, sender: str, skid: str) -> bytes:
    return encode_struct(HEADER_LABEL, ENVELOPE_VERSION, round_id, epoch, mid, sender, skid)


@dataclass(frozen=True)
class RoundEnvelope(Envelope):
    """An envelope of a round: same fields, round labels."""

    def header_bytes(self) -> bytes:
        return round_header(self.conv, self.epoch, self.mid, self.sender, self.skid)

    def signed_bytes(self) -> bytes:
        return encode_struct(SIG_LABEL, self.header_bytes(), self.nonce, self.ct)


@dataclass(frozen=True)
class RoundKeyShare(KeyShare):
    def box_aad(self) -> bytes:
        return encode_struct(BOX_LABEL, self.conv, self.epoch, self.to, self.sender, self.fskid)

    def signed_bytes(self) -> bytes:
        return encode_struct(
            SHARE_LABEL, ENVELOPE_VERSION, self.conv, self.epoch, self.to, self.sender,
            self.fskid, self.box,
        )


def _as_round(env: Envelope) -> RoundEnvelope:
    return RoundEnvelope(
        conv=env.conv, epoch=env.epoch, mid=env.mid, sender=env.sender, skid=env.skid,
        nonce=env.nonce, ct=env.ct, sig=env.sig,
    )


def validate_round_envelope_shape(obj: object) -> RoundEnvelope:
    return _as_round(validate_envelope_shape(obj))


def validate_round_share_shape(obj: object) -> RoundKeyShare:
    ks = validate_key_share_shape(obj)
    return RoundKeyShare(conv=ks.conv, epoch=ks.epoch, to=ks.to, sender=ks.sender,
                         fskid=ks.fskid, box=ks.box, sig=ks.sig)


def encrypt_round_message(
    *, round_id: str, epoch: int, epoch_key: bytes, sender_member_id: str, signer: KeyPairs,
    message: Mapping[str, Any], mid: str | None = None,
) -> dict[str, object]:
    """Encrypt and sign one round message; returns the envelope as a JSON-ready dict."""
    plaintext = serialize_message(message)
    parse_message(plaintext)
    mid = mid if mid is not None else str(uuid.uuid4())
    if UUID_PATTERN.fullmatch(mid) is None:
        raise InvalidInput("mid must be a lower-case UUID")
    check_int(epoch, 1, MAX_EPOCH, "epoch")
    env = RoundEnvelope(
        conv=check_id(round_id, "round id"), epoch=epoch, mid=mid,
        sender=check_id(sender_member_id, "sender id"), skid=signer.ed25519_key_id,
        nonce=p.random_bytes(p.NONCE_LEN), ct=b"", sig=b"",
    )
    env = replace(env, ct=p.aes_gcm_encrypt(epoch_key, env.nonce, pad(plaintext),
                                            env.header_bytes()))
    env = replace(env, sig=signer.sign(env.signed_bytes()))
    return env.to_json()


def open_round_envelope(
    envelope: object, *, round_id: str, epoch_keys: Mapping[int, bytes],
    resolve_signing_key: SigningKeyResolver,
) -> OpenedMessage:
    """Verify and decrypt in the order of section 8.3, with the round labels."""
    return open_checked_envelope(
        validate_round_envelope_shape(envelope), expected_conv=round_id,
        epoch_keys=epoch_keys, resolve_signing_key=resolve_signing_key, scope="round",
    )


def seal_round_key(
    *, round_id: str, epoch: int, key: bytes, recipient_x25519_public: bytes,
    sender_member_id: str, signer: KeyPairs,
) -> dict[str, object]:
    """Seal an epoch key to one participant's X25519 key, signed by the moderator."""
    check_bytes(key, p.KEY_LEN, "round key")
    share = RoundKeyShare(
        conv=check_id(round_id, "round id"), epoch=check_int(epoch, 1, MAX_EPOCH, "epoch"),
        to=key_id("x25519", recipient_x25519_public),
        sender=check_id(sender_member_id, "sender id"), fskid=signer.ed25519_key_id,
        box=b"", sig=b"",
    )
    eph_private, _ = p.x25519_generate()
    box = p.seal_with(recipient_x25519_public, key, share.box_aad(), eph_private=eph_private,
                      nonce=p.random_bytes(p.NONCE_LEN))
    share = replace(share, box=box)
    share = replace(share, sig=signer.sign(share.signed_bytes()))
    return share.to_json()


def open_round_key(
    share: object, *, round_id: str, recipient_x25519_private: bytes,
    resolve_signing_key: SigningKeyResolver,
) -> OpenedKeyShare:
    """Verify the moderator's signature, then open the box."""
    ks = validate_round_share_shape(share)
    if ks.conv != round_id:
        raise WrongConversation("key share belongs to another round")
    if ks.to != key_id("x25519", p.x25519_public(recipient_x25519_private)):
        raise WrongRecipient("key share addressed to another key")
    public = trusted_signing_key(resolve_signing_key, ks.sender, ks.fskid, "round")
    if not p.ed25519_verify(public, ks.sig, ks.signed_bytes()):
        raise BadSignature("key share signature invalid")
    key = p.open_sealed(recipient_x25519_private, ks.box, ks.box_aad())
    if len(key) != p.KEY_LEN:
        raise BadCiphertext("round key has the wrong length")
    return OpenedKeyShare(conv=ks.conv, epoch=ks.epoch, sender=ks.sender, key=key)


__all__ = [
    "BOX_LABEL", "HEADER_LABEL", "SHARE_LABEL", "SIG_LABEL", "RoundEnvelope", "RoundKeyShare",
    "encrypt_round_message", "open_round_envelope", "open_round_key",
    "seal_round_key", "validate_round_envelope_shape", "validate_round_share_shape",
]
