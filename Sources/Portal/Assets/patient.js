// The patient's pages: which key this browser holds against the one the ledger has, taking control
// (membership.rotateKey signed here with the custodian's handover key), the backup file, and consents
// granted and revoked (consent.grant / consent.revoke signed here). Every write goes to POST /v1/txs.
import { calls, checkSigner, download, forgetPatient, loadPatient, nextKeys, submitCall } from "./patient-keys.js";

const page = document.getElementById("patient-page").dataset;
const base = page.base;
const statusLine = document.getElementById("patient-status");
const signerLine = document.getElementById("signer-status");
const say = (line, state, text) => { line.dataset.state = state; line.textContent = text; };
let entry = null;
let sequence = BigInt(page.nextSequence);

// After a committed transaction the page reloads to show the ledger's new state; the message survives the reload.
function reloadWith(message) { sessionStorage.setItem("careledger.flash", message); location.reload(); }

async function start() {
  if (!globalThis.crypto?.subtle) { say(statusLine, "error", "This browser has no WebCrypto here (it needs https, or http on localhost)."); return; }
  try {
    const tested = await checkSigner(base);
    say(signerLine, "pass", `This browser's transaction signer passed ${tested.passed} of ${tested.total} test vectors.`);
  } catch (error) { say(signerLine, "fail", error.message); }
  entry = await loadPatient().catch(() => undefined);
  const flash = sessionStorage.getItem("careledger.flash");
  sessionStorage.removeItem("careledger.flash");
  if (!entry || entry.id !== page.id) {
    say(statusLine, "none", "This browser holds no key of yours: you can look, but not sign. Restore your backup on the sign-in page.");
  } else if (entry.signingPublic !== page.signingKey) {
    say(statusLine, "stale", "The key in this browser is not your current key on the ledger (it was rotated elsewhere). Restore your latest backup.");
    entry = null;
  } else if (entry.custodial) {
    say(statusLine, "custodial", "This browser holds the key your hospital made for you; the hospital holds a copy. Take control below.");
  } else {
    say(statusLine, "ready", flash ?? "This browser holds your current key; only it can sign for you.");
  }
  if (flash && statusLine.dataset.state !== "ready") statusLine.textContent = `${flash} ${statusLine.textContent}`;
  setupKeys();
  setupConsents();
}

function setupKeys() {
  const takeControl = document.getElementById("take-control");
  if (!takeControl) return;
  takeControl.hidden = !(entry?.custodial);
  const backup = document.getElementById("download-backup"), forget = document.getElementById("forget-keys");
  backup.disabled = !(entry?.backup);
  forget.disabled = !entry;
  backup.addEventListener("click", () => entry?.backup && download(entry.backup, `careledger-patient-${page.id.slice(0, 12)}.json`));
  forget.addEventListener("click", async () => {
    if (!confirm("Forget your keys in this browser? Without your backup file you could not sign for yourself again.")) return;
    await forgetPatient();
    reloadWith("The keys were removed from this browser.");
  });
  document.getElementById("take-control-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const passphrase = document.getElementById("control-passphrase").value;
    if (passphrase !== document.getElementById("control-passphrase-again").value) { say(statusLine, "error", "The two passphrases differ."); return; }
    const button = document.getElementById("take-control-submit");
    button.disabled = true;
    try {
      say(statusLine, "working", "Making new keys and sealing your backup…");
      const next = await nextKeys(entry, passphrase);
      say(statusLine, "working", "Signing the key rotation with the handed-over key and waiting for its block…");
      await submitCall(page, entry, calls.rotateKey({ signingKey: next.signingPublic, agreementKey: next.agreementPublic }), sequence);
      entry = await next.adopt();
      sequence += 1n;
      // No reload: it could cancel the backup's download.
      download(entry.backup, `careledger-patient-${page.id.slice(0, 12)}.json`);
      takeControl.hidden = true;
      backup.disabled = false;
      say(statusLine, "ready", "You are in control: the ledger now holds this browser's key, and your backup file was saved.");
    } catch (error) {
      say(statusLine, "error", `Not done: ${error.message}`);
      button.disabled = false;
    }
  });
}

function checked(form, name) { return [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value); }

function setupConsents() {
  const form = document.getElementById("grant-form");
  if (!form) return;
  const canSign = entry && !entry.custodial;
  const grantStatus = document.getElementById("grant-status");
  if (entry?.custodial) grantStatus.textContent = "Take control of your keys first (My keys): until then your hospital could sign for you too.";
  document.getElementById("grant-submit").disabled = !canSign;
  for (const button of document.querySelectorAll("button.revoke")) {
    button.disabled = !canSign;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await submitCall(page, entry, calls.consentRevoke({ patient: page.id, consent: button.dataset.consent }), sequence);
        reloadWith("Consent revoked: from the next block it allows nothing.");
      } catch (error) { say(statusLine, "error", `Not revoked: ${error.message}`); button.disabled = false; }
    });
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const kind = form.querySelector('input[name="grantee-kind"]:checked').value;
    const grantee = kind === "role" ? { kind, role: document.getElementById("grantee-role").value }
      : { kind, id: (kind === "organization" ? document.getElementById("grantee-organization").value : document.getElementById("grantee-member").value.trim()).toLowerCase() };
    const categories = checked(form, "category"), purposes = checked(form, "purpose"), actions = checked(form, "action");
    const until = document.getElementById("grant-until").value;
    const problems = [];
    if (kind !== "role" && !/^[0-9a-f]{64}$/.test(grantee.id)) problems.push("name who: a ledger id is 64 hex characters");
    if (!categories.length) problems.push("tick at least one kind of record");
    if (!purposes.length) problems.push("tick at least one purpose");
    if (!actions.length) problems.push("tick read, add, or both");
    // The end of the chosen day, local time; the contract refuses an end in the past.
    const endMs = until ? new Date(`${until}T23:59:59.999`).getTime() + 1 : undefined;
    if (endMs !== undefined && !(endMs > Date.now())) problems.push("the end date has passed");
    if (problems.length) { grantStatus.textContent = `Not granted: ${problems.join("; ")}.`; grantStatus.dataset.state = "error"; return; }
    const button = document.getElementById("grant-submit");
    button.disabled = true;
    grantStatus.dataset.state = "working";
    grantStatus.textContent = "Signing in this browser and waiting for the block…";
    try {
      const id = await submitCall(page, entry, calls.consentGrant({ patient: page.id, grantee, categories, purposes, actions, endMs }), sequence);
      reloadWith(`Consent granted (${id.slice(0, 12)}…): it takes effect from the next block.`);
    } catch (error) {
      grantStatus.dataset.state = "error";
      grantStatus.textContent = `Not granted: ${error.message}`;
      button.disabled = false;
    }
  });
}

start().catch((error) => say(statusLine, "error", `The page could not start: ${error.message}`));
