// CareLedger's log verifier for browsers: RFC 9162 inclusion and consistency proofs (SHA-256,
// leaf = SHA-256(0x00 || input), node = SHA-256(0x01 || left || right)) and the node's Ed25519
// signature over RFC 6962's TreeHeadSignature, with WebCrypto only. It mirrors LedgerCore's
// MerkleVerifier line for line, and checks itself against verifier-vectors.json, which the Swift
// side checks too (PortalVectorTests), so the two cannot drift apart. Sizes and indices are BigInt:
// JavaScript's bit operators work on 32 bits only.

const subtle = globalThis.crypto.subtle;

/** A verification that failed, with the reason in words. */
export class ProofError extends Error {}

export function bytesFromBase64(text) {
  if (typeof text !== "string") throw new ProofError("expected a base64 string");
  const normal = text.trim().replace(/-/g, "+").replace(/_/g, "/");
  let binary;
  try { binary = atob(normal + "=".repeat((4 - normal.length % 4) % 4)); } catch { throw new ProofError("not base64: " + text.slice(0, 40)); }
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

export function bytesFromHex(text) {
  if (typeof text !== "string" || text.length % 2 !== 0 || /[^0-9a-fA-F]/.test(text)) throw new ProofError("not hex: " + String(text).slice(0, 40));
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(2 * i, 2), 16);
  return out;
}

export function hex(bytes) { return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(""); }

export function base64(bytes) { return btoa(String.fromCharCode(...bytes)); }

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export async function sha256(bytes) { return new Uint8Array(await subtle.digest("SHA-256", bytes)); }
export async function leafHash(input) { return sha256(concat(Uint8Array.of(0), input)); }
export async function nodeHash(left, right) { return sha256(concat(Uint8Array.of(1), left, right)); }

function size(value, name) {
  const n = typeof value === "bigint" ? value : BigInt(value);
  if (n < 0n || n >= 1n << 64n) throw new ProofError(`${name} is not a 64-bit unsigned integer`);
  return n;
}

/** RFC 9162 §2.1.3.2. Throws ProofError saying why a proof fails. */
export async function verifyInclusion(leaf, index, treeSize, proof, root) {
  index = size(index, "leaf index");
  treeSize = size(treeSize, "tree size");
  if (index >= treeSize) throw new ProofError(`leaf index ${index} is not below tree size ${treeSize}`);
  if (leaf.length !== 32) throw new ProofError(`a hash in the proof is ${leaf.length} bytes, not 32`);
  for (const p of proof) if (p.length !== 32) throw new ProofError(`a hash in the proof is ${p.length} bytes, not 32`);
  let fn = index, sn = treeSize - 1n, r = leaf;
  for (const p of proof) {
    if (sn === 0n) throw new ProofError("the proof has the wrong number of hashes for these sizes");
    if ((fn & 1n) === 1n || fn === sn) {
      r = await nodeHash(p, r);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      r = await nodeHash(r, p);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("the proof has the wrong number of hashes for these sizes");
  if (!equal(r, root)) throw new ProofError("the proof does not lead to the expected root");
}

/** RFC 9162 §2.1.4.2 with transparency-dev's edge rules (first > second fails; first = 0 fails;
 *  equal sizes need an empty proof and equal roots). Throws ProofError saying why a proof fails. */
export async function verifyConsistency(first, second, firstRoot, secondRoot, proof) {
  first = size(first, "first size");
  second = size(second, "second size");
  if (first > second) throw new ProofError(`first size ${first} is greater than second size ${second}`);
  if (first === 0n) throw new ProofError("a consistency proof from the empty tree is meaningless");
  if (first === second) {
    if (proof.length !== 0) throw new ProofError("the proof has the wrong number of hashes for these sizes");
    if (!equal(firstRoot, secondRoot)) throw new ProofError("the proof does not lead to the expected root");
    return;
  }
  if (proof.length === 0) throw new ProofError("the proof has the wrong number of hashes for these sizes");
  for (const p of proof) if (p.length !== 32) throw new ProofError(`a hash in the proof is ${p.length} bytes, not 32`);
  const path = (first & (first - 1n)) === 0n ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1n, sn = second - 1n;
  while ((fn & 1n) === 1n) { fn >>= 1n; sn >>= 1n; }
  let fr = path[0], sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new ProofError("the proof has the wrong number of hashes for these sizes");
    if ((fn & 1n) === 1n || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      if ((fn & 1n) === 0n) while ((fn & 1n) === 0n && fn !== 0n) { fn >>= 1n; sn >>= 1n; }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn >>= 1n; sn >>= 1n;
  }
  if (sn !== 0n) throw new ProofError("the proof has the wrong number of hashes for these sizes");
  if (!equal(fr, firstRoot) || !equal(sr, secondRoot)) throw new ProofError("the proof does not lead to the expected root");
}

function uint64(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, size(n, "integer"));
  return out;
}

/** RFC 6962 §3.5 TreeHeadSignature: version v1 (0), type tree_hash (1), timestamp, tree_size, root. */
export function treeHeadMessage(timestampMs, treeSize, root) {
  if (root.length !== 32) throw new ProofError(`the root is ${root.length} bytes, not 32`);
  return concat(Uint8Array.of(0, 1), uint64(timestampMs), uint64(treeSize), root);
}

/** Checks a get-sth JSON object's signature (a TLS DigitallySigned, scheme ed25519 0x0807) with the
 *  node's raw 32-byte Ed25519 public key. Throws ProofError saying why not. */
export async function verifyTreeHead(sth, publicKey) {
  const signed = bytesFromBase64(sth.tree_head_signature);
  if (signed.length !== 68 || signed[0] !== 0x08 || signed[1] !== 0x07 || signed[2] !== 0 || signed[3] !== 64) {
    throw new ProofError("the signature is not a DigitallySigned ed25519 (0x0807) signature of 64 bytes");
  }
  if (publicKey.length !== 32) throw new ProofError(`the node key is ${publicKey.length} bytes, not 32`);
  const message = treeHeadMessage(sth.timestamp, sth.tree_size, bytesFromBase64(sth.sha256_root_hash));
  const key = await subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  if (!(await subtle.verify({ name: "Ed25519" }, key, signed.slice(4), message))) {
    throw new ProofError("the tree head's signature is not the node key's");
  }
}

async function outcome(check) {
  try { await check(); return true; } catch (error) {
    if (error instanceof ProofError) return false;
    throw error;
  }
}

/** Runs every case of verifier-vectors.json; answers {passed, failed: [names]}. A case passes when
 *  the verifier accepts it exactly when `valid` is true, and builds exactly `signed_message`. */
export async function runVectors(vectors) {
  const failed = [];
  for (const c of vectors.leaves) {
    if (hex(await leafHash(bytesFromHex(c.input))) !== c.leaf_hash) failed.push(`leaf ${c.input}`);
  }
  for (const c of vectors.inclusion) {
    const ok = await outcome(() => verifyInclusion(bytesFromHex(c.leaf_hash), c.leaf_index, c.tree_size, c.proof.map(bytesFromHex), bytesFromHex(c.root)));
    if (ok !== c.valid) failed.push(c.name);
  }
  for (const c of vectors.consistency) {
    const ok = await outcome(() => verifyConsistency(c.size1, c.size2, bytesFromHex(c.root1), bytesFromHex(c.root2), c.proof.map(bytesFromHex)));
    if (ok !== c.valid) failed.push(c.name);
  }
  for (const c of vectors.tree_heads) {
    let built = "";
    try { built = hex(treeHeadMessage(c.sth.timestamp, c.sth.tree_size, bytesFromBase64(c.sth.sha256_root_hash))); } catch { built = ""; }
    if (c.signed_message && built !== c.signed_message) failed.push(`${c.name}: signed message`);
    const ok = await outcome(() => verifyTreeHead(c.sth, bytesFromBase64(c.public_key)));
    if (ok !== c.valid) failed.push(c.name);
  }
  const total = vectors.leaves.length + vectors.inclusion.length + vectors.consistency.length + vectors.tree_heads.length;
  return { total, passed: total - failed.length, failed };
}

/** Verifies a proof bundle as GET /portal/explorer/proof answers it. `remembered` is a tree head this
 *  browser verified before ({tree_size, sha256_root_hash, log_key}) or null. Answers a list of checks
 *  {name, ok, detail}; never throws for a bad bundle. */
export async function verifyBundle(bundle, remembered) {
  const checks = [];
  async function check(name, body) {
    try { checks.push({ name, ok: true, detail: await body() }); } catch (error) {
      checks.push({ name, ok: false, detail: error instanceof ProofError ? error.message : `malformed bundle (${error.message})` });
    }
  }
  const sth = bundle?.sth ?? {};
  await check("Tree head signature", async () => {
    const key = bytesFromBase64(bundle.log_key.ed25519);
    if (remembered && remembered.log_key && remembered.log_key !== bundle.log_key.ed25519) {
      throw new ProofError("the node's key is not the one this browser verified before");
    }
    await verifyTreeHead(sth, key);
    return `signed by node key ${hex(key).slice(0, 16)}… over size ${sth.tree_size}, root ${sth.sha256_root_hash}`;
  });
  await check("Inclusion proof", async () => {
    const p = bundle.inclusion;
    if (BigInt(p.tree_size) !== BigInt(sth.tree_size)) throw new ProofError("the proof is for another tree size than the signed head");
    await verifyInclusion(bytesFromBase64(p.leaf_hash), p.leaf_index, p.tree_size, p.audit_path.map(bytesFromBase64), bytesFromBase64(sth.sha256_root_hash));
    return `leaf ${p.leaf_index} is in the signed tree of ${p.tree_size} (${p.audit_path.length} hashes)`;
  });
  await check("Consistency proof", async () => {
    const p = bundle.consistency;
    if (BigInt(p.second) !== BigInt(sth.tree_size)) throw new ProofError("the proof ends at another tree size than the signed head");
    const useRemembered = remembered && BigInt(remembered.tree_size) === BigInt(p.first);
    const firstRoot = bytesFromBase64(useRemembered ? remembered.sha256_root_hash : p.first_root);
    await verifyConsistency(p.first, p.second, firstRoot, bytesFromBase64(sth.sha256_root_hash), p.proof.map(bytesFromBase64));
    const from = useRemembered ? "the tree head this browser verified before" : (p.first_source || "an earlier tree head");
    return `the tree of ${p.first} (${from}) is a prefix of the signed tree of ${p.second} (${p.proof.length} hashes)`;
  });
  return checks;
}
