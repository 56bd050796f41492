"""Experiments through the real engine: the render stage's variant selector,
the real OpenAI SDK against the loopback wire server, the call log and
feedback in SQLite, eval runs for the promotion gate."""

from __future__ import annotations

import pytest

from bench.experiments_sim import PROMPT, create_experiment, setup_prompt, simulate, wire_reply
from core.access import LOCAL_ADMIN, AccessDenied, Actor
from core.engine import CompletionRequest
from core.evals import CaseIn, PromptRef, Suite, gate
from core.prompts import PromptError
from core.prompts.assignment import assign
from core.prompts.experiment_stats import compare_rates
from core.prompts.experiments import ExperimentError, Variant, plan
from core.services import Services

EDITOR = Actor("eddie", "editor")
VIEWER = Actor("vera", "viewer")


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = wire_reply
    services = Services.build()
    yield services
    services.close()


def _call(svc, **kw):
    return svc.engine.chat(CompletionRequest(messages=[], prompt_name=PROMPT,
                                             variables={"q": "hi"}, source="test", **kw))


def test_create_checks_input_and_access_in_plain_sentences(svc):
    setup_prompt(svc)
    good = [Variant("A", 1, control=True), Variant("B", 2)]
    cases = [
        (dict(variants=[Variant("A", 1, control=True)]), "between 2 and 10 variants"),
        (dict(variants=[Variant("A", 1), Variant("B", 2)]), "exactly one variant as the control"),
        (dict(variants=[Variant("A", 1, control=True), Variant("A", 2)]), "same name"),
        (dict(variants=[Variant("A", 1, control=True), Variant("B", 9)]), "does not have"),
        (dict(variants=good, unit="planet"), "user, session or request"),
        (dict(variants=good, baseline_rate=1.5), "baseline rate"),
        (dict(variants=good, ramp=0), "ramp"),
    ]
    for kw, words in cases:
        with pytest.raises(ExperimentError, match=words):
            svc.experiments.create(EDITOR, "x", PROMPT, **kw)
    with pytest.raises(AccessDenied, match="viewer"):
        svc.experiments.create(VIEWER, "x", PROMPT, good)
    exp = svc.experiments.create(EDITOR, "tone", PROMPT, good, hypothesis="warmer wins")
    assert (exp.state, exp.control.name, exp.weights) == ("draft", "A", {"A": 1.0, "B": 1.0})
    with pytest.raises(ExperimentError, match="already exists"):
        svc.experiments.create(EDITOR, "tone", PROMPT, good)
    assert [e.action for e in svc.access.events(actor="eddie")] == ["experiment.create"]


def test_running_experiment_serves_sticky_variants_and_logs_them(svc, wire):
    create_experiment(svc, "tone")
    _call(svc, user_id="u1")
    [row] = svc.telemetry.recent_calls(5)
    assert (row.experiment, row.variant) == (None, None)  # a draft serves production
    svc.experiments.start(EDITOR, "tone")
    seen = {}
    for i in range(40):
        for _ in range(3):
            resp = _call(svc, user_id=f"u{i}")
            seen.setdefault(f"u{i}", set()).add(resp.text)
    assert all(len(texts) == 1 for texts in seen.values())
    assert {t for texts in seen.values() for t in texts} == {"answer v1", "answer v2"}
    rows = [r for r in svc.telemetry.recent_calls(500) if r.experiment == "tone"]
    assert len(rows) == 120
    assert all({r.variant: r.prompt_version for r in rows}[v] == n for v, n in
               (("A", 1), ("B", 2)))
    # A label other than production, or a pinned version, is not part of the experiment.
    _call(svc, user_id="u1", prompt_version=1)
    assert svc.telemetry.recent_calls(1)[0].experiment is None
    # No user id: the session decides, and the share of such calls is reported.
    for _ in range(3):
        _call(svc, session_id="s-1")
    assert len({r.variant for r in svc.telemetry.recent_calls(3)}) == 1
    res = svc.experiments.results("tone")
    assert res.fallback_share == pytest.approx(3 / 123)
    svc.experiments.pause(EDITOR, "tone")
    _call(svc, user_id="u1")
    assert svc.telemetry.recent_calls(1)[0].experiment is None
    assert [e.action for e in svc.access.events(actor="eddie")][:2] == [
        "experiment.pause", "experiment.start"]


def test_ramp_widens_without_moving_anyone_already_in(svc):
    create_experiment(svc, "tone", ramp=0.2)
    svc.experiments.start(EDITOR, "tone")
    first = {}
    for i in range(200):
        _call(svc, user_id=f"r{i}")
        row = svc.telemetry.recent_calls(1)[0]
        first[i] = row.variant
    share = sum(v is not None for v in first.values()) / 200
    assert 0.1 < share < 0.3
    svc.experiments.set_ramp(EDITOR, "tone", 0.6)
    for i in range(200):
        _call(svc, user_id=f"r{i}")
        now = svc.telemetry.recent_calls(1)[0].variant
        if first[i] is not None:
            assert now == first[i]


def test_variant_model_and_params_are_applied(svc, wire):
    setup_prompt(svc)
    svc.experiments.create(EDITOR, "model", PROMPT, [
        Variant("A", 1, control=True),
        Variant("B", 1, model="openai/gpt-4o", params={"temperature": 0.1})])
    svc.experiments.start(EDITOR, "model")
    for i in range(30):
        _call(svc, user_id=f"m{i}")
    bodies = [r.body for r in wire.completion_requests()]
    assert {b["model"] for b in bodies} == {"gpt-4o-mini", "gpt-4o"}
    assert all(b.get("temperature") == 0.1 for b in bodies if b["model"] == "gpt-4o")
    preview = svc.experiments.preview("model", "B")
    assert (preview.version, preview.model) == (1, "openai/gpt-4o")


def test_simulated_ab_keeps_users_sticky_splits_evenly_and_finds_b(svc):
    # A fixed salt and the simulator's fixed seed make this run the same every time.
    create_experiment(svc, salt="sim-salt-1")
    svc.experiments.start(LOCAL_ADMIN, "warmer-tone")
    report = simulate(svc, "warmer-tone", users=1200, visits=5)
    print("\n".join(report.lines()))
    assert report.sticky_share == 1.0
    assert all(abs(share - 0.5) < 0.045 for share in report.split.values())  # 3 sd at 1,200
    assert not report.results.srm
    assert report.results.winner == "B"
    assert report.results.verdicts[0].startswith("B is better on thumbs-up rate, +")
    # Five independent ratings a user: the plan in users shrinks to about a fifth.
    assert report.results.plan_revised
    assert report.results.planned_per_variant < plan(0.6, 0.06) / 3
    line = svc.experiments.timeline("warmer-tone")
    assert set(line["variants"]) == {"A", "B"} and len(line["difference"]["B"]) >= 10


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 50,000 engine calls: about 5 minutes on 2 shared cores
def test_simulated_ab_with_10000_users(svc):
    create_experiment(svc, salt="sim-salt-1")
    svc.experiments.start(LOCAL_ADMIN, "warmer-tone")
    report = simulate(svc, "warmer-tone", users=10_000, visits=5)
    print("\n".join(report.lines()))
    assert report.sticky_share == 1.0
    assert all(abs(share - 0.5) <= 0.02 for share in report.split.values())
    assert not report.results.srm and report.results.winner == "B"


@pytest.mark.slow
def test_dropping_a_tenth_of_one_variants_users_is_flagged_as_srm(svc):
    create_experiment(svc, salt="sim-salt-1")  # reproducible (a fresh salt flags ~90% of runs)
    svc.experiments.start(LOCAL_ADMIN, "warmer-tone")
    report = simulate(svc, "warmer-tone", users=8000, visits=1, drop=("B", 0.10))
    print("\n".join(report.lines()))
    assert report.results.srm
    assert "not split as configured" in report.results.srm_sentence()
    assert report.results.winner is None  # a broken split names no winner


def test_plan_gives_units_per_variant_and_refuses_nonsense():
    assert 1000 < plan(0.6, 0.06) < 5000
    assert plan(0.6, 0.03) > plan(0.6, 0.06)
    with pytest.raises(ExperimentError, match="baseline"):
        plan(0, 0.05)


def _gate_suite() -> Suite:
    return Suite(name="tone-gate", models=["openai/gpt-4o-mini"],
                 prompts=[PromptRef(PROMPT, "production")],
                 cases=[CaseIn(variables={"q": f"q{i}"}, key=f"q{i}") for i in range(3)],
                 asserts=[{"type": "icontains", "value": "v2"}])


def test_promotion_is_gated_by_the_eval_suite_and_an_override_is_audited(svc):
    create_experiment(svc)
    svc.experiments.start(EDITOR, "warmer-tone")
    svc.experiments.set_gate(LOCAL_ADMIN, PROMPT, "tone-gate")
    with pytest.raises(ExperimentError, match="no finished run"):
        svc.experiments.promote(EDITOR, "warmer-tone", "B")
    # v1 fails the suite (its answers do not say v2): promoting A is refused, with the cases.
    gate(1, _gate_suite(), services=svc)
    with pytest.raises(ExperimentError, match="q0: ") as err:
        svc.experiments.promote(EDITOR, "warmer-tone", "A")
    assert "An admin may override" in str(err.value.user_message)
    # The same gate guards a manual move of the protected production label.
    with pytest.raises(PromptError, match="has no finished run"):
        svc.prompts.move_label(PROMPT, "production", 2, by="eddie")
    # An editor cannot override; an admin can, and the reason is kept.
    with pytest.raises(AccessDenied):
        svc.experiments.promote(EDITOR, "warmer-tone", "B", override_reason="trust me")
    check = svc.experiments.run_gate(EDITOR, svc, PROMPT, 2)
    assert check.passed and check.run_id
    exp = svc.experiments.promote(EDITOR, "warmer-tone", "B")
    assert exp.state == "stopped" and "Promoted B (version 2)" in exp.decision
    assert svc.prompts.resolve_label(PROMPT, "production") == 2
    # A second experiment: the admin overrides a failing gate with a written reason.
    svc.experiments.create(EDITOR, "back", PROMPT,
                           [Variant("A", 2, control=True), Variant("B", 1)])
    svc.experiments.start(EDITOR, "back")
    exp = svc.experiments.promote(LOCAL_ADMIN, "back", "B",
                                  override_reason="v1 is the legal-approved text")
    assert svc.prompts.resolve_label(PROMPT, "production") == 1
    assert "overridden by local admin: v1 is the legal-approved text" in exp.decision
    [ev] = svc.access.events(action="experiment.gate_override")
    assert ev.after == "v1 is the legal-approved text" and ev.target == "back"
    move = svc.prompts.history(PROMPT, label="production")[0]
    assert "eval gate overridden" in move.reason


def test_eval_score_grades_a_sample_of_live_answers(svc):
    setup_prompt(svc)
    with pytest.raises(ExperimentError, match="needs a model to grade"):
        svc.experiments.create(EDITOR, "x", PROMPT, [Variant("A", 1, control=True),
                                                     Variant("B", 2)],
                               guardrails=["eval_score"],
                               live_asserts=[{"type": "rubric", "rubric": "polite"}])
    with pytest.raises(ExperimentError, match="needs at least one assertion"):
        svc.experiments.create(EDITOR, "x", PROMPT, [Variant("A", 1, control=True),
                                                     Variant("B", 2)], primary_metric="eval_score")
    svc.experiments.create(EDITOR, "graded", PROMPT,
                           [Variant("A", 1, control=True), Variant("B", 2)],
                           guardrails=["eval_score"],
                           live_asserts=[{"type": "icontains", "value": "V2"}])
    svc.experiments.start(EDITOR, "graded")
    simulate(svc, "graded", users=150, visits=2)
    res = svc.experiments.results("graded")
    scores = {v.name: v.metrics["eval_score"] for v in res.variants}
    assert scores["A"].value == 0.0 and scores["B"].value == 1.0
    assert scores["A"].n + scores["B"].n == 300
    assert scores["B"].comparison.significant
    line = svc.experiments.timeline("graded", "eval_score")
    assert line["variants"]["B"][-1][1] == 1.0


def test_changing_weights_keeps_the_heavier_variants_units(svc):

    exp = create_experiment(svc, "tone")
    with pytest.raises(ExperimentError, match="every variant"):
        svc.experiments.set_weights(EDITOR, "tone", {"A": 1.0})
    ids = [f"u:{i}" for i in range(3000)]
    before = {u: assign(exp.salt, u, exp.weights) for u in ids}
    exp = svc.experiments.set_weights(EDITOR, "tone", {"A": 1.0, "B": 3.0})
    assert exp.weights == {"A": 1.0, "B": 3.0}
    after = {u: assign(exp.salt, u, exp.weights) for u in ids}
    assert all(after[u] == "B" for u in ids if before[u] == "B")  # nobody leaves B
    assert 0.70 < sum(v == "B" for v in after.values()) / len(ids) < 0.80
    [ev] = svc.access.events(action="experiment.weights")
    assert "B: 3" in ev.after


def test_a_user_who_rates_many_calls_counts_once_in_the_thumbs_up_comparison(svc):
    create_experiment(svc, salt="heavy-rater")
    svc.experiments.start(LOCAL_ADMIN, "warmer-tone")
    simulate(svc, "warmer-tone", users=400, visits=1, rates={"A": 0.5, "B": 0.5})
    exp = svc.experiments.get("warmer-tone")
    fan = next(u for u in (f"fan-{i}" for i in range(100))
               if assign(exp.salt, f"u:{u}", exp.weights, ramp=exp.ramp) == "B")
    for _ in range(300):
        resp = _call(svc, user_id=fan)
        svc.telemetry.add_feedback(resp.call_id, 1, user_id=fan)
    res = svc.experiments.results("warmer-tone")
    a, b = (next(v for v in res.variants if v.name == n) for n in ("A", "B"))
    thumbs = b.metrics["thumbs_up"]
    assert thumbs.n == b.calls  # every call of B was rated: 300 of them by the fan
    assert thumbs.comparison.n_variant == b.units  # the comparison counts users
    assert b.units < 300 < thumbs.n
    ta = a.metrics["thumbs_up"]
    # Taken per call, B "wins" on one enthusiastic user; per user it does not.
    assert compare_rates(round(ta.value * ta.n), ta.n, round(thumbs.value * thumbs.n), thumbs.n,
                         tau=0.06).significant
    assert not thumbs.comparison.significant and res.winner is None
    # One user's 300 agreeing ratings make each user worth less: the plan grows.
    assert res.plan_revised and res.planned_per_variant > plan(0.6, 0.06)
