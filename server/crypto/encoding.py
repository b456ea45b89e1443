"""Byte encodings of protocol version 1 (docs/protocol.md, section 3).

* base64url without padding, decoded strictly and canonically, so every byte string has exactly
  one JSON spelling (no malleability through alternative encodings).
* ``encode_struct``: the deterministic, length-prefixed binary structure used for everything that
  is signed, hashed or used as AES-GCM associated data. Deliberately not JSON canonicalisation:
  JavaScript and Python disagree on number and string serialisation corner cases.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence

from .errors import InvalidInput

LABEL_PREFIX = "jmdchat/v1/"

#: Largest integer any structure or JSON document of the protocol may carry. JavaScript numbers
#: are exact only up to 2^53 - 1, and both implementations must agree on every value.
MAX_SAFE_INT = 2**53 - 1

#: Account, conversation and site ids that enter cryptographic structures (section 3.3).
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: Lower-case canonical UUID, used for message ids.
UUID_PATTERN = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_B64URL_PATTERN = re.compile(r"[A-Za-z0-9_-]*")

Field = bytes | str | int | Sequence[str] | Sequence[bytes]


def b64url_encode(data: bytes) -> str:
    """base64url (RFC 4648 section 5) without ``=`` padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str, *, length: int | None = None) -> bytes:
    """Strict, canonical base64url decoding; ``length`` (if given) must match exactly.

    Refuses padding, whitespace, characters outside the URL-safe alphabet, impossible lengths and
    non-zero unused trailing bits (checked by re-encoding).
    """
    if not isinstance(text, str) or _B64URL_PATTERN.fullmatch(text) is None:
        raise InvalidInput("not base64url")
    if len(text) % 4 == 1:
        raise InvalidInput("impossible base64url length")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput("not base64url") from exc
    if b64url_encode(data) != text:
        raise InvalidInput("non-canonical base64url")
    if length is not None and len(data) != length:
        raise InvalidInput(f"expected {length} bytes, got {len(data)}")
    return data


def _lp(data: bytes) -> bytes:
    if len(data) >= 2**32:
        raise InvalidInput("field too long")
    return len(data).to_bytes(4, "big") + data


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates; JS refuses them too (isWellFormed)
        raise InvalidInput("string is not valid Unicode") from exc


def _encode_field(value: object) -> bytes:
    # bool is a subclass of int in Python; it has no place in a structure.
    if isinstance(value, bool):
        raise InvalidInput("booleans are not encodable")
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, int):
        if not 0 <= value <= MAX_SAFE_INT:
            raise InvalidInput("integer out of range")
        return value.to_bytes(8, "big")
    if isinstance(value, list | tuple):
        parts = [len(value).to_bytes(4, "big")]
        for item in value:
            if isinstance(item, str):
                parts.append(_lp(_utf8(item)))
            elif isinstance(item, bytes):
                parts.append(_lp(item))
            else:
                raise InvalidInput("list items must be strings or bytes")
        return b"".join(parts)
    raise InvalidInput(f"cannot encode {type(value).__name__}")


def encode_struct(label: str, *fields: Field) -> bytes:
    """``S(label, f1, ..., fn)`` of docs/protocol.md section 3.2.

    ``lp(label) || lp(enc(f1)) || ...`` with ``lp(x) = u32be(len(x)) || x``; integers are u64
    big-endian (limited to 2^53 - 1 for JavaScript), strings UTF-8, lists a u32 count followed by
    length-prefixed items. The label carries version and purpose (domain separation).
    """
    if not label.startswith(LABEL_PREFIX):
        raise InvalidInput("structure labels must start with jmdchat/v1/")
    return _lp(_utf8(label)) + b"".join(_lp(_encode_field(f)) for f in fields)


def check_id(value: object, what: str = "id") -> str:
    """Return ``value`` if it is a protocol identifier (section 3.3), else raise InvalidInput."""
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise InvalidInput(f"{what} must match [A-Za-z0-9_-]{{1,64}}")
    return value


def check_int(value: object, lo: int, hi: int, what: str = "integer") -> int:
    """Return ``value`` if it is an int (not bool) within [lo, hi], else raise InvalidInput."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InvalidInput(f"{what} must be an integer in [{lo}, {hi}]")
    return value


def check_bytes(value: object, length: int, what: str = "value") -> bytes:
    """Return ``value`` as bytes if it is a bytes-like object of exactly ``length`` bytes."""
    if not isinstance(value, bytes | bytearray) or len(value) != length:
        raise InvalidInput(f"{what} must be {length} bytes")
    return bytes(value)
