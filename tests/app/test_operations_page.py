"""The Operations page through AppTest: edits persist, breakers reset."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.engine import CompletionRequest
from core.providers import Message
from core.providers import errors as E
from core.reliability.models import Budget
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
    at.text_input(key="ops.budget_limit").set_value("2.5")
    at.slider(key="ops.budget_threshold_pct").set_value(60)
    submit = next(b for b in at.button if b.label == "Save budget")
    submit.click().run()
    assert not at.exception
    [budget] = svc.reliability.budgets.list()
    assert (budget.name, budget.limit_usd, budget.policy) == ("daily-cap", 2.5, "block")
    assert budget.alert_threshold == pytest.approx(0.6)  # the slider is in percent
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


def _submit(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click().run()
    assert not at.exception, at.exception
    return at


def test_a_saved_route_shows_at_once(svc):
    """Bug 3: the routes list shows the new route in the same page view as the save."""
    at = _open()
    at.text_input(key="ops.route_name").set_value("main")
    at.text_area(key="ops.route_chain").set_value("openai/gpt-4o-mini\nlocal/gemma-3-270m")
    _submit(at, "Save route")
    assert not any("No routes yet" in i.value for i in at.info)
    [table] = at.dataframe
    assert list(table.value["route"]) == ["route/main"]
    assert any("Route 'main' saved" in s.value for s in at.success)
    # The budget form's model list (a cached reader) now offers the route.
    assert "route/main" in at.selectbox(key="ops.budget_target").options


def test_saved_cache_settings_show_at_once(svc):
    """Bug 3: after saving, the cache mode reads the new value, not "off"."""
    at = _open()
    assert next(m.value for m in at.metric if m.label == "Cache now") == "Off"
    at.selectbox(key="ops.cache_mode").set_value("exact")
    _submit(at, "Save cache settings")
    assert next(m.value for m in at.metric if m.label == "Cache now") == "Exact"
    assert any("Cache settings saved" in s.value for s in at.success)
    assert svc.reliability.config().cache_mode == "exact"


@pytest.mark.parametrize(
    ("typed", "sentence"),
    [
        ("-5", "cannot be negative"),
        ("abc", "is not an amount in dollars"),
        ("1e3x", "is not an amount in dollars"),
        ("1e3", "is not an amount in dollars"),
        ("nan", "is not an amount in dollars"),
        ("inf", "is not an amount in dollars"),
        ("0", "would block every call"),
        ("", "Enter a limit in dollars"),
    ],
)
def test_bad_budget_limits_get_a_sentence_and_save_nothing(svc, typed, sentence):
    """Bug 5: each bad limit is refused with a plain sentence on the page."""
    at = _open()
    at.text_input(key="ops.budget_name").set_value("daily-cap")
    at.text_input(key="ops.budget_limit").set_value(typed)
    _submit(at, "Save budget")
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and sentence in errors[0], errors
    assert errors[0].startswith("The budget was not saved.")
    assert svc.reliability.budgets.list() == []


def test_a_downgrade_needs_a_known_model(svc):
    """Bug 5: "switch to a cheaper model" without a model, or with one the registry
    does not know, saves nothing."""
    at = _open()
    at.text_input(key="ops.budget_name").set_value("cap")
    at.text_input(key="ops.budget_limit").set_value("5")
    at.selectbox(key="ops.budget_policy").set_value("downgrade")
    _submit(at, "Save budget")
    assert any("needs the model to downgrade to" in e.value for e in at.error)
    assert svc.reliability.budgets.list() == []
    with pytest.raises(E.InvalidRequest, match="no model or route called 'nonexistent/model-xyz'"):
        svc.reliability.budgets.save(
            Budget(name="cap", limit_usd=5, policy="downgrade",
                   downgrade_model="nonexistent/model-xyz"),
            known_models=svc.registry.available_models(),
        )
    at.selectbox(key="ops.budget_target").set_value("openai/gpt-4o-mini")
    _submit(at, "Save budget")
    [budget] = svc.reliability.budgets.list()
    assert budget.downgrade_model == "openai/gpt-4o-mini"
    assert any("Budget 'cap' saved" in s.value for s in at.success)
    assert any("then downgrade to openai/gpt-4o-mini" in m.value for m in at.markdown)


@pytest.mark.parametrize(
    ("name", "chain", "sentence"),
    [
        ("bad name!", "openai/gpt-4o-mini", "A name needs 3 to 50 characters"),
        ("main", "nonexistent/model-xyz", "Trellis has no provider for nonexistent/model-xyz"),
    ],
)
def test_a_route_with_a_bad_name_or_an_unknown_provider_is_refused(svc, name, chain, sentence):
    """'bad name!' and a chain on a provider that does not exist were saved."""
    at = _open()
    at.text_input(key="ops.route_name").set_value(name)
    at.text_area(key="ops.route_chain").set_value(chain)
    _submit(at, "Save route")
    assert any(sentence in e.value for e in at.error), [e.value for e in at.error]
    assert svc.reliability.routes.all() == {}
