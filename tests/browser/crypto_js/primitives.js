// Evaluated in the page by tests/browser/test_crypto_interop.py (page.evaluate).
(async ({ primUrl, modUrl, fromPy }) => {
  const p = await import(primUrl);
  const m = await import(modUrl);
  const u = (s) => m.b64urlDecode(s);
  const b = (x) => m.b64urlEncode(x);
  const out = {};
  // Python -> browser
  out.sha256 = b(await p.sha256(u(fromPy.data)));
  out.hkdf = b(await p.hkdfSha256(u(fromPy.data), u(fromPy.salt), u(fromPy.info), 42));
  out.pbkdf2 = b(await p.pbkdf2Sha256(u(fromPy.data), u(fromPy.salt), 1000));
  out.aesOpen = b(await p.aesGcmDecrypt(u(fromPy.aesKey), u(fromPy.nonce), u(fromPy.aesCt), u(fromPy.aad)));
  const me = await m.importKeyPairs(u(fromPy.jsX), u(fromPy.jsEd));
  out.x25519 = b(await p.x25519(me.x25519.privateKey, u(fromPy.pyXPub)));
  out.verifyPy = await p.ed25519Verify(u(fromPy.pyEdPub), u(fromPy.pySig), u(fromPy.data));
  out.verifyPyTampered = await p.ed25519Verify(u(fromPy.pyEdPub), u(fromPy.pySig), u(fromPy.aad));
  out.opened = b(await m.openSealed(me.x25519, u(fromPy.sealed), u(fromPy.aad)));
  // browser -> Python
  const nonce = p.randomBytes(12);
  const key = p.randomBytes(32);
  out.jsAes = { key: b(key), nonce: b(nonce),
    ct: b(await p.aesGcmEncrypt(key, nonce, u(fromPy.data), u(fromPy.aad))) };
  out.jsSig = b(await p.ed25519Sign(me.ed25519.privateKey, u(fromPy.data)));
  out.jsSealed = b(await m.seal(u(fromPy.pyXPub), u(fromPy.data), u(fromPy.aad)));
  return out;
})
