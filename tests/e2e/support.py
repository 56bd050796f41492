"""Helpers for the browser suite: where Debian's Chromium and chromedriver
are (and why the suite skips without them), and waits that fail plainly."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")

# Generous on purpose: on a busy 2-core machine the first page load imports the
# whole engine and the first answer loads the model. These bound a wait; no
# test asserts on how long anything took.
START_TIMEOUT_S = 90
PAGE_TIMEOUT_S = 90
ANSWER_TIMEOUT_S = 180


def _find(names: tuple[str, ...], extra: tuple[str, ...] = ()) -> str | None:
    for name in names:
        if found := shutil.which(name):
            return found
    return next((p for p in extra if os.access(p, os.X_OK)), None)


CHROMIUM = _find(("chromium", "chromium-browser"))
CHROMEDRIVER = _find(("chromedriver",), ("/usr/lib/chromium/chromedriver",))

_missing = [name for name, path in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER))
            if path is None]
MISSING = (
    f"{' and '.join(_missing)} not installed: the browser suite needs Debian's chromium and "
    "chromium-driver packages (scripts/ensure-system-deps.sh installs them when run as root)"
    if _missing else None
)


def wait_for(driver, what: str, condition: Callable[[object], T],
             timeout: float = PAGE_TIMEOUT_S) -> T:
    """Poll `condition(driver)` until it returns something truthy; on timeout,
    fail naming `what` and show the page's text, so a failure reads plainly."""
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        TimeoutException,
    )
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(
            driver, timeout, poll_frequency=0.25,
            ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
        ).until(condition)
    except TimeoutException:
        try:
            text = driver.find_element("css selector", "body").text
        except Exception as err:  # the page may be gone; this only decorates the failure
            text = f"(page text unavailable: {err})"
        pytest.fail(f"Timed out waiting for {what}. The page showed:\n{text[-3000:]}")


def app_idle(driver) -> bool:
    """The app is connected and its script is not running.

    Read from the attributes Streamlit keeps on its root element, not from the
    "Running..." widget, which only shows after half a second of running. Use
    it after waiting for something the run in question drew: just after a
    click the new run may not have started yet.
    """
    return bool(driver.find_elements(
        "css selector",
        '[data-testid="stApp"][data-test-script-state="notRunning"]'
        '[data-test-connection-state="CONNECTED"]',
    ))
