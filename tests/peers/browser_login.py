"""One login through the bridge in a real headless browser.

Debian's chromium driven by chromium-driver through selenium (WebDriver):
opens the bridge's /oidc/auth URL, fills oidc-provider's login form as
USER, presses its consent button, and waits until the browser is sent to
a URL starting with RETURN_PREFIX (the Jitsi URL), which it prints.
Cookies, SameSite and redirects are the browser's own.

Usage: python3 browser_login.py AUTH_URL USER RETURN_PREFIX
Exit 0 with the final URL on stdout; 1 with what the browser showed.
"""

import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

DEADLINE = 30


def main():
    auth_url, user, prefix = sys.argv[1:4]
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    seen = []
    try:
        driver.set_page_load_timeout(DEADLINE)
        driver.get(auth_url)
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            url = driver.current_url
            if url.startswith(prefix):
                print(url)
                return 0
            if not seen or seen[-1] != url:
                seen.append(url)
            logins = driver.find_elements(By.NAME, "login")
            if logins:
                logins[0].send_keys(user)
                driver.find_element(By.NAME, "password").send_keys("anything")
                driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
                time.sleep(0.2)
                continue
            buttons = driver.find_elements(By.CSS_SELECTOR, "button[type=submit]")
            if buttons and "interaction" in url:
                buttons[0].click()
            time.sleep(0.2)
        print("never reached %s; pages: %s; last page: %s" % (prefix, seen, driver.page_source[:2000]), file=sys.stderr)
        return 1
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
