"""What a user sees in a real browser: the app under `streamlit run`, clicked
and typed into through headless Chromium."""

from __future__ import annotations

import re

import pytest

from tests.e2e.support import ANSWER_TIMEOUT_S, MISSING, app_idle, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

CSS = "css selector"


def _texts(driver, selector: str) -> list[str]:
    return [e.text for e in driver.find_elements(CSS, selector)]


def _selected(driver) -> list[str]:
    """What each select box shows (Streamlit keeps the choice in its input)."""
    return [e.get_attribute("value") or ""
            for e in driver.find_elements(CSS, '[data-testid="stSelectbox"] input')]


def _button(driver, label: str):
    """The visible button whose text is `label` (Streamlit renders icon names
    as ligature text, so match on the end of the text)."""
    for el in driver.find_elements(CSS, '[data-testid="stButton"] button'):
        if el.is_displayed() and el.text.strip().endswith(label):
            return el
    return None


def test_chat_answer_from_the_local_model_shows_its_figures(app_server, browser):
    from selenium.webdriver.common.keys import Keys

    browser.get(app_server.url)
    wait_for(browser, "the chat page", lambda d: "Chat playground" in _texts(d, "h1"))
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

    line = wait_for(browser, "the answer's figures line", figures, timeout=ANSWER_TIMEOUT_S)
    assert re.search(
        r"^local/gemma-3-270m · \d+ → \d+ tokens · \$0 · latency [\d.,]+ m?s · TTFT [\d.,]+ m?s",
        line,
    ), line
    messages = browser.find_elements(CSS, '[data-testid="stChatMessage"]')
    assert "What is the capital of France?" in messages[0].text
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

    # The Documents tab lists them, each indexed and ready.
    tab = next(t for t in browser.find_elements(CSS, '[data-testid="stTab"]')
               if t.text.strip() == "Documents")
    tab.click()
    picked = wait_for(
        browser, "a ready sample document in the list",
        lambda d: next((t for t in _selected(d) if "ready" in t), None),
    )
    assert re.search(r"\.(md|txt|csv|html) \(#\d+, ready\)", picked), picked
    assert not browser.find_elements(CSS, '[data-testid="stException"]')
