"""Driving the console in the tests (not collected: no ``test_`` prefix): Debian's Chromium
through Selenium, and a plain HTTP client that signs in with the form like a browser does.

The browser is headless with a new empty profile and everything that would reach the network
off; it is found at /usr/bin/chromium with /usr/bin/chromedriver (``make browser`` installs
both). ``unavailable()`` says why the browser tests cannot run, or None.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--window-size=1280,1000",
)
WAIT_SECONDS = 20


def _binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


def chromium() -> str | None:
    return _binary("chromium", "chromium-browser")


def chromedriver() -> str | None:
    return _binary("chromedriver")


def unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    if chromium() is None or chromedriver() is None:
        return ("Chromium and its driver are not installed: `make browser` installs them "
                "(apt-get install chromium chromium-driver)")
    return None


class Browser:
    def __init__(self, base_url: str, shots: Path | None = None) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.base_url = base_url
        self.profile = tempfile.mkdtemp(prefix="gumshoe-chromium-")
        options = webdriver.ChromeOptions()
        for flag in CHROME_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.binary_location = chromium() or "chromium"
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(chromedriver() or "chromedriver"))
        self.driver.set_page_load_timeout(WAIT_SECONDS)
        self.logs: list[dict[str, Any]] = []
        self.shots = shots

    def quit(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    # --- navigating ----------------------------------------------------------------------

    def get(self, path: str) -> None:
        self.driver.get(self.base_url + path)

    @property
    def path(self) -> str:
        url: str = self.driver.current_url
        return url.removeprefix(self.base_url)

    def wait(self, condition: Callable[[Any], Any], what: str = "condition", timeout: float = WAIT_SECONDS) -> Any:
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
        )
        from selenium.webdriver.support.ui import WebDriverWait

        # A page being replaced while the condition reads it: read it again.
        wait = WebDriverWait(self.driver, timeout, ignored_exceptions=(StaleElementReferenceException,
                                                                       NoSuchElementException))
        return wait.until(condition, message=f"timed out waiting for {what}")

    def wait_for_path(self, pattern: str, timeout: float = WAIT_SECONDS) -> str:
        self.wait(lambda d: re.search(pattern, self.path), f"a URL matching {pattern} (at {self.path})", timeout)
        return self.path

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def wait_css(self, selector: str, timeout: float = WAIT_SECONDS) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait(ec.presence_of_element_located((By.CSS_SELECTOR, selector)), selector, timeout)

    def link(self, text: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.LINK_TEXT, text)

    def text(self) -> str:
        """The page's visible text (read again if the page changed under the reading)."""
        from selenium.common.exceptions import StaleElementReferenceException

        for _ in range(5):
            try:
                return str(self.css("body").text)
            except StaleElementReferenceException:
                continue
        return str(self.css("body").text)

    def sign_in(self, key: str, secret: str = "") -> None:
        self.get("/console/signin")
        self.wait_css("#access_key_id").clear()
        self.css("#access_key_id").send_keys(key)
        self.css("#secret_access_key").send_keys(secret)
        self.css("form.stack button[type=submit]").click()
        self.wait(lambda d: "/console/signin" not in self.path or self.all("p.error"), "the sign-in answer")

    def sign_out(self) -> None:
        self.css("form[action='/console/signout'] button").click()
        self.wait_for_path(r"^/console/signin")

    # --- what the page did ------------------------------------------------------------------

    def console_errors(self) -> list[dict[str, Any]]:
        """SEVERE entries of the browser's console since the last call."""
        entries = self.driver.get_log("browser")
        self.logs += entries
        return [e for e in entries if e.get("level") == "SEVERE"]

    def alert_open(self) -> bool:
        from selenium.common.exceptions import NoAlertPresentException

        try:
            self.driver.switch_to.alert  # noqa: B018 (the property raises when there is none)
        except NoAlertPresentException:
            return False
        return True

    def canvas_pixels(self, chart: str, colors: list[tuple[int, int, int]]) -> list[int]:
        """How many pixels of each (opaque) colour a chart's canvas has."""
        counts: list[int] = self.driver.execute_script(
            """const canvas = document.querySelector(arguments[0] + ' canvas');
               if (!canvas) return null;
               const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
               return arguments[1].map(([r, g, b]) => {
                 let n = 0;
                 for (let i = 0; i < d.length; i += 4) if (d[i] === r && d[i+1] === g && d[i+2] === b && d[i+3] === 255) n++;
                 return n;
               });""",
            chart, [list(c) for c in colors],
        )
        return counts

    def click_chart_hour(self, chart: str, hour_ms: int) -> None:
        """Choose the bar of one hour: the pointer in the middle of that hour on the time axis
        (the chart's x range is from its first hour to the end of its last)."""
        from selenium.webdriver.common.action_chains import ActionChains

        data = self.driver.execute_script("return JSON.parse(document.getElementById(arguments[0]).textContent)",
                                          chart.lstrip("#") + "-data")
        hours = data["hours"]
        low, high = hours[0], hours[-1] + 3_600_000
        over = self.css(f"{chart} .u-over")
        width, height = over.size["width"], over.size["height"]
        x = (hour_ms + 1_800_000 - low) / (high - low) * width
        ActionChains(self.driver).move_to_element_with_offset(over, int(x - width / 2), int(height / 4)).pause(0.1) \
            .click().perform()

    def screenshot(self, name: str) -> Path | None:
        if self.shots is None:
            return None
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        # The whole page (up to 2,200 px), seen from its top, at 1280 px wide.
        self.driver.execute_script("window.scrollTo(0, 0); document.activeElement && document.activeElement.blur()")
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, min(int(height) + 140, 2200))
        try:
            self.driver.save_screenshot(str(path))
        finally:
            self.driver.set_window_size(1280, 1000)
        return path


CSRF = re.compile(r'name="csrf" value="([^"]*)"')


class ConsoleClient:
    """The console over plain HTTP, with a cookie jar: what a browser sends, minus the browser."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.token = ""

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, **kw: Any) -> httpx.Response:
        response = self.http.get(path, **kw)
        match = CSRF.search(response.text) if "text/html" in response.headers.get("content-type", "") else None
        if match and "/console/signin" not in path:
            self.token = match.group(1)
        return response

    def post(self, path: str, form: dict[str, str], *, csrf: str | None = None, **kw: Any) -> httpx.Response:
        data = dict(form)
        if csrf is not None:
            data["csrf"] = csrf
        return self.http.post(path, data=data, **kw)

    def sign_in(self, key: str, secret: str = "") -> httpx.Response:
        page = self.http.get("/console/signin")
        match = CSRF.search(page.text)
        assert match, page.text
        answer = self.post("/console/signin", {"access_key_id": key, "secret_access_key": secret},
                           csrf=match.group(1))
        if answer.status_code == 303:
            self.get("/console/accounts")  # its forms' token
        return answer
