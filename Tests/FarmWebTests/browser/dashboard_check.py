"""Drives Chromium (headless, through chromedriver and selenium) over a live wheelfarm dashboard
while a real `wheelfarm build -r` runs: what a person would see, checked.

Usage: python dashboard_check.py BASE_URL OPERATOR_TOKEN SCREENSHOT_DIR SLOW_PROJECT
(SLOW_PROJECT: the project whose build prints for a while, for the live log.)
Prints one line per check; exits 1 with the reason on the first failure.
"""
import json
import os
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

base, token, shots, slow = sys.argv[1].rstrip("/"), sys.argv[2], sys.argv[3], sys.argv[4]
os.makedirs(shots, exist_ok=True)


def fail(message):
    print("FAILED: " + message, flush=True)
    sys.exit(1)


def api(path):
    with urllib.request.urlopen(base + path, timeout=10) as response:
        return json.load(response)


def wait_for(what, predicate, seconds=180, step=0.5):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    fail("timed out waiting for " + what)


options = webdriver.ChromeOptions()
for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"]:
    options.add_argument(argument)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
driver.set_page_load_timeout(30)


def console_errors(allowed=()):
    errors = [entry["message"] for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    return [e for e in errors if not any(a in e for a in allowed)]


try:
    # A running job: the overview lists it with its stage.
    running = wait_for("%s to run" % slow, lambda: api("/api/v1/jobs?state=running&project=" + slow)["items"])[0]
    driver.get(base + "/dashboard/")
    rows = driver.find_elements(By.XPATH, "//h2[text()='Running']/following-sibling::table[1]//tr")
    text = driver.find_element(By.TAG_NAME, "main").text
    if str(running["number"]) not in text or running["target"] not in text:
        fail("the overview does not show running job %s: %s" % (running["number"], text[:500]))
    print("overview shows running job %s (%d rows)" % (running["number"], len(rows)), flush=True)
    driver.save_screenshot(os.path.join(shots, "overview.png"))

    # Its page: the log grows while the build prints (Server-Sent Events).
    wait_for("the job to reach its test stage", lambda: api("/api/v1/jobs/%d" % running["number"])["job"].get("stage") == "test", seconds=120)
    driver.get(base + "/dashboard/jobs/%d" % running["number"])
    log = driver.find_element(By.ID, "log")
    first = len(log.text)
    grown = wait_for("the live log to grow", lambda: len(driver.find_element(By.ID, "log").text) > first + 20 and len(driver.find_element(By.ID, "log").text), seconds=40)
    print("live log grew from %d to %d characters" % (first, grown), flush=True)
    if "tick" not in driver.find_element(By.ID, "log").text:
        fail("the live log lacks the build's own lines")
    driver.save_screenshot(os.path.join(shots, "running-job.png"))

    # The failed job: its reason and stage, as a person reads them.
    failed = wait_for("a failed job", lambda: api("/api/v1/jobs?state=failed")["items"])[0]
    driver.get(base + "/dashboard/jobs/%d" % failed["number"])
    reason = driver.find_element(By.ID, "failure-reason").text
    if "test command" not in reason:
        fail("the failed job's reason reads: " + reason)
    print("failed job %s shows: %s" % (failed["number"], reason), flush=True)
    driver.save_screenshot(os.path.join(shots, "failed-job.png"))
    errors = console_errors()
    if errors:
        fail("the console shows errors: %s" % errors)

    # Retry: refused without a token, queued with an operator token.
    driver.find_element(By.ID, "retry").click()
    refused = wait_for("the refusal", lambda: driver.find_element(By.ID, "action-result").text, seconds=10)
    if "refused" not in refused:
        fail("retry without a token said: " + refused)
    print("retry without a token: " + refused, flush=True)
    driver.find_element(By.ID, "token").send_keys(token)
    driver.find_element(By.ID, "retry").click()
    queued = wait_for("the retry", lambda: "is " in driver.find_element(By.ID, "action-result").text and driver.find_element(By.ID, "action-result").text, seconds=10)
    if "queued" not in queued and "running" not in queued:
        fail("retry with an operator token said: " + queued)
    print("retry with an operator token: " + queued, flush=True)
    # The refused click's 401 is the only console error allowed.
    errors = console_errors(allowed=("401",))
    if errors:
        fail("the console shows errors: %s" % errors)

    # The project matrix: the failed cell with its stage, then the built one with its wheel.
    driver.get(base + "/dashboard/projects/%s" % failed["project"])
    cell = driver.find_element(By.CSS_SELECTOR, "td.cell").text
    if not cell:
        fail("the project page of %s shows no cell" % failed["project"])
    print("matrix cell of %s: %s" % (failed["project"], cell.replace("\n", " ")), flush=True)
    wait_for("the running job to end", lambda: api("/api/v1/jobs/%d" % running["number"])["job"]["state"] in ("succeeded", "skipped", "failed"), seconds=180)
    driver.get(base + "/dashboard/projects/%s" % running["project"])
    cell = driver.find_element(By.CSS_SELECTOR, "td.cell").text
    if "any" not in cell and "manylinux" not in cell:
        fail("the built project's cell shows no wheel tag: " + cell)
    print("matrix cell of %s: %s" % (running["project"], cell.replace("\n", " ")), flush=True)
    driver.save_screenshot(os.path.join(shots, "project.png"))

    # Search, and a phone-sized window.
    driver.set_window_size(390, 844)
    driver.get(base + "/dashboard/projects?q=" + running["project"][:3])
    if running["project"] not in driver.find_element(By.TAG_NAME, "main").text:
        fail("the search does not find " + running["project"])
    driver.get(base + "/dashboard/")
    width = driver.execute_script("return document.documentElement.scrollWidth")
    if width > 420:
        fail("the overview is %dpx wide on a 390px phone" % width)
    driver.save_screenshot(os.path.join(shots, "overview-phone.png"))
    errors = console_errors()
    if errors:
        fail("the console shows errors: %s" % errors)
    print("OK", flush=True)
finally:
    driver.quit()
