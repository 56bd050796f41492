"""A product manager's A/B test in a real browser: from the Prompts page start an
experiment on two versions, watch the results fill from simulated traffic, and
promote the winner to production."""

from __future__ import annotations

import pytest

from bench.experiments_sim import PROMPT, setup_prompt, simulate, wire_reply
from core.config import Settings
from core.services import Services
from tests.e2e.support import MISSING, wait_for
from tests.e2e.test_prompts_browser import _click, _see, _settle, _shot, _type

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]


@pytest.fixture
def wired(wire, monkeypatch):
    """Provider settings in the environment before the app starts (app_server copies it)."""
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = wire_reply
    svc = Services.build(Settings())
    setup_prompt(svc)
    yield svc
    svc.close()


def test_create_from_prompts_page_watch_results_and_promote(wired, app_server, browser):
    browser.get(app_server.url + "/prompts")
    _settle(browser)
    _click(browser, "A/B test versions of this prompt")
    _see(browser, "users per variant")
    _type(browser, "Experiment name", "warmer-tone")
    _shot(browser, "exp-1-new")
    _click(browser, "Create experiment")
    _see(browser, "Created 'warmer-tone' as a draft")
    _settle(browser)
    _click(browser, "Start")
    _see(browser, "is running")
    _see(browser, "No traffic yet")

    simulate(wired, "warmer-tone", users=300, visits=3, rates={"A": 0.5, "B": 0.7})
    browser.refresh()
    _see(browser, "B is better on thumbs-up rate", timeout=60)
    _settle(browser)
    wait_for(browser, "two charts", lambda d: len(
        d.find_elements("css selector", '[data-testid="stPlotlyChart"]')) == 2)
    _shot(browser, "exp-2-results")
    _click(browser, "Promote the winner")
    _see(browser, "now serves v2")
    _shot(browser, "exp-3-promoted")
    assert wired.prompts.resolve_label(PROMPT, "production") == 2
    assert wired.experiments.get("warmer-tone").state == "stopped"
