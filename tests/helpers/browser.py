"""A headless Chromium for browser tests (the HTML report, the notebooks rendered to HTML).

Needs Debian's chromium and chromium-driver (``bash scripts/install-chromium.sh``) and the ``selenium``
package; without them the calling test is skipped, with the reason.
"""

from __future__ import annotations

import shutil
import time
from typing import Any

import pytest


def headless_chromium() -> Any:
    """A headless Chromium driven by selenium, with every network lookup failing (offline)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("chromium and chromedriver are not installed (run: bash scripts/install-chromium.sh)")
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install selenium)"
    )
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--host-resolver-rules=MAP * ~NOTFOUND",
                     "--disable-background-networking"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(driver_path))


def wait_for(driver: Any, script: str, timeout: float = 60.0) -> Any:
    """Run ``script`` in the page until it returns something truthy (or ``timeout`` seconds pass)."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def console_problems(driver: Any) -> list[dict[str, Any]]:
    """The page's console messages at level WARNING or SEVERE (JavaScript errors, failed loads)."""
    return [entry for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]
