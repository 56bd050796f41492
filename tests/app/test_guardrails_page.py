"""The Guardrails page through AppTest: a saved policy is in the selector at once,
the new-policy form starts empty, bad names get the one plain naming sentence,
and the policy is described in words (entity names, thresholds)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.forms import NAME_RULE
from core.guards import PolicyStore
from core.services import Services
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "guardrails.py")


@pytest.fixture
def svc(settings):
    services = Services.build(settings)
    yield services
    services.close()


def _open() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _new_policy_form(at: AppTest) -> AppTest:
    at.selectbox(key="guardrails.policy").set_value("+ New policy").run()
    assert not at.exception
    return at


def test_a_new_policy_is_in_the_selector_at_once(svc):
    """Bug 3: after "Saved policy", the selector holds the new policy and shows it."""
    at = _new_policy_form(_open())
    at.text_input(key="guardrails.name.+ New policy").set_value("support-team")
    _button(at, "Save policy").click().run()
    assert not at.exception
    assert "support-team" in at.selectbox(key="guardrails.policy").options
    assert at.selectbox(key="guardrails.policy").value == "support-team"
    assert any("Saved policy 'support-team'" in s.value for s in at.success)
    assert PolicyStore(svc.db).get("support-team") is not None


def test_the_new_policy_form_starts_empty(svc):
    at = _new_policy_form(_open())
    assert at.text_input(key="guardrails.name.+ New policy").value == ""
    assert at.text_area(key="guardrails.description.+ New policy").value == ""


@pytest.mark.parametrize("typed", ["", "a b", "x", "-lead", "ok/no"])
def test_a_bad_policy_name_gets_the_naming_sentence(svc, typed):
    at = _new_policy_form(_open())
    at.text_input(key="guardrails.name.+ New policy").set_value(typed)
    _button(at, "Save policy").click().run()
    [error] = [e.value for e in at.error]
    assert error == f"The policy was not saved. {NAME_RULE}"
    assert "String should" not in error and "name:" not in error
    assert PolicyStore(svc.db).names() == ["standard", "strict", "internal", "off"]


def test_recognizers_follow_the_same_naming_rule(svc):
    at = _open()
    inputs = {t.label: t for t in at.text_input}
    inputs["Name"].set_value("t")
    inputs["Entity type"].set_value("TICKET_ID")
    inputs["Regular expression"].set_value(r"\bTCK-\d{5}\b")
    _button(at, "Save recognizer").click().run()
    assert [e.value for e in at.error] == [f"The recognizer was not saved. {NAME_RULE}"]
    assert PolicyStore(svc.db).recognizers() == []


def test_the_policy_is_described_in_words(svc):
    at = _open()
    text = " ".join(m.value for m in at.markdown)
    assert "replaced by placeholders" in text
    described = [df.value for df in at.dataframe if "Personal data" in df.value]
    names = set(described[0]["Personal data"])
    assert {"US Social Security numbers", "bank account numbers (IBAN)"} <= names
    when = " ".join(described[0]["Found when the detector is"])
    assert "0.40 or more" in when and "fairly sure" in when


def test_choices_survive_a_page_switch(svc):
    """Operations' and Guardrails' widget choices come back after visiting another
    page. (A form sends its fields only when submitted, so form fields are kept
    from their last submit: a refused budget is still there to correct.)"""
    at = AppTest.from_file(str(ROOT / "app" / "main.py"), default_timeout=60)
    at.switch_page("../pages/guardrails.py").run()
    at.selectbox(key="guardrails.policy").set_value("strict").run()
    at.switch_page("../pages/operations.py").run()
    at.text_input(key="ops.budget_name").set_value("half-done")
    at.text_input(key="ops.budget_limit").set_value("12x")
    _button(at, "Save budget").click().run()
    assert any("not an amount in dollars" in e.value for e in at.error)
    at.switch_page("../pages/guardrails.py").run()
    assert not at.exception
    assert at.selectbox(key="guardrails.policy").value == "strict"
    at.switch_page("../pages/operations.py").run()
    assert not at.exception
    assert at.text_input(key="ops.budget_name").value == "half-done"
    assert at.text_input(key="ops.budget_limit").value == "12x"


def test_a_second_new_policy_starts_empty_again(svc):
    at = _new_policy_form(_open())
    at.text_input(key="guardrails.name.+ New policy").set_value("support-team")
    at.text_area(key="guardrails.description.+ New policy").set_value("For support.")
    _button(at, "Save policy").click().run()
    _new_policy_form(at)
    assert at.text_input(key="guardrails.name.+ New policy").value == ""
    assert at.text_area(key="guardrails.description.+ New policy").value == ""
