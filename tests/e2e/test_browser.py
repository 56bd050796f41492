"""What a user sees in a real browser: the app under `streamlit run`, clicked
and typed into through headless Chromium."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.keys import Keys

from tests.conftest import ROOT
from tests.e2e.support import ANSWER_TIMEOUT_S, MISSING, app_idle, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

CSS = "css selector"
SAMPLES = ROOT / "data" / "samples"


def _texts(driver, selector: str) -> list[str]:
    return [e.text for e in driver.find_elements(CSS, selector)]


def _tab(driver, label: str):
    return wait_for(driver, f"the {label} tab", lambda d: next(
        (t for t in d.find_elements(CSS, '[data-testid="stTab"]') if t.text.strip() == label),
        None))


def _button(driver, label: str):
    """The visible button whose text is `label` (Streamlit renders icon names
    as ligature text, so match on the end of the text)."""
    for el in driver.find_elements(CSS, '[data-testid="stButton"] button'):
        if el.is_displayed() and el.text.strip().endswith(label):
            return el
    return None


def _short_answers(driver, tokens: int = 32) -> None:
    """Lower Max tokens in the sidebar: keeps the suite quick on a 2-core machine."""
    field = wait_for(driver, "the Max tokens field",
                     lambda d: d.find_element(CSS, 'input[aria-label="Max tokens"]'))
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(str(tokens), Keys.TAB)
    wait_for(driver, "Max tokens to take the value", lambda d: d.find_element(
        CSS, 'input[aria-label="Max tokens"]').get_attribute("value") == str(tokens))
    wait_for(driver, "the page to settle", app_idle)


def test_chat_answer_from_the_local_model_shows_its_figures(app_server, browser):
    browser.get(app_server.url)
    wait_for(browser, "the chat page", lambda d: "Chat playground" in _texts(d, "h1"))
    _short_answers(browser)
    box = wait_for(
        browser, "the chat input",
        lambda d: next((e for e in d.find_elements(CSS, '[data-testid="stChatInputTextArea"]')
                        if e.is_enabled()), None),
    )
    box.send_keys("What is the capital of France?")
    box.send_keys(Keys.ENTER)

    def figures(d) -> str | None:
        for msg in d.find_elements(CSS, '[data-testid="stChatMessage"]'):
            if not msg.find_elements(CSS, '[data-testid="stChatMessageAvatarAssistant"]'):
                continue
            for cap in _texts(msg, '[data-testid="stCaptionContainer"]'):
                if "TTFT" in cap:
                    return cap
        return None

    wait_for(browser, "the answer's figures line", figures, timeout=ANSWER_TIMEOUT_S)
    # Once logged, the answer is drawn again with thumbs for feedback on its call.
    wait_for(browser, "the answer's feedback thumbs", lambda d: d.find_elements(
        CSS, '[data-testid="stChatMessage"] [data-testid="stFeedback"]'))
    wait_for(browser, "the page to settle", app_idle)

    line = figures(browser)
    found = re.search(
        r"^local/smollm2-135m-instruct · (\d+) → (\d+) tokens · \$0 · latency [\d.,]+ m?s · "
        r"TTFT [\d.,]+ m?s",
        line or "",
    )
    assert found, line
    assert int(found.group(1)) > 0 and int(found.group(2)) > 0, line
    user, assistant = browser.find_elements(CSS, '[data-testid="stChatMessage"]')
    assert "What is the capital of France?" in user.text
    answer = assistant.find_element(CSS, '[data-testid="stMarkdownContainer"]').text
    assert answer.strip() and answer != "(empty answer)", assistant.text
    assert not browser.find_elements(CSS, '[data-testid="stException"]')


def _answer_figures(driver) -> list[str]:
    """Every figures line under the assistant's answers, in page order."""
    lines = []
    for msg in driver.find_elements(CSS, '[data-testid="stChatMessage"]'):
        if msg.find_elements(CSS, '[data-testid="stChatMessageAvatarAssistant"]'):
            lines += [c for c in _texts(msg, '[data-testid="stCaptionContainer"]') if "TTFT" in c]
    return lines


def test_compare_two_local_models_then_refresh_finds_the_conversation(app_server, browser):
    """A product manager's journey: compare mode answers with the two bundled models
    side by side (SmolLM2 left, Gemma right); a browser refresh keeps the conversation."""
    browser.get(app_server.url)
    wait_for(browser, "the chat page", lambda d: "Chat playground" in _texts(d, "h1"))
    _short_answers(browser)
    toggle = wait_for(browser, "the compare toggle", lambda d: next(
        (e for e in d.find_elements(CSS, '[data-testid="stSidebar"] label')
         if e.text.strip() == "Compare two models"), None))
    toggle.click()
    wait_for(browser, "the right model picker",
             lambda d: any("Right model" in t for t in _texts(d, '[data-testid="stSidebar"]')))
    wait_for(browser, "the page to settle", app_idle)
    box = wait_for(
        browser, "the chat input",
        lambda d: next((e for e in d.find_elements(CSS, '[data-testid="stChatInputTextArea"]')
                        if e.is_enabled()), None),
    )
    box.send_keys("Name a fruit.")
    box.send_keys(Keys.ENTER)
    # Both answers are logged, then drawn again with their feedback thumbs.
    wait_for(browser, "both answers' feedback thumbs", lambda d: len(d.find_elements(
        CSS, '[data-testid="stChatMessage"] [data-testid="stFeedback"]')) == 2,
        timeout=2 * ANSWER_TIMEOUT_S)
    wait_for(browser, "the page to settle", app_idle)
    left, right = _answer_figures(browser)
    assert left.startswith("local/smollm2-135m-instruct · "), left
    assert right.startswith("local/gemma-3-270m · "), right
    assert "chat=" in browser.current_url, browser.current_url

    # A refresh is a new session: the conversation comes back from the database.
    browser.refresh()
    wait_for(browser, "the reopened conversation", lambda d: len(_answer_figures(d)) == 2)
    wait_for(browser, "the page to settle", app_idle)
    assert _answer_figures(browser) == [left, right]
    assert any("Name a fruit." in t for t in _texts(browser, '[data-testid="stChatMessage"]'))
    assert any(b.text.strip().endswith("Name a fruit.") for b in browser.find_elements(
        CSS, '[data-testid="stSidebar"] [data-testid="stButton"] button'))
    assert not browser.find_elements(CSS, '[data-testid="stException"]')


def test_monitoring_starts_empty_then_charts_demo_traffic(app_server, browser):
    browser.get(app_server.url + "/monitoring_latency")
    wait_for(browser, "the Latency page's empty state",
             lambda d: any("No traffic yet" in t for t in _texts(d, '[data-testid="stAlert"]')))
    assert not browser.find_elements(CSS, '[data-testid="stPlotlyChart"]')

    wait_for(browser, "the Load demo traffic button",
             lambda d: _button(d, "Load demo traffic")).click()

    wait_for(browser, "the latency charts",
             lambda d: len(d.find_elements(CSS, '[data-testid="stPlotlyChart"] .main-svg')) >= 4)
    wait_for(browser, "the page to settle", app_idle)
    assert not any("No traffic yet" in t for t in _texts(browser, '[data-testid="stAlert"]'))
    assert any("demo calls" in t for t in _texts(browser, '[data-testid="stSidebar"]'))
    calls = next(m.find_element(CSS, '[data-testid="stMetricValue"]').text
                 for m in browser.find_elements(CSS, '[data-testid="stMetric"]')
                 if "Calls" in m.find_element(CSS, '[data-testid="stMetricLabel"]').text)
    assert int(calls.replace(",", "")) > 0, calls
    assert not browser.find_elements(CSS, '[data-testid="stException"]')


def test_documents_page_loads_the_sample_documents(app_server, browser):
    browser.get(app_server.url + "/documents")
    wait_for(browser, "the Load the sample documents button",
             lambda d: _button(d, "Load the sample documents")).click()

    # After loading, the page shows the samples collection and its tabs.
    wait_for(browser, "the samples collection",
             lambda d: any("samples" in t and "chunking" in t
                           for t in _texts(d, '[data-testid="stCaptionContainer"]')),
             timeout=ANSWER_TIMEOUT_S)
    wait_for(browser, "the page to settle", app_idle)

    # The Documents tab lists every shipped sample, each indexed and ready.
    _tab(browser, "Documents").click()
    picker = wait_for(browser, "the document picker", lambda d: next(
        (e for e in d.find_elements(CSS, '[data-testid="stMain"] [data-testid="stSelectbox"]')
         if e.is_displayed()), None))
    picker.find_element(CSS, "input").click()
    options = wait_for(browser, "the document picker's options", lambda d: _texts(
        d, '[data-testid="stSelectboxVirtualDropdown"] [role="option"]'))
    samples = sorted(p.name for p in SAMPLES.iterdir() if p.is_file())
    assert sorted(re.sub(r" \(#\d+, \w+\)$", "", o) for o in options) == samples, options
    assert all(o.endswith(", Ready)") for o in options), options
    picker.find_element(CSS, "input").send_keys(Keys.ESCAPE)

    # The Search tab finds a passage in them.
    _tab(browser, "Search").click()
    box = wait_for(browser, "the search box", lambda d: next(
        (e for e in d.find_elements(CSS, 'input[aria-label="Search this collection"]')
         if e.is_displayed()), None))
    box.send_keys("How many days of annual leave do we get?", Keys.ENTER)
    # Each hit is an expander labelled "[n] document · section · high relevance"
    # (after its chevron icon, which Streamlit renders as ligature text).
    first = wait_for(browser, "the first search hit", lambda d: next(
        (line for t in _texts(d, '[data-testid="stExpander"] summary')
         for line in t.splitlines() if line.startswith("[1] ")), None),
        timeout=ANSWER_TIMEOUT_S)
    assert first.startswith("[1] employee-handbook.md · "), first
    assert "Annual leave" in first, first
    assert not browser.find_elements(CSS, '[data-testid="stException"]')
