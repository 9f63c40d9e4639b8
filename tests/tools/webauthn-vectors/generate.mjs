// Test tooling only (never part of sluis): records WebAuthn ceremonies for the console's C++
// verifier (console/src/webauthn*.cpp) and cross-checks every one with an independent relying
// party, @simplewebauthn/server.
//
// node:crypto plays the authenticator and the browser: it builds clientDataJSON, authenticator
// data and attestation objects (with its own small CBOR encoder below, not the one
// @simplewebauthn uses) and signs with fixed ES256 and Ed25519 keys. Each ceremony, correct or
// deliberately broken, is then verified by @simplewebauthn/server, and the vector records both
// what the C++ verifier must answer (`expect`) and what @simplewebauthn answered
// (`simplewebauthn`). Where the two relying parties disagree by design (checks sluis makes and
// @simplewebauthn does not), the vector says why in `difference`; any other disagreement stops
// the generator.
//
// Usage: npm ci && node generate.mjs ../../vectors/webauthn
// Output: registration.vec and assertion.vec (format: tests/support/vectors.hpp). ES256
// signatures use a random nonce, so a new run rewrites those bytes; the verdicts stay the same.
import { createECDH, createHash, createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { verifyAuthenticationResponse, verifyRegistrationResponse } from '@simplewebauthn/server';

const outDir = process.argv[2];
if (!outDir) {
  console.error('usage: node generate.mjs OUTPUT_DIRECTORY');
  process.exit(2);
}

const RP_ID = 'console.sluis.test';
const ORIGIN = 'https://console.sluis.test';

// ---- a minimal CBOR encoder (RFC 8949 §3), definite lengths, shortest heads -------------------
function head(major, n) {
  const m = major << 5;
  if (n < 24) return Buffer.from([m | n]);
  if (n < 0x100) return Buffer.from([m | 24, n]);
  if (n < 0x10000) return Buffer.from([m | 25, n >> 8, n & 0xff]);
  if (n < 0x100000000) {
    const b = Buffer.alloc(5);
    b[0] = m | 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  throw new Error('length too large for this encoder');
}
function cbor(v) {
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([head(3, b.length), b]);
  }
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.concat([head(2, v.length), Buffer.from(v)]);
  if (Array.isArray(v)) return Buffer.concat([head(4, v.length), ...v.map(cbor)]);
  if (v instanceof Map) {
    const parts = [head(5, v.size)];
    for (const [k, x] of v) parts.push(cbor(k), cbor(x));
    return Buffer.concat(parts);
  }
  throw new Error('cannot encode ' + typeof v);
}
// A map from a list of [key, value] pairs, so that duplicate keys can be written on purpose.
function cborPairs(pairs) {
  return Buffer.concat([head(5, pairs.length), ...pairs.flatMap(([k, x]) => [cbor(k), cbor(x)])]);
}

const b64url = (b) => Buffer.from(b).toString('base64url');
const sha256 = (b) => createHash('sha256').update(b).digest();
const hex = (b) => Buffer.from(b).toString('hex');

// ---- fixed authenticator keys ------------------------------------------------------------------
function es256Key(scalarHex) {
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(scalarHex, 'hex'));
  const pub = ecdh.getPublicKey();  // 0x04 || x || y
  const x = pub.subarray(1, 33), y = pub.subarray(33, 65);
  const priv = createPrivateKey({
    key: { kty: 'EC', crv: 'P-256', d: b64url(Buffer.from(scalarHex, 'hex')), x: b64url(x), y: b64url(y) },
    format: 'jwk',
  });
  return {
    alg: -7,
    cose: cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, x], [-3, y]])),
    x, y,
    sign: (data) => sign('sha256', data, { key: priv, dsaEncoding: 'der' }),
  };
}
function ed25519Key(seedHex) {
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(seedHex, 'hex')]);
  const priv = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
  const x = Buffer.from(createPublicKey(priv).export({ format: 'jwk' }).x, 'base64url');
  return {
    alg: -8,
    cose: cbor(new Map([[1, 1], [3, -8], [-1, 6], [-2, x]])),
    x,
    sign: (data) => sign(null, data, priv),
  };
}
// An ES384 key: a valid COSE key of an algorithm the console does not accept.
function es384Cose() {
  const ecdh = createECDH('secp384r1');
  ecdh.setPrivateKey(Buffer.from('11'.repeat(48), 'hex'));
  const pub = ecdh.getPublicKey();
  return cbor(new Map([[1, 2], [3, -35], [-1, 2], [-2, pub.subarray(1, 49)], [-3, pub.subarray(49, 97)]]));
}

const keys = {
  es256: es256Key('c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721'),
  eddsa: ed25519Key('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'),
};
const otherKeys = {
  es256: es256Key('0f56db78ca460b055c500064824bed999a25aaf48ebb519ac201537b85479813'),
  eddsa: ed25519Key('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'),
};

// ---- ceremony builders ---------------------------------------------------------------------------
const FLAG_UP = 0x01, FLAG_UV = 0x04, FLAG_AT = 0x40, FLAG_ED = 0x80;

function authData({ rpId = RP_ID, flags, counter = 0, credId, coseKey, extensions }) {
  const c = Buffer.alloc(4);
  c.writeUInt32BE(counter, 0);
  const parts = [sha256(rpId), Buffer.from([flags]), c];
  if (credId) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(credId.length, 0);
    parts.push(Buffer.alloc(16), len, credId, coseKey);
  }
  if (extensions) parts.push(extensions);
  return Buffer.concat(parts);
}

function clientData({ type, challenge, origin = ORIGIN, crossOrigin = false, raw }) {
  if (raw !== undefined) return Buffer.from(raw, 'utf8');
  // Members in the order browsers write them (WebAuthn L2 §5.8.1.1).
  return Buffer.from(JSON.stringify({ type, challenge: b64url(challenge), origin, crossOrigin }), 'utf8');
}

function challengeFor(name) {
  return sha256('sluis console test challenge: ' + name).subarray(0, 32);
}

// ---- registration ----------------------------------------------------------------------------------
async function registration(name, alg, opts = {}) {
  const key = keys[alg];
  const challenge = challengeFor(name);
  const credId = opts.credId ?? sha256('credential ' + alg).subarray(0, 16);
  const coseKey = opts.coseKey ?? key.cose;
  const cdj = clientData({ type: opts.type ?? 'webauthn.create', challenge: opts.clientChallenge ?? challenge,
    origin: opts.origin, crossOrigin: opts.crossOrigin, raw: opts.rawClientData });
  const ad = opts.authData ?? authData({
    rpId: opts.rpId, flags: opts.flags ?? (FLAG_UP | FLAG_UV | FLAG_AT), counter: opts.counter ?? 0,
    credId: opts.noCredential ? undefined : credId, coseKey, extensions: opts.extensions,
  });
  let att = opts.attestationObject ?? cbor(new Map([
    ['fmt', opts.fmt ?? 'none'], ['attStmt', opts.attStmt ?? new Map()], ['authData', ad]]));
  if (opts.mutateAttestation) att = opts.mutateAttestation(att, ad);
  const rawId = opts.rawId ?? credId;

  let swa;
  try {
    const r = await verifyRegistrationResponse({
      response: {
        id: b64url(rawId), rawId: b64url(rawId), type: 'public-key',
        response: { clientDataJSON: b64url(cdj), attestationObject: b64url(att), transports: ['internal'] },
        clientExtensionResults: {},
      },
      expectedChallenge: b64url(challenge), expectedOrigin: ORIGIN, expectedRPID: RP_ID,
      requireUserVerification: true, supportedAlgorithmIDs: [-7, -8],
    });
    swa = r.verified ? 'ok' : 'refused (verified: false)';
  } catch (e) {
    swa = 'refused (' + String(e.message).replace(/\s+/g, ' ').slice(0, 100) + ')';
  }
  return {
    name: 'registration ' + alg + ': ' + name, type: 'registration', rp_id: RP_ID, origin: ORIGIN,
    challenge: hex(challenge), credential_id: hex(rawId), client_data_json: hex(cdj),
    attestation_object: hex(att), expect: opts.expect ?? 'ok',
    ...(opts.expect === undefined || opts.expect === 'ok'
      ? { alg: String(key.alg), sign_count: String(opts.counter ?? 0), cose_key: hex(coseKey) } : {}),
    simplewebauthn: swa, difference: opts.difference,
  };
}

// ---- assertion ----------------------------------------------------------------------------------------
async function assertion(name, alg, opts = {}) {
  const key = keys[alg];
  const challenge = challengeFor(name);
  const credId = sha256('credential ' + alg).subarray(0, 16);
  const cdj = clientData({ type: opts.type ?? 'webauthn.get', challenge: opts.clientChallenge ?? challenge,
    origin: opts.origin, crossOrigin: opts.crossOrigin, raw: opts.rawClientData });
  const ad = opts.authData ?? authData({ rpId: opts.rpId, flags: opts.flags ?? (FLAG_UP | FLAG_UV),
    counter: opts.counter ?? 0, extensions: opts.extensions,
    credId: opts.withCredential ? credId : undefined, coseKey: key.cose });
  const signer = opts.signer ?? key;
  let sig = signer.sign(Buffer.concat([ad, sha256(cdj)]));
  if (opts.mutateSignature) sig = opts.mutateSignature(Buffer.from(sig));
  const storedKey = opts.storedKey ?? key.cose;
  const storedCount = opts.storedCount ?? 0;
  const rawId = opts.rawId ?? credId;

  let swa;
  try {
    const r = await verifyAuthenticationResponse({
      response: {
        id: b64url(rawId), rawId: b64url(rawId), type: 'public-key',
        response: { clientDataJSON: b64url(cdj), authenticatorData: b64url(ad), signature: b64url(sig) },
        clientExtensionResults: {},
      },
      expectedChallenge: b64url(challenge), expectedOrigin: ORIGIN, expectedRPID: RP_ID,
      credential: { id: b64url(credId), publicKey: new Uint8Array(storedKey), counter: storedCount },
      requireUserVerification: true,
    });
    swa = r.verified ? 'ok' : 'refused (verified: false)';
  } catch (e) {
    swa = 'refused (' + String(e.message).replace(/\s+/g, ' ').slice(0, 100) + ')';
  }
  return {
    name: 'assertion ' + alg + ': ' + name, type: 'assertion', rp_id: RP_ID, origin: ORIGIN,
    challenge: hex(challenge), stored_credential_id: hex(credId), stored_cose_key: hex(storedKey),
    stored_sign_count: String(storedCount), credential_id: hex(rawId), client_data_json: hex(cdj),
    authenticator_data: hex(ad), signature: hex(sig), expect: opts.expect ?? 'ok',
    ...((opts.expect ?? 'ok') === 'ok' ? { sign_count: String(opts.counter ?? 0) } : {}),
    simplewebauthn: swa, difference: opts.difference,
  };
}

// An off-curve P-256 point: y + 1 (mod nothing: a 32-byte value that no longer solves the curve).
function offCurveCose() {
  const y = Buffer.from(keys.es256.y);
  y[31] ^= 0x01;
  return cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, keys.es256.x], [-3, y]]));
}

async function registrations() {
  const out = [];
  for (const alg of ['es256', 'eddsa']) {
    out.push(await registration('valid', alg));
    out.push(await registration('valid with counter', alg, { counter: 7 }));
    out.push(await registration('wrong origin', alg, { origin: 'https://console.sluis.test.evil.example', expect: 'origin_mismatch' }));
    out.push(await registration('origin with another port', alg, { origin: 'https://console.sluis.test:8443', expect: 'origin_mismatch' }));
    out.push(await registration('wrong challenge', alg, { clientChallenge: challengeFor('another ceremony'), expect: 'challenge_mismatch' }));
    out.push(await registration('wrong rp id', alg, { rpId: 'sluis.test', expect: 'rp_id_mismatch' }));
    out.push(await registration('wrong type', alg, { type: 'webauthn.get', expect: 'wrong_type' }));
    out.push(await registration('user presence missing', alg, { flags: FLAG_UV | FLAG_AT, expect: 'user_not_present' }));
    out.push(await registration('user verification missing', alg, { flags: FLAG_UP | FLAG_AT, expect: 'user_not_verified' }));
    out.push(await registration('no attested credential data', alg, { flags: FLAG_UP | FLAG_UV, noCredential: true, expect: 'missing_credential_data' }));
    out.push(await registration('rawId differs from the attested credential id', alg, {
      rawId: sha256('another credential').subarray(0, 16), expect: 'credential_mismatch',
      difference: '@simplewebauthn does not compare rawId with the credential id in the authenticator data' }));
  }
  const a = 'es256';
  out.push(await registration('format packed', a, { fmt: 'packed', expect: 'unsupported_attestation' }));
  out.push(await registration('none with a statement', a, { attStmt: new Map([['alg', -7]]), expect: 'attestation_statement_present' }));
  out.push(await registration('unknown algorithm ES384', a, { coseKey: es384Cose(), expect: 'unsupported_algorithm' }));
  out.push(await registration('off-curve P-256 point', a, { coseKey: offCurveCose(), expect: 'invalid_public_key',
    difference: '@simplewebauthn does not validate the point at registration with attestation "none"' }));
  out.push(await registration('cross-origin frame', a, { crossOrigin: true, expect: 'cross_origin',
    difference: '@simplewebauthn ignores crossOrigin; the console never runs in a frame (frame-ancestors none)' }));
  out.push(await registration('client data is not JSON', a, { rawClientData: '{"type":"webauthn.create",', expect: 'client_data_malformed' }));
  out.push(await registration('client data with a duplicate member', a, {
    rawClientData: JSON.stringify({ type: 'webauthn.create', challenge: b64url(challengeFor('client data with a duplicate member')), origin: ORIGIN }).slice(0, -1) + ',"origin":"https://evil.example"}',
    expect: 'client_data_malformed' }));
  // Malformed CBOR in the attestation object.
  out.push(await registration('attestation object truncated', a, { mutateAttestation: (att) => att.subarray(0, att.length - 5), expect: 'cbor_truncated',
    difference: '@simplewebauthn decodes with tiny-cbor\'s partial decoder, which does not notice a byte string running past the end of the input (the key is then cut short, and attestation "none" never uses it)' }));
  out.push(await registration('attestation object with a trailing byte', a, { mutateAttestation: (att) => Buffer.concat([att, Buffer.from([0x00])]), expect: 'cbor_trailing_bytes',
    difference: '@simplewebauthn decodes the first item and ignores what follows' }));
  out.push(await registration('attestation object of indefinite length', a, {
    mutateAttestation: (att) => Buffer.concat([Buffer.from([0xbf]), att.subarray(1), Buffer.from([0xff])]), expect: 'cbor_indefinite_length' }));
  out.push(await registration('attestation object with a duplicate key', a, {
    mutateAttestation: (att, ad) => cborPairs([['fmt', 'none'], ['attStmt', new Map()], ['fmt', 'none'], ['authData', ad]]), expect: 'cbor_duplicate_key' }));
  out.push(await registration('attestation object claiming a huge byte string', a, {
    mutateAttestation: (att) => Buffer.concat([Buffer.from([0xa3, 0x63]), Buffer.from('fmt'), Buffer.from([0x64]), Buffer.from('none'),
      Buffer.from([0x67]), Buffer.from('attStmt'), Buffer.from([0xa0]), Buffer.from([0x68]), Buffer.from('authData'),
      Buffer.from([0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), Buffer.alloc(8)]),
    expect: 'cbor_too_large' }));
  out.push(await registration('authenticator data with bytes after the key', a, {
    authData: Buffer.concat([authData({ flags: FLAG_UP | FLAG_UV | FLAG_AT, credId: sha256('credential es256').subarray(0, 16), coseKey: keys.es256.cose }), Buffer.from([0x00])]),
    expect: 'auth_data_malformed' }));
  out.push(await registration('valid with an extensions map', a, {
    flags: FLAG_UP | FLAG_UV | FLAG_AT | FLAG_ED, extensions: cbor(new Map([['credProtect', 2]])) }));
  return out;
}

// Flips one bit inside r of a DER ECDSA signature (keeps the DER structure intact).
function flipDerR(sig) {
  const rLenAt = 3;
  sig[rLenAt + 1 + Math.floor(sig[rLenAt] / 2)] ^= 0x01;
  return sig;
}

async function assertions() {
  const out = [];
  for (const alg of ['es256', 'eddsa']) {
    const flip = alg === 'es256' ? flipDerR : (s) => { s[10] ^= 0x01; return s; };
    out.push(await assertion('valid without a counter', alg));
    out.push(await assertion('valid with a growing counter', alg, { storedCount: 41, counter: 42 }));
    out.push(await assertion('wrong origin', alg, { origin: 'https://evil.example', expect: 'origin_mismatch' }));
    out.push(await assertion('wrong challenge', alg, { clientChallenge: challengeFor('replayed'), expect: 'challenge_mismatch' }));
    out.push(await assertion('wrong rp id', alg, { rpId: 'evil.example', expect: 'rp_id_mismatch' }));
    out.push(await assertion('wrong type', alg, { type: 'webauthn.create', expect: 'wrong_type' }));
    out.push(await assertion('user presence missing', alg, { flags: FLAG_UV, expect: 'user_not_present' }));
    out.push(await assertion('user verification missing', alg, { flags: FLAG_UP, expect: 'user_not_verified' }));
    out.push(await assertion('bad signature', alg, { mutateSignature: flip, expect: 'signature_invalid' }));
    out.push(await assertion('signed by another key', alg, { signer: otherKeys[alg], expect: 'signature_invalid' }));
    out.push(await assertion('sign count going back', alg, { storedCount: 10, counter: 9, expect: 'sign_count_regression' }));
    out.push(await assertion('sign count repeated', alg, { storedCount: 10, counter: 10, expect: 'sign_count_regression' }));
    out.push(await assertion('sign count reset to zero', alg, { storedCount: 10, counter: 0, expect: 'sign_count_regression' }));
    out.push(await assertion('another credential id', alg, { rawId: sha256('another credential').subarray(0, 16), expect: 'credential_mismatch',
      difference: '@simplewebauthn compares rawId with the stored credential only through the caller' }));
  }
  const a = 'es256';
  out.push(await assertion('signature not DER', a, { mutateSignature: (s) => Buffer.concat([s, Buffer.from([0x00])]), expect: 'signature_malformed',
    difference: '@simplewebauthn ignores a byte after the DER signature; the console takes DER strictly (WebAuthn L2 §6.5.6)' }));
  out.push(await assertion('signature truncated', 'eddsa', { mutateSignature: (s) => s.subarray(0, 63), expect: 'signature_malformed' }));
  out.push(await assertion('stored key of an unknown algorithm', a, { storedKey: es384Cose(), expect: 'unsupported_algorithm' }));
  out.push(await assertion('stored key off the curve', a, { storedKey: offCurveCose(), expect: 'invalid_public_key' }));
  out.push(await assertion('attested credential data in an assertion', a, { flags: FLAG_UP | FLAG_UV | FLAG_AT, withCredential: true,
    expect: 'unexpected_credential_data', difference: '@simplewebauthn does not look at the AT flag in an assertion' }));
  out.push(await assertion('cross-origin frame', a, { crossOrigin: true, expect: 'cross_origin',
    difference: '@simplewebauthn ignores crossOrigin; the console never runs in a frame (frame-ancestors none)' }));
  out.push(await assertion('extensions flag with a truncated map', a, { flags: FLAG_UP | FLAG_UV | FLAG_ED, extensions: Buffer.from([0xa1, 0x61]),
    expect: 'cbor_truncated' }));
  out.push(await assertion('valid with an extensions map', a, { flags: FLAG_UP | FLAG_UV | FLAG_ED, extensions: cbor(new Map([['credProtect', 2]])) }));
  return out;
}

function check(records) {
  const bad = [];
  for (const r of records) {
    const agree = (r.expect === 'ok') === (r.simplewebauthn === 'ok');
    if (agree && r.difference) bad.push(`${r.name}: marked as a difference, but both relying parties agree`);
    if (!agree && !r.difference) bad.push(`${r.name}: expected ${r.expect}, @simplewebauthn says ${r.simplewebauthn}`);
  }
  if (bad.length) {
    console.error(bad.join('\n'));
    process.exit(1);
  }
}

function write(file, header, records) {
  const text = [header.trim(), ''];
  for (const r of records) {
    for (const [k, v] of Object.entries(r)) if (v !== undefined) text.push(`${k} = ${v}`);
    text.push('');
  }
  writeFileSync(join(outDir, file), text.join('\n'));
}

const HEADER = `
# Generated by tests/tools/webauthn-vectors/generate.mjs (node:crypto as authenticator and browser,
# cross-checked with @simplewebauthn/server); do not edit by hand, regenerate.
# rp_id = ${RP_ID}, origin = ${ORIGIN}; binary values are lowercase hex.
# expect: ok, or the WebauthnErrc name the C++ verifier must return.
# simplewebauthn: what @simplewebauthn/server answered for the same bytes; where it differs from
# expect by design, difference says why.`;

const reg = await registrations();
const asr = await assertions();
check(reg);
check(asr);
write('registration.vec', HEADER + '\n# Registration (WebAuthn L2 §7.1, attestation "none").', reg);
write('assertion.vec', HEADER + '\n# Authentication assertions (WebAuthn L2 §7.2); stored_* is what the console had stored.', asr);
console.log(`wrote ${reg.length} registration and ${asr.length} assertion vectors to ${outDir}`);
