"""The prompt registry on real databases, and served through the engine.

Races use real threads against SQLite and a real PostgreSQL (the `db`
fixture runs each test on both); the render stage runs through the real
engine and the real OpenAI SDK against the loopback wire server.
"""

from __future__ import annotations

import threading
import time

import pytest

from core.engine import CompletionRequest
from core.prompts import PromptError, PromptRegistry
from core.services import Services


def _threads(n: int, fn) -> list:
    results: list = [None] * n
    errors: list = []
    start = threading.Barrier(n)

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = fn(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    return results


def test_concurrent_saves_all_get_distinct_numbers(db):
    reg = PromptRegistry(db)
    reg.create("race", by="lead")
    n = 8
    results = _threads(n, lambda i: reg.save_version(
        "race", by=f"editor-{i}", user=f"Draft {i}: {{{{ topic }}}}", note=f"from {i}"))
    numbers = sorted(r.version.version for r in results)
    assert numbers == list(range(1, n + 1))
    assert all(r.created for r in results)
    saved = {v.author: v.user for v in reg.versions("race")}
    assert saved == {f"editor-{i}": f"Draft {i}: {{{{ topic }}}}" for i in range(n)}


def test_concurrent_label_moves_record_every_move_consistently(db):
    reg = PromptRegistry(db)
    reg.create("moves", by="lead")
    for i in range(4):
        reg.save_version("moves", by="lead", user=f"v{i + 1} {{{{ x }}}}")
    _threads(6, lambda i: reg.move_label("moves", "staging", (i % 4) + 1, by=f"u{i}"))
    moves = list(reversed(reg.history("moves", label="staging")))
    assert len(moves) == 6
    # Each move starts where the previous one left the label: none was lost.
    assert moves[0].from_version is None
    for before, after in zip(moves, moves[1:], strict=False):
        assert after.from_version == before.to_version
    assert reg.prompt("moves").label("staging").version == moves[-1].to_version


def test_moving_a_label_to_a_missing_or_foreign_version_is_refused(db):
    reg = PromptRegistry(db)
    reg.create("one", by="a")
    reg.create("two", by="a")
    reg.save_version("one", by="a", user="hi")
    for _ in range(3):
        reg.save_version("two", by="a", user=f"hello {_}")
    with pytest.raises(PromptError) as info:
        reg.move_label("one", "production", 3, by="a")  # version 3 belongs to 'two' only
    assert info.value.user_message == (
        "Prompt 'one' has no version 3, so 'production' cannot point at it. "
        "Pick one of the versions in its history."
    )
    assert reg.prompt("one").production_version == 1


@pytest.fixture
def wired(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Hello from the wire."
    services = Services.build()
    yield services
    services.close()


def _support(svc: Services) -> None:
    svc.prompts.create("support", by="ada")
    svc.prompts.save_version(
        "support", by="ada", system="You answer for {{ company }}.",
        user="Customer {{ name }} asks: {{ question }}",
        config={"model": "openai/gpt-4o-mini", "temperature": 0.3, "max_tokens": 50},
    )


def test_render_stage_serves_the_production_version_and_logs_it(wired, wire):
    _support(wired)
    resp = wired.engine.chat(CompletionRequest(
        messages=[], prompt_name="support", temperature=0.9,
        variables={"company": "ACME", "name": "Ada", "question": "{{ config }}?"},
    ))
    assert resp.text == "Hello from the wire."
    [sent] = [r.body for r in wire.completion_requests()]
    assert sent["messages"] == [
        {"role": "system", "content": "You answer for ACME."},
        {"role": "user", "content": "Customer Ada asks: {{ config }}?"},
    ]
    assert sent["model"] == "gpt-4o-mini"
    assert sent["temperature"] == 0.9 and sent["max_tokens"] == 50  # the caller's wins
    [row] = wired.telemetry.recent_calls(10)
    assert (row.prompt_name, row.prompt_version, row.status) == ("support", 1, "ok")
    span = next(s for s in wired.telemetry.spans(row.id) if s.name == "render")
    assert span.detail["version"] == 1 and span.detail["label"] == "production"
    assert span.detail["settings"] == {"model": "prompt", "temperature": "caller",
                                       "max_tokens": "prompt"}


def test_render_stage_streams_a_pinned_version_and_a_label(wired, wire):
    _support(wired)
    wired.prompts.save_version("support", by="bo", system="Be brief for {{ company }}.",
                               user="{{ question }}")
    wired.prompts.move_label("support", "staging", 2, by="bo")
    vars_ = {"company": "ACME", "name": "Ada", "question": "Refund?"}
    stream = wired.engine.stream(CompletionRequest(
        messages=[], prompt_name="support", prompt_label="staging", variables=vars_,
        model="openai/gpt-4o-mini"))
    assert "".join(stream) == "Hello from the wire."
    wired.engine.chat(CompletionRequest(messages=[], prompt_name="support", prompt_version=1,
                                        variables=vars_))
    rows = sorted(wired.telemetry.recent_calls(10), key=lambda r: r.id)
    assert [(r.prompt_name, r.prompt_version) for r in rows] == [("support", 2), ("support", 1)]
    assert wire.completion_requests()[0].body["messages"][0]["content"] == "Be brief for ACME."


def test_a_missing_variable_fails_the_call_plainly_and_is_logged(wired, wire):
    _support(wired)
    with pytest.raises(PromptError) as info:
        wired.engine.chat(CompletionRequest(messages=[], prompt_name="support",
                                            variables={"company": "ACME", "name": "Ada"}))
    assert info.value.user_message == (
        "The variable 'question' used by support v1 has no value. Fill it in and try again."
    )
    assert wire.completion_requests() == []
    [row] = wired.telemetry.recent_calls(10)
    assert (row.status, row.error_class, row.prompt_name) == ("error", "prompt", "support")
    assert row.error_message == info.value.user_message


def test_a_label_move_in_one_replica_is_served_by_another_within_two_seconds(wired, wire):
    _support(wired)
    wired.prompts.save_version("support", by="bo", system="V2 for {{ company }}.",
                               user="{{ question }}", config={"model": "openai/gpt-4o-mini"})
    other = Services.build(wired.settings)  # a second replica on the same database
    try:
        vars_ = {"company": "ACME", "name": "Ada", "question": "Q"}
        req = CompletionRequest(messages=[], prompt_name="support", variables=vars_)
        assert other.engine.chat(req) and other.prompts.get("support").version == 1
        moved_at = time.monotonic()
        wired.prompts.move_label("support", "production", 2, by="bo", reason="ship v2")
        served = 1
        while served != 2 and time.monotonic() - moved_at < 2.0:
            other.engine.chat(req)
            served = other.telemetry.recent_calls(1)[0].prompt_version
            time.sleep(0.05)
        assert served == 2
    finally:
        other.close()


@pytest.mark.slow
def test_variable_values_pass_the_input_guards_before_leaving(guards_on, wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    svc = Services.build()
    try:
        svc.prompts.create("reply", by="ada")
        svc.prompts.save_version("reply", by="ada", user="Write to {{ email }} about {{ topic }}.")
        svc.engine.chat(CompletionRequest(
            messages=[], prompt_name="reply", model="openai/gpt-4o-mini",
            variables={"email": "ada.lovelace@example.com", "topic": "the refund"}))
        sent = wire.completion_requests()[-1].body["messages"][-1]["content"]
        assert "ada.lovelace@example.com" not in sent and "<EMAIL_ADDRESS_" in sent
        assert "the refund" in sent
    finally:
        svc.close()


def test_example_exchanges_are_served_in_order_and_counted_in_the_size(wired, wire):
    wired.prompts.create("tone", by="ada")
    wired.prompts.save_version(
        "tone", by="ada", system="Answer like {{ brand }}.",
        examples=[("Where is my order?", "On its way!"), ("Refund?", "Sure, {{ brand }} pays.")],
        user="{{ question }}", config={"model": "openai/gpt-4o-mini", "max_tokens": 40})
    wired.engine.chat(CompletionRequest(messages=[], prompt_name="tone",
                                        variables={"brand": "ACME", "question": "Hi?"}))
    [sent] = [r.body["messages"] for r in wire.completion_requests()]
    assert sent == [
        {"role": "system", "content": "Answer like ACME."},
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": "On its way!"},
        {"role": "user", "content": "Refund?"},
        {"role": "assistant", "content": "Sure, ACME pays."},
        {"role": "user", "content": "Hi?"},
    ]
    [row] = wired.telemetry.recent_calls(10)
    span = next(s for s in wired.telemetry.spans(row.id) if s.name == "render")
    # Six messages, 20 estimated tokens of text, + 6 x 4 + 3: the examples count.
    assert span.detail["size"] == {"tokens": 47, "exact": False, "window": 128_000}


def test_a_prompt_too_big_for_its_model_fails_in_render_plainly_and_is_logged(wired, wire):
    wired.prompts.create("long", by="ada")
    wired.prompts.save_version("long", by="ada", system="Rules. " * 300, user="{{ q }}",
                               config={"model": "local/smollm2-135m-instruct",
                                       "max_tokens": 1800})
    with pytest.raises(PromptError) as info:
        wired.engine.chat(CompletionRequest(messages=[], prompt_name="long",
                                            variables={"q": "Hi"}))
    assert info.value.user_message == (
        "Prompt long v1 needs about 2,337 tokens (537 for the messages and 1,800 for the "
        "answer), but local/smollm2-135m-instruct holds 2,048. Shorten the messages, the "
        "examples or the variable values, lower Max tokens, or pick a model with a larger "
        "context.")
    [row] = wired.telemetry.recent_calls(10)
    assert (row.status, row.error_class, row.prompt_name) == ("error", "prompt", "long")
    # The caller's own smaller max tokens fits: their setting wins, and the call goes on
    # to the model (here the wire server, by the caller's model).
    resp = wired.engine.chat(CompletionRequest(
        messages=[], prompt_name="long", variables={"q": "Hi"}, max_tokens=100,
        model="openai/gpt-4o-mini"))
    assert resp.text == "Hello from the wire."
