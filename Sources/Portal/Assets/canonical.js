// CareLedger's canonical encoding (LedgerCore/Encoding, format v1) and transaction signing
// (LedgerCore/Chain/Transaction.swift), for exactly the calls a patient or staff member signs in the browser.
// tx-vectors.json is written by Swift; the browser runs it (runTransactionVectors) before it signs
// anything, and PortalTransactionVectorTests checks the same file in Swift, so the two cannot drift.
//
// Values: null, booleans, integers (BigInt or safe Number: zigzag LEB128), Uint8Array (byte strings),
// strings (UTF-8), arrays (lists) and plain objects (maps: keys in UTF-8 byte order, undefined left out).
const TAG = { null: 0x00, false: 0x01, true: 0x02, int: 0x03, bytes: 0x04, string: 0x05, list: 0x06, map: 0x07 };
const INT64_MIN = -(1n << 63n), INT64_MAX = (1n << 63n) - 1n, MASK64 = (1n << 64n) - 1n;
const encoder = new TextEncoder();
export const SIGNATURE_DOMAIN = "careledger/tx-sig/v1";
export const ID_DOMAIN = "careledger/tx/v1";
export const TRANSACTION_BYTES_MAX = 64 * 1024; // LedgerCore Limits.transactionBytesMax

export function utf8(text) {
  if (typeof text !== "string" || (text.isWellFormed && !text.isWellFormed())) throw new Error("strings must be well-formed Unicode");
  return encoder.encode(text);
}
export function hex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""); }
export function fromHex(text) {
  if (!/^([0-9a-f]{2})*$/i.test(text)) throw new Error("not hex");
  return Uint8Array.from(text.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}
export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) { out.set(part, offset); offset += part.length; }
  return out;
}
function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

class Writer {
  constructor() { this.bytes = []; }
  varint(value) {
    let v = BigInt(value);
    while (v >= 0x80n) { this.bytes.push(Number(v & 0x7fn) | 0x80); v >>= 7n; }
    this.bytes.push(Number(v));
  }
  raw(bytes) { for (const b of bytes) this.bytes.push(b); }
  rawString(text) { const b = utf8(text); this.varint(b.length); this.raw(b); }
  int(value) {
    if (typeof value === "number" && !Number.isSafeInteger(value)) throw new Error(`${value} is not an integer the ledger encodes`);
    const v = BigInt(value);
    if (v < INT64_MIN || v > INT64_MAX) throw new Error("integers are signed 64-bit");
    this.bytes.push(TAG.int);
    this.varint(((v << 1n) ^ (v >> 63n)) & MASK64); // zigzag
  }
  byteString(bytes) { this.bytes.push(TAG.bytes); this.varint(bytes.length); this.raw(bytes); }
  string(text) { this.bytes.push(TAG.string); this.rawString(text); }
  value(v) {
    if (v === null) this.bytes.push(TAG.null);
    else if (v === true || v === false) this.bytes.push(v ? TAG.true : TAG.false);
    else if (typeof v === "bigint" || typeof v === "number") this.int(v);
    else if (v instanceof Uint8Array) this.byteString(v);
    else if (typeof v === "string") this.string(v);
    else if (Array.isArray(v)) { this.bytes.push(TAG.list); this.varint(v.length); v.forEach((item) => this.value(item)); }
    else if (typeof v === "object") {
      const entries = Object.entries(v).filter(([, item]) => item !== undefined).map(([key, item]) => [utf8(key), key, item])
        .sort((a, b) => compareBytes(a[0], b[0]));
      this.bytes.push(TAG.map);
      this.varint(entries.length);
      for (const [key, , item] of entries) { this.varint(key.length); this.raw(key); this.value(item); }
    } else throw new Error(`the canonical encoding has no ${typeof v}`);
  }
}

/// The canonical bytes of one value.
export function encode(value) { const w = new Writer(); w.value(value); return Uint8Array.from(w.bytes); }

/// The signed part of a transaction: version 1, chain id, sender, public key, sequence, contract, method, args, expiry.
export function transactionBody({ chainId, sender, publicKey, sequence, contract, method, args, expiryHeight = null }) {
  if (sender.length !== 32 || publicKey.length !== 32) throw new Error("sender and public key are 32 bytes");
  if (BigInt(sequence) < 1n) throw new Error("sequence numbers start at 1");
  const w = new Writer();
  w.bytes.push(1);
  w.string(chainId); w.byteString(sender); w.byteString(publicKey); w.int(sequence);
  w.string(contract); w.string(method); w.value(args);
  if (expiryHeight === null) w.bytes.push(TAG.null); else w.int(expiryHeight);
  return Uint8Array.from(w.bytes);
}

/// Signs a body with a WebCrypto Ed25519 private key: the transaction's canonical bytes (body ‖
/// tagged signature, the log's leaf input) and its id, SHA-256("careledger/tx/v1" ‖ bytes).
export async function signTransaction(body, privateKey) {
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, privateKey, concat(utf8(SIGNATURE_DOMAIN), body)));
  const w = new Writer();
  w.byteString(signature);
  const bytes = concat(body, Uint8Array.from(w.bytes));
  if (bytes.length > TRANSACTION_BYTES_MAX) throw new Error(`the transaction is ${bytes.length} bytes; the limit is ${TRANSACTION_BYTES_MAX}`);
  const id = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(utf8(ID_DOMAIN), bytes)));
  return { bytes, signature, id: hex(id) };
}

// The patient's calls, shaped as the Swift types' Codable forms (MembershipContract.RegisterPatient,
// RotateKey; ConsentContract.Grant, Revoke; TrialsContract.Withdraw). Ids and keys arrive as hex.
export const calls = {
  registerPatient: ({ agreementKey }) => ({ contract: "membership", method: "registerPatient", args: { agreementKey: fromHex(agreementKey) } }),
  rotateKey: ({ signingKey, agreementKey }) => ({ contract: "membership", method: "rotateKey",
    args: { signingKey: fromHex(signingKey), agreementKey: fromHex(agreementKey) } }),
  consentGrant: ({ patient, grantee, categories, purposes, actions, startMs, endMs }) => ({ contract: "consent", method: "grant", args: {
    patient: fromHex(patient),
    grantee: grantee.kind === "role" ? { kind: "role", role: grantee.role } : { kind: grantee.kind, id: fromHex(grantee.id) },
    categories: categories?.length ? categories : undefined, purposes, actions,
    startMs: startMs ?? undefined, endMs: endMs ?? undefined } }),
  consentRevoke: ({ patient, consent }) => ({ contract: "consent", method: "revoke", args: { patient: fromHex(patient), consent: fromHex(consent) } }),
  trialWithdraw: ({ trial, patient }) => ({ contract: "trials", method: "withdraw", args: { trial, patient: fromHex(patient) } }),
  // Staff calls (staff.js): ClaimsContract.DecideAuthorization, PrescriptionContract.Fill, SupplyChainContract.Verify.
  decideAuthorization: ({ authorization, approve, quantity, validUntilMs, reason }) => ({ contract: "claims", method: "decideAuthorization", args: {
    authorization: fromHex(authorization), approve, quantity: quantity ?? undefined, validUntilMs: validUntilMs ?? undefined, reason: reason ?? undefined } }),
  fill: ({ prescription, units }) => ({ contract: "rx", method: "fill", args: {
    prescription: fromHex(prescription), units: units.map(({ gtin, serial }) => ({ gtin, serial })) } }),
  supplyVerify: ({ gtin, serial, lot, expiryMs }) => ({ contract: "supply", method: "verify", args: {
    gtin, serial, lot: lot || undefined, expiryMs: expiryMs ?? undefined } }),
};

// tx-vectors.json writes values as tagged trees: ["null"], ["bool", b], ["int", "decimal"], ["bytes", "hex"],
// ["string", s], ["list", [...]], ["map", [[key, value], ...]].
export function fromTagged([tag, v]) {
  switch (tag) {
    case "null": return null;
    case "bool": return v;
    case "int": return BigInt(v);
    case "bytes": return fromHex(v);
    case "string": return v;
    case "list": return v.map(fromTagged);
    case "map": return Object.fromEntries(v.map(([key, item]) => [key, fromTagged(item)]));
    default: throw new Error(`unknown tag ${tag}`);
  }
}

/// Runs every case of tx-vectors.json: value encodings, the call builders, and whole signed transactions.
export async function runTransactionVectors(vectors) {
  const failed = [];
  let total = 0;
  const expect = (name, ok) => { total += 1; if (!ok) failed.push(name); };
  for (const c of vectors.values) {
    let got; try { got = hex(encode(fromTagged(c.value))); } catch (error) { got = `error ${error.message}`; }
    expect(c.name, got === c.encoded);
  }
  for (const c of vectors.calls) {
    let ok; try {
      const call = calls[c.builder](c.input);
      ok = call.contract === c.contract && call.method === c.method && hex(encode(call.args)) === c.encoded;
    } catch { ok = false; }
    expect(c.name, ok);
  }
  for (const c of vectors.transactions) {
    let ok; try {
      const pkcs8 = concat(fromHex("302e020100300506032b657004220420"), fromHex(c.seed));
      const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
      const body = transactionBody({ chainId: c.chain_id, sender: fromHex(c.sender), publicKey: fromHex(c.public_key), sequence: BigInt(c.sequence),
        contract: c.contract, method: c.method, args: fromTagged(c.args), expiryHeight: c.expiry_height === null ? null : BigInt(c.expiry_height) });
      const signed = await signTransaction(body, key);
      // Ed25519 (RFC 8032) is deterministic: the same key and message give Swift's very signature.
      ok = hex(body) === c.body && hex(signed.bytes) === c.bytes && signed.id === c.id;
    } catch { ok = false; }
    expect(c.name, ok);
  }
  return { total, passed: total - failed.length, failed };
}
