"""Generate tests/vectors/protocol-v1.json from the Python implementation, ONCE.

    .venv/bin/python tests/vectors/generate.py > tests/vectors/protocol-v1.json

Every secret, nonce and ephemeral key is derived from a fixed name
(``SHA-256("jmdchat/v1 test vector " + name)``), so re-running produces the same file byte for
byte; tests read the committed JSON and never regenerate it, so a change in behaviour of either
implementation shows up as a test failure rather than as silently updated vectors.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from server.crypto import primitives as prim
from server.crypto.protocol import (
    KeyPairs,
    b64url_decode,
    b64url_encode,
    create_site_key,
    derive_password_keys,
    derive_recovery_keys,
    encode_struct,
    encrypt_envelope_with,
    format_recovery_code,
    issue_certificate,
    message_header,
    pad,
    parse_certificate,
    seal_conversation_key_with,
    seal_site_key_with,
    seal_with,
    wrap_identity_with_nonce,
)
from server.crypto.sites import SiteKey

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
DAY = 86_400


def fixed(name: str, n: int = 32) -> bytes:
    return hashlib.sha256(b"jmdchat/v1 test vector " + name.encode()).digest()[:n]


def b(data: bytes) -> str:
    return b64url_encode(data)


def keypairs(name: str) -> KeyPairs:
    return KeyPairs.from_private(fixed(name + "/x25519"), fixed(name + "/ed25519"))


def identity_json(name: str, keys: KeyPairs) -> dict[str, Any]:
    return {
        "name": name,
        "x25519_private": b(keys.x25519_private),
        "ed25519_seed": b(keys.ed25519_private),
        "x25519_public": b(keys.x25519_public),
        "ed25519_public": b(keys.ed25519_public),
        "x25519_key_id": keys.x25519_key_id,
        "ed25519_key_id": keys.ed25519_key_id,
        "fingerprint": keys.fingerprint,
    }


def encoding_section() -> dict[str, Any]:
    valid = [b"", b"\x00", b"\xff\xfe", b"\xfb\xff\xbf", bytes(range(7)), fixed("b64", 16)]
    structs: list[dict[str, Any]] = [
        {"label": "jmdchat/v1/test", "fields": []},
        {
            "label": "jmdchat/v1/test",
            "fields": [{"bytes": b(b"")}, {"str": ""}, {"int": 0}, {"list": []}],
        },
        {
            "label": "jmdchat/v1/test",
            "fields": [
                {"bytes": b(b"\x00\x01\xff")},
                {"str": "Grüße, مرحبا, 😀"},
                {"int": 2**53 - 1},
                {"int": 1_767_225_600},
                {"list": ["site-a", "site_b", "ü"]},
            ],
        },
    ]
    for s in structs:
        decoded: list[Any] = []
        for f in s["fields"]:
            ((kind, value),) = f.items()
            decoded.append(_unb(value) if kind == "bytes" else value)
        s["hex"] = encode_struct(s["label"], *decoded).hex()
    return {
        "b64url_valid": [{"hex": v.hex(), "b64url": b(v)} for v in valid],
        # padding, whitespace, standard alphabet, impossible length, non-canonical trailing bits
        "b64url_invalid": ["AA==", "AA=", " AA", "AA\n", "A+", "A/", "A", "AB", "AAB", "é"],
        "structs": structs,
    }


def _unb(text: str) -> bytes:
    return b64url_decode(text)


def main() -> None:
    out: dict[str, Any] = {
        "protocol": "jmdchat/v1",
        "note": "Generated once by tests/vectors/generate.py; do not edit by hand.",
        "now": NOW,
    }
    out["encoding"] = encoding_section()

    # --- password keys (1 000 iterations via the explicit test-only flag, plus one real one)
    salt = fixed("salt", 16)
    pw_cases = []
    for password, iterations in [
        ("correct horse battery staple", 1000),
        ("Passwort-für-Amira 2026", 1000),
        ("Passwort-fu\u0308r-Amira 2026", 1000),  # NFD form of the previous one: same keys
        ("كلمة السر", 1000),
        ("correct horse battery staple", 600_000),
    ]:
        keys = derive_password_keys(password, salt, iterations, allow_low_iterations=True)
        pw_cases.append(
            {
                "password": password,
                "salt": b(salt),
                "iterations": iterations,
                "auth_key": b(keys.auth_key),
                "wrap_key": b(keys.wrap_key),
            }
        )
    out["password"] = pw_cases
    out["password_refused"] = [
        {"password": "x", "salt": b(salt), "iterations": 599_999, "error": "weak_kdf_params"},
        {"password": "x", "salt": b(salt[:15]), "iterations": 600_000, "error": "weak_kdf_params"},
        {"password": "", "salt": b(salt), "iterations": 600_000, "error": "invalid_input"},
    ]

    # --- recovery codes
    code = fixed("recovery", 16)
    formatted = format_recovery_code(code)
    rkeys = derive_recovery_keys(code)
    sloppy = formatted.lower().replace("-", " ")
    confusable = formatted.replace("1", "l").replace("0", "O")
    last = formatted[-1]
    typo = formatted[:-1] + ("0" if last != "0" else "1")
    out["recovery"] = {
        "code": b(code),
        "formatted": formatted,
        "auth_key": b(rkeys.auth_key),
        "wrap_key": b(rkeys.wrap_key),
        "parse_ok": [formatted, sloppy, confusable, formatted.replace("-", "")],
        "parse_bad": [typo, formatted[:-1], formatted + "0", formatted.replace(formatted[0], "U")],
        "more": [
            {"code": b(c), "formatted": format_recovery_code(c)}
            for c in (bytes(16), b"\xff" * 16, fixed("recovery2", 16))
        ],
    }

    # --- identities
    yp = keypairs("young-person")
    c1 = keypairs("counsellor-1")
    c2 = keypairs("counsellor-2")
    outsider = keypairs("outsider")
    org_seed = fixed("org/ed25519")
    org_pub = prim.ed25519_public(org_seed)
    other_org_seed = fixed("other-org/ed25519")
    out["identities"] = [
        identity_json(n, k) for n, k in [("yp", yp), ("c1", c1), ("c2", c2), ("outsider", outsider)]
    ]
    out["org"] = {"ed25519_seed": b(org_seed), "ed25519_public": b(org_pub)}

    # --- key blobs
    pw_wrap = pw_cases[0]["wrap_key"]
    out["key_blobs"] = [
        {
            "identity": "yp",
            "purpose": "password",
            "wrap_key": pw_wrap,
            "nonce": b(fixed("blob-nonce-1", 12)),
            "blob": b(
                wrap_identity_with_nonce(
                    yp,
                    derive_password_keys(
                        pw_cases[0]["password"], salt, 1000, allow_low_iterations=True
                    ).wrap_key,
                    "password",
                    fixed("blob-nonce-1", 12),
                )
            ),
        },
        {
            "identity": "yp",
            "purpose": "recovery",
            "wrap_key": b(rkeys.wrap_key),
            "nonce": b(fixed("blob-nonce-2", 12)),
            "blob": b(
                wrap_identity_with_nonce(yp, rkeys.wrap_key, "recovery", fixed("blob-nonce-2", 12))
            ),
        },
    ]

    # --- sealed boxes
    seal_cases = []
    for i, (aad, pt) in enumerate(
        [
            (b"", b""),
            (encode_struct("jmdchat/v1/test", "ctx"), b"hello"),
            (encode_struct("jmdchat/v1/test", "ctx", 7), fixed("seal-pt")),
        ]
    ):
        eph = fixed(f"seal-eph-{i}")
        nonce = fixed(f"seal-nonce-{i}", 12)
        seal_cases.append(
            {
                "recipient": "c1",
                "aad": b(aad),
                "plaintext": b(pt),
                "eph_private": b(eph),
                "nonce": b(nonce),
                "sealed": b(seal_with(c1.x25519_public, pt, aad, eph_private=eph, nonce=nonce)),
            }
        )
    out["seal"] = seal_cases

    # --- certificates and site key
    site_keys = SiteKey(site_id="jmd-berlin-mitte", key_version=2, keys=keypairs("site"))
    assert create_site_key("x", 1).key_version == 1
    site_cert = issue_certificate(
        org_seed,
        kind="site",
        subject=site_keys.site_id,
        sites=[site_keys.site_id],
        x25519_public=site_keys.keys.x25519_public,
        ed25519_public=site_keys.keys.ed25519_public,
        key_version=2,
        issued_at=NOW - DAY,
        expires_at=NOW + 90 * DAY,
    )
    c1_cert = issue_certificate(
        org_seed,
        kind="counsellor",
        subject="counsellor-1",
        sites=["jmd-berlin-mitte", "jmd-koeln"],
        x25519_public=c1.x25519_public,
        ed25519_public=c1.ed25519_public,
        key_version=1,
        issued_at=NOW - DAY,
        expires_at=NOW + 90 * DAY,
    )
    c2_cert = issue_certificate(
        org_seed,
        kind="counsellor",
        subject="counsellor-2",
        sites=["jmd-berlin-mitte"],
        x25519_public=c2.x25519_public,
        ed25519_public=c2.ed25519_public,
        key_version=1,
        issued_at=NOW - DAY,
        expires_at=NOW + 90 * DAY,
    )
    other_org_cert = issue_certificate(
        other_org_seed,
        kind="counsellor",
        subject="counsellor-1",
        sites=["jmd-berlin-mitte"],
        x25519_public=outsider.x25519_public,
        ed25519_public=outsider.ed25519_public,
        key_version=1,
        issued_at=NOW - DAY,
        expires_at=NOW + 90 * DAY,
    )
    forged_iss = dict(other_org_cert, iss=c1_cert["iss"])  # claims our org, signed by another
    tampered_key = dict(c1_cert, x25519=b(outsider.x25519_public))
    tampered_sites = dict(c1_cert, sites=["jmd-berlin-mitte", "jmd-hamburg"])
    unsorted = dict(c1_cert, sites=["jmd-koeln", "jmd-berlin-mitte"])
    extra = dict(c1_cert, admin=True)
    bad_sig_len = dict(c1_cert, sig=c1_cert["sig"][:-2])  # type: ignore[index]
    future = issue_certificate(
        org_seed,
        kind="counsellor",
        subject="counsellor-1",
        sites=["jmd-berlin-mitte"],
        x25519_public=c1.x25519_public,
        ed25519_public=c1.ed25519_public,
        key_version=1,
        issued_at=NOW + 301,
        expires_at=NOW + 90 * DAY,
    )
    within_skew = dict(future)
    cert_cases: list[dict[str, Any]] = [
        {
            "name": "counsellor ok",
            "cert": c1_cert,
            "now": NOW,
            "kind": "counsellor",
            "subject": "counsellor-1",
            "site_id": "jmd-koeln",
            "result": "ok",
        },
        {"name": "counsellor ok without expectations", "cert": c1_cert, "now": NOW, "result": "ok"},
        {
            "name": "site ok",
            "cert": site_cert,
            "now": NOW,
            "kind": "site",
            "subject": "jmd-berlin-mitte",
            "site_id": "jmd-berlin-mitte",
            "result": "ok",
        },
        {
            "name": "expired",
            "cert": c1_cert,
            "now": NOW + 90 * DAY,
            "result": "certificate_expired",
        },
        {"name": "last valid second", "cert": c1_cert, "now": NOW + 90 * DAY - 1, "result": "ok"},
        {
            "name": "issued in the future",
            "cert": future,
            "now": NOW,
            "result": "certificate_not_yet_valid",
        },
        {"name": "within clock skew", "cert": within_skew, "now": NOW + 1, "result": "ok"},
        {
            "name": "wrong kind",
            "cert": c1_cert,
            "now": NOW,
            "kind": "site",
            "result": "certificate_wrong_kind",
        },
        {
            "name": "site cert used as counsellor",
            "cert": site_cert,
            "now": NOW,
            "kind": "counsellor",
            "result": "certificate_wrong_kind",
        },
        {
            "name": "wrong subject",
            "cert": c1_cert,
            "now": NOW,
            "subject": "counsellor-2",
            "result": "certificate_wrong_subject",
        },
        {
            "name": "site not covered",
            "cert": c2_cert,
            "now": NOW,
            "site_id": "jmd-koeln",
            "result": "certificate_wrong_subject",
        },
        {
            "name": "other organisation",
            "cert": other_org_cert,
            "now": NOW,
            "result": "certificate_wrong_issuer",
        },
        {
            "name": "forged issuer",
            "cert": forged_iss,
            "now": NOW,
            "result": "certificate_bad_signature",
        },
        {
            "name": "tampered key",
            "cert": tampered_key,
            "now": NOW,
            "result": "certificate_bad_signature",
        },
        {
            "name": "tampered sites",
            "cert": tampered_sites,
            "now": NOW,
            "result": "certificate_bad_signature",
        },
        {"name": "unsorted sites", "cert": unsorted, "now": NOW, "result": "bad_certificate"},
        {"name": "extra field", "cert": extra, "now": NOW, "result": "bad_certificate"},
        {"name": "short signature", "cert": bad_sig_len, "now": NOW, "result": "bad_certificate"},
    ]
    out["certificates"] = {
        "org_public": b(org_pub),
        "signed_bytes": {
            "cert": c1_cert,
            "hex": parse_certificate(c1_cert).signed_bytes().hex(),
        },
        "cases": cert_cases,
        "site_cert": site_cert,
        "c1_cert": c1_cert,
        "c2_cert": c2_cert,
    }

    # --- site key sealed to counsellor-1, and a box sealed with an uncertified key
    site_eph = fixed("site-eph")
    site_nonce = fixed("site-nonce", 12)
    rogue = SiteKey(site_id=site_keys.site_id, key_version=2, keys=keypairs("rogue-site"))
    out["site_key"] = {
        "site": identity_json("site", site_keys.keys),
        "site_id": site_keys.site_id,
        "key_version": 2,
        "member": "c1",
        "eph_private": b(site_eph),
        "nonce": b(site_nonce),
        "box": b(
            seal_site_key_with(site_keys, c1.x25519_public, eph_private=site_eph, nonce=site_nonce)
        ),
        "aad_hex": encode_struct("jmdchat/v1/site-key-box", site_keys.site_id, 2).hex(),
        "rogue_box": b(
            seal_site_key_with(rogue, c1.x25519_public, eph_private=site_eph, nonce=site_nonce)
        ),
    }

    # --- conversation key shares
    conv = "conv-7f3a"
    epoch_keys = {1: fixed("conv-key-1"), 2: fixed("conv-key-2")}

    def share(
        recipient_pub: bytes, sender: str, signer: KeyPairs, epoch: int, tag: str
    ) -> dict[str, object]:
        return seal_conversation_key_with(
            conversation_id=conv,
            epoch=epoch,
            key=epoch_keys[epoch],
            recipient_x25519_public=recipient_pub,
            sender_id=sender,
            signer=signer,
            eph_private=fixed(f"share-eph-{tag}"),
            nonce=fixed(f"share-nonce-{tag}", 12),
        )

    share_to_site = share(site_keys.keys.x25519_public, "yp-42", yp, 1, "site")
    share_to_c1 = share(c1.x25519_public, "yp-42", yp, 1, "c1")
    share_to_yp = share(yp.x25519_public, "counsellor-1", c1, 2, "yp")
    box_flip = _flip_b64(str(share_to_c1["box"]), 40)
    sig_flip = _flip_b64(str(share_to_c1["sig"]), 3)
    trusted = [
        {"account": "yp-42", "ed25519_public": b(yp.ed25519_public)},
        {"account": "counsellor-1", "ed25519_public": b(c1.ed25519_public)},
        {"account": "counsellor-2", "ed25519_public": b(c2.ed25519_public)},
    ]
    # A share signed by an outsider who claims to be the young person (needs their key id).
    impostor = share(c1.x25519_public, "yp-42", outsider, 1, "impostor")
    out["key_shares"] = {
        "conv": conv,
        "trusted_signers": trusted,
        "epoch_keys": {str(k): b(v) for k, v in epoch_keys.items()},
        "cases": [
            {
                "name": "to site",
                "share": share_to_site,
                "recipient": "site",
                "conversation_id": conv,
                "result": "ok",
                "epoch": 1,
            },
            {
                "name": "to counsellor",
                "share": share_to_c1,
                "recipient": "c1",
                "conversation_id": conv,
                "result": "ok",
                "epoch": 1,
            },
            {
                "name": "to young person",
                "share": share_to_yp,
                "recipient": "yp",
                "conversation_id": conv,
                "result": "ok",
                "epoch": 2,
            },
            {
                "name": "other conversation",
                "share": share_to_c1,
                "recipient": "c1",
                "conversation_id": "conv-other",
                "result": "wrong_conversation",
            },
            {
                "name": "wrong recipient",
                "share": share_to_c1,
                "recipient": "c2",
                "conversation_id": conv,
                "result": "wrong_recipient",
            },
            {
                "name": "impostor signer",
                "share": impostor,
                "recipient": "c1",
                "conversation_id": conv,
                "result": "unknown_sender",
            },
            {
                "name": "flipped box",
                "share": dict(share_to_c1, box=box_flip),
                "recipient": "c1",
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "flipped signature",
                "share": dict(share_to_c1, sig=sig_flip),
                "recipient": "c1",
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "epoch changed",
                "share": dict(share_to_c1, epoch=2),
                "recipient": "c1",
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "missing field",
                "share": {k: v for k, v in share_to_c1.items() if k != "to"},
                "recipient": "c1",
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
        ],
    }

    # --- padding
    out["padding"] = {
        "lengths": [[n, len(pad(b"a" * n))] for n in (0, 1, 100, 254, 255, 256, 511, 512, 65_279)],
        "too_long": 65_280,
        "bad_unpad": [
            b(bytes(256)),  # no marker
            b(b"a" * 255 + b"\x80" + b"\x01"),  # not a multiple of 256
            b(b"a" * 200 + b"\x80" + bytes(54) + b"\x01"),  # junk after marker
            b(b""),
        ],
    }

    # --- envelopes
    mid = "3f2b8a6e-1c4d-4e5f-9a0b-7c6d5e4f3a2b"
    plaintext = json.dumps(
        {
            "type": "text",
            "body": "Hallo, ich brauche Hilfe mit meinem Aufenthaltstitel. 🙏",
            "sent_at": 1_767_225_600_123,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    env_nonce = fixed("env-nonce", 12)
    env = encrypt_envelope_with(
        conversation_id=conv,
        epoch=1,
        epoch_key=epoch_keys[1],
        sender_id="yp-42",
        signer=yp,
        plaintext=plaintext,
        mid=mid,
        nonce=env_nonce,
    )
    reply_pt = json.dumps(
        {
            "type": "text",
            "body": "Gern. Was steht in deinem Bescheid?",
            "sent_at": 1_767_225_660_000,
        },
        separators=(",", ":"),
    ).encode()
    reply = encrypt_envelope_with(
        conversation_id=conv,
        epoch=2,
        epoch_key=epoch_keys[2],
        sender_id="counsellor-1",
        signer=c1,
        plaintext=reply_pt,
        mid="a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
        nonce=fixed("reply-nonce", 12),
    )
    long_pt = json.dumps(
        {"type": "text", "body": "x" * 300, "sent_at": 0}, separators=(",", ":")
    ).encode()
    long_env = encrypt_envelope_with(
        conversation_id=conv,
        epoch=1,
        epoch_key=epoch_keys[1],
        sender_id="yp-42",
        signer=yp,
        plaintext=long_pt,
        mid="00000000-0000-4000-8000-000000000000",
        nonce=fixed("long-nonce", 12),
    )
    # Signed correctly, but encrypted under a key the receiver does not have for epoch 1.
    wrong_key_env = encrypt_envelope_with(
        conversation_id=conv,
        epoch=1,
        epoch_key=fixed("not-the-epoch-key"),
        sender_id="yp-42",
        signer=yp,
        plaintext=plaintext,
        mid=mid,
        nonce=env_nonce,
    )
    bad_padding_env = _signed_raw(conv, 1, epoch_keys[1], "yp-42", yp, bytes(256), mid, env_nonce)
    not_object_env = _signed_raw(
        conv, 1, epoch_keys[1], "yp-42", yp, pad(b"[1,2,3]"), mid, env_nonce
    )
    header_mod = dict(env, epoch=2)
    sender_mod = dict(env, sender="counsellor-1", skid=c1.ed25519_key_id)
    out["envelopes"] = {
        "conv": conv,
        "trusted_signers": trusted,
        "epoch_keys": {str(k): b(v) for k, v in epoch_keys.items()},
        "valid": [
            {
                "envelope": env,
                "plaintext": b(plaintext),
                "sender_identity": "yp",
                "header_hex": message_header(conv, 1, mid, "yp-42", yp.ed25519_key_id).hex(),
                "signed_hex": encode_struct(
                    "jmdchat/v1/msg-sig",
                    message_header(conv, 1, mid, "yp-42", yp.ed25519_key_id),
                    env_nonce,
                    _unb(str(env["ct"])),
                ).hex(),
                "epoch_key": b(epoch_keys[1]),
                "nonce": b(env_nonce),
            },
            {
                "envelope": reply,
                "plaintext": b(reply_pt),
                "sender_identity": "c1",
                "epoch_key": b(epoch_keys[2]),
                "nonce": b(fixed("reply-nonce", 12)),
            },
            {
                "envelope": long_env,
                "plaintext": b(long_pt),
                "sender_identity": "yp",
                "epoch_key": b(epoch_keys[1]),
                "nonce": b(fixed("long-nonce", 12)),
            },
        ],
        "refused": [
            {
                "name": "replayed into another conversation",
                "envelope": env,
                "conversation_id": "conv-other",
                "result": "wrong_conversation",
            },
            {
                "name": "conv rewritten",
                "envelope": dict(env, conv="conv-other"),
                "conversation_id": "conv-other",
                "result": "bad_signature",
            },
            {
                "name": "unknown epoch",
                "envelope": dict(env, epoch=3),
                "conversation_id": conv,
                "result": "unknown_epoch",
            },
            {
                "name": "header epoch changed",
                "envelope": header_mod,
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "mid changed",
                "envelope": dict(env, mid="3f2b8a6e-1c4d-4e5f-9a0b-7c6d5e4f3a2c"),
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "sender changed",
                "envelope": sender_mod,
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "untrusted sender",
                "envelope": dict(env, sender="outsider-1"),
                "conversation_id": conv,
                "result": "unknown_sender",
            },
            {
                "name": "skid of another key",
                "envelope": dict(env, skid=c2.ed25519_key_id),
                "conversation_id": conv,
                "result": "unknown_sender",
            },
            {
                "name": "flipped ciphertext bit",
                "envelope": dict(env, ct=_flip_b64(str(env["ct"]), 5)),
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "flipped nonce bit",
                "envelope": dict(env, nonce=_flip_b64(str(env["nonce"]), 0)),
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "flipped signature bit",
                "envelope": dict(env, sig=_flip_b64(str(env["sig"]), 10)),
                "conversation_id": conv,
                "result": "bad_signature",
            },
            {
                "name": "wrong epoch key",
                "envelope": wrong_key_env,
                "conversation_id": conv,
                "result": "bad_ciphertext",
            },
            {
                "name": "bad padding",
                "envelope": bad_padding_env,
                "conversation_id": conv,
                "result": "bad_plaintext",
            },
            {
                "name": "plaintext not an object",
                "envelope": not_object_env,
                "conversation_id": conv,
                "result": "bad_plaintext",
            },
            {
                "name": "extra field",
                "envelope": dict(env, extra=1),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "v is 2",
                "envelope": dict(env, v=2),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "v is true",
                "envelope": dict(env, v=True),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "epoch zero",
                "envelope": dict(env, epoch=0),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "epoch as string",
                "envelope": dict(env, epoch="1"),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "ct not padded",
                "envelope": dict(env, ct=b(bytes(300))),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "short nonce",
                "envelope": dict(env, nonce=b(bytes(11))),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "padded base64",
                "envelope": dict(env, sig=str(env["sig"]) + "=="),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "mid upper case",
                "envelope": dict(env, mid=mid.upper()),
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
            {
                "name": "conv with slash",
                "envelope": dict(env, conv="conv/7f3a"),
                "conversation_id": "conv/7f3a",
                "result": "malformed_envelope",
            },
            {
                "name": "not an object",
                "envelope": [env],
                "conversation_id": conv,
                "result": "malformed_envelope",
            },
        ],
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


def _flip_b64(text: str, byte_index: int) -> str:
    raw = bytearray(_unb(text))
    raw[byte_index] ^= 0x01
    return b(bytes(raw))


def _signed_raw(
    conv: str,
    epoch: int,
    key: bytes,
    sender: str,
    signer: KeyPairs,
    padded: bytes,
    mid: str,
    nonce: bytes,
) -> dict[str, object]:
    """An envelope whose padded plaintext is chosen directly (to test receiver checks)."""
    header = message_header(conv, epoch, mid, sender, signer.ed25519_key_id)
    ct = prim.aes_gcm_encrypt(key, nonce, padded, header)
    sig = signer.sign(encode_struct("jmdchat/v1/msg-sig", header, nonce, ct))
    return {
        "v": 1,
        "conv": conv,
        "epoch": epoch,
        "mid": mid,
        "sender": sender,
        "skid": signer.ed25519_key_id,
        "nonce": b(nonce),
        "ct": b(ct),
        "sig": b(sig),
    }


if __name__ == "__main__":
    main()
