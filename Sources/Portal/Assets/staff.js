// Staff pages (payer, pharmacy): decisions, fills and incident reports are transactions signed in this browser with the
// staff key it holds (imported on the sign-in page: a non-extractable WebCrypto key in IndexedDB) and
// posted to POST /v1/txs with an access token the browser gets for itself, as any client does. The
// contracts decide; the page shows their answer. Nothing is signed unless this browser's encoder passes
// tx-vectors.json, and nothing here re-checks a rule the contracts check.
import { checkSigner, stored, submitCall } from "./patient-keys.js";
import { calls } from "./canonical.js";

const page = document.getElementById("staff-page").dataset;
const keyLine = document.getElementById("staff-key-status");
const signerLine = document.getElementById("signer-status");
const say = (line, state, text) => { if (line) { line.dataset.state = state; line.textContent = text; } };
let sequence = BigInt(page.nextSequence);
let signer = null;

// After a committed transaction the page loads again to show the ledger's new state; the message survives the load.
function reloadWith(message, url) {
  sessionStorage.setItem("careledger.staff-flash", message);
  if (url) location.assign(url); else location.reload();
}

async function start() {
  if (!globalThis.crypto?.subtle) { say(keyLine, "error", "This browser has no WebCrypto here (it needs https, or http on localhost): it cannot sign."); return; }
  try {
    const tested = await checkSigner(page.base);
    say(signerLine, "pass", `This browser's transaction signer passed ${tested.passed} of ${tested.total} test vectors.`);
  } catch (error) { say(signerLine, "fail", error.message); return; }
  const key = await stored("readonly", (s) => s.get("staff")).catch(() => undefined);
  const flash = sessionStorage.getItem("careledger.staff-flash");
  sessionStorage.removeItem("careledger.staff-flash");
  if (!key) {
    say(keyLine, "none", "This browser holds no key of yours, so it cannot sign: to decide or fill, sign in with a key held in this browser.");
  } else if (key.id !== page.id) {
    say(keyLine, "stale", "The key this browser holds is another identity's: sign in with your own key held in this browser to sign here.");
  } else {
    // The ledger's registered public key: the contracts check the signature against it.
    signer = { id: key.id, signingPublic: page.signingKey, signingKey: key.privateKey };
    say(keyLine, "ready", flash ?? "This browser holds your key: decisions, fills and reports are signed here.");
  }
  if (flash && !signer) keyLine.textContent = `${flash} ${keyLine.textContent}`;
  setupDecisions();
  setupFill();
  setupReport();
}

async function sign(call) {
  const id = await submitCall(page, signer, call, sequence);
  sequence += 1n;
  return id;
}

function setupDecisions() {
  for (const form of document.querySelectorAll("form.decide-form")) {
    const button = form.querySelector(".decide-submit");
    const status = form.querySelector(".decide-status");
    button.disabled = !signer;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!signer) return;
      const approve = form.querySelector('input[name="decision"]:checked').value === "approve";
      const problems = [];
      let call;
      if (approve) {
        const until = form.querySelector('input[name="until"]').value;
        const units = form.querySelector('input[name="quantity"]').value.trim();
        if (!until) problems.push("choose the day the approval runs until");
        if (units && !/^[0-9]+$/.test(units)) problems.push("units are a whole number");
        // The first millisecond of that day (UTC), as `careledger claims decide --until` reads it.
        call = calls.decideAuthorization({ authorization: form.dataset.authorization, approve: true,
          quantity: units ? BigInt(units) : undefined, validUntilMs: until ? BigInt(Date.parse(`${until}T00:00:00Z`)) : undefined });
      } else {
        const reason = form.querySelector('input[name="reason"]').value.trim();
        if (!reason) problems.push("give the reason for the denial");
        call = calls.decideAuthorization({ authorization: form.dataset.authorization, approve: false, reason });
      }
      if (problems.length) { say(status, "error", `Not decided: ${problems.join("; ")}.`); return; }
      button.disabled = true;
      say(status, "working", "Signing in this browser and waiting for the block…");
      try {
        const id = await sign(call);
        reloadWith(`Authorization ${form.dataset.authorization.slice(0, 12)}… ${approve ? "approved" : "denied"} (transaction ${id.slice(0, 12)}…).`);
      } catch (error) {
        say(status, "error", `Not decided: ${error.message}`);
        button.disabled = false;
      }
    });
  }
}

// A form whose submit signs one call in this browser: its button and status line are `NAME-submit` and
// `NAME-status`, `call` builds the call from the form, `done` hears the committed transaction's id.
function setupSigned(form, name, failed, call, done) {
  if (!form) return;
  const button = document.getElementById(`${name}-submit`);
  const status = document.getElementById(`${name}-status`);
  button.disabled = !signer;
  if (!signer) say(status, "none", `Sign in with a key held in this browser to sign the ${name}.`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!signer) return;
    button.disabled = true;
    say(status, "working", `Signing the ${name} in this browser and waiting for the block…`);
    try {
      done(await sign(call(form)), status);
    } catch (error) {
      say(status, "error", `${failed}: ${error.message}`);
      button.disabled = false;
    }
  });
}

function setupFill() {
  const units = (form) => [...form.querySelectorAll("#fill-units li")].map((item) => ({ gtin: item.dataset.gtin, serial: item.dataset.serial }));
  let count = 0;
  setupSigned(document.getElementById("fill-sign-form"), "fill", "Not filled", (form) => {
    const packs = units(form);
    count = packs.length;
    return calls.fill({ prescription: form.dataset.prescription, units: packs });
  }, (id) => {
    const prescription = document.getElementById("fill-sign-form").dataset.prescription;
    reloadWith(`Filled with ${count} pack${count === 1 ? "" : "s"} (transaction ${id.slice(0, 12)}…).`, `${page.base}/pharmacy?prescription=${prescription}`);
  });
}

function setupReport() {
  setupSigned(document.getElementById("report-form"), "report", "Not reported", (form) => {
    const { gtin, serial, lot, expiryMs } = form.dataset;
    return calls.supplyVerify({ gtin, serial, lot, expiryMs: expiryMs ? BigInt(expiryMs) : undefined });
  }, (id, status) => say(status, "done", `Reported: the verdict is recorded on the ledger as an incident (transaction ${id.slice(0, 12)}…).`));
}

start().catch((error) => say(keyLine, "error", `The page could not start: ${error.message}`));
