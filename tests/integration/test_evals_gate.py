"""`gate(prompt_version, suite)` and the model-graded assertions through real engine calls."""

from __future__ import annotations

import pytest

from core.evals import CaseIn, EvalStore, PromptRef, Runner, Suite, SuiteError, gate
from core.services import Services


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    services = Services.build()
    yield services
    services.close()


def _suite(**kw) -> Suite:
    base = dict(name="gate-suite", models=["openai/gpt-4o-mini"],
                cases=[CaseIn(message=f"q{i}", key=f"q{i}") for i in range(6)],
                asserts=[{"type": "icontains", "value": "refund"}])
    base.update(kw)
    return Suite(**base)


def test_gate_passes_and_fails_on_the_suites_thresholds(svc, wire):
    wire.reply = "Refunds take 30 days."
    result = gate(PromptRef(), _suite(), services=svc)
    assert result.passed and result.exit_code == 0 and result.pass_rate == 1.0
    assert result.interval[0] > 0.5
    wire.reply = "No idea."
    result = gate(PromptRef(), _suite(), services=svc)
    assert not result.passed and result.exit_code == 100
    assert "6 cell(s) failed" in result.summary


def test_gate_with_a_version_number_runs_that_version_of_the_suites_prompt(svc, wire):
    with pytest.raises(SuiteError, match="no registry prompt"):
        gate(5, _suite(), services=svc)
    wire.reply = "refund"
    suite = _suite(prompts=[PromptRef("support", "production")])
    gate(5, suite, services=svc)
    [run] = EvalStore(svc.db).runs()
    assert run.prompts == ["support:5"]
    # The version rides on every request, so the call log shows which version was gated.
    assert {c.prompt_version for c in svc.telemetry.recent_calls(10)} == {5}
    assert {c.prompt_name for c in svc.telemetry.recent_calls(10)} == {"support"}


def test_judge_calls_go_through_the_engine_and_are_logged(svc, wire):
    def reply(body):
        text = str(body)
        return '{"score": 9, "reason": "states the window"}' if "rubric" in text.lower() \
            else "Refunds take 30 days."

    wire.reply = reply
    suite = _suite(cases=[CaseIn(message="refund window?", key="r")],
                   asserts=[{"type": "rubric", "rubric": "States the refund window.",
                             "judge": "openai/gpt-4o-mini"}])
    runner = Runner(svc)
    run_id = runner.create_run(suite)
    runner.run(run_id)
    [row] = EvalStore(svc.db).results(run_id)
    assert row.passed and row.assertions[0]["score"] == pytest.approx(0.9)
    assert "states the window" in row.assertions[0]["reason"]
    calls = svc.telemetry.recent_calls(10)
    assert len(calls) == 2 and {c.source for c in calls} == {"eval"}
    judge = next(c for c in calls if c.id != row.call_id)
    assert "judge" in judge.tags and judge.session_id == f"eval-run-{run_id}"


@pytest.mark.slow
def test_the_local_model_can_judge(monkeypatch):
    """The default judge is the local model: its answer is parsed into a score or a reason."""
    svc = Services.build()
    try:
        suite = Suite(name="local-judge", models=["default"], params={"max_tokens": 24},
                      cases=[CaseIn(message="Say: Paris is the capital of France.",
                                    expected="Paris is the capital of France.", key="p")],
                      asserts=[{"type": "factuality"}])
        runner = Runner(svc)
        run_id = runner.create_run(suite)
        runner.run(run_id, concurrency=1)
        [row] = EvalStore(svc.db).results(run_id)
        assert row.status == "ok", row.error
        [outcome] = row.assertions
        assert 0.0 <= outcome["score"] <= 1.0 and outcome["reason"]
        calls = svc.telemetry.recent_calls(10)
        assert len(calls) == 2 and all(c.provider == "local" for c in calls)
        assert all(c.source == "eval" and c.status == "ok" for c in calls)
    finally:
        svc.close()
