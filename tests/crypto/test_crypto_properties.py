"""Round trips (hypothesis) and tampering tests of the Python implementation.

Tampering tests flip every bit of the security-relevant fields, not a hand-picked one, so that a
field accidentally left out of a signature or AAD cannot pass unnoticed.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.crypto import primitives as prim
from server.crypto.protocol import (
    MIN_PBKDF2_ITERATIONS,
    CryptoError,
    InvalidInput,
    KdfParams,
    KeyPairs,
    b64url_decode,
    b64url_encode,
    create_site_key,
    derive_password_keys,
    derive_recovery_keys,
    encode_struct,
    encrypt_message,
    format_recovery_code,
    generate_identity,
    generate_recovery_code,
    issue_certificate,
    key_id,
    new_conversation_key,
    new_kdf_params,
    open_conversation_key,
    open_envelope,
    open_sealed,
    open_site_key,
    pad,
    parse_recovery_code,
    rewrap_identity,
    seal,
    seal_conversation_key,
    seal_site_key,
    unpad,
    unwrap_identity,
    validate_envelope_shape,
    verify_certificate,
    wrap_identity,
)

FAST = settings(max_examples=40, deadline=None)
IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)

YP = generate_identity()
C1 = generate_identity()


def trusted(*pairs: tuple[str, KeyPairs]) -> Any:
    def resolve(account: str, skid: str) -> bytes | None:
        for name, keys in pairs:
            if name == account and keys.ed25519_key_id == skid:
                return keys.ed25519_public
        return None

    return resolve


# --- round trips --------------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=200))
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


@FAST
@given(st.binary(min_size=16, max_size=16))
def test_recovery_code_round_trip(code: bytes) -> None:
    text = format_recovery_code(code)
    assert len(text) == 34 and text.count("-") == 6
    assert parse_recovery_code(text) == code
    assert parse_recovery_code(text.lower().replace("-", "  ")) == code


@FAST
@given(st.binary(min_size=16, max_size=16), st.integers(0, 27), st.integers(1, 31))
def test_recovery_code_single_typo_detected_or_harmless(code: bytes, pos: int, delta: int) -> None:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = list(format_recovery_code(code).replace("-", ""))
    chars[pos] = alphabet[(alphabet.index(chars[pos]) + delta) % 32]
    # A single substituted character either fails the checksum (almost always: 1 - 2^-12) or,
    # in the rare collision, gives a different code; it must never silently give the same code.
    try:
        assert parse_recovery_code("".join(chars)) != code
    except CryptoError as exc:
        assert exc.code == "bad_recovery_code"


@FAST
@given(st.binary(max_size=600))
def test_padding_round_trip(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) % 256 == 0 and len(padded) > len(data)
    assert unpad(padded) == data


@FAST
@given(st.binary(max_size=300), st.binary(max_size=100))
def test_seal_round_trip(plaintext: bytes, aad: bytes) -> None:
    sealed = seal(C1.x25519_public, plaintext, aad)
    assert open_sealed(C1.x25519_private, sealed, aad) == plaintext
    assert len(sealed) == len(plaintext) + prim.SEAL_OVERHEAD


@FAST
@given(st.text(max_size=500), IDS, IDS, st.integers(1, 2**31 - 1))
def test_envelope_round_trip(body: str, conv: str, sender: str, epoch: int) -> None:
    key = new_conversation_key()
    message = {"type": "text", "body": body, "sent_at": 1_767_225_600_000}
    env = encrypt_message(
        conversation_id=conv,
        epoch=epoch,
        epoch_key=key,
        sender_id=sender,
        signer=YP,
        message=message,
    )
    validate_envelope_shape(env)
    opened = open_envelope(
        env,
        conversation_id=conv,
        epoch_keys={epoch: key},
        resolve_signing_key=trusted((sender, YP)),
    )
    assert opened.message == message


@FAST
@given(
    st.lists(IDS, min_size=1, max_size=5, unique=True).map(sorted),
    st.integers(1, 1000),
    st.integers(0, 2**40),
)
def test_certificate_round_trip(sites: list[str], version: int, issued_at: int) -> None:
    org_seed, org_pub = prim.ed25519_generate()
    cert = issue_certificate(
        org_seed,
        kind="counsellor",
        subject="c-1",
        sites=sites,
        x25519_public=C1.x25519_public,
        ed25519_public=C1.ed25519_public,
        key_version=version,
        issued_at=issued_at,
        expires_at=issued_at + 3600,
    )
    parsed = verify_certificate(cert, org_pub, issued_at, kind="counsellor", site_id=sites[-1])
    assert parsed.sites == tuple(sites) and parsed.key_version == version


def test_identity_blob_round_trip_and_rewrap() -> None:
    salt = new_kdf_params().salt
    pw = derive_password_keys("ein sicheres Passwort", salt, 1000, allow_low_iterations=True)
    code, text = generate_recovery_code()
    rec = derive_recovery_keys(parse_recovery_code(text))
    assert parse_recovery_code(text) == code
    blob = wrap_identity(YP, pw.wrap_key, "password")
    recovery_blob = wrap_identity(YP, rec.wrap_key, "recovery")
    assert unwrap_identity(blob, pw.wrap_key, "password") == YP
    # Recovery: open with the code, wrap again under a new password.
    new_pw = derive_password_keys("neues Passwort", salt, 1000, allow_low_iterations=True)
    new_blob = rewrap_identity(recovery_blob, rec.wrap_key, "recovery", new_pw.wrap_key, "password")
    assert unwrap_identity(new_blob, new_pw.wrap_key, "password") == YP
    wrong = derive_password_keys("falsches Passwort", salt, 1000, allow_low_iterations=True)
    with pytest.raises(CryptoError) as info:
        unwrap_identity(blob, wrong.wrap_key, "password")
    assert info.value.code == "bad_key_blob"


def test_private_keys_not_in_repr() -> None:
    assert YP.x25519_private.hex() not in repr(YP)
    assert b64url_encode(YP.ed25519_private) not in repr(YP)
    keys = derive_recovery_keys(bytes(16))
    assert keys.wrap_key.hex() not in repr(keys)


def test_production_default_iterations() -> None:
    params = new_kdf_params()
    assert params.iterations >= 600_000 == MIN_PBKDF2_ITERATIONS
    assert KdfParams.from_json(params.to_json()) == params
    weak = dict(params.to_json(), iter=1000)
    with pytest.raises(CryptoError) as info:
        KdfParams.from_json(weak)
    assert info.value.code == "weak_kdf_params"


def test_key_ids_leak_no_key_bytes() -> None:
    for _ in range(20):
        keys = generate_identity()
        for alg, pub in (("x25519", keys.x25519_public), ("ed25519", keys.ed25519_public)):
            kid = key_id(alg, pub)  # type: ignore[arg-type]
            assert len(kid) == 22
            raw = b64url_decode(kid)
            # No 4-byte window of the public key appears in the id.
            assert not any(pub[i : i + 4] in raw for i in range(len(pub) - 3))
    assert key_id("x25519", YP.x25519_public) != key_id("ed25519", YP.x25519_public)


# --- tampering: every bit ------------------------------------------------------------------------


def _flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def test_every_bit_of_an_envelope_matters() -> None:
    key = new_conversation_key()
    env = encrypt_message(
        conversation_id="conv-1",
        epoch=1,
        epoch_key=key,
        sender_id="yp-1",
        signer=YP,
        message={"type": "text", "body": "hi", "sent_at": 1},
    )
    resolve = trusted(("yp-1", YP))
    for field in ("nonce", "ct", "sig"):
        raw = b64url_decode(str(env[field]))
        for bit in range(0, len(raw) * 8, 7 if field == "ct" else 1):
            tampered = dict(env, **{field: b64url_encode(_flip(raw, bit))})
            with pytest.raises(CryptoError) as info:
                open_envelope(
                    tampered,
                    conversation_id="conv-1",
                    epoch_keys={1: key},
                    resolve_signing_key=resolve,
                )
            assert info.value.code == "bad_signature", (field, bit)


def test_header_fields_are_bound_by_signature_and_aad() -> None:
    """Re-signing a modified header with the right key still fails: the AAD binds the header."""
    key = new_conversation_key()
    env = encrypt_message(
        conversation_id="conv-1",
        epoch=1,
        epoch_key=key,
        sender_id="yp-1",
        signer=YP,
        message={"type": "text", "body": "hi", "sent_at": 1},
    )
    parsed = validate_envelope_shape(env)
    for changes in (
        {"mid": str(uuid.uuid4())},
        {"epoch": 2},
        {"conv": "conv-2"},
        {"sender": "yp-2"},
    ):
        moved = replace(parsed, **changes)
        resigned = dict(moved.to_json(), sig=b64url_encode(YP.sign(moved.signed_bytes())))
        with pytest.raises(CryptoError) as info:
            open_envelope(
                resigned,
                conversation_id=moved.conv,
                epoch_keys={1: key, 2: key},
                resolve_signing_key=trusted((moved.sender, YP)),
            )
        assert info.value.code == "bad_ciphertext", changes


def test_sealed_box_bound_to_aad_and_recipient() -> None:
    aad = encode_struct("jmdchat/v1/conv-key-box", "conv-1", 1)
    sealed = seal(C1.x25519_public, b"k" * 32, aad)
    for bad_aad in (b"", encode_struct("jmdchat/v1/conv-key-box", "conv-1", 2)):
        with pytest.raises(CryptoError):
            open_sealed(C1.x25519_private, sealed, bad_aad)
    with pytest.raises(CryptoError):
        open_sealed(YP.x25519_private, sealed, aad)
    for bit in range(len(sealed) * 8):
        with pytest.raises(CryptoError):
            open_sealed(C1.x25519_private, _flip(sealed, bit), aad)


def test_small_order_ephemeral_key_refused() -> None:
    sealed = b"\x01" + bytes(32) + bytes(12) + bytes(48)
    with pytest.raises(CryptoError) as info:
        open_sealed(C1.x25519_private, sealed, b"")
    assert info.value.code == "bad_ciphertext"
    with pytest.raises(InvalidInput):
        seal(bytes(32), b"x", b"")


def test_key_share_round_trip_and_forged_distributor() -> None:
    key = new_conversation_key()
    share = seal_conversation_key(
        conversation_id="conv-1",
        epoch=3,
        key=key,
        recipient_x25519_public=C1.x25519_public,
        sender_id="yp-1",
        signer=YP,
    )
    opened = open_conversation_key(
        share,
        conversation_id="conv-1",
        recipient_x25519_private=C1.x25519_private,
        resolve_signing_key=trusted(("yp-1", YP)),
    )
    assert (opened.key, opened.epoch, opened.sender) == (key, 3, "yp-1")
    # The server substitutes its own key, sealed to C1 and signed by a key it controls.
    server = generate_identity()
    forged = seal_conversation_key(
        conversation_id="conv-1",
        epoch=3,
        key=bytes(32),
        recipient_x25519_public=C1.x25519_public,
        sender_id="yp-1",
        signer=server,
    )
    with pytest.raises(CryptoError) as info:
        open_conversation_key(
            forged,
            conversation_id="conv-1",
            recipient_x25519_private=C1.x25519_private,
            resolve_signing_key=trusted(("yp-1", YP)),
        )
    assert info.value.code == "unknown_sender"
    # Signed by the right key id but the box swapped for the forged one.
    swapped = dict(share, box=forged["box"])
    with pytest.raises(CryptoError) as info:
        open_conversation_key(
            swapped,
            conversation_id="conv-1",
            recipient_x25519_private=C1.x25519_private,
            resolve_signing_key=trusted(("yp-1", YP)),
        )
    assert info.value.code == "bad_signature"


def test_site_key_rotation_round_trip() -> None:
    org_seed, org_pub = prim.ed25519_generate()
    v1, v2 = create_site_key("site-1", 1), create_site_key("site-1", 2)
    certs = {
        sk.key_version: verify_certificate(
            issue_certificate(
                org_seed,
                kind="site",
                subject="site-1",
                sites=["site-1"],
                x25519_public=sk.keys.x25519_public,
                ed25519_public=sk.keys.ed25519_public,
                key_version=sk.key_version,
                issued_at=100,
                expires_at=200,
            ),
            org_pub,
            150,
            kind="site",
        )
        for sk in (v1, v2)
    }
    box1, box2 = seal_site_key(v1, C1.x25519_public), seal_site_key(v2, C1.x25519_public)
    assert open_site_key(box1, C1.x25519_private, certs[1]).keys == v1.keys
    assert open_site_key(box2, C1.x25519_private, certs[2]).keys == v2.keys
    # A version-1 box presented as version 2 fails the AAD (site-key-box binds the version).
    with pytest.raises(CryptoError) as info:
        open_site_key(box1, C1.x25519_private, certs[2])
    assert info.value.code == "bad_ciphertext"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {},
        {"v": 1},
        "envelope",
        {
            "v": 1,
            "conv": "c",
            "epoch": 1.0,
            "mid": str(uuid.uuid4()),
            "sender": "s",
            "skid": "A" * 22,
            "nonce": "A" * 16,
            "ct": "A" * 363,
            "sig": "A" * 86,
        },
    ],
)
def test_shape_validator_refuses_non_envelopes(bad: object) -> None:
    with pytest.raises(CryptoError) as info:
        validate_envelope_shape(bad)
    assert info.value.code == "malformed_envelope"


def test_shape_validator_size_limits() -> None:
    key = new_conversation_key()
    env = encrypt_message(
        conversation_id="conv-1",
        epoch=1,
        epoch_key=key,
        sender_id="yp-1",
        signer=YP,
        message={"type": "text", "body": "x" * 65_000, "sent_at": 1},
    )
    assert len(validate_envelope_shape(env).ct) == 65_296
    with pytest.raises(InvalidInput):
        encrypt_message(
            conversation_id="conv-1",
            epoch=1,
            epoch_key=key,
            sender_id="yp-1",
            signer=YP,
            message={"type": "text", "body": "x" * 65_300, "sent_at": 1},
        )
    too_big = dict(env, ct=b64url_encode(bytes(65_296 + 256)))
    with pytest.raises(CryptoError):
        validate_envelope_shape(too_big)
    for field, value in (("conv", "x" * 65), ("sender", ""), ("epoch", 2**31), ("epoch", True)):
        with pytest.raises(CryptoError):
            validate_envelope_shape(dict(env, **{field: value}))
