"""Conversation keys, signed key shares and message envelopes (docs/protocol.md section 8).

The server uses only :func:`validate_envelope_shape` (and :func:`validate_key_share_shape`): it
stores and relays envelopes it cannot read. Everything else mirrors the browser implementation
for tests and tooling.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from . import primitives as p
from .encoding import (
    MAX_SAFE_INT,
    UUID_PATTERN,
    b64url_decode,
    b64url_encode,
    check_bytes,
    check_id,
    check_int,
    encode_struct,
)
from .errors import (
    BadCiphertext,
    BadPlaintext,
    BadSignature,
    InvalidInput,
    MalformedEnvelope,
    UnknownEpoch,
    UnknownSender,
    WrongConversation,
    WrongRecipient,
)
from .keys import KeyPairs, key_id

ENVELOPE_VERSION = 1
MAX_EPOCH = 2**31 - 1
PAD_BLOCK = 256
#: Largest padded plaintext; ct = padded + 16-byte tag stays below 64 KiB.
MAX_PADDED = 65_280
MIN_CT = PAD_BLOCK + p.TAG_LEN
MAX_CT = MAX_PADDED + p.TAG_LEN
SHARE_BOX_LEN = p.SEAL_OVERHEAD + p.KEY_LEN

_ENVELOPE_KEYS = frozenset({"v", "conv", "epoch", "mid", "sender", "skid", "nonce", "ct", "sig"})
_SHARE_KEYS = frozenset({"v", "conv", "epoch", "to", "from", "fskid", "box", "sig"})

#: Returns the raw Ed25519 public key that ``(account_id, skid)`` is trusted to use in this
#: conversation (a certified counsellor of the site, or the young person's TOFU key), or None.
SigningKeyResolver = Callable[[str, str], bytes | None]


def new_conversation_key() -> bytes:
    """Random 32-byte AES-256-GCM key for one (conversation, epoch)."""
    return p.random_bytes(p.KEY_LEN)


def _check_key_id(value: object, what: str) -> str:
    if not isinstance(value, str) or len(value) != 22:
        raise InvalidInput(f"{what} must be a 22-character key id")
    b64url_decode(value, length=16)
    return value


# --- Padding (section 8.3) --------------------------------------------------------------------


def pad(plaintext: bytes) -> bytes:
    """ISO/IEC 7816-4 padding (``0x80`` then zeros) to the next multiple of 256 bytes."""
    padded_len = (len(plaintext) // PAD_BLOCK + 1) * PAD_BLOCK
    if padded_len > MAX_PADDED:
        raise InvalidInput("message too long")
    return plaintext + b"\x80" + bytes(padded_len - len(plaintext) - 1)


def unpad(padded: bytes) -> bytes:
    if len(padded) == 0 or len(padded) % PAD_BLOCK != 0 or len(padded) > MAX_PADDED:
        raise BadPlaintext("padded length is not a multiple of 256")
    stripped = padded.rstrip(b"\x00")
    if not stripped.endswith(b"\x80"):
        raise BadPlaintext("missing padding marker")
    return stripped[:-1]


# --- Plaintext --------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def serialize_message(message: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON of a message object (byte form is opaque to the protocol)."""
    check_message(message)
    return json.dumps(
        dict(message), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def check_message(message: object) -> dict[str, Any]:
    """A JSON object with a string ``type``; text messages need ``body`` and ``sent_at``."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise BadPlaintext("message must be an object with a string type")
    if message["type"] == "text":
        sent_at = message.get("sent_at")
        if not isinstance(message.get("body"), str):
            raise BadPlaintext("text message needs a string body")
        if isinstance(sent_at, bool) or not isinstance(sent_at, int):
            raise BadPlaintext("text message needs an integer sent_at")
        if not 0 <= sent_at <= MAX_SAFE_INT:
            raise BadPlaintext("sent_at out of range")
    return message


def parse_message(data: bytes) -> dict[str, Any]:
    try:
        message = json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadPlaintext("plaintext is not UTF-8 JSON") from exc
    return check_message(message)


# --- Envelope ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """A shape-validated message envelope (section 8.3); ``v`` is always 1."""

    conv: str
    epoch: int
    mid: str
    sender: str
    skid: str
    nonce: bytes
    ct: bytes
    sig: bytes
    v: int = ENVELOPE_VERSION

    def header_bytes(self) -> bytes:
        return message_header(self.conv, self.epoch, self.mid, self.sender, self.skid)

    def signed_bytes(self) -> bytes:
        return encode_struct("jmdchat/v1/msg-sig", self.header_bytes(), self.nonce, self.ct)

    def to_json(self) -> dict[str, object]:
        return {
            "v": self.v,
            "conv": self.conv,
            "epoch": self.epoch,
            "mid": self.mid,
            "sender": self.sender,
            "skid": self.skid,
            "nonce": b64url_encode(self.nonce),
            "ct": b64url_encode(self.ct),
            "sig": b64url_encode(self.sig),
        }


def message_header(conv: str, epoch: int, mid: str, sender: str, skid: str) -> bytes:
    """``S("jmdchat/v1/msg-header", 1, conv, epoch, mid, sender, skid)``: the AES-GCM AAD."""
    return encode_struct("jmdchat/v1/msg-header", ENVELOPE_VERSION, conv, epoch, mid, sender, skid)


def validate_envelope_shape(obj: object) -> Envelope:
    """Refuse anything that is not a well-formed version-1 envelope (no crypto, no keys).

    This is what the socket layer calls on every incoming message; see section 8.4 for limits.
    """
    try:
        if not isinstance(obj, Mapping) or set(obj) != _ENVELOPE_KEYS:
            raise InvalidInput("envelope must have exactly the documented keys")
        if check_int(obj["v"], 0, MAX_SAFE_INT, "v") != ENVELOPE_VERSION:
            raise InvalidInput("unsupported envelope version")
        mid = obj["mid"]
        if not isinstance(mid, str) or UUID_PATTERN.fullmatch(mid) is None:
            raise InvalidInput("mid must be a lower-case UUID")
        ct_text = obj["ct"]
        # Bound the work before decoding: 65 296 bytes are at most 87 062 base64 characters.
        if not isinstance(ct_text, str) or len(ct_text) > 87_062:
            raise InvalidInput("ct too long")
        ct = b64url_decode(ct_text)
        if not MIN_CT <= len(ct) <= MAX_CT or (len(ct) - p.TAG_LEN) % PAD_BLOCK != 0:
            raise InvalidInput("ct length is not a padded message length")
        return Envelope(
            conv=check_id(obj["conv"], "conv"),
            epoch=check_int(obj["epoch"], 1, MAX_EPOCH, "epoch"),
            mid=mid,
            sender=check_id(obj["sender"], "sender"),
            skid=_check_key_id(obj["skid"], "skid"),
            nonce=b64url_decode(obj["nonce"], length=p.NONCE_LEN),
            ct=ct,
            sig=b64url_decode(obj["sig"], length=p.SIG_LEN),
        )
    except InvalidInput as exc:
        raise MalformedEnvelope(str(exc)) from exc


def encrypt_envelope_with(
    *,
    conversation_id: str,
    epoch: int,
    epoch_key: bytes,
    sender_id: str,
    signer: KeyPairs,
    plaintext: bytes,
    mid: str,
    nonce: bytes,
) -> dict[str, object]:
    """Deterministic variant over already-serialised plaintext. FOR TEST VECTORS ONLY."""
    parse_message(plaintext)  # never send something the receiver would refuse
    conv = check_id(conversation_id, "conversation id")
    sender = check_id(sender_id, "sender id")
    check_int(epoch, 1, MAX_EPOCH, "epoch")
    if not isinstance(mid, str) or UUID_PATTERN.fullmatch(mid) is None:
        raise InvalidInput("mid must be a lower-case UUID")
    skid = signer.ed25519_key_id
    header = message_header(conv, epoch, mid, sender, skid)
    ct = p.aes_gcm_encrypt(epoch_key, nonce, pad(plaintext), header)
    envelope = Envelope(
        conv=conv, epoch=epoch, mid=mid, sender=sender, skid=skid, nonce=nonce, ct=ct, sig=b""
    )
    sig = signer.sign(envelope.signed_bytes())
    return {**envelope.to_json(), "sig": b64url_encode(sig)}


def encrypt_message(
    *,
    conversation_id: str,
    epoch: int,
    epoch_key: bytes,
    sender_id: str,
    signer: KeyPairs,
    message: Mapping[str, Any],
    mid: str | None = None,
) -> dict[str, object]:
    """Encrypt and sign one message; returns the envelope as a JSON-ready dict."""
    return encrypt_envelope_with(
        conversation_id=conversation_id,
        epoch=epoch,
        epoch_key=epoch_key,
        sender_id=sender_id,
        signer=signer,
        plaintext=serialize_message(message),
        mid=mid if mid is not None else str(uuid.uuid4()),
        nonce=p.random_bytes(p.NONCE_LEN),
    )


@dataclass(frozen=True)
class OpenedMessage:
    envelope: Envelope
    message: dict[str, Any] = field(repr=False)


def trusted_signing_key(
    resolve_signing_key: SigningKeyResolver, account: str, skid: str, scope: str = "conversation"
) -> bytes:
    public = resolve_signing_key(account, skid)
    if public is None or len(public) != p.KEY_LEN or key_id("ed25519", public) != skid:
        raise UnknownSender(f"signing key not trusted for this {scope}")
    return public


def open_envelope(
    envelope: object,
    *,
    conversation_id: str,
    epoch_keys: Mapping[int, bytes],
    resolve_signing_key: SigningKeyResolver,
) -> OpenedMessage:
    """Verify and decrypt, in the order of section 8.3; every failure raises a distinct error."""
    return open_checked_envelope(
        validate_envelope_shape(envelope), expected_conv=conversation_id,
        epoch_keys=epoch_keys, resolve_signing_key=resolve_signing_key,
    )


def open_checked_envelope(
    env: Envelope, *, expected_conv: str, epoch_keys: Mapping[int, bytes],
    resolve_signing_key: SigningKeyResolver, scope: str = "conversation",
) -> OpenedMessage:
    """Section 8.3 after the shape check (shared by conversations and chat rounds, whose
    envelope classes carry their own labels in `header_bytes`/`signed_bytes`)."""
    if env.conv != expected_conv:
        raise WrongConversation(f"envelope belongs to another {scope}")
    key = epoch_keys.get(env.epoch)
    if key is None:
        raise UnknownEpoch(f"no key for epoch {env.epoch}")
    public = trusted_signing_key(resolve_signing_key, env.sender, env.skid, scope)
    # Signature before decryption: never feed unauthenticated-by-sender data to the AEAD/parser.
    if not p.ed25519_verify(public, env.sig, env.signed_bytes()):
        raise BadSignature("message signature invalid")
    padded = p.aes_gcm_decrypt(key, env.nonce, env.ct, env.header_bytes())
    return OpenedMessage(envelope=env, message=parse_message(unpad(padded)))


# --- Conversation key shares (section 8.2) ----------------------------------------------------


@dataclass(frozen=True)
class KeyShare:
    conv: str
    epoch: int
    to: str
    sender: str  # JSON "from"
    fskid: str
    box: bytes
    sig: bytes

    def box_aad(self) -> bytes:
        return encode_struct(
            "jmdchat/v1/conv-key-box", self.conv, self.epoch, self.to, self.sender, self.fskid
        )

    def signed_bytes(self) -> bytes:
        return encode_struct(
            "jmdchat/v1/conv-key-share",
            ENVELOPE_VERSION,
            self.conv,
            self.epoch,
            self.to,
            self.sender,
            self.fskid,
            self.box,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "v": ENVELOPE_VERSION,
            "conv": self.conv,
            "epoch": self.epoch,
            "to": self.to,
            "from": self.sender,
            "fskid": self.fskid,
            "box": b64url_encode(self.box),
            "sig": b64url_encode(self.sig),
        }


def validate_key_share_shape(obj: object) -> KeyShare:
    try:
        if not isinstance(obj, Mapping) or set(obj) != _SHARE_KEYS:
            raise InvalidInput("key share must have exactly the documented keys")
        if check_int(obj["v"], 0, MAX_SAFE_INT, "v") != ENVELOPE_VERSION:
            raise InvalidInput("unsupported key share version")
        return KeyShare(
            conv=check_id(obj["conv"], "conv"),
            epoch=check_int(obj["epoch"], 1, MAX_EPOCH, "epoch"),
            to=_check_key_id(obj["to"], "to"),
            sender=check_id(obj["from"], "from"),
            fskid=_check_key_id(obj["fskid"], "fskid"),
            box=b64url_decode(obj["box"], length=SHARE_BOX_LEN),
            sig=b64url_decode(obj["sig"], length=p.SIG_LEN),
        )
    except InvalidInput as exc:
        raise MalformedEnvelope(str(exc)) from exc


def seal_conversation_key_with(
    *,
    conversation_id: str,
    epoch: int,
    key: bytes,
    recipient_x25519_public: bytes,
    sender_id: str,
    signer: KeyPairs,
    eph_private: bytes,
    nonce: bytes,
) -> dict[str, object]:
    """Deterministic variant. FOR TEST VECTORS ONLY; use :func:`seal_conversation_key`."""
    check_bytes(key, p.KEY_LEN, "conversation key")
    unsigned = KeyShare(
        conv=check_id(conversation_id, "conversation id"),
        epoch=check_int(epoch, 1, MAX_EPOCH, "epoch"),
        to=key_id("x25519", recipient_x25519_public),
        sender=check_id(sender_id, "sender id"),
        fskid=signer.ed25519_key_id,
        box=b"",
        sig=b"",
    )
    box = p.seal_with(
        recipient_x25519_public, key, unsigned.box_aad(), eph_private=eph_private, nonce=nonce
    )
    boxed = replace(unsigned, box=box)
    return replace(boxed, sig=signer.sign(boxed.signed_bytes())).to_json()


def seal_conversation_key(
    *,
    conversation_id: str,
    epoch: int,
    key: bytes,
    recipient_x25519_public: bytes,
    sender_id: str,
    signer: KeyPairs,
) -> dict[str, object]:
    """Seal an epoch key to one recipient X25519 key and sign the share as ``sender_id``."""
    eph_private, _ = p.x25519_generate()
    return seal_conversation_key_with(
        conversation_id=conversation_id,
        epoch=epoch,
        key=key,
        recipient_x25519_public=recipient_x25519_public,
        sender_id=sender_id,
        signer=signer,
        eph_private=eph_private,
        nonce=p.random_bytes(p.NONCE_LEN),
    )


@dataclass(frozen=True)
class OpenedKeyShare:
    conv: str
    epoch: int
    sender: str
    key: bytes = field(repr=False)


def open_conversation_key(
    share: object,
    *,
    conversation_id: str,
    recipient_x25519_private: bytes,
    resolve_signing_key: SigningKeyResolver,
) -> OpenedKeyShare:
    """Verify the distributor's signature, then open the box (section 8.2)."""
    ks = validate_key_share_shape(share)
    if ks.conv != conversation_id:
        raise WrongConversation("key share belongs to another conversation")
    if ks.to != key_id("x25519", p.x25519_public(recipient_x25519_private)):
        raise WrongRecipient("key share addressed to another key")
    public = trusted_signing_key(resolve_signing_key, ks.sender, ks.fskid)
    if not p.ed25519_verify(public, ks.sig, ks.signed_bytes()):
        raise BadSignature("key share signature invalid")
    key = p.open_sealed(recipient_x25519_private, ks.box, ks.box_aad())
    if len(key) != p.KEY_LEN:  # unreachable for a signed share of the right size; defensive
        raise BadCiphertext("conversation key has the wrong length")
    return OpenedKeyShare(conv=ks.conv, epoch=ks.epoch, sender=ks.sender, key=key)
