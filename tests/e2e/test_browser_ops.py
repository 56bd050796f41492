"""The ops person's journey in Chromium: the Monitoring filters survive real
sidebar navigation into and out of Cost, and a `?call=` link opens that call."""

from __future__ import annotations

import pytest

from core.config import Settings
from core.services import Services
from core.telemetry.demo import generate_demo
from tests.e2e.support import MISSING, app_idle, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

CSS = "css selector"


@pytest.fixture
def demo_rows(isolated_env) -> int:
    """A little demo traffic in the test's data dir, before the app starts."""
    svc = Services.build(Settings())
    try:
        result = generate_demo(svc.db, 1500, seed=11, span_fraction=0.2)
        recent = svc.telemetry.recent_calls(1)
        return int(recent[0].id) if recent else result.calls
    finally:
        svc.close()


def _nav(driver, title: str) -> None:
    links = driver.find_elements(CSS, '[data-testid="stSidebarNavLink"]')
    next(a for a in links if a.text.strip().splitlines()[-1:] == [title]).click()


def _sidebar(driver) -> str:
    return driver.find_element(CSS, '[data-testid="stSidebar"]').text


def _range(driver) -> str:
    """The Time range box's chosen value (held in its input, not in the text)."""
    return driver.find_element(CSS, 'input[aria-label="Time range"]').get_attribute("value")


def test_filters_survive_sidebar_navigation_around_cost(demo_rows, app_server, browser):
    browser.get(app_server.url + "/monitoring_latency?range=7d&provider=openai")
    wait_for(browser, "the Latency charts",
             lambda d: len(d.find_elements(CSS, '[data-testid="stPlotlyChart"] .main-svg')) >= 4)
    for title, path in (("Cost", "/monitoring_cost"), ("Errors", "/monitoring_errors"),
                        ("Cost", "/monitoring_cost"), ("Latency", "/monitoring_latency")):
        _nav(browser, title)
        wait_for(browser, f"the {title} page", lambda d, p=path: p in d.current_url)
        wait_for(browser, f"the {title} page's filters",
                 lambda d: _range(d) == "Last 7 days" and "openai" in _sidebar(d))
        wait_for(browser, "the page to settle", app_idle)
        assert "range=7d" in browser.current_url and "provider=openai" in browser.current_url
        assert not browser.find_elements(CSS, '[data-testid="stException"]')


def test_a_call_link_opens_the_call(demo_rows, app_server, browser):
    browser.get(f"{app_server.url}/monitoring_latency?call={demo_rows}")
    wait_for(browser, f"call #{demo_rows}'s drill-down",
             lambda d: f"Call #{demo_rows}" in d.find_element(CSS, "body").text)
    assert not browser.find_elements(CSS, '[data-testid="stException"]')
