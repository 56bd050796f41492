"""The eval runner against the loopback wire server through the real SDKs and engine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.evals import CaseIn, EvalStore, Runner, Suite
from core.evals.models import EvalResult
from core.services import Services
from tests.servers.wire import Fault

ROOT = Path(__file__).resolve().parents[2]


def _echo(body: dict) -> str:
    messages = body.get("messages") or []
    last = messages[-1]["content"] if messages else ""
    if isinstance(last, list):
        last = " ".join(part.get("text", "") for part in last)
    return f"You asked: {last}"


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", wire.base_url)
    wire.reply = _echo
    services = Services.build()
    # Errors must land in their cells quickly: no retries, no fallback waits.
    services.reliability.update_config(max_retries=0, backoff_base_s=0.01, backoff_max_s=0.02)
    yield services
    services.close()


def _suite(**kw) -> Suite:
    cases = [CaseIn(message=f"question {i}", expected=f"question {i}", key=f"q{i}")
             for i in range(1, 5)]
    base = dict(name="wire-suite", cases=cases, models=["openai/gpt-4o-mini"],
                asserts=[{"type": "icontains", "value": "you asked"},
                         {"type": "word-count", "max": 50}])
    base.update(kw)
    return Suite(**base)


def _rows(svc, run_id):
    return EvalStore(svc.db).results(run_id)


def test_matrix_of_models_and_a_route_runs_every_cell_through_the_engine(svc, wire):
    svc.reliability.routes.save("main", ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
    suite = _suite(models=["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "route/main"],
                   repeats=2, concurrency=4)
    runner = Runner(svc)
    run_id = runner.create_run(suite)
    seen = []
    outcome = runner.run(run_id, progress=seen.append)
    assert outcome.status == "done" and outcome.ran == 3 * 4 * 2
    rows = _rows(svc, run_id)
    assert len(rows) == 24 and len({r.cell_key for r in rows}) == 24
    assert all(r.status == "ok" and r.passed for r in rows)
    assert Counter(r.model for r in rows) == {m: 8 for m in suite.models}
    assert [p.done for p in seen] == list(range(1, 25))
    assert seen[-1].eta_s == 0 and seen[0].eta_s is not None
    # Every cell is an ordinary logged engine call with source "eval".
    calls = svc.telemetry.recent_calls(100)
    assert len(calls) == 24 and {c.source for c in calls} == {"eval"}
    assert {r.call_id for r in rows} == {c.id for c in calls}
    assert all(r.assertions and len(r.assertions) == 2 for r in rows)
    info = EvalStore(svc.db).runs()[0]
    assert (info.passed, info.graded, info.errors, info.status) == (24, 24, 0, "done")


def test_provider_errors_land_in_their_cells_and_the_run_completes(svc, wire):
    wire.enqueue("ok", "400", "ok", "500", "ok", "ok", "ok", "ok")
    runner = Runner(svc)
    run_id = runner.create_run(_suite(repeats=2, concurrency=1))
    outcome = runner.run(run_id)
    assert outcome.status == "done" and outcome.errors == 2
    rows = _rows(svc, run_id)
    errors = [r for r in rows if r.status == "error"]
    assert len(rows) == 8 and len(errors) == 2
    # The engine's own one-sentence messages, classed, never a traceback.
    assert {r.error_class for r in errors} == {"bad_request", "server"}
    assert all(r.error and "Traceback" not in r.error for r in errors)
    assert all(not r.passed and r.call_id for r in errors)
    ok_ids = {r.id for r in rows if r.status == "ok"}
    # --retry-errors: only the two errored cells run again.
    before = len(wire.completion_requests())
    outcome = runner.run(run_id, retry_errors=True)
    assert outcome.ran == 2 and outcome.errors == 0
    assert len(wire.completion_requests()) == before + 2
    rows = _rows(svc, run_id)
    assert len(rows) == 8 and all(r.status == "ok" for r in rows)
    assert ok_ids <= {r.id for r in rows}


def test_cancel_stops_and_a_second_run_finishes_without_repeating_cells(svc, wire):
    import threading

    wire.default = Fault("slow", delay=0.02)
    runner = Runner(svc)
    run_id = runner.create_run(_suite(repeats=5, concurrency=2))
    cancel = threading.Event()

    def stop_after_three(p):
        if p.done >= 3:
            cancel.set()

    outcome = runner.run(run_id, progress=stop_after_three, cancel=cancel)
    assert outcome.status == "cancelled" and outcome.cancelled
    partial = len(_rows(svc, run_id))
    assert 3 <= partial < 20
    outcome = runner.run(run_id)
    rows = _rows(svc, run_id)
    assert outcome.status == "done" and outcome.ran == 20 - partial
    assert len(rows) == 20 and len({r.cell_key for r in rows}) == 20


def test_result_cache_marks_cached_cells_and_repeats_bypass_it(svc, wire):
    runner = Runner(svc)
    first = runner.create_run(_suite(cache=True, repeats=2))
    runner.run(first)
    assert len(wire.completion_requests()) == 8
    second = runner.create_run(_suite(cache=True, repeats=2))
    runner.run(second)
    rows = _rows(svc, second)
    assert {(r.repeat, r.cached) for r in rows} == {(0, True), (1, False)}
    assert len(wire.completion_requests()) == 8 + 4
    assert all(r.passed for r in rows)
    assert all(r.cost_usd == 0.0 for r in rows if r.cached)


def test_blocked_cells_are_graded_by_not_blocked(svc, wire, monkeypatch):
    from core.guards.errors import GuardBlocked

    def block(ctx):
        if "2" in ctx.messages[-1].content:
            raise GuardBlocked("it looked like a prompt injection", policy="strict")

    svc.engine.add_hook("input_guards", block, optional=False)
    runner = Runner(svc)
    run_id = runner.create_run(_suite(asserts=[{"type": "not-blocked"}]))
    runner.run(run_id)
    rows = {r.case_key: r for r in _rows(svc, run_id)}
    assert rows["q2"].status == "blocked" and not rows["q2"].passed
    assert "blocked" in rows["q2"].assertions[0]["reason"]
    assert rows["q1"].passed


RUNNER_SCRIPT = """
import sys
from core.evals import Runner
from core.services import Services
svc = Services.build()
svc.reliability.update_config(max_retries=0)
Runner(svc).run(int(sys.argv[1]))
"""


@pytest.mark.slow
def test_a_killed_runner_resumes_with_no_cell_lost_and_none_twice(svc, wire, tmp_path):
    wire.default = Fault("slow", delay=0.05)
    runner = Runner(svc)
    run_id = runner.create_run(_suite(repeats=10, concurrency=4))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", RUNNER_SCRIPT, str(run_id)], env=env,
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(_rows(svc, run_id)) < 8:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stderr:
            proc.stderr.close()
    written = len(_rows(svc, run_id))
    assert 8 <= written < 40, "the runner should be killed mid-run"
    assert EvalStore(svc.db).run(run_id).status == "running"  # it never got to say otherwise
    outcome = Runner(svc).run(run_id)
    assert outcome.skipped == written and outcome.ran == 40 - written
    rows = _rows(svc, run_id)
    assert len(rows) == 40
    assert Counter(r.cell_key for r in rows).most_common(1)[0][1] == 1
    with Session(svc.db) as s:
        assert len(s.exec(select(EvalResult.id).where(EvalResult.run_id == run_id)).all()) == 40


def test_prompts_axis_sends_each_reference_to_the_render_stage(svc, wire):
    """Prompt refs × models: each cell's request names its prompt, label or version and the
    case's variables; the registry's render stage turns them into messages."""
    from core.evals import PromptRef

    svc.prompts.create("support", by="ada")
    for n in (1, 2):
        svc.prompts.save_version("support", by="ada", system=f"support v{n}",
                                 user="Tell me about {{ topic }}")
    svc.prompts.move_label("support", "production", 2, by="ada")

    def reply(body):
        # OpenAI sends the system prompt as a message, Anthropic in its own field.
        system = [body["system"]] if isinstance(body.get("system"), str) else []
        return " | ".join(system + [str(m["content"]) for m in body["messages"]])

    wire.reply = reply
    cases = [CaseIn(message="(rendered by the prompt)", variables={"topic": t}, key=t)
             for t in ("leave", "travel")]
    suite = _suite(cases=cases, asserts=[{"type": "icontains", "value": "tell me about"}],
                   prompts=[PromptRef("support", "production"), PromptRef("support", None, 1)],
                   models=["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"])
    runner = Runner(svc)
    run_id = runner.create_run(suite)
    runner.run(run_id)
    rows = _rows(svc, run_id)
    assert len(rows) == 2 * 2 * 2 and all(r.passed for r in rows)
    by_prompt = {(r.prompt, r.case_key, r.model): r.output for r in rows}
    # The prompt's messages, then the case's own message (a conversation continuing it).
    assert by_prompt[("support@production", "leave", "openai/gpt-4o-mini")] == \
        "support v2 | Tell me about leave | (rendered by the prompt)"
    assert "support v1" in by_prompt[("support:1", "travel", "anthropic/claude-haiku-4-5")]
    calls = svc.telemetry.recent_calls(20)
    # The log row names the version served, also when the cell asked by label.
    assert {(c.prompt_name, c.prompt_version) for c in calls} == {("support", 2),
                                                                 ("support", 1)}
    assert EvalStore(svc.db).columns(run_id)[0] == ("support@production", "openai/gpt-4o-mini")
