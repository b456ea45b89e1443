// Evaluated in the page by tests/browser/test_crypto_interop.py (page.evaluate).
(async ({ modUrl, password, fromPy }) => {
  const m = await import(modUrl);
  const u = (s) => m.b64urlDecode(s);
  const b = (x) => m.b64urlEncode(x);
  // Registration in the browser (with a low iteration count through the explicit test flag).
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const pw = await m.derivePasswordKeys(password, salt, 2000, { allowLowIterations: true });
  const rc = await m.generateRecoveryCode();
  const rk = await m.deriveRecoveryKeys(await m.parseRecoveryCode(rc.formatted));
  const { identity, passwordBlob, recoveryBlob } = await m.createIdentity(pw.wrapKey, rk.wrapKey);
  const defaults = m.newKdfParams();
  // Python -> browser: open Python's blobs with keys derived here.
  const pyPw = await m.derivePasswordKeys(fromPy.password, u(fromPy.salt), 2000, { allowLowIterations: true });
  const pyRk = await m.deriveRecoveryKeys(await m.parseRecoveryCode(fromPy.recoveryCode));
  const a = await m.unwrapIdentity(u(fromPy.passwordBlob), pyPw.wrapKey, "password");
  const r = await m.unwrapIdentity(u(fromPy.recoveryBlob), pyRk.wrapKey, "recovery");
  let wrongPassword = null;
  const bad = await m.derivePasswordKeys(fromPy.password + "!", u(fromPy.salt), 2000, { allowLowIterations: true });
  try { await m.unwrapIdentity(u(fromPy.passwordBlob), bad.wrapKey, "password"); } catch (e) { wrongPassword = e.code; }
  const rewrapped = await m.rewrapIdentity(u(fromPy.recoveryBlob), pyRk.wrapKey, "recovery", pyPw.wrapKey, "password");
  return {
    salt: b(salt), authKey: b(pw.authKey), recoveryCode: rc.formatted, recoveryAuth: b(rk.authKey),
    passwordBlob: b(passwordBlob), recoveryBlob: b(recoveryBlob), rewrapped: b(rewrapped),
    xPub: b(identity.x25519.publicKey), edPub: b(identity.ed25519.publicKey),
    extractable: [identity.x25519.privateKey.extractable, identity.ed25519.privateKey.extractable,
      pw.wrapKey.extractable, rk.wrapKey.extractable, a.x25519.privateKey.extractable],
    defaults,
    fromPy: { pwAuth: b(pyPw.authKey), x: b(a.x25519.publicKey), ed: b(a.ed25519.publicKey),
      rx: b(r.x25519.publicKey), kid: a.ed25519KeyId },
    wrongPassword,
  };
})
