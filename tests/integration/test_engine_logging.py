"""Every path through the engine writes exactly one log row, and the row is right."""

from __future__ import annotations

import threading

import pytest

from core.engine import STAGES, CompletionRequest
from core.providers import Message
from core.providers import errors as E
from core.providers.base import Completion, Usage
from core.services import Services
from tests.servers.wire import Fault


@pytest.fixture
def svc(wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.base_url + "/v1")
    wire.reply = "Paris is the capital of France."
    services = Services.build()
    services.reliability.update_config(backoff_base_s=0.01, backoff_max_s=0.02)
    yield services
    services.close()


def _req(model="openai/gpt-4o-mini", text="What is the capital of France?", **kw):
    return CompletionRequest(messages=[Message("user", text)], model=model, **kw)


def _rows(svc):
    return svc.telemetry.recent_calls(100)


def test_chat_writes_one_row_with_tokens_cost_and_spans(svc, wire):
    resp = svc.engine.chat(_req(user_id="ana", tags=["support"], temperature=0.2))
    assert resp.text == "Paris is the capital of France."
    [row] = _rows(svc)
    assert row.id == resp.call_id and row.trace_id == resp.trace_id
    assert (row.status, row.provider, row.model) == ("ok", "openai", "gpt-4o-mini")
    assert (row.input_tokens, row.output_tokens) == (6, 6)
    # gpt-4o-mini at $0.15 in / $0.60 out per million tokens, from genai-prices.
    assert row.cost_usd == pytest.approx((6 * 0.15 + 6 * 0.60) / 1e6)
    assert row.user_id == "ana" and row.tags == "support" and row.source == "playground"
    assert row.params == {"temperature": 0.2}
    assert row.latency_ms > 0 and row.tokens_per_s > 0
    assert row.output_text == resp.text
    assert "capital of France?" in row.input_text
    assert [s.name for s in svc.telemetry.spans(row.id)] == list(STAGES)
    assert row.retries == 0 and row.fallback_from is None


def test_stream_writes_one_row_with_ttft(svc):
    stream = svc.engine.stream(_req())
    assert "".join(stream) == "Paris is the capital of France."
    [row] = _rows(svc)
    assert row.stream and row.status == "ok"
    assert 0 < row.ttft_ms <= row.latency_ms
    assert stream.response.call_id == row.id
    assert stream.response.ttft_ms == pytest.approx(row.ttft_ms)


@pytest.mark.parametrize(
    ("request_kwargs", "phrase"),
    [
        ({"temperature": 3.0}, "Temperature must be between 0 and 2."),
        ({"max_tokens": 0}, "Max tokens must be between"),
        ({"model": "gpt-4o"}, "should be written as provider/model"),
        ({"text": "x" * 200_000}, "the limit is 100,000"),
    ],
)
def test_invalid_requests_fail_plainly_before_any_provider_call(svc, wire, request_kwargs, phrase):
    with pytest.raises(E.InvalidRequest) as info:
        svc.engine.chat(_req(**request_kwargs))
    assert phrase in info.value.user_message
    [row] = _rows(svc)
    assert (row.status, row.error_class) == ("error", "validation")
    assert phrase in row.error_message
    assert wire.completion_requests() == []


def test_empty_conversation_is_rejected_and_logged(svc):
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(CompletionRequest(messages=[], model="openai/gpt-4o-mini"))
    assert len(_rows(svc)) == 1


def test_unavailable_provider_is_logged_with_the_reason(svc):
    with pytest.raises(E.ProviderUnavailable) as info:
        svc.engine.chat(_req(model="anthropic/claude-haiku-4-5"))
    assert "ANTHROPIC_API_KEY" in info.value.user_message
    [row] = _rows(svc)
    assert (row.status, row.error_class, row.provider) == ("error", "unavailable", "anthropic")


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("fault", "error_class"),
    [
        ("500", "server"),
        (Fault("429", retry_after=3), "rate_limit"),
        ("401", "auth"),
        ("context", "context_length"),
    ],
)
def test_provider_failures_leave_one_error_row(svc, stream, fault, error_class, wire):
    svc.reliability.update_config(max_retries=0)
    wire.enqueue(fault)
    with pytest.raises(E.TrellisError) as info:
        if stream:
            list(svc.engine.stream(_req()))
        else:
            svc.engine.chat(_req())
    [row] = _rows(svc)
    assert (row.status, row.error_class) == ("error", error_class)
    assert row.error_message == info.value.user_message
    assert row.cost_usd is None and row.output_text is None


def test_cut_stream_keeps_the_partial_answer_on_the_row(svc, wire):
    # Cut after the first tokens: too late to retry, the caller already has them.
    wire.enqueue(Fault("cut", cut_after=2))
    got = []
    with pytest.raises(E.StreamInterrupted):
        for delta in svc.engine.stream(_req()):
            got.append(delta)
    [row] = _rows(svc)
    assert (row.status, row.error_class) == ("error", "stream_cut")
    assert row.output_text == "".join(got) == "Paris is "


def test_abandoned_stream_is_logged_as_cancelled(svc):
    stream = iter(svc.engine.stream(_req()))
    first = next(stream)
    assert first
    stream.close()
    [row] = _rows(svc)
    assert (row.status, row.error_class) == ("cancelled", "cancelled")


def test_unknown_price_is_recorded_as_unknown_not_zero(svc):
    svc.engine.chat(_req(model="openai/my-finetune-7"))
    [row] = _rows(svc)
    assert row.status == "ok" and row.cost_usd is None


def test_price_override_wins(svc):
    from core.costs import Price

    svc.prices.set_override("openai", "my-finetune-7", Price(1.0, 2.0))
    svc.engine.chat(_req(model="openai/my-finetune-7"))
    [row] = _rows(svc)
    assert row.cost_usd == pytest.approx((6 * 1.0 + 6 * 2.0) / 1e6)


def test_optional_hook_failure_degrades_but_answers(svc):
    def broken(ctx):
        raise RuntimeError("vector store down")

    svc.engine.add_hook("retrieve", broken)
    resp = svc.engine.chat(_req())
    assert resp.text and resp.degraded == ["retrieve"]
    [row] = _rows(svc)
    assert row.status == "ok" and row.degraded == ["retrieve"]
    span = {s.name: s for s in svc.telemetry.spans(row.id)}["retrieve"]
    assert span.status == "degraded" and "vector store down" in span.detail["errors"][0]


def test_hook_error_ends_the_call_with_one_row(svc, wire):
    def deny(ctx):
        ctx.status = "blocked"
        raise E.InvalidRequest("This request is not allowed by policy.")

    svc.engine.add_hook("input_guards", deny)
    with pytest.raises(E.InvalidRequest):
        svc.engine.chat(_req())
    [row] = _rows(svc)
    assert row.status == "blocked"
    assert wire.completion_requests() == []


def test_cache_hook_short_circuits_the_provider(svc, wire):
    def cache(ctx):
        ctx.cache_hit = "exact"
        ctx.cost_saved_usd = 0.001
        ctx.result = Completion("from cache", Usage(3, 2))
        return {"hit": "exact"}

    svc.engine.add_hook("cache", cache)
    resp = svc.engine.chat(_req())
    assert resp.text == "from cache" and resp.status == "cached"
    [row] = _rows(svc)
    assert (row.status, row.cost_usd, row.cost_saved_usd) == ("cached", 0.0, 0.001)
    assert wire.completion_requests() == []


def test_feedback_is_linked_to_the_call(svc):
    resp = svc.engine.chat(_req())
    svc.telemetry.add_feedback(resp.call_id, -1, "wrong city")
    [fb] = svc.telemetry.feedback_for(resp.call_id)
    assert (fb.score, fb.comment) == (-1, "wrong city")
    with pytest.raises(ValueError):
        svc.telemetry.add_feedback(resp.call_id, 5)


def test_changing_a_rating_updates_it_instead_of_adding_one(svc):
    resp = svc.engine.chat(_req())
    svc.telemetry.set_feedback(resp.call_id, 1)
    svc.telemetry.set_feedback(resp.call_id, -1, "too long")
    svc.telemetry.set_feedback(resp.call_id, -1)  # the comment stays
    [fb] = svc.telemetry.feedback_for(resp.call_id)
    assert (fb.score, fb.comment) == (-1, "too long")
    svc.telemetry.set_feedback(resp.call_id, 1, user_id="ana")  # another person's rating
    assert sorted(f.score for f in svc.telemetry.feedback_for(resp.call_id)) == [-1, 1]
    with pytest.raises(ValueError):
        svc.telemetry.set_feedback(resp.call_id, 0)
    # Un-clicking the thumb withdraws that person's rating only.
    assert svc.telemetry.clear_feedback(resp.call_id) == 1
    assert [(f.score, f.user_id) for f in svc.telemetry.feedback_for(resp.call_id)] == [(1, "ana")]
    assert svc.telemetry.clear_feedback(resp.call_id) == 0


def test_concurrent_calls_each_leave_one_row(svc, wire):
    wire.fault_rate = 0.3
    errors: list[Exception] = []

    def worker(i: int) -> None:
        try:
            svc.engine.chat(_req(text=f"question {i}"))
        except E.TrellisError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = _rows(svc)
    assert len(rows) == 20
    assert sum(r.status == "error" for r in rows) == len(errors)
    # Each row's retries are its failed attempts, less the last one if the call failed;
    # every injected fault shows up as one of those failed attempts.
    failed_attempts = 0
    for r in rows:
        provider = {sp.name: sp for sp in svc.telemetry.spans(r.id)}["provider"]
        attempts = (provider.detail or {}).get("attempts", [])
        failed = sum("error" in a for a in attempts)
        failed_attempts += failed
        assert r.retries == failed - (1 if r.status == "error" and failed else 0)
    faults = wire.counts["429"] + wire.counts["500"] + wire.counts["503"]
    assert 0 < faults <= failed_attempts
    assert len({r.trace_id for r in rows}) == 20
