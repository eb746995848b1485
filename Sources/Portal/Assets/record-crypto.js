// Opening a patient's records and break-glass justifications in her browser, with WebCrypto alone,
// exactly as Vault does it in Swift:
//  - a data key is wrapped with HPKE (RFC 9180, base mode): DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
//    AES-256-GCM, info = "careledger/key-wrap/v1" ‖ record ‖ version (8 bytes, big-endian) ‖ recipient
//    (Vault/KeyWrap.swift); stored as 0x01 ‖ 32-byte encapsulated key ‖ 48-byte ciphertext;
//  - a record is AES-256-GCM under the data key: 0x01 ‖ 12-byte nonce ‖ ciphertext ‖ tag, with
//    associated data "careledger/record/v1" ‖ record ‖ version (Vault/RecordCipher.swift);
//  - a break-glass justification is a SealedNote (Node/Access/SealedNote.swift): the canonical map
//    {box, key} of such a record and wrapped key, under the record id SHA-256("careledger/sealed-note/v1"), version 0.
// HPKE's steps are RFC 9180 §4 and §5.1 over WebCrypto's X25519, HMAC-SHA-256 (HKDF's Extract and
// Expand, RFC 5869) and AES-GCM. record-vectors.json, written by PortalRecordVectorTests from Vault's
// own code, is run before anything is decrypted; nothing is decrypted if one case fails.
import { concat, encode, fromHex, hex, utf8 } from "./canonical.js";

const subtle = globalThis.crypto?.subtle;
const X25519_PKCS8 = "302e020100300506032b656e04220420";
const BASE_POINT = Uint8Array.of(9, ...new Array(31).fill(0)); // RFC 7748 §4.1: u = 9
const KEM_SUITE = concat(utf8("KEM"), Uint8Array.of(0x00, 0x20)); // DHKEM(X25519, HKDF-SHA256)
const HPKE_SUITE = concat(utf8("HPKE"), Uint8Array.of(0x00, 0x20, 0x00, 0x01, 0x00, 0x02)); // KEM 0x0020, KDF 0x0001, AEAD 0x0002
const EMPTY = new Uint8Array(0);
export const NOTE_RECORD_LABEL = "careledger/sealed-note/v1";

const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

function bigEndian64(value) {
  const bytes = new Uint8Array(8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(value));
  return bytes;
}

// HMAC-SHA-256. An empty key is the same HMAC as 32 zero bytes (RFC 2104 pads keys with zeros to the
// block size); WebCrypto refuses an empty HMAC key, HKDF's default salt is HashLen zeros (RFC 5869 §2.2).
async function hmac(key, data) {
  const k = await subtle.importKey("raw", key.length ? key : new Uint8Array(32), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}
const extract = (salt, ikm) => hmac(salt, ikm);
async function expand(prk, info, length) {
  const out = [];
  let block = EMPTY;
  for (let i = 1; out.length < length; i++) {
    block = await hmac(prk, concat(block, info, Uint8Array.of(i)));
    out.push(...block);
  }
  return Uint8Array.from(out.slice(0, length));
}
// RFC 9180 §4: LabeledExtract and LabeledExpand.
const labeledExtract = (suite, salt, label, ikm) => extract(salt, concat(utf8("HPKE-v1"), suite, utf8(label), ikm));
const labeledExpand = (suite, prk, label, info, length) =>
  expand(prk, concat(Uint8Array.of(length >> 8, length & 0xff), utf8("HPKE-v1"), suite, utf8(label), info), length);

async function x25519(privateKey, publicBytes) {
  const peer = await subtle.importKey("raw", publicBytes, { name: "X25519" }, false, []);
  return new Uint8Array(await subtle.deriveBits({ name: "X25519", public: peer }, privateKey, 256));
}

/// The public key of a (non-extractable) X25519 private key: X25519(k, 9) (RFC 7748 §6.1).
export const publicKeyOf = (privateKey) => x25519(privateKey, BASE_POINT);

/// A raw 32-byte X25519 private key as a non-extractable CryptoKey (the test vectors' keys).
export const importAgreementKey = (raw) => subtle.importKey("pkcs8", concat(fromHex(X25519_PKCS8), raw), { name: "X25519" }, false, ["deriveBits"]);

/// HPKE base-mode single-shot open (RFC 9180 §5.1, §6.1) of a wrapped key: 0x01 ‖ enc (32) ‖ ciphertext (48).
export async function hpkeOpen(recipient, wrapped, info) {
  if (wrapped.length !== 81 || wrapped[0] !== 1) throw new Error("a wrapped key is 81 bytes starting with 0x01");
  const enc = wrapped.subarray(1, 33), ciphertext = wrapped.subarray(33);
  // DHKEM Decap (§4.1): dh = DH(skR, pkE); kem_context = enc ‖ pkRm; ExtractAndExpand.
  const dh = await x25519(recipient.key, enc);
  const eaePrk = await labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  const sharedSecret = await labeledExpand(KEM_SUITE, eaePrk, "shared_secret", concat(enc, recipient.publicKey), 32);
  // KeySchedule (§5.1), mode_base, no PSK.
  const pskIdHash = await labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = await labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = concat(Uint8Array.of(0x00), pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE, sharedSecret, "secret", EMPTY);
  const key = await labeledExpand(HPKE_SUITE, secret, "key", context, 32);
  const nonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
  // Open with sequence number 0 (nonce = base_nonce) and empty associated data.
  const aead = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
  key.fill(0);
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: EMPTY }, aead, ciphertext));
}

/// KeyWrap's info: "careledger/key-wrap/v1" ‖ record ‖ version ‖ recipient.
export const wrapInfo = (record, version, recipient) => concat(utf8("careledger/key-wrap/v1"), record, bigEndian64(version), recipient);

/// RecordCipher.open: 0x01 ‖ nonce (12) ‖ ciphertext ‖ tag (16), bound to the record and version.
export async function openSealed(dataKey, sealed, record, version) {
  if (sealed.length < 29 || sealed[0] !== 1) throw new Error("not a sealed record (format 1)");
  const key = await subtle.importKey("raw", dataKey, "AES-GCM", false, ["decrypt"]);
  const additionalData = concat(utf8("careledger/record/v1"), record, bigEndian64(version));
  return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: sealed.subarray(1, 13), additionalData }, key, sealed.subarray(13)));
}

/// Unwraps with the first of `keys` ({key, publicKey}) that opens it; throws if none does.
async function unwrapWithAny(keys, wrapped, info) {
  for (const recipient of keys) {
    try { return await hpkeOpen(recipient, wrapped, info); } catch { /* the next key */ }
  }
  throw new Error("none of your keys opens it (altered, or wrapped to a key this browser does not hold)");
}

/// A release of GET /v1/records/{id}/release (base64 fields) opened for `recipientHex`: the plaintext bytes.
export async function openRelease(keys, release, recipientHex) {
  const record = fromHex(release.record.record), version = BigInt(release.record.version);
  const dataKey = await unwrapWithAny(keys, unb64(release.wrapped_key), wrapInfo(record, version, fromHex(recipientHex)));
  try { return await openSealed(dataKey, unb64(release.sealed_record), record, version); } finally { dataKey.fill(0); }
}

/// The canonical map {box: bytes, key: bytes} of a sealed note, checked to be exactly that encoding.
function noteParts(bytes) {
  let offset = 0;
  const varint = () => {
    let value = 0, shift = 0;
    for (;;) {
      if (offset >= bytes.length || shift > 28) throw new Error("a sealed note is not well-formed");
      const b = bytes[offset++];
      value |= (b & 0x7f) << shift;
      if (!(b & 0x80)) return value;
      shift += 7;
    }
  };
  const take = (n) => { if (offset + n > bytes.length) throw new Error("a sealed note is not well-formed"); const out = bytes.subarray(offset, offset + n); offset += n; return out; };
  if (bytes[offset++] !== 0x07 || varint() !== 2) throw new Error("a sealed note is a map of two entries");
  const parts = {};
  for (let i = 0; i < 2; i++) {
    const name = new TextDecoder().decode(take(varint()));
    if (bytes[offset++] !== 0x04) throw new Error("a sealed note holds byte strings");
    parts[name] = take(varint());
  }
  if (!parts.box || !parts.key || offset !== bytes.length) throw new Error("a sealed note is {box, key}");
  const canonical = encode({ box: parts.box, key: parts.key });
  if (hex(canonical) !== hex(bytes)) throw new Error("a sealed note is not canonically encoded");
  return parts;
}

let noteRecord = null;
/// SealedNote.open: the text sealed to `recipientHex`, with whichever of `keys` it was sealed to
/// (a justification written before she took control is sealed to the handed-over key).
export async function openNote(keys, sealed, recipientHex) {
  noteRecord ??= new Uint8Array(await subtle.digest("SHA-256", utf8(NOTE_RECORD_LABEL)));
  const parts = noteParts(sealed);
  const dataKey = await unwrapWithAny(keys, parts.key, wrapInfo(noteRecord, 0n, fromHex(recipientHex)));
  try { return new TextDecoder("utf-8", { fatal: true }).decode(await openSealed(dataKey, parts.box, noteRecord, 0n)); } finally { dataKey.fill(0); }
}

/// The agreement keys a patient entry (patient-keys.js) holds, current first, each with its public key.
export async function agreementKeys(entry) {
  const keys = [{ key: entry.agreementKey, publicKey: fromHex(entry.agreementPublic) }];
  for (const key of entry.previousAgreementKeys ?? []) keys.push({ key, publicKey: await publicKeyOf(key) });
  return keys;
}

/// Runs every case of record-vectors.json: public keys, HPKE unwraps, record opens, whole releases
/// and sealed notes, the altered ones expected to fail.
export async function runRecordVectors(vectors) {
  const failed = [];
  let total = 0;
  const expect = (name, ok) => { total += 1; if (!ok) failed.push(name); };
  const keys = {};
  for (const k of vectors.keys) {
    let ok = false;
    try {
      keys[k.name] = { key: await importAgreementKey(fromHex(k.private)), publicKey: fromHex(k.public) };
      ok = hex(await publicKeyOf(keys[k.name].key)) === k.public;
    } catch { ok = false; }
    expect(`public key of ${k.name}`, ok);
  }
  const outcome = async (body) => { try { return hex(await body()); } catch { return null; } };
  for (const c of vectors.unwraps) {
    const got = await outcome(() => hpkeOpen(keys[c.key], fromHex(c.wrapped), wrapInfo(fromHex(c.record), BigInt(c.version), fromHex(c.recipient))));
    expect(c.name, got === c.data_key);
  }
  for (const c of vectors.records) {
    const got = await outcome(() => openSealed(fromHex(c.data_key), fromHex(c.sealed), fromHex(c.record), BigInt(c.version)));
    expect(c.name, got === c.plaintext);
  }
  for (const c of vectors.releases) {
    const got = await outcome(() => openRelease(c.keys.map((name) => keys[name]), c.release, c.recipient));
    expect(c.name, got === c.plaintext);
  }
  for (const c of vectors.notes) {
    let got;
    try { got = await openNote(c.keys.map((name) => keys[name]), fromHex(c.sealed), c.recipient); } catch { got = null; }
    expect(c.name, got === c.text);
  }
  return { total, passed: total - failed.length, failed };
}

let selfTest = null;
/// Runs record-vectors.json once a page; throws (and nothing is decrypted) unless every case passes.
export async function checkDecrypter(base) {
  if (!selfTest) {
    selfTest = (async () => {
      const answer = await fetch(`${base}/static/record-vectors.json`, { credentials: "same-origin" });
      if (!answer.ok) throw new Error(`the decryption test vectors could not be loaded (${answer.status})`);
      return runRecordVectors(await answer.json());
    })();
  }
  const result = await selfTest;
  if (result.failed.length) throw new Error(`this browser's decryption fails ${result.failed.join(", ")}: nothing is decrypted`);
  return result;
}
