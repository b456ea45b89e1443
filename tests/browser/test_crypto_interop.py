"""Two implementations, one truth: the browser (WebCrypto, client/src/crypto/*.js) against the
committed vectors and against the Python implementation (server/crypto/), in headless Chromium.

* The browser reproduces every vector of tests/vectors/protocol-v1.json, byte for byte where
  the output is deterministic, and refuses every refusal case with the same error code.
* For every primitive and for the full flow (certificates, site key, key shares, envelopes) the
  browser produces what Python opens/verifies and the reverse.
* Tampering (ciphertext, header, signature bits; replay into another conversation; uncertified or
  wrongly-certified counsellor keys) is refused by BOTH implementations, with the same codes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from server.crypto import primitives as prim
from server.crypto.protocol import (
    CryptoError,
    KeyPairs,
    b64url_decode,
    b64url_encode,
    create_site_key,
    derive_password_keys,
    derive_recovery_keys,
    encrypt_message,
    fingerprint,
    format_recovery_code,
    generate_identity,
    issue_certificate,
    key_id,
    new_conversation_key,
    open_conversation_key,
    open_envelope,
    open_sealed,
    open_site_key,
    parse_recovery_code,
    seal,
    seal_conversation_key,
    seal_site_key,
    unwrap_identity,
    validate_envelope_shape,
    verify_certificate,
    wrap_identity,
)

pytestmark = pytest.mark.browser

VECTORS = json.loads(
    (Path(__file__).resolve().parents[1] / "vectors" / "protocol-v1.json").read_text("utf-8")
)
MODULE = "/static/src/crypto/protocol.js"
PRIMITIVES = "/static/src/crypto/primitives.js"
NOW = 1_767_225_600
JS_DIR = Path(__file__).resolve().parent / "crypto_js"


def js(name: str) -> str:
    """A function expression kept in its own .js file (readable, lintable JavaScript)."""
    return (JS_DIR / name).read_text("utf-8")


def b(data: bytes) -> str:
    return b64url_encode(data)


def u(text: str) -> bytes:
    return b64url_decode(text)


@pytest.fixture
def crypto_page(live_server: Any, page: Any) -> Any:
    page.goto(live_server.url + "/")
    assert page.evaluate("() => window.isSecureContext && !!crypto.subtle")
    return page


# --- 1. every vector ----------------------------------------------------------------------------

CHECK_VECTORS_JS = js("check_vectors.js")


def test_browser_reproduces_every_vector(crypto_page: Any) -> None:
    result = crypto_page.evaluate(CHECK_VECTORS_JS, {"modUrl": MODULE, "V": VECTORS})
    assert result["failures"] == []
    # Guard against a silently short run (e.g. an empty section): count the checks made.
    assert result["checks"] >= 190, result["checks"]


# --- 2. primitives in both directions -----------------------------------------------------------

PRIMITIVES_JS = js("primitives.js")


def test_primitives_interoperate(crypto_page: Any) -> None:
    py = generate_identity()
    js_x, js_ed = prim.random_bytes(32), prim.random_bytes(32)
    js = KeyPairs.from_private(js_x, js_ed)
    data, salt, info, aad = b"jmdchat interop \xf0\x9f\x94\x90", b"salt", b"info", b"aad"
    aes_key, nonce = prim.random_bytes(32), prim.random_bytes(12)
    from_py = {
        "data": b(data),
        "salt": b(salt),
        "info": b(info),
        "aad": b(aad),
        "aesKey": b(aes_key),
        "nonce": b(nonce),
        "aesCt": b(prim.aes_gcm_encrypt(aes_key, nonce, data, aad)),
        "jsX": b(js_x),
        "jsEd": b(js_ed),
        "pyXPub": b(py.x25519_public),
        "pyEdPub": b(py.ed25519_public),
        "pySig": b(py.sign(data)),
        "sealed": b(seal(js.x25519_public, data, aad)),
    }
    out = crypto_page.evaluate(
        PRIMITIVES_JS, {"primUrl": PRIMITIVES, "modUrl": MODULE, "fromPy": from_py}
    )
    assert u(out["sha256"]) == prim.sha256(data)
    assert u(out["hkdf"]) == prim.hkdf_sha256(data, salt=salt, info=info, length=42)
    assert u(out["pbkdf2"]) == prim.pbkdf2_sha256(data, salt, 1000)
    assert u(out["aesOpen"]) == data
    assert u(out["x25519"]) == prim.x25519_shared(py.x25519_private, js.x25519_public)
    assert out["verifyPy"] is True and out["verifyPyTampered"] is False
    assert u(out["opened"]) == data
    jsa = out["jsAes"]
    assert prim.aes_gcm_decrypt(u(jsa["key"]), u(jsa["nonce"]), u(jsa["ct"]), aad) == data
    assert prim.ed25519_verify(js.ed25519_public, u(out["jsSig"]), data)
    assert u(out["jsSig"]) == js.sign(data)  # Ed25519 is deterministic: same bytes
    assert open_sealed(py.x25519_private, u(out["jsSealed"]), aad) == data


# --- 3. accounts: password, recovery code, identity blobs -------------------------------------

REGISTER_JS = js("register.js")


def test_registration_and_login_interoperate(crypto_page: Any) -> None:
    password = "Mein Passwort für die Beratung ✓"
    py_id = generate_identity()
    py_salt = prim.random_bytes(16)
    py_pw = derive_password_keys("Pässwörd-NFC", py_salt, 2000, allow_low_iterations=True)
    py_code = prim.random_bytes(16)
    py_rk = derive_recovery_keys(py_code)
    from_py = {
        # NFD spelling in JS: must give the same keys as Python's NFC spelling
        "password": "Pa\u0308sswo\u0308rd-NFC",
        "salt": b(py_salt),
        "recoveryCode": format_recovery_code(py_code).lower(),
        "passwordBlob": b(wrap_identity(py_id, py_pw.wrap_key, "password")),
        "recoveryBlob": b(wrap_identity(py_id, py_rk.wrap_key, "recovery")),
    }
    out = crypto_page.evaluate(
        REGISTER_JS, {"modUrl": MODULE, "password": password, "fromPy": from_py}
    )
    # browser -> Python: the server-side view of a registration made in the browser
    keys = derive_password_keys(password, u(out["salt"]), 2000, allow_low_iterations=True)
    assert u(out["authKey"]) == keys.auth_key
    code = parse_recovery_code(out["recoveryCode"])
    rkeys = derive_recovery_keys(code)
    assert u(out["recoveryAuth"]) == rkeys.auth_key
    js_id = unwrap_identity(u(out["passwordBlob"]), keys.wrap_key, "password")
    assert unwrap_identity(u(out["recoveryBlob"]), rkeys.wrap_key, "recovery") == js_id
    assert (b(js_id.x25519_public), b(js_id.ed25519_public)) == (out["xPub"], out["edPub"])
    assert out["extractable"] == [False] * 5
    assert out["defaults"]["iter"] >= 600_000 and len(u(out["defaults"]["salt"])) == 16
    # Python -> browser
    fp = out["fromPy"]
    assert u(fp["pwAuth"]) == py_pw.auth_key
    assert (u(fp["x"]), u(fp["ed"]), u(fp["rx"])) == (
        py_id.x25519_public,
        py_id.ed25519_public,
        py_id.x25519_public,
    )
    assert fp["kid"] == key_id("ed25519", py_id.ed25519_public)
    assert out["wrongPassword"] == "bad_key_blob"
    assert unwrap_identity(u(out["rewrapped"]), py_pw.wrap_key, "password") == py_id


# --- 4. the full conversation flow in both directions -------------------------------------------

YOUNG_PERSON_JS = js("young_person.js")


def _world() -> dict[str, Any]:
    org_seed, org_pub = prim.ed25519_generate()
    site = create_site_key("jmd-test-site", 3)
    c1 = generate_identity()
    yp = generate_identity()
    site_cert = issue_certificate(
        org_seed,
        kind="site",
        subject=site.site_id,
        sites=[site.site_id],
        x25519_public=site.keys.x25519_public,
        ed25519_public=site.keys.ed25519_public,
        key_version=site.key_version,
        issued_at=NOW - 10,
        expires_at=NOW + 3600,
    )
    c1_cert = issue_certificate(
        org_seed,
        kind="counsellor",
        subject="counsellor-9",
        sites=["jmd-other", site.site_id],
        x25519_public=c1.x25519_public,
        ed25519_public=c1.ed25519_public,
        key_version=1,
        issued_at=NOW - 10,
        expires_at=NOW + 3600,
    )
    return {
        "org_seed": org_seed,
        "org_pub": org_pub,
        "site": site,
        "c1": c1,
        "yp": yp,
        "site_cert": site_cert,
        "c1_cert": c1_cert,
    }


def test_full_conversation_flow_both_directions(crypto_page: Any) -> None:
    w = _world()
    conv, yp_id, c1_id = "conv-interop-1", "yp-interop", "counsellor-9"
    c1: KeyPairs = w["c1"]
    yp: KeyPairs = w["yp"]
    site = w["site"]
    # The counsellor (Python) has joined: epoch 2 key sealed to the young person, and a reply.
    k2 = new_conversation_key()
    reply_share = seal_conversation_key(
        conversation_id=conv,
        epoch=2,
        key=k2,
        recipient_x25519_public=yp.x25519_public,
        sender_id=c1_id,
        signer=c1,
    )
    reply = encrypt_message(
        conversation_id=conv,
        epoch=2,
        epoch_key=k2,
        sender_id=c1_id,
        signer=c1,
        message={"type": "text", "body": "Hallo, ich bin für dich da.", "sent_at": 1},
    )
    body = "Ich habe Angst wegen meiner Duldung. Was soll ich tun? 😟"
    args = {
        "orgPublic": b(w["org_pub"]),
        "now": NOW,
        "siteId": site.site_id,
        "siteCert": w["site_cert"],
        "c1Cert": w["c1_cert"],
        "c1Id": c1_id,
        "ypId": yp_id,
        "ypX": b(yp.x25519_private),
        "ypEd": b(yp.ed25519_private),
        "conv": conv,
        "body": body,
        "replyShare": reply_share,
        "reply": reply,
    }
    out = crypto_page.evaluate(YOUNG_PERSON_JS, {"modUrl": MODULE, "args": args})
    assert out["reply"]["body"] == "Hallo, ich bin für dich da." and out["k2epoch"] == 2
    assert out["mine"] == body and out["replySender"] == c1_id

    # Python side: the counsellor opens the site key (sealed by the admin), then the browser's
    # key shares, then the browser's message, both via the site key and via the own key.
    def resolve(account: str, skid: str) -> bytes | None:
        if account == yp_id and skid == yp.ed25519_key_id:
            return yp.ed25519_public
        return None

    site_cert = verify_certificate(w["site_cert"], w["org_pub"], NOW, kind="site")
    site_keys = open_site_key(seal_site_key(site, c1.x25519_public), c1.x25519_private, site_cert)
    via_site = open_conversation_key(
        out["shares"][0],
        conversation_id=conv,
        recipient_x25519_private=site_keys.keys.x25519_private,
        resolve_signing_key=resolve,
    )
    via_c1 = open_conversation_key(
        out["shares"][1],
        conversation_id=conv,
        recipient_x25519_private=c1.x25519_private,
        resolve_signing_key=resolve,
    )
    assert via_site.key == via_c1.key and via_site.epoch == 1
    opened = open_envelope(
        out["envelope"],
        conversation_id=conv,
        epoch_keys={1: via_c1.key},
        resolve_signing_key=resolve,
    )
    assert opened.message["body"] == body and opened.message["type"] == "text"
    assert len(u(out["envelope"]["ct"])) == 256 + 16  # padded to one 256-byte block


# --- 5. tampering, refused by both ---------------------------------------------------------------

BROWSER_OPEN_JS = js("open_envelopes.js")

BROWSER_ENCRYPT_JS = js("encrypt_message.js")


def _flip(text: str, index: int) -> str:
    raw = bytearray(u(text))
    raw[index] ^= 0x80
    return b(bytes(raw))


def test_tampering_refused_by_both(crypto_page: Any) -> None:
    yp = generate_identity()
    key = new_conversation_key()
    conv = "conv-tamper"
    env = crypto_page.evaluate(
        BROWSER_ENCRYPT_JS,
        {
            "modUrl": MODULE,
            "args": {
                "x": b(yp.x25519_private),
                "ed": b(yp.ed25519_private),
                "key": b(key),
                "conv": conv,
                "sender": "yp-1",
                "body": "geheim",
            },
        },
    )
    # Re-signed header change: signature valid, AAD mismatch -> bad_ciphertext in both.
    parsed = validate_envelope_shape(env)
    moved = replace(parsed, mid="11111111-2222-4333-8444-555555555555")
    resigned = dict(moved.to_json(), sig=b(yp.sign(moved.signed_bytes())))
    cases = [
        ("untouched", env, conv, "ok:geheim"),
        ("ct bit", dict(env, ct=_flip(env["ct"], 0)), conv, "bad_signature"),
        (
            "last ct bit",
            dict(env, ct=_flip(env["ct"], len(u(env["ct"])) - 1)),
            conv,
            "bad_signature",
        ),
        ("nonce bit", dict(env, nonce=_flip(env["nonce"], 11)), conv, "bad_signature"),
        ("sig bit", dict(env, sig=_flip(env["sig"], 63)), conv, "bad_signature"),
        (
            "header mid",
            dict(env, mid="11111111-2222-4333-8444-555555555555"),
            conv,
            "bad_signature",
        ),
        ("header epoch", dict(env, epoch=2), conv, "bad_signature"),
        ("header sender", dict(env, sender="yp-2"), conv, "unknown_sender"),
        ("re-signed header", resigned, conv, "bad_ciphertext"),
        ("replay into another conversation", env, "conv-other", "wrong_conversation"),
        ("conv rewritten", dict(env, conv="conv-other"), "conv-other", "bad_signature"),
        ("epoch without key", dict(env, epoch=9), conv, "unknown_epoch"),
        ("not an envelope", {**env, "plaintext": "hallo"}, conv, "malformed_envelope"),
    ]
    trusted = [("yp-1", b(yp.ed25519_public)), ("yp-2", b(generate_identity().ed25519_public))]
    browser = crypto_page.evaluate(
        BROWSER_OPEN_JS,
        {
            "modUrl": MODULE,
            "cases": [{"envelope": e, "conv": c} for _, e, c, _ in cases],
            "epochKeys": {"1": b(key), "2": b(key)},
            "trusted": trusted,
        },
    )

    def resolve(account: str, skid: str) -> bytes | None:
        for acc, pub in trusted:
            if acc == account and key_id("ed25519", u(pub)) == skid:
                return u(pub)
        return None

    for (name, envelope, conversation, expected), got_js in zip(cases, browser, strict=True):
        try:
            opened = open_envelope(
                envelope,
                conversation_id=conversation,
                epoch_keys={1: key, 2: key},
                resolve_signing_key=resolve,
            )
            got_py = "ok:" + opened.message["body"]
        except CryptoError as exc:
            got_py = exc.code
        assert (name, got_py, got_js) == (name, expected, expected)


CERT_JS = js("verify_certificates.js")


def test_uncertified_or_wrongly_certified_counsellor_refused_by_both(crypto_page: Any) -> None:
    w = _world()
    c1 = w["c1"]
    rogue_org_seed, _ = prim.ed25519_generate()
    server_key = generate_identity()  # a key the (compromised) server would like us to use

    def cert(seed: bytes, **changes: Any) -> dict[str, object]:
        fields: dict[str, Any] = {
            "kind": "counsellor",
            "subject": "counsellor-9",
            "sites": ["jmd-test-site"],
            "x25519_public": c1.x25519_public,
            "ed25519_public": c1.ed25519_public,
            "key_version": 1,
            "issued_at": NOW - 10,
            "expires_at": NOW + 3600,
        }
        fields.update(changes)
        return issue_certificate(seed, **fields)

    good = cert(w["org_seed"])
    expect = {"kind": "counsellor", "siteId": "jmd-test-site"}
    cases = [
        ("valid", good, expect, "ok"),
        (
            "signed by another organisation",
            cert(rogue_org_seed),
            expect,
            "certificate_wrong_issuer",
        ),
        (
            "server swapped the key",
            dict(good, x25519=b(server_key.x25519_public)),
            expect,
            "certificate_bad_signature",
        ),
        (
            "server swapped the signing key",
            dict(good, ed25519=b(server_key.ed25519_public)),
            expect,
            "certificate_bad_signature",
        ),
        (
            "other site",
            cert(w["org_seed"], sites=["jmd-elsewhere"]),
            expect,
            "certificate_wrong_subject",
        ),
        (
            "expired",
            cert(w["org_seed"], issued_at=NOW - 7200, expires_at=NOW - 1),
            expect,
            "certificate_expired",
        ),
        ("site cert offered as counsellor", w["site_cert"], expect, "certificate_wrong_kind"),
        (
            "no certificate at all",
            {"x25519": b(server_key.x25519_public)},
            expect,
            "bad_certificate",
        ),
    ]
    browser = crypto_page.evaluate(
        CERT_JS,
        {
            "modUrl": MODULE,
            "org": b(w["org_pub"]),
            "now": NOW,
            "cases": [{"cert": c, "expect": e} for _, c, e, _ in cases],
        },
    )
    for (name, certificate, _, expected), got_js in zip(cases, browser, strict=True):
        try:
            verify_certificate(
                certificate, w["org_pub"], NOW, kind="counsellor", site_id="jmd-test-site"
            )
            got_py = "ok"
        except CryptoError as exc:
            got_py = exc.code
        assert (name, got_py, got_js) == (name, expected, expected)


def test_fingerprints_match_for_humans(crypto_page: Any) -> None:
    """What a counsellor compares aloud must be identical in both implementations."""
    keys = [generate_identity() for _ in range(5)]
    got = crypto_page.evaluate(
        """async ({ modUrl, keys }) => {
          const m = await import(modUrl);
          return Promise.all(keys.map(([x, e]) =>
            m.fingerprint(m.b64urlDecode(x), m.b64urlDecode(e))));
        }""",
        {"modUrl": MODULE, "keys": [[b(k.x25519_public), b(k.ed25519_public)] for k in keys]},
    )
    assert got == [fingerprint(k.x25519_public, k.ed25519_public) for k in keys]
