"""The Python implementation reproduces every vector of tests/vectors/protocol-v1.json.

The vectors are committed; these tests never regenerate them. Deterministic outputs (encodings,
derived keys, sealed boxes with fixed ephemeral keys and nonces, Ed25519 signatures) are compared
byte for byte; every refusal case must raise the documented error code.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from server.crypto import primitives as prim
from server.crypto.protocol import (
    CryptoError,
    InvalidInput,
    b64url_decode,
    b64url_encode,
    derive_password_keys,
    derive_recovery_keys,
    encode_struct,
    encrypt_envelope_with,
    fingerprint,
    format_recovery_code,
    key_id,
    open_conversation_key,
    open_envelope,
    open_sealed,
    open_site_key,
    pad,
    parse_certificate,
    parse_recovery_code,
    seal_conversation_key_with,
    seal_site_key_with,
    seal_with,
    unpad,
    unwrap_identity,
    verify_certificate,
    wrap_identity_with_nonce,
)
from server.crypto.sites import SiteKey

from .crypto_vectors import VECTORS_PATH, epoch_keys, fixed, identity, resolver, unb, vectors

V = vectors()


def test_generator_reproduces_committed_file() -> None:
    """The committed JSON is exactly what generate.py emits (no hand edits, no drift)."""
    script = VECTORS_PATH.parent / "generate.py"
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, check=True, timeout=60
    )
    assert result.stdout == VECTORS_PATH.read_bytes()


# --- encoding ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", V["encoding"]["b64url_valid"])
def test_b64url_valid(case: dict[str, str]) -> None:
    raw = bytes.fromhex(case["hex"])
    assert b64url_encode(raw) == case["b64url"]
    assert b64url_decode(case["b64url"]) == raw


@pytest.mark.parametrize("text", V["encoding"]["b64url_invalid"])
def test_b64url_invalid(text: str) -> None:
    with pytest.raises(InvalidInput):
        b64url_decode(text)


@pytest.mark.parametrize("case", V["encoding"]["structs"])
def test_struct_encoding(case: dict[str, Any]) -> None:
    fields: list[Any] = []
    for f in case["fields"]:
        ((kind, value),) = f.items()
        fields.append(unb(value) if kind == "bytes" else value)
    assert encode_struct(case["label"], *fields).hex() == case["hex"]


# --- password and recovery ----------------------------------------------------------------------


@pytest.mark.parametrize("case", V["password"], ids=lambda c: f"{c['iterations']}-{c['password']}")
def test_password_keys(case: dict[str, Any]) -> None:
    keys = derive_password_keys(
        case["password"], unb(case["salt"]), case["iterations"], allow_low_iterations=True
    )
    assert b64url_encode(keys.auth_key) == case["auth_key"]
    assert b64url_encode(keys.wrap_key) == case["wrap_key"]
    assert keys.auth_key != keys.wrap_key


def test_nfc_and_nfd_passwords_give_the_same_keys() -> None:
    nfc, nfd = V["password"][1], V["password"][2]
    assert nfc["password"] != nfd["password"]
    assert (nfc["auth_key"], nfc["wrap_key"]) == (nfd["auth_key"], nfd["wrap_key"])


@pytest.mark.parametrize("case", V["password_refused"])
def test_password_refused(case: dict[str, Any]) -> None:
    with pytest.raises(CryptoError) as info:
        derive_password_keys(case["password"], unb(case["salt"]), case["iterations"])
    assert info.value.code == case["error"]


def test_low_iterations_need_the_explicit_flag() -> None:
    case = V["password"][0]
    with pytest.raises(CryptoError) as info:
        derive_password_keys(case["password"], unb(case["salt"]), case["iterations"])
    assert info.value.code == "weak_kdf_params"


def test_recovery_code_vector() -> None:
    r = V["recovery"]
    code = unb(r["code"])
    assert format_recovery_code(code) == r["formatted"]
    keys = derive_recovery_keys(code)
    assert b64url_encode(keys.auth_key) == r["auth_key"]
    assert b64url_encode(keys.wrap_key) == r["wrap_key"]
    for text in r["parse_ok"]:
        assert parse_recovery_code(text) == code
    for extra in r["more"]:
        assert format_recovery_code(unb(extra["code"])) == extra["formatted"]
        assert parse_recovery_code(extra["formatted"]) == unb(extra["code"])


@pytest.mark.parametrize("text", V["recovery"]["parse_bad"])
def test_recovery_code_refused(text: str) -> None:
    with pytest.raises(CryptoError) as info:
        parse_recovery_code(text)
    assert info.value.code == "bad_recovery_code"


# --- identities, key ids, fingerprints, blobs ---------------------------------------------------


@pytest.mark.parametrize("entry", V["identities"], ids=lambda e: e["name"])
def test_identity_public_keys_ids_fingerprints(entry: dict[str, str]) -> None:
    keys = identity(entry["name"])
    assert b64url_encode(keys.x25519_public) == entry["x25519_public"]
    assert b64url_encode(keys.ed25519_public) == entry["ed25519_public"]
    assert key_id("x25519", keys.x25519_public) == entry["x25519_key_id"]
    assert key_id("ed25519", keys.ed25519_public) == entry["ed25519_key_id"]
    assert fingerprint(keys.x25519_public, keys.ed25519_public) == entry["fingerprint"]
    digits = entry["fingerprint"].split(" ")
    assert len(digits) == 12 and all(len(d) == 5 and d.isdigit() for d in digits)


@pytest.mark.parametrize("case", V["key_blobs"], ids=lambda c: c["purpose"])
def test_key_blobs(case: dict[str, str]) -> None:
    keys = identity(case["identity"])
    wrap_key = unb(case["wrap_key"])
    blob = wrap_identity_with_nonce(keys, wrap_key, case["purpose"], unb(case["nonce"]))  # type: ignore[arg-type]
    assert b64url_encode(blob) == case["blob"]
    opened = unwrap_identity(unb(case["blob"]), wrap_key, case["purpose"])  # type: ignore[arg-type]
    assert opened == keys
    other = "recovery" if case["purpose"] == "password" else "password"
    with pytest.raises(CryptoError) as info:
        unwrap_identity(unb(case["blob"]), wrap_key, other)  # type: ignore[arg-type]
    assert info.value.code == "bad_key_blob"


def test_password_vector_wrap_key_opens_blob() -> None:
    """Chain: password -> wrap_key -> blob, so the JS side can check its wrap key indirectly."""
    pw = V["password"][0]
    assert V["key_blobs"][0]["wrap_key"] == pw["wrap_key"]
    assert V["key_blobs"][1]["wrap_key"] == V["recovery"]["wrap_key"]


# --- sealed boxes and site keys -----------------------------------------------------------------


@pytest.mark.parametrize("case", V["seal"])
def test_seal_vectors(case: dict[str, str]) -> None:
    recipient = identity(case["recipient"])
    sealed = seal_with(
        recipient.x25519_public,
        unb(case["plaintext"]),
        unb(case["aad"]),
        eph_private=unb(case["eph_private"]),
        nonce=unb(case["nonce"]),
    )
    assert b64url_encode(sealed) == case["sealed"]
    assert open_sealed(recipient.x25519_private, sealed, unb(case["aad"])) == unb(case["plaintext"])


def test_site_key_vector() -> None:
    s = V["site_key"]
    site = identity("site")
    member = identity(s["member"])
    site_key = SiteKey(site_id=s["site_id"], key_version=s["key_version"], keys=site)
    box = seal_site_key_with(
        site_key, member.x25519_public, eph_private=unb(s["eph_private"]), nonce=unb(s["nonce"])
    )
    assert b64url_encode(box) == s["box"]
    cert = verify_certificate(
        V["certificates"]["site_cert"],
        unb(V["certificates"]["org_public"]),
        V["now"],
        kind="site",
        subject=s["site_id"],
    )
    assert open_site_key(box, member.x25519_private, cert).keys == site
    with pytest.raises(CryptoError) as info:
        open_site_key(unb(s["rogue_box"]), member.x25519_private, cert)
    assert info.value.code == "site_key_mismatch"
    with pytest.raises(CryptoError) as info:
        open_site_key(box, identity("c2").x25519_private, cert)
    assert info.value.code == "bad_ciphertext"


# --- certificates -------------------------------------------------------------------------------


def test_certificate_signed_bytes() -> None:
    sb = V["certificates"]["signed_bytes"]
    assert parse_certificate(sb["cert"]).signed_bytes().hex() == sb["hex"]


@pytest.mark.parametrize("case", V["certificates"]["cases"], ids=lambda c: c["name"])
def test_certificate_cases(case: dict[str, Any]) -> None:
    org = unb(V["certificates"]["org_public"])

    def run() -> object:
        return verify_certificate(
            case["cert"],
            org,
            case["now"],
            kind=case.get("kind"),
            subject=case.get("subject"),
            site_id=case.get("site_id"),
        )

    if case["result"] == "ok":
        cert = run()
        assert parse_certificate(case["cert"]) == cert
    else:
        with pytest.raises(CryptoError) as info:
            run()
        assert info.value.code == case["result"]


# --- key shares ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", V["key_shares"]["cases"], ids=lambda c: c["name"])
def test_key_share_cases(case: dict[str, Any]) -> None:
    ks = V["key_shares"]
    recipient = identity(case["recipient"])

    def run() -> bytes:
        opened = open_conversation_key(
            case["share"],
            conversation_id=case["conversation_id"],
            recipient_x25519_private=recipient.x25519_private,
            resolve_signing_key=resolver(ks["trusted_signers"]),
        )
        assert opened.epoch == case["share"]["epoch"]
        return opened.key

    if case["result"] == "ok":
        assert run() == epoch_keys(ks)[case["epoch"]]
    else:
        with pytest.raises(CryptoError) as info:
            run()
        assert info.value.code == case["result"]


def test_key_share_reproduced_byte_for_byte() -> None:
    ks = V["key_shares"]
    share = ks["cases"][1]["share"]
    box = unb(share["box"])
    eph = fixed("share-eph-c1")
    assert prim.x25519_public(eph) == box[1:33]
    again = seal_conversation_key_with(
        conversation_id=ks["conv"],
        epoch=1,
        key=epoch_keys(ks)[1],
        recipient_x25519_public=identity("c1").x25519_public,
        sender_id=share["from"],
        signer=identity("yp"),
        eph_private=eph,
        nonce=fixed("share-nonce-c1", 12),
    )
    assert again == share


# --- padding and envelopes ----------------------------------------------------------------------


def test_padding_vectors() -> None:
    p = V["padding"]
    for n, padded_len in p["lengths"]:
        padded = pad(b"a" * n)
        assert len(padded) == padded_len
        assert unpad(padded) == b"a" * n
    with pytest.raises(InvalidInput):
        pad(b"a" * p["too_long"])
    for bad in p["bad_unpad"]:
        with pytest.raises(CryptoError) as info:
            unpad(unb(bad))
        assert info.value.code == "bad_plaintext"


@pytest.mark.parametrize("case", V["envelopes"]["valid"], ids=lambda c: c["envelope"]["mid"])
def test_valid_envelopes(case: dict[str, Any]) -> None:
    e = V["envelopes"]
    env = case["envelope"]
    signer = identity(case["sender_identity"])
    again = encrypt_envelope_with(
        conversation_id=env["conv"],
        epoch=env["epoch"],
        epoch_key=unb(case["epoch_key"]),
        sender_id=env["sender"],
        signer=signer,
        plaintext=unb(case["plaintext"]),
        mid=env["mid"],
        nonce=unb(case["nonce"]),
    )
    assert again == env
    opened = open_envelope(
        env,
        conversation_id=e["conv"],
        epoch_keys=epoch_keys(e),
        resolve_signing_key=resolver(e["trusted_signers"]),
    )
    assert opened.message == json.loads(unb(case["plaintext"]))
    if "header_hex" in case:
        assert opened.envelope.header_bytes().hex() == case["header_hex"]
        assert opened.envelope.signed_bytes().hex() == case["signed_hex"]


@pytest.mark.parametrize("case", V["envelopes"]["refused"], ids=lambda c: c["name"])
def test_refused_envelopes(case: dict[str, Any]) -> None:
    e = V["envelopes"]
    with pytest.raises(CryptoError) as info:
        open_envelope(
            case["envelope"],
            conversation_id=case["conversation_id"],
            epoch_keys=epoch_keys(e),
            resolve_signing_key=resolver(e["trusted_signers"]),
        )
    assert info.value.code == case["result"]


def test_every_documented_error_code_is_exercised_by_vectors() -> None:
    """Vectors cover each refusal code, so the JS side is checked on all of them too."""
    codes = {c["result"] for c in V["envelopes"]["refused"]}
    codes |= {c["result"] for c in V["key_shares"]["cases"]}
    codes |= {c["result"] for c in V["certificates"]["cases"]}
    assert codes - {"ok"} == {
        "wrong_conversation",
        "unknown_epoch",
        "unknown_sender",
        "bad_signature",
        "bad_ciphertext",
        "bad_plaintext",
        "malformed_envelope",
        "wrong_recipient",
        "bad_certificate",
        "certificate_bad_signature",
        "certificate_wrong_issuer",
        "certificate_wrong_kind",
        "certificate_wrong_subject",
        "certificate_expired",
        "certificate_not_yet_valid",
    }
