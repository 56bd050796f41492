"""The Operations page through AppTest: edits persist, breakers reset."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.engine import CompletionRequest
from core.providers import Message
from core.providers import errors as E
from core.services import Services
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "operations.py")


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    services = Services.build(Settings())
    yield services
    services.close()


def _open() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def test_empty_install_explains_itself(svc):
    at = _open()
    infos = " ".join(i.value for i in at.info)
    assert "No routes yet" in infos and "No deployment has been called yet" in infos


def test_route_and_budget_are_saved_to_the_database(svc):
    at = _open()
    at.text_input(key="ops.route_name").set_value("main")
    at.text_area(key="ops.route_chain").set_value("openai/gpt-4o-mini\nlocal/gemma-3-270m")
    at.button[0].click()  # the route form's submit
    at.run()
    assert not at.exception
    assert Services.build(Settings()).reliability.routes.chain("route/main") == [
        "openai/gpt-4o-mini",
        "local/gemma-3-270m",
    ]
    at.text_input(key="ops.budget_name").set_value("daily-cap")
    at.number_input(key="ops.budget_limit").set_value(2.5)
    submit = next(b for b in at.button if b.label == "Save budget")
    submit.click().run()
    assert not at.exception
    [budget] = svc.reliability.budgets.list()
    assert (budget.name, budget.limit_usd, budget.policy) == ("daily-cap", 2.5, "block")
    assert any("daily-cap" in m.value for m in at.markdown)


def test_bad_route_gets_a_plain_error(svc):
    at = _open()
    at.text_input(key="ops.route_name").set_value("x")
    at.text_area(key="ops.route_chain").set_value("gpt-4o")
    at.button[0].click().run()
    assert [e.value for e in at.error][0].startswith("Write deployments as provider/model")


def test_open_breaker_shows_and_resets(svc, wire):
    svc.reliability.update_config(breaker_failures=1, max_retries=0, breaker_cooldown_s=600)
    wire.enqueue("500")
    with pytest.raises(E.ServerError):
        svc.engine.chat(
            CompletionRequest(messages=[Message("user", "hi")], model="openai/gpt-4o-mini")
        )
    at = _open()
    assert any(":red[open]" in m.value for m in at.markdown)
    at.button(key="ops.reset.openai/gpt-4o-mini").click().run()
    assert not at.exception
    assert svc.reliability.breakers.view("openai/gpt-4o-mini").state == "closed"


def test_settings_form_persists_limits(svc):
    at = _open()
    at.number_input(key="ops.rpm_user").set_value(30)
    next(b for b in at.button if b.label == "Save settings").click().run()
    assert not at.exception
    assert Services.build(Settings()).reliability.config().rpm_user == 30
