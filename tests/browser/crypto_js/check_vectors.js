// Evaluated in the page by tests/browser/test_crypto_interop.py (page.evaluate).
(async ({ modUrl, V }) => {
  const m = await import(modUrl);
  const failures = [];
  let checks = 0;
  const hex = (x) => Array.from(x, (v) => v.toString(16).padStart(2, "0")).join("");
  const unhex = (h) => Uint8Array.from((h.match(/../g) || []).map((x) => parseInt(x, 16)));
  const u = (s) => m.b64urlDecode(s);
  const b = (x) => m.b64urlEncode(x);
  const enc = new TextEncoder();
  const fixed = async (name, n = 32) => new Uint8Array(
    await crypto.subtle.digest("SHA-256", enc.encode("jmdchat/v1 test vector " + name))).slice(0, n);
  const eq = (name, got, want) => {
    checks++;
    if (got !== want) failures.push(`${name}: got ${got} want ${want}`);
  };
  const code = async (name, fn, want) => {
    checks++;
    try { await fn(); failures.push(`${name}: accepted, want ${want}`); }
    catch (e) { if (e.code !== want) failures.push(`${name}: ${e.code} (${e.message}) want ${want}`); }
  };
  const attempt = async (name, fn) => {
    try { await fn(); } catch (e) { failures.push(`${name}: threw ${e.code} ${e.message}`); }
  };

  // encoding
  for (const c of V.encoding.b64url_valid) {
    eq(`b64 enc ${c.hex}`, b(unhex(c.hex)), c.b64url);
    eq(`b64 dec ${c.b64url}`, hex(u(c.b64url)), c.hex);
  }
  for (const t of V.encoding.b64url_invalid) await code(`b64 ${JSON.stringify(t)}`, () => u(t), "invalid_input");
  for (const s of V.encoding.structs) {
    const fields = s.fields.map((f) => ("bytes" in f ? u(f.bytes) : Object.values(f)[0]));
    eq(`struct ${s.hex.slice(0, 40)}`, hex(m.encodeStruct(s.label, ...fields)), s.hex);
  }

  // identities
  const ids = {};
  for (const e of V.identities) {
    const k = await m.importKeyPairs(u(e.x25519_private), u(e.ed25519_seed));
    ids[e.name] = k;
    eq(`${e.name} x pub`, b(k.x25519.publicKey), e.x25519_public);
    eq(`${e.name} ed pub`, b(k.ed25519.publicKey), e.ed25519_public);
    eq(`${e.name} x kid`, k.x25519KeyId, e.x25519_key_id);
    eq(`${e.name} ed kid`, await m.keyId("ed25519", k.ed25519.publicKey), e.ed25519_key_id);
    eq(`${e.name} fpr`, await m.fingerprint(k.x25519.publicKey, k.ed25519.publicKey), e.fingerprint);
    eq(`${e.name} non-extractable`, k.x25519.privateKey.extractable || k.ed25519.privateKey.extractable, false);
  }
  const site = V.site_key.site;
  ids.site = await m.importKeyPairs(u(site.x25519_private), u(site.ed25519_seed));
  const secretsOf = (name) => {
    const e = name === "site" ? site : V.identities.find((i) => i.name === name);
    return { x25519Private: u(e.x25519_private), ed25519Seed: u(e.ed25519_seed) };
  };

  // password keys: authKey byte-equal; wrapKey (non-extractable) proven equal by wrapping the
  // same secrets with the same nonce under the vector's raw wrap key.
  const probeNonce = await fixed("probe", 12);
  const sameKey = async (name, cryptoKey, rawB64) => {
    const raw = await crypto.subtle.importKey("raw", u(rawB64), "AES-GCM", false, ["encrypt"]);
    const a = await m.wrapSecretsWithNonce(secretsOf("yp"), cryptoKey, "password", probeNonce);
    const c = await m.wrapSecretsWithNonce(secretsOf("yp"), raw, "password", probeNonce);
    eq(name, b(a), b(c));
    eq(`${name} non-extractable`, cryptoKey.extractable, false);
  };
  const pwKeys = [];
  for (const c of V.password) {
    const k = await m.derivePasswordKeys(c.password, u(c.salt), c.iterations, { allowLowIterations: true });
    pwKeys.push(k);
    eq(`pw auth ${c.password} ${c.iterations}`, b(k.authKey), c.auth_key);
    await sameKey(`pw wrap ${c.password} ${c.iterations}`, k.wrapKey, c.wrap_key);
  }
  for (const c of V.password_refused) {
    await code(`pw refused ${c.iterations}`, () => m.derivePasswordKeys(c.password, u(c.salt), c.iterations), c.error);
  }
  await code("pw low iterations without flag",
    () => m.derivePasswordKeys(V.password[0].password, u(V.password[0].salt), 1000), "weak_kdf_params");

  // recovery code
  const R = V.recovery;
  eq("recovery format", await m.formatRecoveryCode(u(R.code)), R.formatted);
  for (const t of R.parse_ok) {
    await attempt(`recovery parse ${t}`, async () => eq(`recovery parse ${t}`, b(await m.parseRecoveryCode(t)), R.code));
  }
  for (const t of R.parse_bad) await code(`recovery bad ${t}`, () => m.parseRecoveryCode(t), "bad_recovery_code");
  for (const c of R.more) eq(`recovery more ${c.formatted}`, await m.formatRecoveryCode(u(c.code)), c.formatted);
  const rk = await m.deriveRecoveryKeys(u(R.code));
  eq("recovery auth", b(rk.authKey), R.auth_key);
  await sameKey("recovery wrap", rk.wrapKey, R.wrap_key);

  // key blobs
  const blobKeys = { password: pwKeys[0].wrapKey, recovery: rk.wrapKey };
  for (const c of V.key_blobs) {
    const key = blobKeys[c.purpose];
    eq(`blob ${c.purpose}`, b(await m.wrapSecretsWithNonce(secretsOf(c.identity), key, c.purpose, u(c.nonce))), c.blob);
    await attempt(`unwrap ${c.purpose}`, async () => {
      const idn = await m.unwrapIdentity(u(c.blob), key, c.purpose);
      eq(`unwrap ${c.purpose} ed`, b(idn.ed25519.publicKey), b(ids[c.identity].ed25519.publicKey));
      eq(`unwrap ${c.purpose} x`, b(idn.x25519.publicKey), b(ids[c.identity].x25519.publicKey));
    });
    const other = c.purpose === "password" ? "recovery" : "password";
    await code(`blob wrong purpose ${c.purpose}`, () => m.unwrapIdentity(u(c.blob), key, other), "bad_key_blob");
  }

  // sealed boxes
  for (const [i, c] of V.seal.entries()) {
    const r = ids[c.recipient];
    eq(`seal ${i}`, b(await m.sealWith(r.x25519.publicKey, u(c.plaintext), u(c.aad), u(c.eph_private), u(c.nonce))), c.sealed);
    await attempt(`open seal ${i}`, async () => eq(`open seal ${i}`, b(await m.openSealed(r.x25519, u(c.sealed), u(c.aad))), c.plaintext));
  }

  // certificates
  const C = V.certificates;
  const org = u(C.org_public);
  eq("cert signed bytes", hex(m.certificateSignedBytes(m.parseCertificate(C.signed_bytes.cert))), C.signed_bytes.hex);
  for (const c of C.cases) {
    const run = () => m.verifyCertificate(c.cert, org, c.now, { kind: c.kind, subject: c.subject, siteId: c.site_id });
    if (c.result === "ok") await attempt(`cert ${c.name}`, async () => { await run(); checks++; });
    else await code(`cert ${c.name}`, run, c.result);
  }

  // site key
  const S = V.site_key;
  const siteSecret = { siteId: S.site_id, keyVersion: S.key_version, ...secretsOf("site") };
  eq("site box", b(await m.sealSiteKeyWith(siteSecret, ids[S.member].x25519.publicKey, u(S.eph_private), u(S.nonce))), S.box);
  eq("site aad", hex(m.siteKeyBoxAad(S.site_id, S.key_version)), S.aad_hex);
  const siteCert = await m.verifyCertificate(C.site_cert, org, V.now, { kind: "site", subject: S.site_id });
  await attempt("open site key", async () => {
    const opened = await m.openSiteKey(u(S.box), ids[S.member], siteCert);
    eq("site opened x", b(opened.keys.x25519.publicKey), site.x25519_public);
    eq("site opened version", opened.keyVersion, S.key_version);
  });
  await code("rogue site key", () => m.openSiteKey(u(S.rogue_box), ids[S.member], siteCert), "site_key_mismatch");
  await code("site key wrong member", () => m.openSiteKey(u(S.box), ids.c2, siteCert), "bad_ciphertext");

  // key shares
  const resolverFor = (trusted) => async (account, skid) => {
    for (const t of trusted) {
      const pub = u(t.ed25519_public);
      if (t.account === account && (await m.keyId("ed25519", pub)) === skid) return pub;
    }
    return null;
  };
  const K = V.key_shares;
  const probe = async (key) => b(new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: probeNonce }, key instanceof CryptoKey ? key
      : await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]), new Uint8Array(16))));
  for (const c of K.cases) {
    const run = () => m.openConversationKey(c.share, {
      conversationId: c.conversation_id, recipient: ids[c.recipient], resolveSigningKey: resolverFor(K.trusted_signers) });
    if (c.result === "ok") {
      await attempt(`share ${c.name}`, async () => {
        const opened = await run();
        eq(`share ${c.name} epoch`, opened.epoch, c.epoch);
        eq(`share ${c.name} key`, await probe(opened.key), await probe(u(K.epoch_keys[String(c.epoch)])));
        eq(`share ${c.name} non-extractable`, opened.key.extractable, false);
      });
    } else await code(`share ${c.name}`, run, c.result);
  }
  const share = K.cases[1].share;
  const again = await m.sealConversationKeyWith({
    conversationId: K.conv, epoch: 1, key: u(K.epoch_keys["1"]), recipientX25519Public: ids.c1.x25519.publicKey,
    senderId: share.from, signer: ids.yp, ephPrivate: await fixed("share-eph-c1"), nonce: await fixed("share-nonce-c1", 12) });
  eq("share reproduced", JSON.stringify(again), JSON.stringify(share));

  // padding
  for (const [n, len] of V.padding.lengths) {
    const p = m.pad(new Uint8Array(n).fill(97));
    eq(`pad ${n}`, p.length, len);
    eq(`unpad ${n}`, m.unpad(p).length, n);
  }
  await code("pad too long", () => m.pad(new Uint8Array(V.padding.too_long)), "invalid_input");
  for (const x of V.padding.bad_unpad) await code(`unpad ${x.slice(0, 8)}`, () => m.unpad(u(x)), "bad_plaintext");

  // envelopes
  const E = V.envelopes;
  const epochKeys = new Map(Object.entries(E.epoch_keys).map(([k, v]) => [Number(k), u(v)]));
  for (const c of E.valid) {
    const env = c.envelope;
    const made = await m.encryptEnvelopeWith({
      conversationId: env.conv, epoch: env.epoch, epochKey: u(c.epoch_key), senderId: env.sender,
      signer: ids[c.sender_identity], plaintext: u(c.plaintext), mid: env.mid, nonce: u(c.nonce) });
    eq(`envelope ${env.mid}`, JSON.stringify(made), JSON.stringify(env));
    await attempt(`open ${env.mid}`, async () => {
      const opened = await m.openEnvelope(env, { conversationId: E.conv, epochKeys, resolveSigningKey: resolverFor(E.trusted_signers) });
      eq(`open ${env.mid}`, JSON.stringify(opened.message), JSON.stringify(JSON.parse(new TextDecoder().decode(u(c.plaintext)))));
    });
    if (c.header_hex) {
      const parsed = m.validateEnvelopeShape(env);
      eq("header bytes", hex(m.messageHeader(parsed.conv, parsed.epoch, parsed.mid, parsed.sender, parsed.skid)), c.header_hex);
      eq("signed bytes", hex(m.messageSignedBytes(parsed)), c.signed_hex);
    }
  }
  for (const c of E.refused) {
    await code(`envelope ${c.name}`, () => m.openEnvelope(c.envelope, {
      conversationId: c.conversation_id, epochKeys, resolveSigningKey: resolverFor(E.trusted_signers) }), c.result);
  }
  return { checks, failures };
})
