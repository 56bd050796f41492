"""The Evals page in a real browser: run the demo suite, open a failing cell, compare two runs.

The app's default model points at the loopback wire server, so the demo suite
runs in seconds with answers this test chooses.
"""

from __future__ import annotations

import pytest

from tests.e2e.support import ANSWER_TIMEOUT_S, MISSING, app_idle, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

CSS = "css selector"


@pytest.fixture
def wire_default(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    monkeypatch.setenv("TRELLIS_DEFAULT_MODEL", "openai/gpt-4o-mini")
    wire.reply = "Full-time staff get 27 days of leave."
    # Asked for before app_server, so the app starts with this environment.
    return wire


def _body(d) -> str:
    return d.find_element(CSS, "body").text


def _tab(d, label: str) -> None:
    tab = wait_for(d, f"the {label} tab", lambda d: next(
        (t for t in d.find_elements(CSS, '[data-testid="stTab"]') if t.text.strip() == label),
        None))
    tab.click()


def _run_demo(d) -> None:
    _tab(d, "Run")
    box = wait_for(d, "the document search checkbox", lambda d: next(
        (e for e in d.find_elements(CSS, '[data-testid="stCheckbox"]')
         if "Search the 'samples' documents" in e.text), None))
    if box.find_element(CSS, "input").is_selected():
        box.find_element(CSS, "label").click()  # no document search: answers come from the wire
        wait_for(d, "the page to settle", app_idle)
    run = wait_for(d, "the Run the demo suite button", lambda d: next(
        (b for b in d.find_elements(CSS, '[data-testid="stButton"] button')
         if b.text.strip().endswith("Run the demo suite")), None))
    run.click()
    wait_for(d, "the run's progress", lambda d: "cells" in _body(d) or not app_idle(d))
    wait_for(d, "the run to finish", app_idle, timeout=ANSWER_TIMEOUT_S)


def test_run_the_demo_open_a_failing_cell_and_compare(wire_default, app_server, browser):
    d = browser
    d.get(app_server.url + "/evals")
    wait_for(d, "the Evals page", lambda d: "Evals" in [h.text for h in
                                                      d.find_elements(CSS, "h1")])
    _run_demo(d)
    _tab(d, "Results")
    wait_for(d, "the first run's verdict",
             lambda d: "This run does not meet the suite's thresholds. Pass rate 5%" in _body(d))
    # The cell picker opens a failing cell first, with every check's reason.
    wait_for(d, "a failing cell's reasons", lambda d: "the case failed" in _body(d)
             and "contains-any: the output contains none of" in _body(d)
             and "not-blocked: the guards let the call through" in _body(d))
    assert "Expected" in _body(d)

    wire_default.reply = "Passwords need 14 characters."
    _run_demo(d)
    _tab(d, "Compare")
    wait_for(d, "the comparison's verdict", lambda d: (
        "No significant difference: 1 fixed and 1 regressed of 20 shared cases" in _body(d)))
    # The case table is drawn on a canvas; its counts are in the metrics.
    assert "Regressions\n1" in _body(d) and "Fixes\n1" in _body(d)
