#!/usr/bin/env python3
"""Screenshots of the portal over the demo's data, for README and docs/portal.md.

Reads what `careledger demo --serve` printed (its URL, the staff key files and their passphrase, the
patient's backup file and its passphrase), signs in in headless Chromium as the hospital and as the
patient, and saves a PNG of each page in OUTPUT_DIR. It checks nothing beyond the pages loading: the
browser tests (Tests/PortalTests) are the checks.

    swift run careledger demo --serve --port 0 > /tmp/demo.txt &
    # wait for "listening on" in /tmp/demo.txt, then:
    .build/careledger-pyenv/bin/python scripts/portal-screenshots.py /tmp/demo.txt docs/images
    kill %1

Needs Debian's chromium and chromium-driver and Selenium (`.ci/run` installs them into .build/careledger-pyenv).
"""
import os
import re
import sys

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT_SECONDS = 60


def banner(path):
    text = open(path, encoding="utf-8").read()
    url = re.search(r"listening on (https?://\S+)", text).group(1)
    staff_passphrase = re.search(r"with the passphrase (\S+):", text).group(1)
    keys = {name: path for path, name in re.findall(r"^\s+(/\S+/keys/([\w-]+)\.json)\s+—", text, re.M)}
    backup, backup_passphrase = re.search(r"^\s+(/\S+patient-backup\.json)\s+and the passphrase (\S+)", text, re.M).groups()
    handover = re.search(r"\(Patient/([\w.-]+)\)", text).group(1)
    return url, staff_passphrase, keys, backup, backup_passphrase, handover


def driver():
    options = Options()
    for argument in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900", "--hide-scrollbars"]:
        options.add_argument(argument)
    options.binary_location = os.environ.get("CARELEDGER_CHROMIUM", "/usr/bin/chromium")
    made = webdriver.Chrome(options=options, service=Service(os.environ.get("CARELEDGER_CHROMEDRIVER", "/usr/bin/chromedriver")))
    made.set_page_load_timeout(WAIT_SECONDS)
    return made


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        raise SystemExit(2)
    url, staff_passphrase, keys, backup, backup_passphrase, handover = banner(sys.argv[1])
    output = sys.argv[2]
    os.makedirs(output, exist_ok=True)

    browser = driver()
    wait = WebDriverWait(browser, WAIT_SECONDS)

    def shot(name, path):
        browser.get(url + path)
        wait.until(lambda d: d.execute_script("return document.readyState") == "complete")
        browser.save_screenshot(os.path.join(output, name))
        print(f"{name}: {path}", flush=True)

    try:
        # Staff: the hospital itself (explorer, access anomalies, network).
        browser.get(url + "/portal/sign-in")
        browser.find_element(By.ID, "key-file").send_keys(keys["general-hospital"])
        browser.find_element(By.ID, "passphrase").send_keys(staff_passphrase)
        browser.find_element(By.ID, "key-file-submit").click()
        wait.until(lambda d: "/portal/explorer" in d.current_url)
        browser.find_elements(By.CSS_SELECTOR, "button.verify-leaf")[0].click()
        wait.until(lambda d: d.find_element(By.ID, "verify-status").get_attribute("data-state") in ("pass", "fail"))
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(os.path.join(output, "portal-explorer.png"))
        print("portal-explorer.png: a proof verified in the browser", flush=True)
        shot("portal-anomalies.png", "/portal/anomalies?denials=1&unrelated-patients=1")
        shot("portal-network.png", "/portal/network")
        # The key-handover desk, sealing the FHIR-registered patient's keys (the code is made up fresh each time).
        browser.get(url + "/portal/handover?patient=" + handover)
        browser.find_element(By.ID, "handover-submit").click()
        wait.until(lambda d: d.find_elements(By.ID, "handover-code") or d.find_elements(By.ID, "handover-error"))
        browser.save_screenshot(os.path.join(output, "portal-handover.png"))
        print("portal-handover.png: /portal/handover", flush=True)
        browser.delete_all_cookies()

        # The patient: her backup restored into the browser, then her pages.
        browser.get(url + "/portal/sign-in")
        browser.find_element(By.CSS_SELECTOR, "#patient-restore summary").click()
        browser.find_element(By.ID, "restore-file").send_keys(backup)
        browser.find_element(By.ID, "restore-passphrase").send_keys(backup_passphrase)
        browser.find_element(By.ID, "restore-submit").click()
        wait.until(lambda d: d.find_element(By.ID, "patient-key-status").get_attribute("data-state") in ("ready", "error"))
        browser.find_element(By.ID, "patient-sign-in").click()
        wait.until(lambda d: "/portal/patient" in d.current_url)
        for name, path in [("portal-patient.png", "/portal/patient"), ("portal-consents.png", "/portal/patient/consents"),
                           ("portal-access-log.png", "/portal/patient/access-log")]:
            shot(name, path)
    finally:
        browser.quit()


if __name__ == "__main__":
    main()
