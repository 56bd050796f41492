"""The Evals page through AppTest: run the demo suite, open a failing cell, compare two runs."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.evals import DatasetStore, EvalStore
from core.services import Services
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "evals.py")
MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Full-time staff get 27 days; passwords need 14 characters."
    services = Services.build(Settings())
    yield services
    services.close()


def _open() -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def _run_demo(at: AppTest) -> AppTest:
    at.multiselect(key="evals.models.demo").set_value([MODEL])
    at.checkbox(key="evals.rag").uncheck()  # no document search: keeps the test quick
    at.button(key="evals.run_button").click().run()
    assert not at.exception, at.exception
    return at


def test_an_empty_install_explains_each_tab(svc):
    at = _open()
    infos = " ".join(i.value for i in at.info)
    assert "No runs yet" in infos and "Compare needs two runs" in infos
    assert "No datasets yet" in infos


def test_run_the_demo_suite_and_open_a_failing_cell(svc, wire):
    at = _run_demo(_open())
    [info] = EvalStore(svc.db).runs()
    assert (info.suite, info.status, info.done_cells, info.total_cells) == ("demo", "done", 20, 20)
    assert info.passed == 2  # the 27-days and 14-characters cases
    # The run's gate summary and its figures are shown at once.
    assert any(w.value.startswith("This run does not meet the suite's thresholds. Pass rate 10%")
               for w in at.warning)
    # ... and on the Run tab, where the person pressed Run, with where to look next.
    assert any(w.value.startswith("Run finished. This run does not meet")
               and "Results tab" in w.value for w in at.tabs[0].warning)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Pass rate"] == "10%" and metrics["Cells"] == "20/20"
    # The cell picker opens failing cells first, with every assertion's reason.
    picker = at.selectbox(key=f"evals.cell.{info.id}")
    assert "✗" in picker.format_func(picker.value)
    assert any("27 days" in c.value for c in at.code)
    reasons = " ".join(m.value for m in at.markdown)
    assert "contains none of '31 March'" in reasons and "the guards let the call through" in reasons
    # A passing cell can be opened too.
    picker.set_value("leave-days · " + MODEL).run()
    assert not at.exception
    assert any("✓" in c for c in [picker.format_func(picker.value)])


def test_compare_two_runs_shows_regressions_fixes_and_the_verdict(svc, wire):
    at = _run_demo(_open())
    wire.reply = "Leave: 27 days. Hotels in London: 250 euros."
    at = _run_demo(at)
    runs = EvalStore(svc.db).runs()
    assert [r.passed for r in runs] == [2, 2]
    assert not at.exception
    verdicts = [e.value for e in (*at.info, *at.success, *at.error)
                if "shared cases" in e.value]
    assert verdicts == ["No significant difference: 1 fixed and 1 regressed of 20 shared cases "
                        "(p = 1.00); a swing this size is within chance."]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Regressions"] == "1" and metrics["Fixes"] == "1"
    changes = next(df.value for df in at.dataframe if "change" in getattr(df.value, "columns", []))
    assert dict(zip(changes["case"], changes["change"], strict=True))["password-length"] == \
        "regression"


def test_a_dataset_with_no_case_is_refused_plainly(svc):
    at = _open()
    at.text_input(key="evals.new_name").set_value("faq")
    # The data editor cannot be typed into from AppTest: its one empty row is no case.
    form_submit = next(b for b in at.button if b.label == "Save dataset")
    form_submit.click().run()
    assert any("at least one case" in e.value for e in at.error)
    assert DatasetStore(svc.db).list() == []


def _add_widget(call_id: int) -> None:
    from app.eval_widgets import add_to_dataset

    add_to_dataset(call_id)


def test_add_to_dataset_copies_a_logged_call_into_a_new_dataset(svc, wire):
    from core.engine import CompletionRequest
    from core.providers import Message

    resp = svc.engine.chat(CompletionRequest(messages=[Message("user", "Where is Lisbon?")],
                                             model=MODEL))
    at = AppTest.from_function(_add_widget, args=(resp.call_id,), default_timeout=60).run()
    assert not at.exception, at.exception
    at.selectbox(key=f"evals.add.{resp.call_id}.pick").set_value("New dataset…").run()
    at.text_input(key=f"evals.add.{resp.call_id}.name").set_value("from-chat")
    at.button(key=f"evals.add.{resp.call_id}.go").click().run()
    assert [s.value for s in at.success] == ["Added to from-chat (version 1, 1 cases)."]
    [case] = DatasetStore(svc.db).cases(DatasetStore(svc.db).latest("from-chat"))
    assert case.message == "Where is Lisbon?" and case.source_call_id == resp.call_id


def test_run_a_stored_dataset_with_checks_written_on_the_page(svc, wire):
    from core.evals import CaseIn

    DatasetStore(svc.db).save("faq", [CaseIn(message="Leave days?", key="leave"),
                                      CaseIn(message="Password length?", key="pw")])
    at = _open()
    at.radio(key="evals.source").set_value("A stored dataset").run()
    at.text_area(key="evals.checks").set_value("- {type: icontains, value: 27 days}\n").run()
    at.multiselect(key="evals.models.faq").set_value([MODEL])
    at.button(key="evals.run_button").click().run()
    assert not at.exception, at.exception
    [run] = EvalStore(svc.db).runs()
    assert (run.suite, run.passed, run.graded) == ("faq", 2, 2)
    at.text_area(key="evals.checks").set_value("- {type: exec, value: x}\n").run()
    at.button(key="evals.run_button").click().run()
    assert any("'exec' is not an assertion type" in e.value for e in at.error)


def test_a_viewer_reads_runs_but_cannot_run_or_save(svc, wire, monkeypatch):
    import time

    from core.access import CLI

    _run_demo(_open())  # as the local admin (no sign-in)
    monkeypatch.setenv("TRELLIS_AUTH", "password")
    svc.access.add_user(CLI, "val", "viewer", "a long enough password")
    st_cache_clear()
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["auth.user"] = {"name": "val", "expires": time.time() + 3600}
    at.run()
    assert not at.exception, at.exception
    assert at.button(key="evals.run_button").disabled
    assert any("ask an editor" in c.value for c in at.caption)
    assert {m.label: m.value for m in at.metric}["Cells"] == "20/20"
    assert next(b for b in at.button if b.label == "Save dataset").disabled


def st_cache_clear() -> None:
    import streamlit as st

    st.cache_resource.clear()
    st.cache_data.clear()
