"""The portal's main story in headless Chromium (Selenium), for PortalMainStoryBrowserTests: every
role in one run against one node, two browsers side by side (the patient's own, and the staff desk's
that each staff member signs in and out of).

 1. The hospital hands the patient her keys at its key-handover desk: a file and a one-time code.
 2. The patient opens the file with the code on the sign-in page, signs in, and takes control of her
    keys (membership.rotateKey signed in her browser; the new keys' backup is downloaded).
 3. She grants the clinic (consent.grant signed in her browser).
 4. The clinic's clinician finds her by family name and reads her chart.
 5. She revokes the consent; the clinician reloads the chart and is refused.
 6. Her access log shows the clinician's reads and the refusal.
 7. The payer's agent sees an adjudicated claim with its lines, CARC reasons and totals.
 8. The pharmacist scans a counterfeit pack (a serial the manufacturer never commissioned), sees the incident,
    and reports it (supply.verify signed in the browser).
 9. The auditor verifies a transaction's inclusion and consistency proofs in the browser against the signed tree head.
10. A new patient makes her keys in the browser and registers (membership.registerPatient signed there); the
    first patient forgets her keys in her browser, restores them from her backup file and signs in again.

A screenshot of each page goes to OUTPUT_DIR, after an audit of the page: landmarks, one <h1>, a label for
every field, text on every button and link, nothing a keyboard cannot reach, and WCAG AA text contrast. Prints one line per step; exits 1 on the first failure.

usage: main_story.py CONFIG_JSON
  CONFIG_JSON names: base, passphrase (of the staff key files), keys {hospital, clinician, payer,
  pharmacist, auditor} (sealed key files), patient (her FHIR id), family, clinic (the clinic's ledger
  id), clinician_label, backup_passphrase, counterfeit (a pack's element string), pharmacist_browser_key
  (a plain key file the pharmacist imports into the browser), output,
  staff_downloads, patient_downloads.
"""
import json
import os
import sys
import time

from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

from portal_browser import WAIT_SECONDS, check, fail, make_driver, step


# Run on every page the story photographs: what a screen reader and a keyboard need, and WCAG AA contrast.
ACCESSIBILITY_AUDIT = """
const problems = [];
const visible = (e) => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
  return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none"; };
for (const landmark of ["header", "nav", "main", "footer"]) {
  if (!document.querySelector(landmark)) problems.push(`no <${landmark}> landmark`);
}
if (!document.documentElement.lang) problems.push("no lang on <html>");
if (!document.title.trim()) problems.push("no title");
if (document.querySelectorAll("h1").length !== 1) problems.push(`${document.querySelectorAll("h1").length} <h1> elements`);
for (const field of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
  const labelled = field.labels?.length || field.getAttribute("aria-label") || field.getAttribute("aria-labelledby");
  if (!labelled) problems.push(`unlabelled ${field.tagName.toLowerCase()}#${field.id}[name=${field.name}]`);
}
for (const control of document.querySelectorAll("button, a[href]")) {
  if (visible(control) && !(control.textContent.trim() || control.getAttribute("aria-label") || control.title)) {
    problems.push(`a ${control.tagName.toLowerCase()} with no text: ${control.outerHTML.slice(0, 80)}`);
  }
  if (control.tabIndex < 0) problems.push(`not reachable by keyboard: ${control.outerHTML.slice(0, 80)}`);
}
for (const image of document.querySelectorAll("img")) if (!image.hasAttribute("alt")) problems.push(`img without alt: ${image.src}`);
const rgb = (text) => (text.match(/[0-9.]+/g) || []).map(Number);
const luminance = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
  .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
const background = (e) => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
  if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); } return [255, 255, 255]; };
const seen = new Set();
for (const e of document.querySelectorAll("body *")) {
  const text = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent.trim()).join("");
  if (!text || !visible(e)) continue;
  const s = getComputedStyle(e);
  const [a, b] = [luminance(rgb(s.color).slice(0, 3)), luminance(background(e))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
  const needed = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  const key = `${s.color} on ${background(e)}`;
  if (ratio < needed && !seen.has(key)) { seen.add(key); problems.push(`contrast ${ratio.toFixed(2)} < ${needed}: ${key} (“${text.slice(0, 40)}”)`); }
}
return problems;
"""


class Desk:
    """One browser and the waits, screenshots and checks the story needs of it."""

    def __init__(self, name, base, output, downloads):
        self.name, self.base, self.output, self.downloads = name, base, output, downloads
        self.driver = make_driver(downloads)
        self.wait = WebDriverWait(self.driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))

    def find(self, selector):
        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector):
        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def main_text(self):
        found = self.all("main")
        return found[0].text[:800] if found else self.driver.page_source[:800]

    def wait_url(self, part):
        try:
            self.wait.until(EC.url_contains(part))
        except Exception:
            fail(f"{self.name}: expected {part}, at {self.driver.current_url}: {self.main_text()}")

    def state(self, element_id, done):
        self.wait.until(lambda d: d.find_element(By.ID, element_id).get_attribute("data-state") in done)
        element = self.driver.find_element(By.ID, element_id)
        return element.get_attribute("data-state"), element.text

    def open_key_form(self, base, form):
        """Opens the sign-in page, in a browser that holds no patient key, and its key form `form`."""
        self.driver.get(f"{base}/portal/sign-in")
        check(self.state("patient-key-status", ("none", "ready", "error"))[0] == "none", f"{self.name}: the browser holds no patient key")
        self.find(f"#{form} summary").click()

    def submit_key_form(self, submit_id, word):
        """Submits a key form on the sign-in page; waits for the key status line to say `word` or to
        fail, and returns its state and text."""
        self.driver.find_element(By.ID, submit_id).click()
        line = lambda d: d.find_element(By.ID, "patient-key-status")
        self.wait.until(lambda d: word in line(d).text or line(d).get_attribute("data-state") == "error")
        return self.state("patient-key-status", ("ready", "error"))

    def shot(self, name, centre=None):
        problems = self.driver.execute_script(ACCESSIBILITY_AUDIT)
        check(not problems, f"{self.name}: {name}: accessibility: {problems}")
        path = os.path.join(self.output, name)
        if centre:
            self.driver.execute_script("document.getElementById(arguments[0]).scrollIntoView({block: 'center'})", centre)
        else:
            self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.save_screenshot(path)
        step(f"screenshot {path}")

    def new_file(self, before, suffix=".json"):
        deadline = time.time() + WAIT_SECONDS
        while True:
            # Chromium writes a download under a temporary name, then renames it.
            made = [f for f in os.listdir(self.downloads) if f.endswith(suffix) and f not in before]
            if made:
                return os.path.join(self.downloads, made[0])
            check(time.time() < deadline, f"{self.name}: no file was downloaded")
            time.sleep(0.1)

    def no_console_errors(self, allowed=()):
        # Reading the log empties it: each check covers the pages since the last one.
        errors = [e for e in self.driver.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
                  and not any(text in e["message"] for text in allowed)]
        check(not errors, f"{self.name}: console errors: {errors}")

    def sign_in_with_key_file(self, key_file, passphrase, landing):
        self.driver.get(f"{self.base}/portal/sign-in")
        self.driver.find_element(By.ID, "key-file").send_keys(key_file)
        self.driver.find_element(By.ID, "passphrase").send_keys(passphrase)
        self.driver.find_element(By.ID, "key-file-submit").click()
        self.wait_url(landing)

    def sign_out(self):
        self.find("form.who button[type=submit]").click()
        self.wait_url("/portal/sign-in")


def main():
    config = json.load(open(sys.argv[1], encoding="utf-8"))
    base, output = config["base"], config["output"]
    os.makedirs(output, exist_ok=True)
    staff = Desk("staff", base, output, config["staff_downloads"])
    patient = Desk("patient", base, output, config["patient_downloads"])
    keys, passphrase = config["keys"], config["passphrase"]
    try:
        step("1. the hospital seals the patient's keys at its key-handover desk")
        staff.sign_in_with_key_file(keys["hospital"], passphrase, "/portal/explorer")
        staff.driver.find_element(By.LINK_TEXT, "Key handover").click()
        staff.wait_url("/portal/handover")
        staff.driver.find_element(By.ID, "handover-patient").send_keys(config["patient"])
        staff.driver.find_element(By.ID, "handover-submit").click()
        staff.wait.until(lambda d: d.find_elements(By.ID, "handover-code") or d.find_elements(By.ID, "handover-error"))
        check(not staff.all("#handover-error"), f"handover refused: {staff.main_text()}")
        code = staff.driver.find_element(By.ID, "handover-code").text.strip()
        before = set(os.listdir(staff.downloads))
        staff.driver.find_element(By.ID, "handover-download").click()
        handover = staff.new_file(before)
        staff.shot("1-hospital-handover.png")
        staff.no_console_errors()
        staff.sign_out()

        step("2. the patient opens the handover file with the code, signs in, and takes control of her keys")
        patient.open_key_form(base, "patient-handover")
        patient.driver.find_element(By.ID, "handover-file").send_keys(handover)
        patient.driver.find_element(By.ID, "handover-code").send_keys(code)
        opened = patient.submit_key_form("handover-submit", "Opened")
        check(opened[0] == "ready", f"the handover file: {opened}")
        patient.driver.find_element(By.ID, "patient-sign-in").click()
        patient.wait_url("/portal/patient")
        status = patient.state("patient-status", ("ready", "custodial", "error", "stale", "none"))
        check(status[0] == "custodial", f"the hospital still holds her keys: {status}")
        check(patient.state("signer-status", ("pass", "fail"))[0] == "pass", "the browser's signer passed its self-test")
        patient.driver.find_element(By.ID, "control-passphrase").send_keys(config["backup_passphrase"])
        patient.driver.find_element(By.ID, "control-passphrase-again").send_keys(config["backup_passphrase"])
        before = set(os.listdir(patient.downloads))
        patient.driver.find_element(By.ID, "take-control-submit").click()
        status = patient.state("patient-status", ("ready", "error"))
        check(status[0] == "ready", f"take control: {status}")
        backup = patient.new_file(before)
        patient.shot("2-patient-in-control.png")

        step("3. she grants the clinic (general records, treatment)")
        patient.driver.find_element(By.LINK_TEXT, "My consents").click()
        patient.wait_url("/portal/patient/consents")
        check(patient.state("signer-status", ("pass", "fail"))[0] == "pass", "the consents page's signer passed its self-test")
        Select(patient.driver.find_element(By.ID, "grantee-organization")).select_by_value(config["clinic"])
        patient.wait.until(lambda d: d.find_element(By.ID, "grant-submit").is_enabled())
        patient.driver.find_element(By.ID, "grant-submit").click()
        patient.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#active-consents li")) == 1
                           or d.find_element(By.ID, "grant-status").get_attribute("data-state") == "error")
        granted = patient.all("#active-consents li")
        check(len(granted) == 1, f"one consent: {patient.driver.find_element(By.ID, 'grant-status').text}")
        patient.shot("3-patient-granted.png")

        step("4. the clinic's clinician finds her by family name and reads her chart")
        staff.sign_in_with_key_file(keys["clinician"], passphrase, "/portal/clinician")
        staff.driver.find_element(By.ID, "search-name").send_keys(config["family"])
        staff.find("#patient-search button[type=submit]").click()
        staff.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results a") or d.find_elements(By.ID, "no-results"))
        check(staff.all("#results a"), f"the clinician finds her once she consents: {staff.main_text()}")
        staff.find("#results a").click()
        staff.wait_url("/portal/clinician/patient")
        check(not staff.all("#refusal"), f"the chart is refused: {staff.main_text()}")
        rows = staff.all("#records tbody tr")
        check(len(rows) >= 1, f"her records are listed: {staff.main_text()}")
        chart = staff.driver.current_url
        staff.shot("4-clinician-reads.png")

        step("5. she revokes; the clinician reloads the chart and is refused")
        patient.wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#active-consents button.revoke").is_enabled())
        patient.find("#active-consents button.revoke").click()
        patient.wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#revoked-consents li")) == 1
                           or d.find_element(By.ID, "patient-status").get_attribute("data-state") == "error")
        check(not patient.all("#active-consents li"), "no active consent after revoking")
        patient.shot("5-patient-revoked.png")
        staff.driver.get(chart)
        staff.wait.until(lambda d: d.find_elements(By.ID, "refusal") or d.find_elements(By.ID, "records"))
        check(staff.all("#refusal"), f"the clinician is refused after the revocation: {staff.main_text()}")
        check(not staff.all("#records"), "no record is shown to a refused clinician")
        staff.shot("5-clinician-refused.png")
        staff.no_console_errors(allowed=("status of 404",))  # the refused chart answers 404: she is not shown to exist
        staff.sign_out()

        step("6. her access log shows the clinician's reads and the refusal")
        patient.driver.find_element(By.LINK_TEXT, "Access log").click()
        patient.wait_url("/portal/patient/access-log")
        rows = patient.all("#access-log tbody tr")
        by_clinician = [row.get_attribute("data-outcome") for row in rows if config["clinician_label"] in row.text]
        check(by_clinician[:1] == ["deny"], f"newest first, the clinician's refusal: {by_clinician}")
        check("permit" in by_clinician, f"and before it the clinician's reads: {by_clinician}")
        patient.shot("6-patient-access-log.png")
        patient.no_console_errors()

        step("7. the payer's agent sees an adjudicated claim with its lines, CARC reasons and totals")
        staff.sign_in_with_key_file(keys["payer"], passphrase, "/portal/payer")
        claims = staff.all("#claims article.claim")
        check(claims, f"claims in the queue: {staff.main_text()}")
        paid = [c for c in claims if c.get_attribute("data-outcome") in ("paid", "partial")]
        check(paid, f"an adjudicated, paid claim: {[c.get_attribute('data-outcome') for c in claims]}")
        text = paid[0].text
        check("CARC" in text and "Total" in text, f"lines, reasons and totals: {text[:600]}")
        staff.shot("7-payer-claims.png")
        staff.sign_out()

        step("8. the pharmacist scans a counterfeit pack, sees the incident, and reports it on the ledger")
        # A key held in the browser (imported from a key file on the sign-in page): the report is signed here.
        staff.driver.get(f"{base}/portal/sign-in")
        staff.wait.until(lambda d: d.find_element(By.ID, "browser-key-status").get_attribute("data-state") != "loading")
        staff.driver.find_element(By.ID, "browser-key-file").send_keys(config["pharmacist_browser_key"])
        imported = staff.state("browser-key-status", ("ready", "error"))
        check(imported[0] == "ready", f"the pharmacist's key in the browser: {imported}")
        staff.driver.find_element(By.ID, "browser-key-submit").click()
        staff.wait_url("/portal/pharmacy")
        staff.driver.find_element(By.ID, "scan").send_keys(config["counterfeit"])
        staff.find("#verify-form button[type=submit]").click()
        staff.wait.until(lambda d: d.find_elements(By.ID, "verify-result") or d.find_elements(By.ID, "verify-error"))
        check(not staff.all("#verify-error"), f"the scan was refused: {staff.main_text()}")
        verdict = staff.driver.find_element(By.ID, "verify-result")
        check(verdict.get_attribute("data-verdict") == "unknown-serial" and "INCIDENT" in verdict.text, f"the verdict: {verdict.text}")
        check(staff.state("staff-key-status", ("ready", "none", "stale", "error"))[0] == "ready", "the browser holds the pharmacist's key")
        staff.wait.until(lambda d: d.find_element(By.ID, "report-submit").is_enabled())
        staff.driver.find_element(By.ID, "report-submit").click()
        reported = staff.state("report-status", ("done", "error"))
        check(reported[0] == "done", f"the report: {reported}")
        staff.shot("8-pharmacist-counterfeit.png", centre="verify-result")
        staff.no_console_errors()
        staff.sign_out()

        step("9. the auditor verifies a transaction's proofs in the browser")
        staff.sign_in_with_key_file(keys["auditor"], passphrase, "/portal/explorer")
        buttons = staff.all("button.verify-leaf")
        check(len(buttons) >= 2, f"{len(buttons)} transactions to verify")
        staff.wait.until(lambda d: buttons[-1].is_enabled())
        buttons[-1].click()
        staff.wait.until(lambda d: d.find_element(By.ID, "verify-status").get_attribute("data-state") in ("pass", "fail"))
        checks = {li.get_attribute("data-check"): li.get_attribute("data-ok") == "true" for li in staff.all("#verify-checks li")}
        check(staff.driver.find_element(By.ID, "verify-status").get_attribute("data-state") == "pass", f"verification: {checks}")
        for name in ["Tree head signature", "Inclusion proof", "Consistency proof"]:
            check(checks.get(name), f"{name}: {checks}")
        staff.shot("9-auditor-verified.png")
        staff.no_console_errors()
        staff.sign_out()

        step("10. a new patient makes her keys in the browser and registers; the first patient restores hers from her backup")
        staff.open_key_form(base, "patient-create")
        staff.driver.find_element(By.ID, "create-passphrase").send_keys(config["backup_passphrase"])
        staff.driver.find_element(By.ID, "create-passphrase-again").send_keys(config["backup_passphrase"])
        before = set(os.listdir(staff.downloads))
        created = staff.submit_key_form("create-submit", "Registered")
        check(created[0] == "ready" and "Registered" in created[1], f"a new patient: {created}")
        staff.new_file(before)
        staff.driver.find_element(By.ID, "patient-sign-in").click()
        staff.wait_url("/portal/patient")
        check(staff.state("patient-status", ("ready", "custodial", "error", "stale", "none"))[0] == "ready", "the new patient signs for herself")
        print("new patient: " + staff.driver.find_element(By.ID, "patient-id").text, flush=True)
        staff.shot("10-new-patient.png")

        patient.driver.find_element(By.LINK_TEXT, "My keys").click()
        patient.wait_url("/portal/patient")
        patient.wait.until(lambda d: d.find_element(By.ID, "download-backup").is_enabled())
        # Chromium, told by DevTools where to save, overwrites a file of the same name: the backup
        # taking control saved is moved aside first, so the button's file is a new one.
        aside = os.path.join(patient.downloads, "backup-taking-control-saved.keep")
        os.rename(backup, aside)
        backup = aside
        before = set(os.listdir(patient.downloads))
        patient.driver.find_element(By.ID, "download-backup").click()
        again = patient.new_file(before)
        time.sleep(0.5)  # the file is renamed into place once written; let a slow disk finish
        check(open(again, "rb").read() == open(backup, "rb").read(), "the backup button saves the backup taking control made")
        patient.wait.until(lambda d: d.find_element(By.ID, "forget-keys").is_enabled())
        patient.driver.find_element(By.ID, "forget-keys").click()
        patient.wait.until(EC.alert_is_present())
        patient.driver.switch_to.alert.accept()
        patient.wait.until(lambda d: "removed" in d.find_element(By.ID, "patient-status").text)
        patient.sign_out()
        patient.open_key_form(base, "patient-restore")   # the keys are gone from her browser
        patient.driver.find_element(By.ID, "restore-file").send_keys(backup)
        patient.driver.find_element(By.ID, "restore-passphrase").send_keys(config["backup_passphrase"])
        restored = patient.submit_key_form("restore-submit", "Restored")
        check(restored[0] == "ready", f"her backup restored: {restored}")
        patient.driver.find_element(By.ID, "patient-sign-in").click()
        patient.wait_url("/portal/patient")
        check(patient.state("patient-status", ("ready", "custodial", "error", "stale", "none"))[0] == "ready",
              "signed in again with the restored key, which the ledger holds")
        patient.shot("10-patient-restored.png")
        patient.no_console_errors()
        print("main story: all steps passed", flush=True)
    finally:
        staff.driver.quit()
        patient.driver.quit()


if __name__ == "__main__":
    main()
