// The explorer's "Verify" buttons: fetch a proof bundle, check the verifier against its vectors,
// then check the bundle in this browser (verify.js). Remembers the last tree head it verified
// (per chain, in localStorage) and proves the log consistent with it next time.
import { runVectors, verifyBundle } from "./verify.js";

const base = new URL(".", import.meta.url).pathname.replace(/\/static\/$/, "");
const chainId = document.getElementById("tree-head").dataset.chainId;
const statusLine = document.getElementById("verify-status");
const list = document.getElementById("verify-checks");
const bundleText = document.getElementById("proof-json");
const verifyText = document.getElementById("verify-json");
const rememberedKey = `careledger.portal.tree-head.${chainId}`;
let selfTest = null;

function remembered() {
  try { return JSON.parse(localStorage.getItem(rememberedKey)); } catch { return null; }
}

function show(state, text, checks) {
  statusLine.dataset.state = state;
  statusLine.textContent = text;
  list.replaceChildren(...(checks ?? []).map((c) => {
    const item = document.createElement("li");
    item.className = c.ok ? "pass" : "fail";
    item.dataset.check = c.name;
    item.dataset.ok = String(c.ok);
    const label = document.createElement("strong");
    label.textContent = `${c.ok ? "✔ verified" : "✘ failed"}: ${c.name}. `;
    item.append(label, c.detail);
    return item;
  }));
}

async function testVerifier() {
  if (!selfTest) {
    const answer = await fetch(`${base}/static/verifier-vectors.json`, { credentials: "same-origin" });
    if (!answer.ok) throw new Error(`the test vectors could not be loaded (${answer.status})`);
    selfTest = await runVectors(await answer.json());
  }
  return { name: "Verifier self-test", ok: selfTest.failed.length === 0,
           detail: selfTest.failed.length === 0 ? `${selfTest.passed} of ${selfTest.total} test vectors`
                                                : `failed ${selfTest.failed.slice(0, 5).join(", ")}` };
}

async function verifyShown() {
  let bundle;
  try { bundle = JSON.parse(bundleText.value); } catch (error) {
    show("fail", "The bundle is not JSON.", [{ name: "Bundle", ok: false, detail: error.message }]);
    return;
  }
  show("working", "Verifying in this browser…");
  const checks = [await testVerifier(), ...await verifyBundle(bundle, remembered())];
  const ok = checks.every((c) => c.ok);
  show(ok ? "pass" : "fail", ok ? "Verified in this browser: every check passed." : "Verification FAILED: see below.", checks);
  if (ok) {
    localStorage.setItem(rememberedKey, JSON.stringify({ tree_size: bundle.sth.tree_size, sha256_root_hash: bundle.sth.sha256_root_hash,
                                                         log_key: bundle.log_key.ed25519 }));
  }
}

async function verifyLeaf(button) {
  show("working", `Fetching the proofs of transaction ${button.dataset.index}…`);
  const query = new URLSearchParams({ leaf: button.dataset.leaf });
  const known = remembered();
  if (known) query.set("first", String(known.tree_size));
  const answer = await fetch(`${base}/explorer/proof?${query}`, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    show("fail", "The node did not give the proofs.", [{ name: "Fetch", ok: false, detail: body.message ?? `HTTP ${answer.status}` }]);
    return;
  }
  bundleText.value = JSON.stringify(body, null, 2);
  verifyText.disabled = false;
  await verifyShown();
}

for (const button of document.querySelectorAll("button.verify-leaf")) {
  button.disabled = false;
  button.addEventListener("click", () => verifyLeaf(button).catch((error) => show("fail", "Verification could not run.",
    [{ name: "Error", ok: false, detail: error.message }])));
}
bundleText.addEventListener("input", () => { verifyText.disabled = bundleText.value.trim() === ""; });
verifyText.addEventListener("click", () => verifyShown().catch((error) => show("fail", "Verification could not run.",
  [{ name: "Error", ok: false, detail: error.message }])));
document.getElementById("forget-head").addEventListener("click", () => {
  localStorage.removeItem(rememberedKey);
  show("idle", "Forgot the remembered tree head: the next check starts from the transaction's block.");
});
if (!globalThis.crypto?.subtle) show("fail", "This browser has no WebCrypto (it needs a secure context: https, or http on localhost).");
