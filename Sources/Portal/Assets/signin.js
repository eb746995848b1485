// Sign-in with a key held in this browser: a staff key file (plain) is imported into WebCrypto as a
// non-extractable Ed25519 key kept in IndexedDB; signing in signs a SMART client assertion whose jti
// is the node's one-time challenge. The private key never leaves WebCrypto, and never the browser.
import { stored } from "./patient-keys.js";
const form = document.getElementById("browser-key-form");
const statusLine = document.getElementById("browser-key-status");
const submit = document.getElementById("browser-key-submit");
const forget = document.getElementById("browser-key-forget");
const subtle = globalThis.crypto?.subtle;

function say(state, text) { statusLine.dataset.state = state; statusLine.textContent = text; }

function base64url(bytes) {
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}
function fromBase64(text) { return Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)); }
function hex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""); }

const load = () => stored("readonly", (s) => s.get("staff"));
const save = (value) => stored("readwrite", (s) => s.put(value, "staff"));
const remove = () => stored("readwrite", (s) => s.delete("staff"));

// PKCS #8 wrapping of a raw 32-byte Ed25519 seed (RFC 8410).
const pkcs8Prefix = Uint8Array.of(0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20);

async function importKeyFile(text) {
  const file = JSON.parse(text);
  if (file.sealed) throw new Error("this key file is sealed with a passphrase, and browsers have no scrypt: sign in with the key file form above");
  const seed = fromBase64(file.signingPrivateKey ?? "");
  if (seed.length !== 32) throw new Error("this is not a CareLedger key file (no 32-byte signingPrivateKey)");
  const wrapped = new Uint8Array(48);
  wrapped.set(pkcs8Prefix); wrapped.set(seed, 16);
  // Imported extractable once, only to learn the public half (x); then kept non-extractable.
  const temporary = await subtle.importKey("pkcs8", wrapped, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await subtle.exportKey("jwk", temporary);
  wrapped.fill(0); seed.fill(0);
  const privateKey = await subtle.importKey("jwk", jwk, { name: "Ed25519" }, false, ["sign"]);
  jwk.d = "";
  const publicKey = fromBase64(jwk.x);
  const id = hex(new Uint8Array(await subtle.digest("SHA-256", publicKey)));
  if (file.id && file.id !== id) throw new Error("the key file's id does not match its key");
  await save({ id, name: String(file.name ?? ""), privateKey });
  return { id, name: file.name };
}

async function refresh() {
  if (!subtle) { say("unavailable", "This browser has no WebCrypto here (it needs https, or http on localhost)."); return; }
  const key = await load().catch(() => undefined);
  submit.disabled = !key;
  forget.disabled = !key;
  say(key ? "ready" : "none", key ? `This browser holds the key of ${key.name || "an identity"} (${key.id.slice(0, 12)}…).`
                                  : "This browser holds no key yet: import a plain key file.");
}

document.getElementById("browser-key-file").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  if (!file) return;
  try {
    if (file.size > 8192) throw new Error("a key file is smaller than 8 KiB");
    const key = await importKeyFile(await file.text());
    event.target.value = "";
    await refresh();
    say("ready", `Imported the key of ${key.name || "an identity"} (${key.id.slice(0, 12)}…) into this browser.`);
  } catch (error) { say("error", `Not imported: ${error.message}`); }
});

forget.addEventListener("click", async () => { await remove(); await refresh(); });

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const key = await load();
    if (!key) throw new Error("this browser holds no key");
    const encode = (value) => base64url(new TextEncoder().encode(JSON.stringify(value)));
    const now = Math.floor(Date.now() / 1000);
    const signingInput = `${encode({ alg: "EdDSA", typ: "JWT" })}.${encode({
      iss: key.id, sub: key.id, aud: form.dataset.tokenUrl, exp: now + 120, jti: form.dataset.challenge })}`;
    const signature = new Uint8Array(await subtle.sign({ name: "Ed25519" }, key.privateKey, new TextEncoder().encode(signingInput)));
    document.getElementById("assertion").value = `${signingInput}.${base64url(signature)}`;
    form.submit();
  } catch (error) { say("error", `Could not sign in: ${error.message}`); }
});

refresh();
