"""A non-engineer's journey on the Prompts page, in a real browser: create a
prompt with one variable, try it on the local model, save, edit (a new wording,
an example exchange and an answer field) and save again, open the diff, make
version 2 production, roll back to version 1."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from selenium.webdriver.common.keys import Keys

from core.config import Settings
from core.services import Services
from tests.e2e.support import ANSWER_TIMEOUT_S, MISSING, app_idle, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    # About thirty steps and a local-model answer: several minutes on 2 shared cores.
    pytest.mark.timeout(900),
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

CSS = "css selector"
#: Set to a folder to keep a screenshot of each step (for looking at the page).
SHOTS = os.environ.get("TRELLIS_E2E_SHOTS")


def _shot(driver, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        size = driver.get_window_size()
        tall = driver.execute_script(
            "const m = document.querySelector('[data-testid=\"stMain\"]');"
            "return m ? m.scrollHeight : document.body.scrollHeight;")
        driver.set_window_size(size["width"], max(size["height"], tall + 100))
        driver.save_screenshot(str(Path(SHOTS) / f"{name}.png"))
        driver.set_window_size(size["width"], size["height"])


def _settle(driver) -> None:
    wait_for(driver, "the page to settle", app_idle)


def _body(driver) -> str:
    return driver.find_element(CSS, "body").text


def _see(driver, text: str, timeout: float | None = None) -> None:
    kwargs = {"timeout": timeout} if timeout else {}
    wait_for(driver, f"'{text}' on the page", lambda d: text in _body(d), **kwargs)


def _field(driver, label: str, tag: str = "input"):
    return wait_for(driver, f"the '{label}' box", lambda d: next(
        (e for e in d.find_elements(CSS, f'{tag}[aria-label="{label}"]') if e.is_displayed()),
        None))


def _type(driver, label: str, text: str, tag: str = "input") -> None:
    def typing() -> None:
        box = _field(driver, label, tag)
        _press(driver, box)
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(Keys.DELETE)
        box.send_keys(text)
        box.send_keys(Keys.TAB)  # commit the value (Streamlit reruns on blur)

    _retry(typing)
    _settle(driver)


def _click(driver, label: str) -> None:
    def find(d):
        for el in d.find_elements(CSS, "button"):
            # Icons render as ligature text ("add", "expand_more") around the label.
            if el.is_displayed() and label in el.text.split("\n"):
                return el
        return None

    _retry(lambda: _press(driver, wait_for(driver, f"the '{label}' button", find)))


def _press(driver, element) -> None:
    # Centre it first: Streamlit's sticky header covers anything scrolled to the top.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _retry(action) -> None:
    """Run `action`, again if a rerun replaced (or had not yet enabled) the element
    between finding and using it."""
    import time

    from selenium.common.exceptions import (
        ElementNotInteractableException,
        StaleElementReferenceException,
    )

    for _ in range(5):
        try:
            action()
            return
        except (StaleElementReferenceException, ElementNotInteractableException):
            time.sleep(0.5)
    action()


def _open(driver, label: str) -> None:
    """Open the expander titled `label` (a no-op when it is open already)."""
    def find(d):
        # The summary reads "<icon ligature>\n<title>".
        return next((e for e in d.find_elements(CSS, '[data-testid="stExpander"] details')
                     if e.is_displayed() and any(
                         line.startswith(label)
                         for line in e.find_element(CSS, "summary").text.split("\n"))),
                    None)

    def opening() -> None:
        details = wait_for(driver, f"the '{label}' section", find)
        if details.get_attribute("open") is None:
            _press(driver, details.find_element(CSS, "summary"))

    _retry(opening)
    _settle(driver)


def _choose(driver, label: str) -> None:
    """Pick the radio option `label`."""
    _retry(lambda: _press(driver, wait_for(driver, f"the '{label}' option", lambda d: next(
        (e for e in d.find_elements(CSS, '[data-testid="stRadio"] label')
         if e.is_displayed() and e.text.strip() == label), None))))
    _settle(driver)


def _tab(driver, label: str) -> None:
    _retry(lambda: _press(driver, wait_for(driver, f"the {label} tab", lambda d: next(
        (t for t in d.find_elements(CSS, '[data-testid="stTab"]') if t.text.strip() == label),
        None))))


def test_a_non_engineer_creates_tries_saves_compares_deploys_and_rolls_back(
    app_server, browser
):
    browser.get(app_server.url + "/prompts")
    _see(browser, "No prompts yet")
    _settle(browser)
    _click(browser, "New prompt")
    _type(browser, "Name", "Greeting")
    _click(browser, "Create prompt")
    _see(browser, "Created prompt 'greeting'")
    _settle(browser)

    _type(browser, "System message", "You are a cheerful greeter.", "textarea")
    _type(browser, "User message", "Say hello to {{ name }} in one short sentence.", "textarea")
    _type(browser, "name", "Ada")
    _shot(browser, "1-draft")
    _click(browser, "Try the draft")
    wait_for(browser, "the draft's answer with its figures", lambda d: any(
        "tokens" in c.text and "latency" in c.text
        for c in d.find_elements(CSS, '[data-testid="stCaptionContainer"]')),
        timeout=ANSWER_TIMEOUT_S)
    _settle(browser)
    _shot(browser, "2-tried")

    _type(browser, "What changed? (a short note for the history)", "First greeting")
    _click(browser, "Save new version")
    _see(browser, "Saved version 1")
    _settle(browser)

    _type(browser, "User message", "Say a warm hello to {{ name }} in one short sentence.",
          "textarea")
    # One example exchange and an answer format of one field.
    _open(browser, "Example exchanges")
    _click(browser, "Add an example")
    _type(browser, "Example 1: user message", "Say hello to Bo.", "textarea")
    _type(browser, "Example 1: answer", "Hello Bo, lovely to see you!", "textarea")
    _open(browser, "Answer format")
    _choose(browser, "Fields I list")
    _click(browser, "Add a field")
    _type(browser, "Field 1 name", "greeting")
    _shot(browser, "3a-example-and-format")
    _type(browser, "What changed? (a short note for the history)", "Warmer")
    _click(browser, "Save new version")
    _see(browser, "Saved version 2. Production is still v1")
    _settle(browser)
    _shot(browser, "3-saved-v2")
    # With an answer format the default local model answers in its fields, shown as
    # a list rather than raw JSON.
    _click(browser, "Try the draft")
    wait_for(browser, "the answer's greeting field", lambda d: any(
        c.text.strip().startswith("greeting:")
        for c in d.find_elements(CSS, '[data-testid="stMarkdownContainer"] li')
        if c.is_displayed()), timeout=ANSWER_TIMEOUT_S)
    _settle(browser)
    _shot(browser, "3b-tried-with-answer-format")

    _tab(browser, "Compare versions")
    wait_for(browser, "the diff", lambda d: any(
        "+Say a warm hello to {{ name }}" in c.text
        for c in d.find_elements(CSS, '[data-testid="stCode"]') if c.is_displayed()))
    _see(browser, "Example 1: user message")
    _see(browser, "greeting (text)")
    _shot(browser, "4-diff")

    _tab(browser, "History")
    _shot(browser, "5-history")
    _click(browser, "Make v2 production")
    _see(browser, "Move 'production' from v1 to v2?")
    _shot(browser, "6-confirm")
    _click(browser, "Yes, move to v2")
    _see(browser, "'production' now points at v2.")
    _settle(browser)

    _tab(browser, "History")
    _click(browser, "Roll back production to v1")
    _see(browser, "Roll back 'production' from v2 to v1?")
    _click(browser, "Yes, roll back to v1")
    _see(browser, "'production' now points at v1.")
    _settle(browser)
    _tab(browser, "History")
    _shot(browser, "7-rolled-back")

    svc = Services.build(Settings())
    try:
        assert svc.prompts.prompt("greeting").production_version == 1
        moves = svc.prompts.history("greeting", label="production")
        assert [(m.from_version, m.to_version) for m in moves] == [(2, 1), (1, 2), (None, 1)]
        v2 = svc.prompts.version("greeting", 2)
        assert v2.examples_pairs == [("Say hello to Bo.", "Hello Bo, lovely to see you!")]
        assert v2.config.response_schema["required"] == ["greeting"]
        rows = svc.telemetry.recent_calls(10)
        assert any(r.source == "prompt-editor" and r.status == "ok" for r in rows)
    finally:
        svc.close()
