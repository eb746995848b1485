// A patient's keys in this browser: Ed25519 (signing) and X25519 (agreement) made by WebCrypto, kept in
// IndexedDB as non-extractable CryptoKeys. The private halves exist as bytes only for the moment a
// key file is sealed or opened: the backup file (and a custodian's handover file) is PBKDF2-SHA-256
// (600,000 iterations) + AES-256-GCM under a passphrase (Vault/PatientKeyFile.swift reads and writes
// the same format) — PBKDF2 because it is the only passphrase KDF WebCrypto has. Nothing private is
// ever sent: transactions and sign-in assertions are signed here, and only signatures leave.
import { calls, concat, encode, fromHex, hex, runTransactionVectors, signTransaction, transactionBody, utf8 } from "./canonical.js";

const subtle = globalThis.crypto?.subtle;
export const FORMAT = "careledger-patient-keys/v1";
export const ITERATIONS = 600000;
const ITERATIONS_MIN = 100000, ITERATIONS_MAX = 5000000; // PatientKeyFile.iterationsRange
export const FILE_BYTES_MAX = 8192; // PatientKeyFile.fileBytesMax
const PKCS8 = { Ed25519: "302e020100300506032b657004220420", X25519: "302e020100300506032b656e04220420" };

export const b64 = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)));
export const unb64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const b64url = (bytes) => b64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

function database() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open("careledger-portal", 1);
    request.onupgradeneeded = () => request.result.createObjectStore("keys");
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
/** A request on the portal's IndexedDB key store (also the staff key's, signin.js). */
export async function stored(mode, body) {
  const db = await database();
  return new Promise((resolve, reject) => {
    const request = body(db.transaction("keys", mode).objectStore("keys"));
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}
export const loadPatient = () => stored("readonly", (s) => s.get("patient"));
const savePatient = (value) => stored("readwrite", (s) => s.put(value, "patient"));
export const forgetPatient = () => stored("readwrite", (s) => s.delete("patient"));

/// Imports a raw private key: non-extractable for use, and its public half (learnt once from an
/// extractable copy that is dropped at once).
async function importPrivate(algorithm, raw, extractable = false) {
  const pkcs8 = concat(fromHex(PKCS8[algorithm]), raw);
  const usages = algorithm === "Ed25519" ? ["sign"] : ["deriveBits"];
  const temporary = await subtle.importKey("pkcs8", pkcs8, { name: algorithm }, true, usages);
  const x = (await subtle.exportKey("jwk", temporary)).x.replace(/-/g, "+").replace(/_/g, "/");
  const publicKey = unb64(x + "=".repeat((4 - (x.length % 4)) % 4));
  const key = await subtle.importKey("pkcs8", pkcs8, { name: algorithm }, extractable, usages);
  pkcs8.fill(0);
  return { key, publicKey };
}

/// Fresh raw private keys from WebCrypto's generator.
async function generateRaw(algorithm) {
  const pair = await subtle.generateKey({ name: algorithm }, true, algorithm === "Ed25519" ? ["sign", "verify"] : ["deriveBits"]);
  return new Uint8Array(await subtle.exportKey("pkcs8", pair.privateKey)).slice(16);
}

async function passphraseKey(passphrase, salt, iterations, usage) {
  const base = await subtle.importKey("raw", utf8(passphrase.normalize("NFC")), "PBKDF2", false, ["deriveKey"]);
  return subtle.deriveKey({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, base, { name: "AES-GCM", length: 256 }, false, [usage]);
}

/// Seals raw keys into a key file (PatientKeyFile's format).
async function sealFile(kind, id, raw, passphrase) {
  if (passphrase.length < 10) throw new Error("choose a passphrase of at least 10 characters");
  const salt = crypto.getRandomValues(new Uint8Array(16)), iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = utf8(JSON.stringify({ agreement: b64(raw.agreement), kind, previousAgreement: raw.previous.map(b64), signing: b64(raw.signing) }));
  const key = await passphraseKey(passphrase, salt, ITERATIONS, "encrypt");
  const sealed = await subtle.encrypt({ name: "AES-GCM", iv, additionalData: utf8(`${FORMAT} ${id}`) }, key, plain);
  plain.fill(0);
  return JSON.stringify({ format: FORMAT, id, kdf: { name: "PBKDF2-SHA-256", iterations: ITERATIONS, salt: b64(salt) },
                          cipher: { name: "AES-256-GCM", iv: b64(iv) }, ciphertext: b64(sealed) });
}

/// Opens a key file (a backup or a custodian's handover file) with its passphrase or code.
async function openFile(text, passphrase) {
  if (text.length > FILE_BYTES_MAX) throw new Error(`a key file is at most ${FILE_BYTES_MAX} bytes`);
  const file = JSON.parse(text);
  if (file.format !== FORMAT || file.kdf?.name !== "PBKDF2-SHA-256" || file.cipher?.name !== "AES-256-GCM") throw new Error("this is not a CareLedger patient key file");
  if (!(file.kdf.iterations >= ITERATIONS_MIN && file.kdf.iterations <= ITERATIONS_MAX)) throw new Error("the file's PBKDF2 cost is out of range");
  const key = await passphraseKey(passphrase, unb64(file.kdf.salt), file.kdf.iterations, "decrypt");
  let plain;
  try {
    plain = new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv: unb64(file.cipher.iv), additionalData: utf8(`${FORMAT} ${file.id}`) }, key, unb64(file.ciphertext)));
  } catch { throw new Error("wrong passphrase or code, or the file was altered"); }
  const contents = JSON.parse(new TextDecoder().decode(plain));
  plain.fill(0);
  return { id: file.id, kind: contents.kind, raw: { signing: unb64(contents.signing), agreement: unb64(contents.agreement),
                                                    previous: (contents.previousAgreement ?? []).map(unb64) } };
}

/// Keeps raw keys in IndexedDB as non-extractable CryptoKeys, with the sealed backup for later downloads.
/// A custodian's handover keeps its agreement key extractable until control is taken (the custodian holds it anyway):
/// the new backup carries it, so records wrapped to it still open.
async function keep(id, raw, { backup, custodial }) {
  const signing = await importPrivate("Ed25519", raw.signing);
  const agreement = await importPrivate("X25519", raw.agreement, custodial);
  const previous = await Promise.all(raw.previous.map((r) => importPrivate("X25519", r)));
  const entry = { id, signingKey: signing.key, signingPublic: hex(signing.publicKey), agreementKey: agreement.key,
                  agreementPublic: hex(agreement.publicKey), previousAgreementKeys: previous.map((p) => p.key), backup, custodial };
  raw.signing.fill(0); raw.agreement.fill(0); raw.previous.forEach((r) => r.fill(0));
  await savePatient(entry);
  return entry;
}

export async function idOf(signingPublicHex) { return hex(new Uint8Array(await subtle.digest("SHA-256", fromHex(signingPublicHex)))); }

/// New keys for a new patient: the id is the hash of the signing key; sealed into a backup first.
export async function createKeys(passphrase) {
  const raw = { signing: await generateRaw("Ed25519"), agreement: await generateRaw("X25519"), previous: [] };
  const publicKey = (await importPrivate("Ed25519", raw.signing)).publicKey;
  const id = await idOf(hex(publicKey));
  const backup = await sealFile("backup", id, raw, passphrase);
  return keep(id, raw, { backup, custodial: false });
}

/// A backup file (or a custodian's handover file) opened into this browser.
export async function restoreKeys(text, passphrase) {
  const opened = await openFile(text, passphrase);
  return keep(opened.id, opened.raw, { backup: opened.kind === "backup" ? text : null, custodial: opened.kind === "handover" });
}

/// New keys to rotate to, sealed into a backup with every earlier agreement key (the current one
/// included): the entry is kept only once the rotation commits (`adopt`).
export async function nextKeys(current, passphrase) {
  const raw = { signing: await generateRaw("Ed25519"), agreement: await generateRaw("X25519"), previous: [] };
  if (current.custodial) raw.previous.push(new Uint8Array(await subtle.exportKey("pkcs8", current.agreementKey)).slice(16));
  const signingPublic = hex((await importPrivate("Ed25519", raw.signing)).publicKey);
  const agreementPublic = hex((await importPrivate("X25519", raw.agreement)).publicKey);
  const backup = await sealFile("backup", current.id, raw, passphrase);
  return { signingPublic, agreementPublic, backup, adopt: () => keep(current.id, raw, { backup, custodial: false }) };
}

const basePath = "/portal";
let selfTest = null;
/// Runs tx-vectors.json through this browser's encoder and signer (once a page): nothing is signed unless every case passes.
export async function checkSigner(base = basePath) {
  if (!selfTest) {
    const answer = await fetch(`${base}/static/tx-vectors.json`, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`the signer's test vectors could not be loaded (${answer.status})`);
    selfTest = await runTransactionVectors(await answer.json());
  }
  if (selfTest.failed.length) throw new Error(`this browser's transaction encoder fails ${selfTest.failed.join(", ")}: nothing is signed`);
  return selfTest;
}

/// Signs a patient call with `entry`'s key: the transaction's bytes (base64) and id.
async function signCall(chainId, entry, call, sequence) {
  await checkSigner(basePath);
  const body = transactionBody({ chainId, sender: fromHex(entry.id), publicKey: fromHex(entry.signingPublic),
                                 sequence: BigInt(sequence), contract: call.contract, method: call.method, args: call.args });
  const signed = await signTransaction(body, entry.signingKey);
  return { transaction: b64(signed.bytes), id: signed.id };
}

async function committed(answer) {
  const result = await answer.json().catch(() => ({}));
  if (answer.status !== 200 || result.status !== "committed") {
    throw new Error(result.result?.message || result.message || `the node answered ${answer.status}${result.status ? ` (${result.status})` : ""}`);
  }
  return result;
}

/// An access token for `entry`'s identity from POST /auth/token, as any client gets one: a client
/// assertion signed here with a fresh random jti. Kept in this page's memory only.
async function accessToken(entry, tokenURL) {
  const jti = hex(crypto.getRandomValues(new Uint8Array(16)));
  const form = new URLSearchParams({ grant_type: "client_credentials", client_assertion_type: "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                     client_assertion: await assertion(entry, tokenURL, jti) });
  const answer = await fetch("/auth/token", { method: "POST", credentials: "omit", body: form });
  const result = await answer.json().catch(() => ({}));
  if (answer.status !== 200 || !result.access_token) throw new Error(`no access token: ${result.error_description || result.message || result.error || answer.status}`);
  return result.access_token;
}

let cachedToken = null;
/// An access token for reads (GET /v1/records/{id}/release), got as `accessToken` does and reused
/// for ten minutes of its fifteen; kept in this page's memory only.
export async function bearerToken(entry, tokenURL) {
  if (!cachedToken || cachedToken.id !== entry.id || cachedToken.until < Date.now()) {
    cachedToken = { id: entry.id, token: await accessToken(entry, tokenURL), until: Date.now() + 10 * 60 * 1000 };
  }
  return cachedToken.token;
}

/// Signs a patient call with `entry`'s key and submits it to POST /v1/txs with a bearer token the
/// browser got for itself (the same admission as any client), waiting for its block. Answers the
/// committed transaction's id; a refusal throws its message.
export async function submitCall(page, entry, call, sequence) {
  const signed = await signCall(page.chainId, entry, call, sequence);
  const token = await accessToken(entry, page.tokenUrl);
  await committed(await fetch("/v1/txs?wait=true&timeout_ms=15000", { method: "POST", credentials: "omit",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${token}` }, body: JSON.stringify({ transaction: signed.transaction }) }));
  return signed.id;
}

/// A new patient's membership.registerPatient (sequence 1), signed here. She has no identity yet, so
/// no access token: it goes through the portal's sign-in form (its CSRF token), which submits only
/// that call to the node's admission and contracts.
export async function registerPatient(form, entry) {
  const signed = await signCall(form.dataset.chainId, entry, calls.registerPatient({ agreementKey: entry.agreementPublic }), 1n);
  const body = new URLSearchParams({ csrf: form.querySelector('input[name="csrf"]').value, transaction: signed.transaction });
  await committed(await fetch(`${basePath}/patient/register`, { method: "POST", credentials: "same-origin", body }));
  return signed.id;
}

/// A SMART client assertion (EdDSA JWT) for the sign-in form's one-time challenge.
export async function assertion(entry, tokenURL, challenge) {
  const encodeJSON = (value) => b64url(utf8(JSON.stringify(value)));
  const now = Math.floor(Date.now() / 1000);
  const input = `${encodeJSON({ alg: "EdDSA", typ: "JWT" })}.${encodeJSON({ iss: entry.id, sub: entry.id, aud: tokenURL, exp: now + 120, jti: challenge })}`;
  return `${input}.${b64url(new Uint8Array(await subtle.sign({ name: "Ed25519" }, entry.signingKey, utf8(input))))}`;
}

/// Offers text as a file download (a blob URL; nothing goes to the server).
export function download(text, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type: "application/json" }));
  link.download = name;
  document.body.append(link);
  link.click();
  setTimeout(() => { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
}

export { calls, encode };
