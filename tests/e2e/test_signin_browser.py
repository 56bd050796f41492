"""Sign-in and roles in a real browser: TRELLIS_AUTH=password, an editor, a viewer
and an admin, each seeing only what their role allows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.access import CLI
from core.config import Settings
from core.services import Services
from tests.e2e.support import MISSING, app_idle, wait_for

pytestmark = [
    pytest.mark.slow,
    pytest.mark.e2e,
    pytest.mark.skipif(MISSING is not None, reason=MISSING or ""),
]

CSS = "css selector"
PASSWORD = "a long enough password"


@pytest.fixture
def users(isolated_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Password sign-in with one user per role, in the app's own database."""
    monkeypatch.setenv("TRELLIS_AUTH", "password")
    monkeypatch.setenv("TRELLIS_GUARDS_ENABLED", "false")
    svc = Services.build(Settings())
    for name, role in (("ada", "admin"), ("ed", "editor"), ("val", "viewer")):
        svc.access.add_user(CLI, name, role, PASSWORD)
    svc.close()


def _shot(driver, name: str) -> None:
    folder = os.environ.get("E2E_SHOTS_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def _sign_in(driver, url: str, name: str, password: str = PASSWORD) -> None:
    driver.get(url)
    box = wait_for(driver, "the sign-in form",
                   lambda d: d.find_element(CSS, 'input[aria-label="User name"]'))
    _shot(driver, "signin-form")
    box.send_keys(name)
    driver.find_element(CSS, 'input[aria-label="Password"]').send_keys(password)
    driver.find_element(CSS, '[data-testid="stFormSubmitButton"] button').click()


def _nav(driver) -> list[str]:
    """The page titles in the sidebar (each link's text starts with its icon's name)."""
    return [e.text.strip().splitlines()[-1]
            for e in driver.find_elements(CSS, '[data-testid="stSidebarNavLink"]') if e.text]


def _go(driver, title: str) -> None:
    """Open a page from the sidebar: a reload would start a new, signed-out session."""
    for e in driver.find_elements(CSS, '[data-testid="stSidebarNavLink"]'):
        if e.text.strip().splitlines()[-1:] == [title]:
            e.click()
            return
    raise AssertionError(f"no {title} link in {_nav(driver)}")


def _button(driver, label: str):
    for el in driver.find_elements(CSS, '[data-testid="stButton"] button'):
        if el.is_displayed() and el.text.strip().endswith(label):
            return el
    return None


def test_wrong_password_is_one_sentence(users, app_server, browser):
    _sign_in(browser, app_server.url, "ed", "not the password")
    alert = wait_for(browser, "the sign-in error", lambda d: next(
        (e.text for e in d.find_elements(CSS, '[data-testid="stAlert"]') if e.text), None))
    assert alert == "That user name and password do not match; try again."
    _shot(browser, "signin-wrong")


def test_editor_signs_in_and_can_edit_documents(users, app_server, browser):
    _sign_in(browser, app_server.url, "ed")
    wait_for(browser, "the editor's navigation", lambda d: "Chat playground" in _nav(d))
    nav = _nav(browser)
    assert "Documents" in nav and "Operations" not in nav and "Access" not in nav
    _go(browser, "Documents")
    button = wait_for(browser, "the sample documents button",
                      lambda d: _button(d, "Load the sample documents"))
    wait_for(browser, "the page to settle", app_idle)
    assert button.is_enabled()
    assert "Signed in as ed (editor)" in browser.find_element(
        CSS, '[data-testid="stSidebar"]').text
    _shot(browser, "editor-documents")


def test_viewer_sees_read_only_pages(users, app_server, browser):
    _sign_in(browser, app_server.url, "val")
    wait_for(browser, "the viewer's navigation", lambda d: "Documents" in _nav(d))
    nav = _nav(browser)
    assert not {"Chat playground", "Operations", "Guardrails", "Access"} & set(nav)
    assert {"Latency", "Cost", "Errors"} <= set(nav)
    _go(browser, "Documents")
    button = wait_for(browser, "the sample documents button",
                      lambda d: _button(d, "Load the sample documents"))
    wait_for(browser, "the page to settle", app_idle)
    assert not button.is_enabled()
    _shot(browser, "viewer-documents")


def test_admin_creates_a_key_on_the_access_page(users, app_server, browser):
    _sign_in(browser, app_server.url, "ada")
    wait_for(browser, "the admin's navigation", lambda d: "Access" in _nav(d))
    _go(browser, "Access")
    wait_for(browser, "the Access page", lambda d: "Access" in [
        h.text for h in d.find_elements(CSS, "h1")])
    wait_for(browser, "the users table", lambda d: next(
        (e for e in d.find_elements(CSS, '[data-testid="stDataFrame"] canvas')
         if e.is_displayed()), None))
    _shot(browser, "admin-users")
    for tab in browser.find_elements(CSS, '[data-testid="stTab"]'):
        if tab.text.strip() == "API keys":
            tab.click()
    name = wait_for(browser, "the key name box", lambda d: next(
        (e for e in d.find_elements(CSS, 'input[aria-label="Name"]') if e.is_displayed()), None))
    name.send_keys("support bot")
    for el in browser.find_elements(CSS, '[data-testid="stFormSubmitButton"] button'):
        if el.is_displayed() and el.text.strip().endswith("Create key"):
            el.click()
    code = wait_for(browser, "the new key", lambda d: next(
        (e.text for e in d.find_elements(CSS, '[data-testid="stCode"]') if "trl_" in e.text),
        None))
    assert code.strip().startswith("trl_")
    _shot(browser, "admin-access-key")
    for tab in browser.find_elements(CSS, '[data-testid="stTab"]'):
        if tab.text.strip() == "Audit trail":
            tab.click()
    # The table is drawn on a canvas; its CSV download shows the view has rows.
    wait_for(browser, "the audit trail's CSV download", lambda d: next(
        (e for e in d.find_elements(CSS, '[data-testid="stDownloadButton"]')
         if e.is_displayed()), None))
    _shot(browser, "admin-audit")


def _popover(driver, label: str):
    for el in driver.find_elements(CSS, '[data-testid="stPopover"] button'):
        if el.is_displayed() and label in el.text.splitlines():
            return el
    return None


def test_editor_creates_a_prompt_and_a_viewer_cannot(users, app_server, browser):
    _sign_in(browser, app_server.url, "ed")
    wait_for(browser, "the editor's navigation", lambda d: "Prompts" in _nav(d))
    _go(browser, "Prompts")
    new = wait_for(browser, "the New prompt button", lambda d: _popover(d, "New prompt"))
    wait_for(browser, "the page to settle", app_idle)
    assert new.is_enabled()
    new.click()
    name = wait_for(browser, "the new prompt form", lambda d: next(
        (e for e in d.find_elements(CSS, 'input[aria-label="Name"]') if e.is_displayed()), None))
    name.send_keys("support-reply")
    next(e for e in browser.find_elements(CSS, '[data-testid="stFormSubmitButton"] button')
         if e.is_displayed() and e.text.strip().endswith("Create prompt")).click()
    wait_for(browser, "the created prompt", lambda d: next(
        (e.text for e in d.find_elements(CSS, '[data-testid="stAlert"]')
         if "Created prompt 'support-reply'" in e.text), None))
    _shot(browser, "editor-prompts")

    browser.delete_all_cookies()
    _sign_in(browser, app_server.url, "val")
    wait_for(browser, "the viewer's navigation", lambda d: "Prompts" in _nav(d))
    _go(browser, "Prompts")
    new = wait_for(browser, "the New prompt button", lambda d: _popover(d, "New prompt"))
    wait_for(browser, "the page to settle", app_idle)
    assert not new.is_enabled()
    assert "can look at prompts but not change them" in browser.find_element(
        CSS, '[data-testid="stMain"]').text
    _shot(browser, "viewer-prompts")
