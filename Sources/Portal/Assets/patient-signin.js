// The sign-in page's patient card: make keys (and register them: membership.registerPatient signed
// here), restore a backup, or open a custodian's handover file; then sign in with a client assertion
// signed by the key this browser holds, answering the form's one-time challenge.
import { assertion, createKeys, download, loadPatient, registerPatient, restoreKeys, FILE_BYTES_MAX } from "./patient-keys.js";

const form = document.getElementById("patient-sign-in-form");
const statusLine = document.getElementById("patient-key-status");
const signIn = document.getElementById("patient-sign-in");
const say = (state, text) => { statusLine.dataset.state = state; statusLine.textContent = text; };

async function refresh(message) {
  if (!globalThis.crypto?.subtle) { say("unavailable", "This browser has no WebCrypto here (it needs https, or http on localhost)."); return; }
  const entry = await loadPatient().catch(() => undefined);
  signIn.disabled = !entry;
  say(entry ? "ready" : "none", message ?? (entry ? `This browser holds the key of patient ${entry.id.slice(0, 12)}…${entry.custodial ? " (handed over by your hospital)" : ""}.`
                                                  : "This browser holds no patient key yet: make one, restore your backup, or open your hospital's key file."));
}

async function readFile(input) {
  const file = input.files[0];
  if (!file) throw new Error("choose the file");
  if (file.size > FILE_BYTES_MAX) throw new Error(`a key file is at most ${FILE_BYTES_MAX} bytes`);
  return file.text();
}

function handle(id, work) {
  document.getElementById(id).addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = event.target.querySelector("button[type=submit]");
    button.disabled = true;
    try { await refresh(await work()); } catch (error) { say("error", `Not done: ${error.message}`); }
    button.disabled = false;
  });
}

handle("patient-create-form", async () => {
  const passphrase = document.getElementById("create-passphrase").value;
  if (passphrase !== document.getElementById("create-passphrase-again").value) throw new Error("the two passphrases differ");
  say("working", "Making your keys and sealing your backup…");
  const entry = await createKeys(passphrase);
  say("working", "Registering your key on the ledger (signed in this browser)…");
  await registerPatient(form, entry);
  download(entry.backup, `careledger-patient-${entry.id.slice(0, 12)}.json`);
  return `Registered as patient ${entry.id.slice(0, 12)}…; your backup file was saved. Sign in.`;
});
handle("patient-restore-form", async () => {
  const entry = await restoreKeys(await readFile(document.getElementById("restore-file")), document.getElementById("restore-passphrase").value);
  if (entry.custodial) return `Opened your hospital's key file for patient ${entry.id.slice(0, 12)}…. Sign in, then take control.`;
  return `Restored the key of patient ${entry.id.slice(0, 12)}…. Sign in.`;
});
handle("patient-handover-form", async () => {
  const entry = await restoreKeys(await readFile(document.getElementById("handover-file")), document.getElementById("handover-code").value);
  return `Opened the key your hospital made for patient ${entry.id.slice(0, 12)}…. Sign in, then take control.`;
});

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const entry = await loadPatient();
    if (!entry) throw new Error("this browser holds no patient key");
    document.getElementById("patient-assertion").value = await assertion(entry, form.dataset.tokenUrl, form.dataset.challenge);
    form.submit();
  } catch (error) { say("error", `Could not sign in: ${error.message}`); }
});

refresh();
