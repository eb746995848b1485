"""Drives the CareLedger portal in headless Chromium (Selenium), for PortalBrowserTests.

Signs in with an uploaded sealed key file, opens the explorer, verifies a transaction's inclusion
and consistency proofs in the browser, checks that tampered proofs are reported as failing, looks at
the page at phone width, signs out, and signs in again with a key imported into the browser.
Saves a screenshot of each page in OUTPUT. Prints one line per step; exits 1 on the first failure.

usage: portal_browser.py BASE_URL SEALED_KEY_FILE PASSPHRASE PLAIN_KEY_FILE OUTPUT_DIR
       portal_browser.py patient BASE_URL HANDOVER_FILE CODE BACKUP_PASSPHRASE CLINIC_ID OUTPUT_DIR DOWNLOAD_DIR MARKER_DIR \
           JUSTIFICATION_BEFORE JUSTIFICATION_LIVE
       portal_browser.py clinician BASE_URL KEY_FILE PASSPHRASE FAMILY_NAME GTIN EXPIRES OUTPUT_DIR

The patient story: opens the hospital's handover file with its code, signs in as the patient, takes
control of her keys (rotateKey signed in the browser; the backup is downloaded to DOWNLOAD_DIR), grants
the clinic, writes MARKER_DIR/granted and waits for MARKER_DIR/read-after-granted (the test's clinician
reads), revokes, the same with "revoked", and checks the access log shows the permit and the refusal.
Between taking control and granting, it decrypts her record in the browser (My records). On the access
log it opens the break-glass justification sealed to the key she held before (JUSTIFICATION_BEFORE),
writes MARKER_DIR/live, and waits for the emergency clinician's next read to appear at the top of the
open page within a second of its audit entry, its justification (JUSTIFICATION_LIVE) opened in the browser.
Then it withdraws her consent to the trial (trials.withdraw signed in the browser).

The clinician story: signs in with a sealed key file (a clinician lands on the patient search), finds
the patient by family name, opens her chart and a record, adds an observation (a wrong value first:
the validator's error is shown on the form), prescribes GTIN until EXPIRES signing with the key file,
and looks at the chart at phone width.
"""
import json
import os
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

WAIT_SECONDS = 60  # waits end as soon as their condition holds; a loaded CI machine is slow


def step(text):
    print(f"step: {text}", flush=True)


def fail(text):
    print(f"FAILED: {text}", flush=True)
    raise SystemExit(1)


def check(condition, text):
    if not condition:
        fail(text)


def make_driver(downloads=None):
    options = Options()
    for argument in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(argument)
    options.binary_location = os.environ.get("CARELEDGER_CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(os.environ.get("CARELEDGER_CHROMEDRIVER", "/usr/bin/chromedriver"))
    if downloads:
        options.add_experimental_option("prefs", {"download.default_directory": downloads, "download.prompt_for_download": False})
    driver = webdriver.Chrome(options=options, service=service)
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    if downloads:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": downloads})
    return driver


def main():
    if sys.argv[1] == "patient":
        patient_story(*sys.argv[2:12])
        return
    if sys.argv[1] == "clinician":
        clinician_story(*sys.argv[2:9])
        return
    base, sealed_key, passphrase, plain_key, output = sys.argv[1:6]
    os.makedirs(output, exist_ok=True)
    driver = make_driver()
    wait = WebDriverWait(driver, WAIT_SECONDS)

    def wait_url(part):
        try:
            wait.until(EC.url_contains(part))
        except Exception:
            fail(f"expected {part}, at {driver.current_url}: {driver.find_element(By.TAG_NAME, 'main').text[:600]}")

    def shot(name):
        path = os.path.join(output, name)
        driver.save_screenshot(path)
        step(f"screenshot {path}")

    def console_errors():
        # The favicon is not served (the portal links none); anything else logged as an error fails,
        # Content-Security-Policy violations included.
        return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]

    def verification(expect_state):
        wait.until(lambda d: d.find_element(By.ID, "verify-status").get_attribute("data-state") in ("pass", "fail"))
        state = driver.find_element(By.ID, "verify-status").get_attribute("data-state")
        checks = {li.get_attribute("data-check"): (li.get_attribute("data-ok") == "true", li.text)
                  for li in driver.find_elements(By.CSS_SELECTOR, "#verify-checks li")}
        check(state == expect_state, f"verification state {state}, expected {expect_state}: {checks}")
        return checks

    def verify_edited(edit):
        bundle = json.loads(driver.find_element(By.ID, "proof-json").get_attribute("value"))
        edit(bundle)
        # Edits the textarea as a person would paste a bundle in, then verifies it.
        driver.execute_script("const t = document.getElementById('proof-json'); t.value = arguments[0];"
                              "t.dispatchEvent(new Event('input'));", json.dumps(bundle, indent=2))
        driver.execute_script("document.getElementById('verify-status').dataset.state = 'idle';")
        driver.find_element(By.ID, "verify-json").click()

    def flip(b64):
        # Changes one base64 character, so one hash has other bytes.
        return ("B" if b64[0] == "A" else "A") + b64[1:]

    try:
        step("open the sign-in page")
        driver.get(f"{base}/portal/sign-in")
        wait.until(lambda d: d.find_element(By.ID, "browser-key-status").get_attribute("data-state") != "loading")
        check(driver.find_element(By.TAG_NAME, "main") and driver.find_element(By.TAG_NAME, "header"), "landmarks")
        shot("sign-in.png")

        step("sign in with the sealed key file")
        driver.find_element(By.ID, "key-file").send_keys(sealed_key)
        driver.find_element(By.ID, "passphrase").send_keys(passphrase)
        driver.find_element(By.ID, "key-file-submit").click()
        wait_url("/portal/explorer")
        check("Signed in as" in driver.find_element(By.TAG_NAME, "header").text, "the header names who signed in")
        cookie = driver.get_cookie("careledger_portal")
        check(cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict", f"session cookie {cookie}")
        shot("explorer.png")

        step("verify the oldest transaction on the page, in the browser")
        buttons = driver.find_elements(By.CSS_SELECTOR, "button.verify-leaf")
        check(len(buttons) >= 5, f"{len(buttons)} verify buttons")
        wait.until(lambda d: buttons[-1].is_enabled())
        buttons[-1].click()
        checks = verification("pass")
        for name in ["Verifier self-test", "Tree head signature", "Inclusion proof", "Consistency proof"]:
            check(checks.get(name, (False, ""))[0], f"{name}: {checks.get(name)}")
        bundle = json.loads(driver.find_element(By.ID, "proof-json").get_attribute("value"))
        check(len(bundle["inclusion"]["audit_path"]) >= 2 and len(bundle["consistency"]["proof"]) >= 1,
              f"non-trivial proofs: {bundle['inclusion']['audit_path']}, {bundle['consistency']['proof']}")
        print("verified: " + json.dumps({k: v[1] for k, v in checks.items()}), flush=True)
        shot("explorer-verified.png")

        step("a tampered inclusion proof fails")
        verify_edited(lambda b: b["inclusion"]["audit_path"].__setitem__(0, flip(b["inclusion"]["audit_path"][0])))
        checks = verification("fail")
        check(not checks["Inclusion proof"][0] and checks["Tree head signature"][0] and checks["Consistency proof"][0], f"{checks}")
        shot("explorer-tampered-inclusion.png")

        step("a tampered consistency proof fails")
        driver.find_element(By.ID, "forget-head").click()
        buttons = driver.find_elements(By.CSS_SELECTOR, "button.verify-leaf")
        buttons[-1].click()
        verification("pass")
        verify_edited(lambda b: b["consistency"]["proof"].__setitem__(-1, flip(b["consistency"]["proof"][-1])))
        checks = verification("fail")
        check(not checks["Consistency proof"][0] and checks["Inclusion proof"][0], f"{checks}")

        step("a tree head with another timestamp fails its signature")
        buttons[-1].click()
        verification("pass")
        verify_edited(lambda b: b["sth"].__setitem__("timestamp", b["sth"]["timestamp"] + 1))
        checks = verification("fail")
        check(not checks["Tree head signature"][0], f"{checks}")
        shot("explorer-tampered.png")

        step("the explorer at phone width")
        driver.set_window_size(390, 844)
        driver.get(f"{base}/portal/explorer")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        wide = driver.execute_script(
            "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.scroll'))"
            ".slice(0, 8).map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);")
        check(overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width: {wide}")
        shot("explorer-phone.png")
        driver.set_window_size(1280, 1000)

        errors = console_errors()
        check(not errors, f"console errors: {errors}")

        step("sign out")
        driver.find_element(By.CSS_SELECTOR, "form.who button[type=submit]").click()
        wait_url("/portal/sign-in")
        driver.get(f"{base}/portal/explorer")
        wait_url("/portal/sign-in")

        step("import a key into the browser and sign in with it")
        wait.until(lambda d: d.find_element(By.ID, "browser-key-status").get_attribute("data-state") == "none")
        driver.find_element(By.ID, "browser-key-file").send_keys(plain_key)
        wait.until(lambda d: d.find_element(By.ID, "browser-key-status").get_attribute("data-state") in ("ready", "error"))
        status = driver.find_element(By.ID, "browser-key-status")
        check(status.get_attribute("data-state") == "ready", f"browser key: {status.text}")
        shot("sign-in-browser-key.png")
        driver.find_element(By.ID, "browser-key-submit").click()
        wait_url("/portal/explorer")
        check("Signed in as" in driver.find_element(By.TAG_NAME, "header").text, "signed in with the browser key")
        shot("explorer-browser-key.png")
        errors = console_errors()
        check(not errors, f"console errors: {errors}")
        print("portal browser test: all steps passed", flush=True)
    finally:
        driver.quit()


def patient_story(base, handover, code, backup_passphrase, clinic_id, output, downloads, markers, justification_before, justification_live):
    os.makedirs(output, exist_ok=True)
    driver = make_driver(downloads)
    # Granting and revoking reload the page: an element found before the reload goes stale; ask again.
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))

    def shot(name):
        path = os.path.join(output, name)
        driver.save_screenshot(path)
        step(f"screenshot {path}")

    def state(element_id, done=("ready", "error", "fail", "pass", "custodial", "none", "stale")):
        wait.until(lambda d: d.find_element(By.ID, element_id).get_attribute("data-state") in done)
        element = driver.find_element(By.ID, element_id)
        return element.get_attribute("data-state"), element.text

    def wait_url(part):
        try:
            wait.until(EC.url_contains(part))
        except Exception:
            fail(f"expected {part}, at {driver.current_url}: {driver.find_element(By.TAG_NAME, 'main').text[:600]}")

    def marker(name, answer):
        open(os.path.join(markers, name), "w").close()
        deadline = time.time() + WAIT_SECONDS
        while not os.path.exists(os.path.join(markers, answer)):
            check(time.time() < deadline, f"no {answer} from the test")
            time.sleep(0.1)

    def signer_passed():
        signer = state("signer-status")
        check(signer[0] == "pass", f"the signer's self-test: {signer}")

    def console_errors():
        return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]

    try:
        step("open the hospital's handover file on the sign-in page")
        driver.get(f"{base}/portal/sign-in")
        check(state("patient-key-status")[0] == "none", "a fresh browser holds no patient key")
        driver.find_element(By.CSS_SELECTOR, "#patient-handover summary").click()
        driver.find_element(By.ID, "handover-file").send_keys(handover)
        driver.find_element(By.ID, "handover-code").send_keys(code)
        driver.find_element(By.ID, "handover-submit").click()
        wait.until(lambda d: "Opened" in d.find_element(By.ID, "patient-key-status").text
                   or d.find_element(By.ID, "patient-key-status").get_attribute("data-state") == "error")
        status = state("patient-key-status")
        check(status[0] == "ready", f"handover: {status}")
        shot("patient-sign-in.png")

        step("sign in as the patient with the key in the browser")
        driver.find_element(By.ID, "patient-sign-in").click()
        wait_url("/portal/patient")
        status = state("patient-status")
        check(status[0] == "custodial", f"the hospital still holds her key: {status}")
        signer_passed()
        check(driver.find_element(By.ID, "take-control").is_displayed(), "the take-control form is shown")
        shot("patient-custodial.png")

        step("take control: new keys, rotateKey signed in the browser")
        driver.find_element(By.ID, "control-passphrase").send_keys(backup_passphrase)
        driver.find_element(By.ID, "control-passphrase-again").send_keys(backup_passphrase)
        driver.find_element(By.ID, "take-control-submit").click()
        status = state("patient-status", ("ready", "error"))
        check(status[0] == "ready", f"take control: {status}")
        check(not driver.find_element(By.ID, "take-control").is_displayed(), "no take-control form once in control")
        deadline = time.time() + WAIT_SECONDS
        while not [f for f in os.listdir(downloads) if f.endswith(".json")]:
            check(time.time() < deadline, "the backup file was not downloaded")
            time.sleep(0.1)
        shot("patient-in-control.png")

        step("my records: the record written before she took control, decrypted in the browser")
        driver.find_element(By.LINK_TEXT, "My records").click()
        wait_url("/portal/patient/records")
        check(state("patient-status")[0] == "ready", "the records page sees her key")
        decrypter = state("decrypter-status")
        check(decrypter[0] == "pass", f"the decryption self-test: {decrypter}")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#records button.open-record").is_enabled())
        driver.find_element(By.CSS_SELECTOR, "#records button.open-record").click()
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#records .record-status").get_attribute("data-state") in ("open", "error"))
        line = driver.find_element(By.CSS_SELECTOR, "#records .record-status")
        check(line.get_attribute("data-state") == "open", f"the record opens: {line.text}")
        content = driver.find_element(By.CSS_SELECTOR, "#records .record-content").text
        check('"resourceType": "Observation"' in content and '"status": "final"' in content, f"the decrypted record: {content[:300]}")
        shot("records-decrypted.png")

        step("grant the clinic: general records, treatment, read")
        driver.find_element(By.LINK_TEXT, "My consents").click()
        wait_url("/portal/patient/consents")
        check(state("patient-status")[0] == "ready", "the consents page sees her key")
        signer_passed()
        check(not driver.find_element(By.ID, "category-mental-health").is_selected(), "sensitive categories start unticked")
        Select(driver.find_element(By.ID, "grantee-organization")).select_by_value(clinic_id)
        wait.until(lambda d: d.find_element(By.ID, "grant-submit").is_enabled())
        driver.find_element(By.ID, "grant-submit").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#active-consents li")) == 1
                   or d.find_element(By.ID, "grant-status").get_attribute("data-state") == "error")
        consents = driver.find_elements(By.CSS_SELECTOR, "#active-consents li")
        check(len(consents) == 1 and "Riverside Clinic" in consents[0].text,
              f"one consent to the clinic: {[c.text for c in consents]} {driver.find_element(By.ID, 'grant-status').text}")
        shot("consents-granted.png")
        marker("granted", "read-after-granted")

        step("revoke it")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#active-consents button.revoke").is_enabled())
        driver.find_element(By.CSS_SELECTOR, "#active-consents button.revoke").click()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#revoked-consents li")) == 1
                   or d.find_element(By.ID, "patient-status").get_attribute("data-state") == "error")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#active-consents li")) == 0, "no active consent after revoking")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#revoked-consents li")) == 1, "the revoked consent is listed")
        shot("consents-revoked.png")
        marker("revoked", "read-after-revoked")

        step("the access log shows the clinician's read and refusal")
        driver.find_element(By.LINK_TEXT, "Access log").click()
        wait_url("/portal/patient/access-log")
        outcomes = [row.get_attribute("data-outcome") for row in driver.find_elements(By.CSS_SELECTOR, "#access-log tbody tr")]
        check(outcomes[:2] == ["deny", "permit"], f"newest first, a refusal then a permit: {outcomes}")
        check("Dr. <Cleo> & Co" in driver.find_element(By.ID, "access-log").text, "the log names the clinician")
        check(outcomes.count("break-glass") == 1, f"one break-glass so far: {outcomes}")
        justification = "#access-log tr.break-glass .justification"
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, justification).get_attribute("data-state") in ("open", "error"))  # "sealed" is the state it starts in
        opened = driver.find_element(By.CSS_SELECTOR, justification)
        check(opened.get_attribute("data-state") == "open" and justification_before in opened.text,
              f"the justification sealed to her earlier key opens in the browser: {opened.text}")
        shot("access-log.png")

        step("a new break-glass appears on the open access log within a second")
        live = state("live-status")
        check(live[0] == "ready", f"the page follows new entries: {live}")
        marker("live", "read-after-live")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#access-log tbody tr").get_attribute("data-outcome") == "break-glass"
                   and "live" in d.find_element(By.CSS_SELECTOR, "#access-log tbody tr").get_attribute("class"))
        first = driver.find_element(By.CSS_SELECTOR, "#access-log tbody tr")
        latency = int(first.get_attribute("data-arrived-ms"))
        step(f"the entry arrived {latency} ms after its audit entry's time")
        check(latency <= 1000, f"the live entry arrived {latency} ms after it was written")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#access-log tbody tr .justification").get_attribute("data-state") in ("open", "error"))  # "sealed" is the state it starts in
        opened = driver.find_element(By.CSS_SELECTOR, "#access-log tbody tr .justification")
        check(opened.get_attribute("data-state") == "open" and justification_live in opened.text,
              f"the live justification, sealed to her new key, opens in the browser: {opened.text}")
        check("Dr. Em Ergency" in first.text, f"the live entry names the emergency clinician: {first.text}")
        shot("access-log-live.png")

        step("withdraw from the trial: trials.withdraw signed in the browser")
        driver.find_element(By.LINK_TEXT, "Trials").click()
        wait_url("/portal/patient/trials")
        check(state("patient-status")[0] == "ready", "the trials page sees her key")
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#active-trials button.withdraw").is_enabled())
        driver.find_element(By.CSS_SELECTOR, "#active-trials button.withdraw").click()
        wait.until(EC.alert_is_present())
        driver.switch_to.alert.accept()
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#withdrawn-trials li")) == 1
                   or d.find_element(By.ID, "patient-status").get_attribute("data-state") == "error")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#withdrawn-trials li")) == 1,
              f"the trial is withdrawn: {driver.find_element(By.ID, 'patient-status').text}")
        check(not driver.find_elements(By.CSS_SELECTOR, "#active-trials button.withdraw"), "no withdraw button once withdrawn")
        shot("trials-withdrawn.png")

        step("the consents page at phone width")
        driver.set_window_size(390, 844)
        driver.get(f"{base}/portal/patient/consents")
        state("patient-status")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        check(overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width")
        shot("consents-phone.png")
        driver.get(f"{base}/portal/patient/records")
        state("decrypter-status", ("pass", "fail"))
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        check(overflow <= 0, f"the records page scrolls sideways by {overflow}px at phone width")
        shot("records-phone.png")
        errors = console_errors()
        check(not errors, f"console errors: {errors}")
        print("patient browser test: all steps passed", flush=True)
    finally:
        driver.quit()


def clinician_story(base, key_file, passphrase, family, gtin, expires, output):
    os.makedirs(output, exist_ok=True)
    driver = make_driver()
    wait = WebDriverWait(driver, WAIT_SECONDS)

    def wait_url(part):
        try:
            wait.until(EC.url_contains(part))
        except Exception:
            fail(f"expected {part}, at {driver.current_url}: {driver.find_element(By.TAG_NAME, 'main').text[:800]}")

    def shot(name):
        path = os.path.join(output, name)
        driver.save_screenshot(path)
        step(f"screenshot {path}")

    def console_errors():
        # The deliberately wrong observation is answered 400 (the form shown again with the error): expected, not a page error.
        return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
                and not ("/portal/clinician/patient/records" in e["message"] and "status of 400" in e["message"])]

    def fill(element_id, text):
        field = driver.find_element(By.ID, element_id)
        field.clear()
        field.send_keys(text)

    def open_details(form_id):
        # The forms sit in closed <details>: a person opens them by their summary first.
        form = driver.find_element(By.ID, form_id)
        if not form.is_displayed():
            form.find_element(By.XPATH, "ancestor::details/summary").click()
        wait.until(lambda d: d.find_element(By.ID, form_id).is_displayed())

    def no_sideways_scroll(what):
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        wide = driver.execute_script(
            "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.scroll'))"
            ".slice(0, 8).map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);")
        check(overflow <= 0, f"{what} scrolls sideways by {overflow}px at phone width: {wide}")

    try:
        step("sign in with the clinician's sealed key file")
        driver.get(f"{base}/portal/sign-in")
        driver.find_element(By.ID, "key-file").send_keys(key_file)
        driver.find_element(By.ID, "passphrase").send_keys(passphrase)
        driver.find_element(By.ID, "key-file-submit").click()
        wait_url("/portal/clinician")
        check(driver.find_element(By.CSS_SELECTOR, "nav a[aria-current=page]").text == "Patients", "the Patients page is current")
        shot("clinician-search.png")

        step("find the patient by family name")
        fill("search-name", family)
        driver.find_element(By.CSS_SELECTOR, "#patient-search button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results li a"))
        links = driver.find_elements(By.CSS_SELECTOR, "#results li a")
        check(len(links) == 1 and family in links[0].text, f"one match: {[l.text for l in links]}")
        shot("clinician-results.png")
        links[0].click()
        wait_url("/portal/clinician/patient?id=")
        check(family in driver.find_element(By.ID, "patient-name").text, "the chart names the patient")
        patient_url = driver.current_url

        step("read a record")
        rows = driver.find_elements(By.CSS_SELECTOR, "#records tbody tr")
        check(len(rows) >= 1, f"{len(rows)} records")
        rows[0].find_element(By.TAG_NAME, "a").click()
        wait_url("/portal/clinician/record?")
        check("resourceType" in driver.find_element(By.ID, "record-json").text, "the record's JSON is shown")
        shot("clinician-record.png")

        step("add an observation: a wrong value first, then a right one")
        driver.get(patient_url)
        open_details("observation-form")
        for field, text in [("obs-code", "8310-5"), ("obs-display", "Body temperature"), ("obs-value", "warm"), ("obs-unit", "Cel"),
                            ("obs-effective", "2026-01-05")]:
            fill(field, text)
        driver.find_element(By.CSS_SELECTOR, "#observation-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "add-error"))
        error = driver.find_element(By.ID, "add-error").text
        check("Observation.value.ofType(Quantity).value" in error, f"the validator's error names the element: {error}")
        check(driver.find_element(By.ID, "obs-value").get_attribute("value") == "warm", "the form keeps what was typed")
        shot("clinician-add-error.png")
        fill("obs-value", "37.2")
        driver.find_element(By.CSS_SELECTOR, "#observation-form button[type=submit]").click()
        wait_url("created=1")
        check(driver.find_elements(By.ID, "record-saved"), "the saved record is shown")
        check("37.2" in driver.find_element(By.ID, "record-json").text, "with its value")
        shot("clinician-added.png")

        step("prescribe, signing with the key file")
        driver.get(patient_url)
        check("Body temperature" in driver.find_element(By.ID, "records").text, "the new observation is in the chart")
        open_details("prescribe-form")
        fill("rx-gtin", gtin)
        fill("rx-quantity", "2")
        fill("rx-refills", "1")
        fill("rx-expires", expires)
        driver.find_element(By.ID, "rx-key").send_keys(key_file)
        fill("rx-passphrase", passphrase)
        driver.find_element(By.CSS_SELECTOR, "#prescribe-form button[type=submit]").click()
        wait_url("/portal/clinician/prescription?id=")
        check(driver.find_element(By.ID, "prescription-gtin").text == gtin, "the prescription names the product")
        check(driver.find_element(By.ID, "prescription-quantity").text == "2", "and the quantity")
        shot("clinician-prescribed.png")

        step("the chart at phone width")
        driver.set_window_size(390, 844)
        driver.get(patient_url)
        no_sideways_scroll("the chart")
        shot("clinician-phone.png")
        driver.set_window_size(1280, 1000)

        errors = console_errors()
        check(not errors, f"console errors: {errors}")
        print("clinician browser test: all steps passed", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
