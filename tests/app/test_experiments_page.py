"""The Experiments page through AppTest on the real engine and the wire server:
create an experiment, start it, watch results fill from simulated traffic,
promote the winner (refused while the eval gate has no passing run)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from bench.experiments_sim import PROMPT, setup_prompt, simulate, wire_reply
from core.access import LOCAL_ADMIN
from core.config import Settings
from core.evals import CaseIn, PromptRef, Suite, gate
from core.services import Services
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "experiments.py")


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = wire_reply
    services = Services.build(Settings())
    yield services
    services.close()


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, at.exception
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for e in at.success] + [e.value for e in at.info]
    parts += [e.value for e in at.warning] + [e.value for e in at.error]
    return "\n".join(str(p) for p in parts)


def test_create_start_watch_results_and_promote(svc):
    setup_prompt(svc)
    at = _ok(AppTest.from_file(PAGE, default_timeout=60).run())
    assert "users per variant" in _texts(at)  # the plan shows before anything is created
    at.text_input(key="experiments.new.name").set_value("warmer-tone")
    at.selectbox(key="experiments.new.v1.version").set_value(2)
    _ok(at.button(key="experiments.create").click().run())
    assert "Created 'warmer-tone' as a draft" in _texts(at)
    exp = svc.experiments.get("warmer-tone")
    assert [(v.name, v.version, v.control) for v in exp.variants] == [
        ("A", 1, True), ("B", 2, False)]
    _ok(at.button(key="experiments.start").click().run())
    assert svc.experiments.get("warmer-tone").state == "running"
    assert "No traffic yet" in _texts(at)

    simulate(svc, "warmer-tone", users=300, visits=3, rates={"A": 0.5, "B": 0.7})
    _ok(at.run())
    text = _texts(at)
    assert "B is better on thumbs-up rate, +" in text
    assert len(at.get("plotly_chart")) == 2

    # A gating suite with no passing run on v2: promotion is disabled and says why.
    suite = Suite(name="tone-gate", models=["openai/gpt-4o-mini"],
                  prompts=[PromptRef(PROMPT, "production")],
                  cases=[CaseIn(variables={"q": "hi"}, key="hi")],
                  asserts=[{"type": "icontains", "value": "v2"}])
    gate(1, suite, services=svc)
    svc.experiments.set_gate(LOCAL_ADMIN, PROMPT, "tone-gate")
    _ok(at.run())
    assert "has no finished run of the gating eval suite" in _texts(at)
    assert at.button(key="experiments.promote").disabled
    _ok(at.button(key="experiments.gate.run").click().run())
    assert "passed the gating eval suite" in _texts(at)
    assert not at.button(key="experiments.promote").disabled
    assert at.button(key="experiments.promote").label == "Promote the winner"
    _ok(at.button(key="experiments.promote").click().run())
    assert "now serves v2" in _texts(at)
    assert svc.prompts.resolve_label(PROMPT, "production") == 2
    assert svc.experiments.get("warmer-tone").state == "stopped"


def test_playground_previews_a_variant_without_counting_it(svc, wire):
    from bench.experiments_sim import create_experiment

    create_experiment(svc, "tone")
    svc.experiments.start(LOCAL_ADMIN, "tone")
    at = _ok(AppTest.from_file(str(ROOT / "pages" / "chat.py"), default_timeout=60).run())
    at.selectbox(key="chat.model_a").set_value("openai/gpt-4o-mini")
    at.selectbox(key="chat.prompt").set_value(PROMPT)
    _ok(at.run())
    at.selectbox(key=f"chat.variant.{PROMPT}").set_value("tone · B")
    _ok(at.run())
    assert "Variant B is version 2." in _texts(at)
    at.text_input(key=f"chat.prompt.{PROMPT}.var.q").set_value("Where is my order?")
    at.chat_input[0].set_value("Hi")
    _ok(at.run())
    assert wire.completion_requests()[-1].body["messages"][0]["content"].startswith("[v2]")
    [row] = svc.telemetry.recent_calls(1)
    assert (row.prompt_version, row.experiment) == (2, None)


def test_prompts_page_refuses_a_production_move_the_eval_gate_does_not_allow(svc):
    setup_prompt(svc)
    suite = Suite(name="tone-gate", models=["openai/gpt-4o-mini"],
                  prompts=[PromptRef(PROMPT, "production")],
                  cases=[CaseIn(variables={"q": "hi"}, key="hi")],
                  asserts=[{"type": "icontains", "value": "v1"}])
    gate(2, suite, services=svc)  # v2 answers "answer v2": the suite fails it
    svc.experiments.set_gate(LOCAL_ADMIN, PROMPT, "tone-gate")
    at = _ok(AppTest.from_file(str(ROOT / "pages" / "prompts.py"), default_timeout=60).run())
    _ok(at.button(key="prompts.make_prod").click().run())
    _ok(at.button(key="prompts.confirm.yes").click().run())
    text = _texts(at)
    assert "Version 2 has not passed the gating eval suite 'tone-gate'" in text
    assert "Failing cases: hi:" in text
    assert svc.prompts.resolve_label(PROMPT, "production") == 1
