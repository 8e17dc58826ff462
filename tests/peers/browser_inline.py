"""Jitsi's inline login (tokenAuthInline + sso) in a real headless browser.

Debian's chromium driven by chromium-driver through selenium (WebDriver)
opens the stand-in meeting page (jitsi_page/index.html, served over https
with the test's /config.js) and presses one of its buttons; the page opens
the token service in a popup and gets the tokens back by postMessage from
jitsi_page/static/sso.html, as Jitsi Meet's web client does.

Usage:
  browser_inline.py login   PAGE_URL USER IDP_ORIGIN
      press `login`, fill oidc-provider's login form as USER and its consent
      form in the popup; prints the result JSON {accessToken,idToken,
      refreshToken}
  browser_inline.py refresh PAGE_URL REFRESH_TOKEN IDP_ORIGIN
      sessionStorage refresh_token = REFRESH_TOKEN, press `refresh`; fails if
      the popup ever loads a document from IDP_ORIGIN; prints the result JSON
  browser_inline.py logout  PAGE_URL ID_TOKEN
      sessionStorage id_token = ID_TOKEN, press `logout`, wait for the hidden
      iframe's logout-success message
  browser_inline.py cors    PAGE_URL
      press the page's cors button (#run-cors; PAGE_URL carries ?cors=URL):
      a cross-origin form POST; prints #cors: `status N` (answer readable)
      or `blocked: ERROR` (no CORS grant)
Exit 0 on success (result on stdout); 1 with what the browser saw (page
state, every navigation of every window, console of every window) on
stderr, the token given as argument masked; 2 on bad usage. Certificates
are not checked (the tests use self-signed ones).
"""

import sys
import time
import urllib.parse

from selenium import webdriver
from selenium.common.exceptions import NoSuchWindowException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

DEADLINE = 30
ARGS = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run",
        "--disable-popup-blocking", "--ignore-certificate-errors")


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ARGS:
        options.add_argument(arg)
    options.accept_insecure_certs = True
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # WebDriver BiDi: its network and log events cover every browsing context,
    # the popup included (chromedriver's classic performance log does not see
    # a popup that closes itself before a command switches to it).
    options.enable_bidi = True
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(DEADLINE)
    return driver


class Session:
    def __init__(self, driver, page_url, secret=None):
        self.driver = driver
        self.secret = secret  # the token given on the command line, kept out of reports
        self.popup_urls = []  # URLs the popup showed, polled
        self.documents = []  # every navigation request of every window and frame, redirects included
        self.console = []  # console messages and JS errors of every window (BiDi)
        driver.network.add_event_handler("before_request_sent", self.on_request)
        driver.script.add_console_message_handler(self.on_log)
        driver.script.add_javascript_error_handler(self.on_log)
        driver.get(page_url)
        self.main = driver.current_window_handle

    def on_request(self, event):
        if isinstance(event, dict) and event.get("navigation"):
            self.documents.append(event["request"]["url"])

    def on_log(self, entry):
        self.console.append("%s %s" % (getattr(entry, "level", "?"), getattr(entry, "text", entry)))

    def body(self, attr):
        self.driver.switch_to.window(self.main)
        return self.driver.find_element(By.TAG_NAME, "body").get_attribute("data-" + attr)

    def text(self, element_id):
        self.driver.switch_to.window(self.main)
        return self.driver.find_element(By.ID, element_id).text

    def click(self, element_id):
        self.driver.switch_to.window(self.main)
        self.driver.find_element(By.ID, element_id).click()

    def session_storage(self, key, value):
        self.driver.switch_to.window(self.main)
        self.driver.execute_script("sessionStorage.setItem(arguments[0], arguments[1])", key, value)

    def popup(self):
        """Switches to the popup and returns its URL, or None once it is gone."""
        others = [h for h in self.driver.window_handles if h != self.main]
        if not others:
            return None
        try:
            self.driver.switch_to.window(others[0])
            url = self.driver.current_url
        except (NoSuchWindowException, WebDriverException):
            return None
        if not self.popup_urls or self.popup_urls[-1] != url:
            self.popup_urls.append(url)
        return url

    def visited(self, origin):
        return [u for u in self.popup_urls + self.documents if u.startswith(origin)]

    def say(self, text):
        if self.secret:
            for form in (self.secret, urllib.parse.quote(self.secret, safe="")):
                text = text.replace(form, "<token from the command line>")
        print(text, file=sys.stderr)

    def report(self, what):
        self.say(what)
        self.say("popup URLs: %s" % self.popup_urls)
        self.say("navigation requests: %s" % self.documents)
        self.say("console of all windows (BiDi):")
        for line in self.console:
            self.say("  %s" % line)
        try:
            self.say("page state: %s; #error: %s; auth url: %s" % (
                self.body("state"), self.text("error"), self.text("auth-url")))
            self.say("browser console (classic log, this page):")
            for line in self.driver.get_log("browser"):
                self.say("  %s %s" % (line.get("level"), line.get("message")))
        except WebDriverException as e:
            self.say("(no page details: %s)" % e.msg)


def fill_idp_forms(driver, url, user):
    """oidc-provider's devInteractions: the login form, then the consent form."""
    logins = driver.find_elements(By.NAME, "login")
    if logins:
        logins[0].send_keys(user)
        driver.find_element(By.NAME, "password").send_keys("anything")
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        return
    buttons = driver.find_elements(By.CSS_SELECTOR, "button[type=submit]")
    if buttons and "interaction" in url:
        buttons[0].click()


def await_tokens(s, user=None, idp_origin=None, forbidden_origin=None):
    """Waits for the page's data-state; as USER, fills the IdP's forms in the
    popup; with FORBIDDEN_ORIGIN, fails once any navigation went there."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        state = s.body("state")
        if state == "done" and forbidden_origin:
            time.sleep(0.3)  # let the last navigation events arrive
        if forbidden_origin and s.visited(forbidden_origin):
            s.report("the refresh popup went to the identity provider: %s" % s.visited(forbidden_origin))
            return 1
        if state == "done":
            print(s.text("result"))
            return 0
        if state == "error":
            s.report("the page reports an error: %s%s" % (s.text("error"), reached(s, idp_origin)))
            return 1
        url = s.popup()
        if url and user:
            try:
                fill_idp_forms(s.driver, url, user)
            except WebDriverException:
                pass  # the popup navigated or closed meanwhile; look again
        time.sleep(0.2)
    s.report("no tokens within %d s%s" % (DEADLINE, reached(s, idp_origin)))
    return 1


def reached(s, idp_origin):
    if not idp_origin:
        return ""
    return " (the popup %s the identity provider)" % ("reached" if s.visited(idp_origin) else "never reached")


def logout(s):
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        if s.body("logout") == "done":
            return 0
        if s.body("state") == "error":
            break
        time.sleep(0.2)
    frames = s.driver.find_elements(By.ID, "logout-frame")
    if frames:
        try:
            s.driver.switch_to.frame(frames[0])
            s.say("logout iframe at %s: %s" % (
                s.driver.execute_script("return location.href"), s.driver.page_source[:2000]))
        except WebDriverException as e:
            s.say("logout iframe unreadable: %s" % e.msg)
    s.report("no logout-success within %d s (data-logout=%s)" % (DEADLINE, s.body("logout")))
    return 1


def cors(s):
    s.click("run-cors")
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        text = s.text("cors")
        if text and text != "pending":
            print(text)
            return 0
        time.sleep(0.2)
    s.report("the cors fetch never finished")
    return 1


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("login", "refresh", "logout", "cors"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, page_url, rest = sys.argv[1], sys.argv[2], sys.argv[3:]
    driver = browser()
    try:
        s = Session(driver, page_url, secret=rest[0] if mode in ("refresh", "logout") else None)
        if mode == "login":
            user, idp_origin = rest[:2]
            s.click("login")
            return await_tokens(s, user=user, idp_origin=idp_origin)
        if mode == "refresh":
            refresh_token, idp_origin = rest[:2]
            s.session_storage("refresh_token", refresh_token)
            s.click("refresh")
            return await_tokens(s, forbidden_origin=idp_origin)
        if mode == "logout":
            s.session_storage("id_token", rest[0])
            s.click("logout")
            return logout(s)
        return cors(s)
    finally:
        driver.quit()


if __name__ == "__main__":
    sys.exit(main())
