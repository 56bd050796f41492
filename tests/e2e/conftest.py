"""The browser suite: the real app under `streamlit run`, driven by a real
headless Chromium through Selenium.

Chromium and its driver come from Debian (`apt-get install chromium
chromium-driver`; `make test` installs them when it runs as root). Both paths
are handed to Selenium explicitly so Selenium Manager never looks for a
browser or driver on the network, which this machine cannot reach.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.support import CHROMEDRIVER, CHROMIUM, START_TIMEOUT_S
from tests.servers.procs import free_port, stop


@dataclass
class AppServer:
    url: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def app_server(isolated_env: Path, tmp_path: Path) -> Iterator[AppServer]:
    """`streamlit run app/main.py` on a free loopback port, over this test's
    empty data dir, with the product's own settings.

    Guards stay on as in the product (tests/conftest.py turns them off for the
    other suites): the browser tests check what a user sees, and the first
    guarded call costs only a few seconds more.
    """
    env = dict(os.environ)
    env.pop("TRELLIS_GUARDS_ENABLED", None)
    env.pop("TRELLIS_WARM_UP", None)  # the real app warms its models up at start
    # The app reads .streamlit/config.toml from its working directory; run it
    # from the test's tmp dir (away from any developer .env) with the repo's
    # config next to it.
    (tmp_path / ".streamlit").mkdir(exist_ok=True)
    shutil.copy(ROOT / ".streamlit" / "config.toml", tmp_path / ".streamlit" / "config.toml")
    port = free_port()
    log = tmp_path / "streamlit.log"
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(ROOT / "app" / "main.py"),
        "--server.headless", "true",
        "--server.address", "127.0.0.1",
        "--server.port", str(port),
        # Nothing edits the source during a test; watching the tree only costs CPU.
        "--server.fileWatcherType", "none",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = AppServer(url=f"http://127.0.0.1:{port}", log=log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _healthy(server.url):
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit not healthy after {START_TIMEOUT_S} s:\n"
                            f"{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        stop(proc, timeout=15)


@pytest.fixture
def browser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A fresh headless Chromium per test (its own profile, no shared state)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # With the driver path given, Selenium skips Selenium Manager; should a
    # future Selenium call it anyway, offline mode keeps it off the network.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        # Only the app on loopback: no update checks, sync or first-run pings.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        options=options, service=Service(executable_path=CHROMEDRIVER)
    )
    try:
        yield driver
    finally:
        driver.quit()
