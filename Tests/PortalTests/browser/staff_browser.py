"""Drives the payer's and the pharmacist's portal pages in headless Chromium (Selenium), for
PortalStaffBrowserTests, in the style of portal_browser.py (which holds the shared helpers' originals).

The payer's agent imports a key into the browser, signs in, finds the claims queue and the pending
prior authorization, approves it (claims.decideAuthorization signed in the browser, posted to
/v1/txs), and the page no longer lists it. Then the pharmacist imports a key, signs in, scans a pack
(a GS1 DataMatrix's content) and sees it genuine with its owner and chain of custody, scans a bad code
and sees the parser's error, and fills the prescription with two scanned packs (rx.fill signed in the
browser); the page then shows the fill. Both pages are checked at phone width and for console errors.

usage: staff_browser.py BASE_URL PAYER_KEY_FILE PHARMACIST_KEY_FILE AUTHORIZATION_ID PRESCRIPTION_ID SCAN_1 SCAN_2 OUTPUT_DIR
"""
import os
import sys

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 60  # waits end as soon as their condition holds; a loaded CI machine is slow


def step(text):
    print(f"step: {text}", flush=True)


def fail(text):
    print(f"FAILED: {text}", flush=True)
    raise SystemExit(1)


def check(condition, text):
    if not condition:
        fail(text)


def make_driver():
    options = Options()
    for argument in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(argument)
    options.binary_location = os.environ.get("CARELEDGER_CHROMIUM", "/usr/bin/chromium")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(os.environ.get("CARELEDGER_CHROMEDRIVER", "/usr/bin/chromedriver")))
    driver.set_page_load_timeout(WAIT_SECONDS)
    driver.set_script_timeout(WAIT_SECONDS)
    return driver


def main():
    base, payer_key, pharmacist_key, authorization, prescription, scan_1, scan_2, output = sys.argv[1:9]
    # The Swift side cannot pass a control character on a command line cleanly: "<GS>" stands for it
    # in SCAN_1, and SCAN_2 keeps the typed form a keyboard-wedge scanner may send.
    os.makedirs(output, exist_ok=True)
    driver = make_driver()
    # A decision or a fill reloads the page: an element found before the reload goes stale; ask again.
    wait = WebDriverWait(driver, WAIT_SECONDS, ignored_exceptions=(StaleElementReferenceException,))

    def wait_url(part):
        try:
            wait.until(EC.url_contains(part))
        except Exception:
            fail(f"expected {part}, at {driver.current_url}: {driver.find_element(By.TAG_NAME, 'main').text[:800]}")

    def shot(name):
        path = os.path.join(output, name)
        driver.save_screenshot(path)
        step(f"screenshot {path}")

    def state(element_id, done=("ready", "none", "stale", "error", "fail", "pass", "unavailable")):
        wait.until(lambda d: d.find_element(By.ID, element_id).get_attribute("data-state") in done)
        element = driver.find_element(By.ID, element_id)
        return element.get_attribute("data-state"), element.text

    def console_errors():
        return [e for e in driver.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]

    def phone_width(name):
        driver.set_window_size(390, 844)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth;")
        wide = driver.execute_script(
            "const w = document.documentElement.clientWidth; return [...document.querySelectorAll('body *')]"
            ".filter(e => e.getBoundingClientRect().right > w + 1 && !e.closest('.scroll'))"
            ".slice(0, 8).map(e => `${e.tagName}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);")
        check(overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width: {wide}")
        shot(name)
        driver.set_window_size(1280, 1000)

    def sign_in_with_browser_key(key_file, landing):
        driver.get(f"{base}/portal/sign-in")
        wait.until(lambda d: d.find_element(By.ID, "browser-key-status").get_attribute("data-state") != "loading")
        driver.find_element(By.ID, "browser-key-file").send_keys(key_file)
        wait.until(lambda d: d.find_element(By.ID, "browser-key-status").get_attribute("data-state") in ("ready", "error"))
        status = driver.find_element(By.ID, "browser-key-status")
        check(status.get_attribute("data-state") == "ready", f"browser key: {status.text}")
        driver.find_element(By.ID, "browser-key-submit").click()
        wait_url(landing)

    try:
        step("the payer's agent signs in with a key held in the browser and lands on the claims queue")
        sign_in_with_browser_key(payer_key, "/portal/payer")
        key_state, key_text = state("staff-key-status")
        check(key_state == "ready", f"staff key: {key_text}")
        signer_state, signer_text = state("signer-status")
        check(signer_state == "pass", f"signer: {signer_text}")
        claims = driver.find_elements(By.CSS_SELECTOR, "#claims article.claim")
        check(len(claims) >= 2, f"{len(claims)} claims in the queue")
        check("CARC" in driver.find_element(By.ID, "claims").text, "CARC reasons shown")
        shot("payer.png")

        step("a denial without a reason is refused on the form, before anything is signed")
        form = driver.find_element(By.CSS_SELECTOR, f"form.decide-form[data-authorization='{authorization}']")
        form.find_element(By.CSS_SELECTOR, "input[value='deny']").click()
        form.find_element(By.CSS_SELECTOR, "button.decide-submit").click()
        status = form.find_element(By.CSS_SELECTOR, ".decide-status")
        wait.until(lambda d: status.get_attribute("data-state") == "error")
        check("reason" in status.text, f"denial without a reason: {status.text}")

        step("approve the prior authorization: signed in the browser, decided by the contract")
        form.find_element(By.CSS_SELECTOR, "input[value='approve']").click()
        until = driver.execute_script("const d = new Date(Date.now() + 30 * 86400000); return d.toISOString().slice(0, 10);")
        driver.execute_script("arguments[0].value = arguments[1];", form.find_element(By.CSS_SELECTOR, "input[name='until']"), until)
        units = form.find_element(By.CSS_SELECTOR, "input[name='quantity']")
        units.clear()
        units.send_keys("1")
        form.find_element(By.CSS_SELECTOR, "button.decide-submit").click()
        wait.until(lambda d: "approved" in d.find_element(By.ID, "staff-key-status").text
                   or d.find_elements(By.CSS_SELECTOR, f"form.decide-form[data-authorization='{authorization}'] .decide-status[data-state='error']"))
        errors = driver.find_elements(By.CSS_SELECTOR, f"form.decide-form[data-authorization='{authorization}'] .decide-status[data-state='error']")
        check(not errors, f"the decision failed: {errors[0].text if errors else ''}")
        check(not driver.find_elements(By.CSS_SELECTOR, f"form.decide-form[data-authorization='{authorization}']"),
              "the decided authorization is no longer awaiting a decision")
        shot("payer-decided.png")
        phone_width("payer-phone.png")
        errors = console_errors()
        check(not errors, f"console errors: {errors}")

        step("sign out; the pharmacist signs in with a key held in the browser")
        driver.find_element(By.CSS_SELECTOR, "form.who button[type=submit]").click()
        wait_url("/portal/sign-in")
        sign_in_with_browser_key(pharmacist_key, "/portal/pharmacy")
        key_state, key_text = state("staff-key-status")
        check(key_state == "ready", f"staff key: {key_text}")

        step("scan a pack: genuine, its owner and chain of custody")
        driver.find_element(By.ID, "scan").send_keys(scan_1)
        driver.find_element(By.CSS_SELECTOR, "#verify-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "verify-result") or d.find_elements(By.ID, "verify-error"))
        check(not driver.find_elements(By.ID, "verify-error"), f"scan refused: {driver.find_element(By.TAG_NAME, 'main').text[:600]}")
        result = driver.find_element(By.ID, "verify-result")
        check(result.get_attribute("data-verdict") == "genuine", f"verdict: {result.text}")
        check("Corner Pharmacy" in driver.find_element(By.ID, "pack-owner").text, "the owner is named")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#custody tbody tr")) >= 3, "the chain of custody is listed")
        shot("pharmacy-verified.png")

        errors = console_errors()
        check(not errors, f"console errors: {errors}")

        step("a bad code shows the parser's error on the form (a 400 page: the one console error allowed)")
        field = driver.find_element(By.ID, "scan")
        field.clear()
        field.send_keys("(01)12345678901234(21)X1")
        driver.find_element(By.CSS_SELECTOR, "#verify-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "verify-error"))
        check("check digit" in driver.find_element(By.ID, "verify-error").text, driver.find_element(By.ID, "verify-error").text)
        errors = [e for e in console_errors() if "status of 400" not in e["message"]]
        check(not errors, f"console errors: {errors}")

        step("fill the prescription with two scanned packs: signed in the browser, decided by the contracts")
        driver.find_element(By.ID, "fill-prescription").send_keys(prescription)
        packs = driver.find_element(By.ID, "fill-packs")
        packs.send_keys(scan_1)
        packs.send_keys("\n")
        packs.send_keys(scan_2)
        driver.find_element(By.CSS_SELECTOR, "#fill-form button[type=submit]").click()
        wait.until(lambda d: d.find_elements(By.ID, "fill-sign-form") or d.find_elements(By.ID, "fill-error"))
        check(not driver.find_elements(By.ID, "fill-error"), f"fill refused: {driver.find_element(By.TAG_NAME, 'main').text[:800]}")
        check(len(driver.find_elements(By.CSS_SELECTOR, "#fill-units li")) == 2, "two packs to dispense")
        state("staff-key-status")
        button = driver.find_element(By.ID, "fill-submit")
        wait.until(lambda d: button.is_enabled())
        shot("pharmacy-fill.png")
        button.click()
        wait.until(lambda d: "?prescription=" in d.current_url or d.find_elements(By.CSS_SELECTOR, "#fill-status[data-state='error']"))
        errors = driver.find_elements(By.CSS_SELECTOR, "#fill-status[data-state='error']")
        check(not errors, f"the fill failed: {errors[0].text if errors else ''}")
        wait.until(lambda d: d.find_elements(By.ID, "rx-fills"))
        check("1 of 1 used" in driver.find_element(By.ID, "rx-fills").text, driver.find_element(By.ID, "rx-fills").text)
        check(len(driver.find_elements(By.CSS_SELECTOR, "#rx-fill-list tbody tr")) == 1, "the fill is listed")
        state("staff-key-status")
        check("Filled" in driver.find_element(By.ID, "staff-key-status").text, driver.find_element(By.ID, "staff-key-status").text)
        shot("pharmacy-filled.png")
        phone_width("pharmacy-phone.png")
        errors = console_errors()
        check(not errors, f"console errors: {errors}")
        print("staff browser test: all steps passed", flush=True)
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
