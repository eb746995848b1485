// The patient's pages: which key this browser holds against the one the ledger has, taking control
// (membership.rotateKey signed here with the custodian's handover key), the backup file, and consents
// granted and revoked (consent.grant / consent.revoke signed here). Every write goes to POST /v1/txs.
// Records (GET /v1/records/{id}/release with her own token) and break-glass justifications are
// decrypted here (record-crypto.js); the access log follows GET /portal/events for new entries.
import { bearerToken, calls, checkSigner, download, forgetPatient, loadPatient, nextKeys, submitCall } from "./patient-keys.js";
import { agreementKeys, checkDecrypter, openNote, openRelease } from "./record-crypto.js";

const page = document.getElementById("patient-page").dataset;
const base = page.base;
const statusLine = document.getElementById("patient-status");
const signerLine = document.getElementById("signer-status");
const decrypterLine = document.getElementById("decrypter-status");
let decrypterReady = false;
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
  if (decrypterLine) {
    try {
      const tested = await checkDecrypter(base);
      decrypterReady = true;
      say(decrypterLine, "pass", `This browser's decryption passed ${tested.passed} of ${tested.total} test vectors.`);
    } catch (error) { say(decrypterLine, "fail", error.message); }
  }
  entry = await loadPatient().catch(() => undefined);
  const flash = sessionStorage.getItem("careledger.flash");
  sessionStorage.removeItem("careledger.flash");
  if (!entry || entry.id !== page.id) {
    say(statusLine, "none", "This browser holds no key of yours: you can look, but not sign. Restore your backup on the sign-in page.");
    entry = null; // another patient's key (or none): never used for her
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
  setupRecords();
  setupAccessLog();
  setupTrials();
}

// Trial consents: withdrawal is a trials.withdraw this browser signs.
function setupTrials() {
  const list = document.getElementById("active-trials");
  if (!list) return;
  const canSign = entry && !entry.custodial;
  for (const button of list.querySelectorAll("button.withdraw")) {
    button.disabled = !canSign;
    button.addEventListener("click", async () => {
      const trial = button.dataset.trial;
      if (!confirm(`Withdraw your consent to trial ${trial}? No more data about you may be added to it from the next block.`)) return;
      button.disabled = true;
      say(statusLine, "working", `Signing your withdrawal from ${trial} in this browser and waiting for its block…`);
      try {
        await submitCall(page, entry, calls.trialWithdraw({ trial, patient: page.id }), sequence);
        reloadWith(`You withdrew from trial ${trial}.`);
      } catch (error) { say(statusLine, "error", `Not withdrawn: ${error.message}`); button.disabled = false; }
    });
  }
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

// My records: each opened on request (every opening is a read in her access log, as anyone's).
function setupRecords() {
  const list = document.getElementById("records");
  if (!list) return;
  for (const button of list.querySelectorAll("button.open-record")) {
    button.disabled = !(entry && decrypterReady);
    button.addEventListener("click", async () => {
      const item = button.closest("li"), line = item.querySelector(".record-status"), out = item.querySelector(".record-content");
      button.disabled = true;
      say(line, "working", "Fetching the ciphertext and its key, wrapped to your key…");
      try {
        const token = await bearerToken(entry, page.tokenUrl);
        const answer = await fetch(`/v1/records/${button.dataset.record}/release?purpose=TREAT`,
                                   { credentials: "omit", headers: { Authorization: `Bearer ${token}` } });
        const release = await answer.json().catch(() => ({}));
        if (!answer.ok) throw new Error(release.message || release.error || `the node answered ${answer.status}`);
        say(line, "working", "Decrypting in this browser…");
        const plain = new TextDecoder("utf-8", { fatal: true }).decode(await openRelease(await agreementKeys(entry), release, page.id));
        let text = plain;
        try { text = JSON.stringify(JSON.parse(plain), null, 2); } catch { /* not JSON: shown as it is */ }
        out.textContent = text;
        out.hidden = false;
        say(line, "open", `Decrypted in this browser: version ${release.record.version}, read logged as entry ${release.audit_index} of your access log.`);
        button.textContent = "Decrypt again";
      } catch (error) { say(line, "error", `Not opened: ${error.message}`); }
      button.disabled = false;
    });
  }
}

// A break-glass justification, sealed to her key (or the key she held then), opened here.
async function openJustification(span) {
  if (!entry || !decrypterReady) {
    span.dataset.state = "sealed";
    span.textContent = " — justification sealed to your key (restore your keys in this browser to read it)";
    return;
  }
  try {
    const text = await openNote(await agreementKeys(entry), Uint8Array.from(atob(span.dataset.sealed), (c) => c.charCodeAt(0)), page.id);
    span.textContent = ` — “${text}”`;
    span.dataset.state = "open";
  } catch (error) {
    span.dataset.state = "error";
    span.textContent = ` — the justification could not be opened here: ${error.message}`;
  }
}

const isoSeconds = (ms) => new Date(Number(ms)).toISOString().replace(/\.\d{3}Z$/, "Z");
function cell(row, ...children) { const td = document.createElement("td"); td.append(...children); row.append(td); return td; }
function element(name, text, attributes = {}) {
  const node = document.createElement(name);
  node.textContent = text;
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

/// A row as the server renders one (access-log.mustache), from an `access` event.
function accessRow(e, who) {
  const denied = e.outcome === "deny", breakGlass = e.outcome === "break-glass" || e.reason === "break-glass";
  const row = document.createElement("tr");
  row.className = [denied ? "denied" : "", breakGlass ? "break-glass" : "", "live"].filter(Boolean).join(" ");
  Object.assign(row.dataset, { index: String(e.index), outcome: e.outcome, requester: e.requester, who });
  const when = isoSeconds(e.time_ms);
  cell(row, element("time", when, { datetime: when }));
  cell(row, who);
  cell(row, element("code", `${e.record.slice(0, 12)}…`, { title: e.record }), ` v${e.version}`);
  cell(row, `${e.purpose} · ${e.action}`);
  cell(row, denied ? element("strong", "refused", { class: "bad" }) : breakGlass ? element("strong", "BREAK-GLASS", { class: "bad" })
    : element("span", "allowed", { class: "ok" }));
  const reason = cell(row, e.reason);
  if (e.sealed_justification) {
    const span = element("span", " — justification sealed to your key", { class: "justification", "data-sealed": e.sealed_justification });
    reason.append(span);
    openJustification(span);
  }
  return row;
}

// The access log: justifications opened, and new entries prepended as they are written (the
// portal's event stream, for this session's identity only; from the position the page was rendered at).
function setupAccessLog() {
  const table = document.getElementById("access-log");
  if (!table) return;
  for (const span of table.querySelectorAll(".justification[data-sealed]")) openJustification(span);
  const live = document.getElementById("live-status");
  if (!live) return; // an older page: nothing new arrives on it
  const from = table.dataset.eventsFrom;
  const source = new EventSource(`${base}/events${from ? `?from=${encodeURIComponent(from)}` : ""}`);
  source.addEventListener("open", () => say(live, "ready", "Live: new entries appear at the top as they are written."));
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) say(live, "error", "Not live any more (signed out, or the session ended): reload the page after signing in.");
    else say(live, "loading", "Reconnecting for new entries…");
  });
  source.addEventListener("access", (event) => {
    let e;
    try { e = JSON.parse(event.data); } catch { return; }
    if (e.patient !== page.id || table.querySelector(`tr[data-index="${CSS.escape(String(e.index))}"]`)) return;
    const known = [...table.querySelectorAll("tbody tr")].find((row) => row.dataset.requester === e.requester);
    const who = e.requester_label || known?.dataset.who || `${e.requester.slice(0, 12)}…`;
    const row = accessRow(e, who);
    row.dataset.arrivedMs = String(Date.now() - Number(e.time_ms)); // how long after its decision it arrived (this machine's clock)
    table.tBodies[0].prepend(row);
    document.getElementById("access-log-empty").hidden = true;
    document.getElementById("access-log-region").hidden = false;
  });
}

start().catch((error) => say(statusLine, "error", `The page could not start: ${error.message}`));
